"""Dead letters: list them, and replay them to the subject they came from.

A dead letter (``shared.events.consumer``) is a copy of the original message in
``CRM_DEAD_LETTERS`` with headers saying where it came from, which consumer gave up, after how
many deliveries and why. Replaying one publishes the original payload to its original subject
again, then deletes the dead letter. Every consumer of that stream receives it once more: those
that applied the event before skip it (their ``inbox`` has its id), the one that gave up applies it.

The replay's ``Nats-Msg-Id`` is ``<original id>:replay:<dead-letter sequence>``: the original id
would be dropped as a duplicate within the stream's duplicate window, and a replay retried after a
crash (published, not yet deleted) is still stored only once.
"""

from __future__ import annotations

import logging

import msgspec
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError

from shared.events.bus import DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECT_ROOT, MSG_ID_HEADER, Bus
from shared.events.consumer import (
    HDR_CONSUMER,
    HDR_DELIVERIES,
    HDR_FAILED_AT,
    HDR_ORIGINAL_MSG_ID,
    HDR_ORIGINAL_SEQUENCE,
    HDR_ORIGINAL_STREAM,
    HDR_ORIGINAL_SUBJECT,
    HDR_REASON,
)

log = logging.getLogger("huike.events.dead_letters")

__all__ = ["DeadLetter", "ReplayFailure", "list_dead_letters", "replay_all", "replay_dead_letter"]

# Headers of the dead letter that are not carried over to the replayed message.
_OWN_HEADERS = {h.lower() for h in (HDR_CONSUMER, HDR_DELIVERIES, HDR_FAILED_AT, HDR_ORIGINAL_MSG_ID,
                                    HDR_ORIGINAL_SEQUENCE, HDR_ORIGINAL_STREAM, HDR_ORIGINAL_SUBJECT, HDR_REASON)}


class DeadLetter(msgspec.Struct, kw_only=True):
    """One dead letter, as the operator API and ``huike dead-letters list`` show it."""

    sequence: int  # in CRM_DEAD_LETTERS: the id to replay it by
    subject: str  # where it came from, and where a replay sends it
    stream: str
    consumer: str
    reason: str
    deliveries: int
    failed_at: str
    message_id: str | None = None


def _dead_letter(stored: RawStreamMsg) -> DeadLetter:
    headers = stored.headers or {}
    return DeadLetter(
        sequence=int(stored.seq or 0),
        subject=headers.get(HDR_ORIGINAL_SUBJECT, ""),
        stream=headers.get(HDR_ORIGINAL_STREAM, ""),
        consumer=headers.get(HDR_CONSUMER, ""),
        reason=headers.get(HDR_REASON, ""),
        deliveries=int(headers.get(HDR_DELIVERIES) or 0),
        failed_at=headers.get(HDR_FAILED_AT, ""),
        message_id=headers.get(HDR_ORIGINAL_MSG_ID),
    )


async def list_dead_letters(bus: Bus, *, after: int = 0, limit: int = 100) -> list[DeadLetter]:
    """The dead letters with a sequence above ``after``, oldest first, at most ``limit``."""
    info = await bus.js.stream_info(DEAD_LETTER_STREAM)
    found: list[DeadLetter] = []
    seq = max(after + 1, info.state.first_seq)
    while seq <= info.state.last_seq and len(found) < limit:
        try:
            # The first message at or after seq (deleted ones, replayed, are skipped).
            stored = await bus.js.get_msg(DEAD_LETTER_STREAM, seq=seq, subject=f"{DEAD_LETTER_SUBJECT_ROOT}.>",
                                          next=True)
        except NotFoundError:
            break
        if stored.seq is None or stored.seq > info.state.last_seq:
            break
        found.append(_dead_letter(stored))
        seq = stored.seq + 1
    return found


async def replay_dead_letter(bus: Bus, sequence: int) -> DeadLetter | None:
    """Publish dead letter ``sequence`` to its original subject, then delete it. None when there
    is no such dead letter (replayed already)."""
    try:
        stored = await bus.js.get_msg(DEAD_LETTER_STREAM, seq=sequence)
    except NotFoundError:
        return None
    letter = _dead_letter(stored)
    if not letter.subject:
        raise ValueError(f"dead letter {sequence} does not say where it came from; it cannot be replayed")
    headers = {k: v for k, v in (stored.headers or {}).items() if k.lower() not in _OWN_HEADERS}
    original_id = letter.message_id or f"{letter.stream}.{(stored.headers or {}).get(HDR_ORIGINAL_SEQUENCE)}"
    headers[MSG_ID_HEADER] = f"{original_id}:replay:{sequence}"
    await bus.js.publish(letter.subject, stored.data or b"", headers=headers)
    try:
        await bus.js.delete_msg(DEAD_LETTER_STREAM, sequence)
    except NotFoundError:  # replayed concurrently by another operator: published once all the same
        pass
    log.warning("replayed dead letter %d to %s (gave up by %s: %s)", sequence, letter.subject, letter.consumer,
                letter.reason)
    return letter


class ReplayFailure(msgspec.Struct, kw_only=True):
    sequence: int
    reason: str


async def replay_all(bus: Bus) -> tuple[list[DeadLetter], list[ReplayFailure]]:
    """Replay every dead letter there is now, oldest first. One that cannot be replayed (its
    stream was deleted, say) stays where it is and is reported; the others are replayed."""
    replayed: list[DeadLetter] = []
    failed: list[ReplayFailure] = []
    after = 0
    while batch := await list_dead_letters(bus, after=after, limit=500):
        for letter in batch:
            try:
                done = await replay_dead_letter(bus, letter.sequence)
            except Exception as exc:  # noqa: BLE001 - report it, replay the rest
                failed.append(ReplayFailure(sequence=letter.sequence, reason=f"{type(exc).__name__}: {exc}"))
                continue
            if done is not None:
                replayed.append(done)
        after = batch[-1].sequence
    return replayed, failed
