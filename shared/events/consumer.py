"""Durable, idempotent event consumers, with a dead-letter stream for events that keep failing.

For each message of its durable pull consumer an ``EventConsumer``:

1. decodes the envelope (an undecodable message, or one whose subject names another tenant than
   its envelope, goes straight to the dead-letter stream: retrying cannot help);
2. opens a unit of work for the event's tenant and records ``(tenant, consumer, event id)`` in the
   service's ``inbox``; when that row already exists the event was applied before and the handler
   is skipped, so a redelivered event changes nothing twice;
3. otherwise runs the handler in that same transaction, and acknowledges only after the commit.

A handler that fails because the infrastructure is unavailable (PostgreSQL or NATS unreachable,
restarting, out of disk or connections: ``shared.unavailable``) says nothing about the event: the
consumer keeps the message (telling JetStream it is still in progress, so no delivery is spent)
and tries it again with back-off, for as long as the outage lasts; the rest of its batch waits,
kept alive too. Only a stop of the process during the outage hands the message back (it is then
redelivered like after any crash). Any other failure is the event's own: it is retried with a
delay (``nak`` with back-off); on the last allowed delivery the message is copied to
``dlq.<stream>.<consumer>`` in ``CRM_DEAD_LETTERS`` with the reason, and terminated
(``huike dead-letters replay`` publishes it again once its cause is fixed). Messages the consumer never acknowledges at all (a process that dies on them, or a
handler stuck past ``ack_wait``) reach JetStream's ``max_deliver`` without our code seeing the last
try; JetStream then publishes a max-deliveries advisory, which every instance of the consumer
listens to and answers by copying the message (fetched by stream sequence) to the dead-letter stream.
Both paths use ``Nats-Msg-Id = <event id>:<consumer>``, so a message is dead-lettered once.

Each message is processed in a CONSUMER span ``process <subject>``, a child of the trace context
in the message headers (the relay's PRODUCER span), so one trace runs from the request that made
the change to every consumer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry.trace import SpanKind, Status, StatusCode

from shared.errors import TenantGone
from shared.events.bus import MSG_ID_HEADER, Bus, dead_letter_subject
from shared.events.envelope import SUBJECT_ROOT, Event, decode_event
from shared.telemetry import context_from_headers, tracer
from shared.tenancy import scope_from_event
from shared.unavailable import is_unavailable

if TYPE_CHECKING:  # shared.db imports the envelope from this package: no import cycle at run time
    from shared.db import ServiceDatabase, Unit

log = logging.getLogger("huike.events.consumer")

__all__ = [
    "DEFAULT_BACKOFF",
    "ConsumerStopping",
    "EventConsumer",
    "Handler",
    "HDR_CONSUMER",
    "HDR_DELIVERIES",
    "HDR_FAILED_AT",
    "HDR_ORIGINAL_MSG_ID",
    "HDR_ORIGINAL_SEQUENCE",
    "HDR_ORIGINAL_STREAM",
    "HDR_ORIGINAL_SUBJECT",
    "HDR_REASON",
    "MAX_DELIVERIES_REASON",
    "max_deliveries_advisory_subject",
]

Handler = Callable[["Unit", Event], Awaitable[None]]
BatchHandler = Callable[["Unit", list[Event]], Awaitable[None]]
T = TypeVar("T")

# Delay before the 2nd, 3rd... delivery after a failure (the last value repeats).
DEFAULT_BACKOFF: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
MAX_DELIVERIES_REASON = "max deliveries reached without acknowledgement"

# Headers of a dead-letter copy. The payload is the original message, unchanged, for replay.
HDR_ORIGINAL_SUBJECT = "Huike-Original-Subject"
HDR_ORIGINAL_STREAM = "Huike-Original-Stream"
HDR_ORIGINAL_SEQUENCE = "Huike-Original-Sequence"
HDR_ORIGINAL_MSG_ID = "Huike-Original-Msg-Id"
HDR_CONSUMER = "Huike-Consumer"
HDR_DELIVERIES = "Huike-Deliveries"
HDR_REASON = "Huike-Dead-Letter-Reason"
HDR_FAILED_AT = "Huike-Failed-At"

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # durable and stream names: no dots, wildcards or spaces
_MAX_REASON = 1000


_STREAM_NOT_FOUND = 10059  # JetStream's err_code for a stream that does not exist

# Consumers running in this process, for /metrics (shared.metrics reads their lag).
_RUNNING: weakref.WeakSet[EventConsumer] = weakref.WeakSet()


def running_consumers(bus: Bus) -> list[EventConsumer]:
    """The consumers started on ``bus`` and not stopped, by stream and name."""
    return sorted((c for c in _RUNNING if c.bus is bus), key=lambda c: (c.stream, c.name))


def max_deliveries_advisory_subject(stream: str, consumer: str) -> str:
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"


class _Undeliverable(Exception):
    """A message no retry can help: undecodable, or its subject and envelope disagree."""


class ConsumerStopping(Exception):
    """The consumer was stopped while waiting for the infrastructure to come back."""

# Waits between two tries of a message while the infrastructure is unavailable (the last repeats).
OUTAGE_BACKOFF: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)


class EventConsumer:
    """A durable pull consumer on ``stream`` (filtered to ``subjects``) feeding ``handler``.

    ``handler(unit, event)`` runs inside the event's tenant unit of work; it may write and emit
    events, which commit together with the inbox row. It raises to fail (and be retried).
    """

    def __init__(
        self,
        bus: Bus,
        db: ServiceDatabase,
        *,
        name: str,
        stream: str,
        subjects: Sequence[str],
        handler: Handler,
        max_deliveries: int = 5,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        ack_wait: float = 30.0,
        batch_size: int = 10,
        fetch_timeout: float = 1.0,
        max_ack_pending: int = 1000,
        on_applied: Callable[[Event], None] | None = None,
        batched: bool = False,
        batch_handler: BatchHandler | None = None,
        accepts: Callable[[Event], bool] | None = None,
    ) -> None:
        if not _NAME.match(name) or not _NAME.match(stream):
            raise ValueError("consumer and stream names may hold only letters, digits, '_' and '-'")
        if not subjects:
            raise ValueError("a consumer needs at least one subject")
        if max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        self.bus = bus
        self.db = db
        self.name = name
        self.stream = stream
        self.subjects = list(subjects)
        self.handler = handler
        self.max_deliveries = max_deliveries
        self.backoff = tuple(backoff) or (0.0,)
        self.ack_wait = ack_wait
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.max_ack_pending = max_ack_pending
        self.on_applied = on_applied  # called once an event's work is committed (e.g. to wake a worker)
        # Apply a fetched batch in one transaction per tenant (one commit, one inbox INSERT for
        # many events); any failure falls back to one event at a time, so a poison event is
        # retried and dead-lettered alone.
        self.batched = batched
        # With ``batched``: one call for a tenant's fresh events of a fetch (set-based writes)
        # instead of ``handler`` per event; the one-at-a-time fallback still uses ``handler``.
        self.batch_handler = batch_handler
        # Events this consumer has nothing to do with (another lane's, say) are acknowledged
        # unread: no transaction, no inbox row (applying nothing twice needs no record).
        self.accepts = accepts
        self.dead_letter_subject = dead_letter_subject(stream, name)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._pull: JetStreamContext.PullSubscription | None = None
        self._advisories: Subscription | None = None

    def __repr__(self) -> str:
        return f"EventConsumer({self.stream}/{self.name})"

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    def consumer_config(self) -> ConsumerConfig:
        return ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.ack_wait,
            max_deliver=self.max_deliveries,
            filter_subjects=self.subjects,
            max_ack_pending=self.max_ack_pending,
        )

    async def start(self) -> None:
        """Create (or update) the durable consumer, listen for its advisories, start fetching."""
        if self.is_running:
            return
        js = self.bus.js
        await self._add_consumer(js)
        self._advisories = await self.bus.nc.subscribe(
            max_deliveries_advisory_subject(self.stream, self.name), cb=self._on_max_deliveries
        )
        self._pull = await js.pull_subscribe_bind(durable=self.name, stream=self.stream)
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.stream}/{self.name}")
        _RUNNING.add(self)

    async def stop(self) -> None:
        """Stop fetching, finish the message in flight, hand back the rest unacknowledged."""
        task, self._task = self._task, None
        _RUNNING.discard(self)
        if task is None:
            return
        self._stopping.set()
        try:
            await task
        finally:
            for sub in (self._pull, self._advisories):
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await sub.unsubscribe()
            self._pull = self._advisories = None

    async def _add_consumer(self, js: JetStreamContext) -> None:
        """Create the durable consumer, waiting for its stream when the service that publishes it
        has not started yet: in a cluster every service starts at once, and the stream appears
        when its owner first starts (this process is not ready meanwhile)."""
        waited = 0
        while True:
            try:
                await js.add_consumer(self.stream, config=self.consumer_config())
                return
            except NotFoundError as exc:
                if getattr(exc, "err_code", None) != _STREAM_NOT_FOUND:
                    raise
            if waited == 0:
                log.warning("%r: stream %s does not exist yet (its service has not started); waiting",
                            self, self.stream)
            waited += 1
            await asyncio.sleep(min(2.0, 0.1 * 2**waited))

    # --- the loop --------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._pull is not None
        failures = 0
        while not self._stopping.is_set():
            try:
                # Returns as soon as a message is there; at worst after fetch_timeout (so stop()
                # waits at most that long).
                msgs = await self._pull.fetch(self.batch_size, timeout=self.fetch_timeout)
                failures = 0
            except TimeoutError:  # nats.errors.TimeoutError is one: nothing to do
                continue
            except Exception as exc:  # noqa: BLE001 - disconnected, consumer deleted...: retry
                failures += 1
                delay = min(10.0, 0.2 * 2**failures)
                log.warning("%r: fetch failed (%s); retrying in %.1fs", self, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                continue
            async with self._kept_alive(msgs) as waiting:
                if self.batched and len(msgs) > 1 and not self._stopping.is_set():
                    try:
                        msgs = await self._process_batch(msgs, waiting)
                    except Exception:  # noqa: BLE001 - never let one batch end the loop
                        log.exception("%r: processing a batch failed unexpectedly", self)
                for index, msg in enumerate(msgs):
                    if self._stopping.is_set():
                        # Not started: give them back at once so another instance can take them.
                        for rest in msgs[index:]:
                            with contextlib.suppress(Exception):
                                await rest.nak()
                        break
                    try:
                        await self._process(msg)
                    except Exception:  # noqa: BLE001 - never let one message end the loop
                        log.exception("%r: processing %s failed unexpectedly", self, msg.subject)
                    finally:
                        waiting.discard(msg)

    async def _process_batch(self, msgs: list[Msg], waiting: _Waiting) -> list[Msg]:
        """Apply ``msgs`` a tenant at a time, each tenant's events in one transaction, and ack them
        after its commit. Returns the messages left for the one-at-a-time path: undecodable ones,
        and every message of a tenant group whose transaction failed (none of it was committed)."""
        left: list[Msg] = []
        groups: dict[uuid.UUID, list[tuple[Msg, Event]]] = {}
        for msg in msgs:
            try:
                event = _decode(msg)
            except _Undeliverable:
                left.append(msg)
                continue
            if self.accepts is not None and not self.accepts(event):
                with contextlib.suppress(Exception):  # unacked: redelivered, and skipped again
                    await msg.ack()
                waiting.discard(msg)
                continue
            groups.setdefault(event.tenant_id, []).append((msg, event))
        for tenant_id, group in groups.items():
            if self._stopping.is_set():
                left.extend(msg for msg, _ in group)
                continue
            with tracer("huike.events").start_as_current_span(
                f"process batch {self.stream}",
                context=context_from_headers(group[0][0].headers),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "nats",
                    "messaging.operation.type": "process",
                    "messaging.consumer.group.name": self.name,
                    "messaging.batch.message_count": len(group),
                    "huike.tenant_id": str(tenant_id),
                },
            ) as span:
                try:
                    applied = await self._apply_batch(tenant_id, [event for _, event in group])
                except Exception as exc:  # noqa: BLE001 - each event tried again on its own
                    span.record_exception(exc)
                    log.info("%r: a batch of %d failed (%s); applying one at a time", self, len(group), _describe(exc))
                    left.extend(msg for msg, _ in group)
                    continue
            for msg, event in group:
                with contextlib.suppress(Exception):  # unacked: redelivered, and the inbox skips it
                    await msg.ack()
                waiting.discard(msg)
                if event.id in applied and self.on_applied is not None:
                    self.on_applied(event)
        order = {id(m): i for i, m in enumerate(msgs)}
        return sorted(left, key=lambda m: order[id(m)])

    async def _apply_batch(self, tenant_id: uuid.UUID, events: list[Event]) -> set[uuid.UUID]:
        """The ids of ``events`` applied now (the rest were applied before), in one transaction."""
        try:
            async with self.db.tenant_unit(scope_from_event(tenant_id)) as unit:
                rows = await unit.fetch(
                    f"INSERT INTO {self.db.schema}.inbox (tenant_id, consumer, event_id)"
                    " SELECT $1, $2, unnest($3::uuid[]) ON CONFLICT DO NOTHING RETURNING event_id",
                    tenant_id, self.name, [event.id for event in events],
                )
                fresh = {row["event_id"] for row in rows}
                seen: set[uuid.UUID] = set()
                todo: list[Event] = []
                for event in events:
                    if event.id in fresh and event.id not in seen:  # a batch may hold a redelivery twice
                        seen.add(event.id)
                        todo.append(event)
                if self.batch_handler is not None:
                    await self.batch_handler(unit, todo)
                else:
                    for event in todo:
                        await self.handler(unit, event)
                return fresh
        except TenantGone:
            return set()

    async def _process(self, msg: Msg) -> None:
        meta = msg.metadata
        deliveries = meta.num_delivered
        try:
            event = _decode(msg)
        except _Undeliverable as exc:
            await self._give_up(msg, str(exc), deliveries, event=None)
            return
        if self.accepts is not None and not self.accepts(event):
            await msg.ack()
            return
        with tracer("huike.events").start_as_current_span(
            f"process {msg.subject}",
            context=context_from_headers(msg.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "process",
                "messaging.destination.name": msg.subject,
                "messaging.consumer.group.name": self.name,
                "messaging.message.id": str(event.id),
                "messaging.message.delivery_count": deliveries,
                "messaging.nats.stream": meta.stream,
                "messaging.nats.stream_sequence": meta.sequence.stream,
                "huike.tenant_id": str(event.tenant_id),
            },
        ) as span:
            try:
                applied = await self._while_unavailable(lambda: self._apply(event), what=event.type)
            except ConsumerStopping:
                # Not the event's failure: hand it back for whichever instance runs next.
                with contextlib.suppress(Exception):
                    await msg.nak(delay=self.backoff[0])
                return
            except Exception as exc:  # noqa: BLE001 - the handler's failure: retry or dead-letter
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, _describe(exc)))
                if deliveries >= self.max_deliveries:
                    reason = f"handler failed on delivery {deliveries} of {self.max_deliveries}: {_describe(exc)}"
                    await self._give_up(msg, reason, deliveries, event=event)
                else:
                    delay = self.backoff[min(deliveries, len(self.backoff)) - 1]
                    log.info("%r: %s failed (delivery %d), retry in %.1fs: %s",
                             self, event.type, deliveries, delay, _describe(exc))
                    await msg.nak(delay=delay)
                return
            span.set_attribute("huike.inbox.duplicate", not applied)
            # Only now: the handler's work and the inbox row are committed.
            await msg.ack()
            if applied and self.on_applied is not None:
                self.on_applied(event)

    async def _while_unavailable(self, work: Callable[[], Awaitable[T]], *, what: str) -> T:
        """``work()``, tried again for as long as it fails because the infrastructure is
        unavailable (no delivery is spent: the caller keeps its messages alive meanwhile).
        Raises ``ConsumerStopping`` when the consumer stops before the outage ends."""
        tries = 0
        while True:
            try:
                result = await work()
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                delay = OUTAGE_BACKOFF[min(tries, len(OUTAGE_BACKOFF) - 1)]
                if tries == 0:
                    log.warning("%r: %s waits for the infrastructure (%s); retrying every %.0f-%.0fs",
                                self, what, _describe(exc), OUTAGE_BACKOFF[0], OUTAGE_BACKOFF[-1])
                tries += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                if self._stopping.is_set():
                    raise ConsumerStopping from exc
                continue
            if tries:
                log.warning("%r: %s applied after %d tries: the infrastructure is back", self, what, tries + 1)
            return result

    @contextlib.asynccontextmanager
    async def _kept_alive(self, msgs: Sequence[Msg]) -> AsyncIterator[_Waiting]:
        """While the block runs, tell JetStream every message of the batch not yet finished (the
        block discards finished ones from what it gets) is in progress: a slow handler, or an
        outage, must not make JetStream redeliver the rest of the batch and spend a delivery."""
        waiting = _Waiting(msgs)

        async def keep_alive() -> None:
            interval = max(0.5, self.ack_wait / 3)
            while True:
                await asyncio.sleep(interval)
                for msg in waiting.messages():
                    with contextlib.suppress(Exception):
                        await msg.in_progress()

        task = asyncio.create_task(keep_alive())
        try:
            yield waiting
        finally:
            _cancel(task)

    async def _apply(self, event: Event) -> bool:
        """Run the handler once per event: False when the inbox says it was applied already, or
        when the event's tenant has been purged from this service (nothing of it may come back)."""
        try:
            async with self.db.tenant_unit(scope_from_event(event.tenant_id)) as unit:
                return await self._apply_in(unit, event)
        except TenantGone:
            return False

    async def _apply_in(self, unit: Unit, event: Event) -> bool:
        first_time = await unit.fetchval(
            f"INSERT INTO {self.db.schema}.inbox (tenant_id, consumer, event_id) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING RETURNING true",
            event.tenant_id, self.name, event.id,
        )
        if not first_time:
            return False
        await self.handler(unit, event)
        return True

    # --- dead letters ----------------------------------------------------------------------------

    async def _give_up(self, msg: Msg, reason: str, deliveries: int, *, event: Event | None) -> None:
        """Copy to the dead-letter stream, then terminate (no more redeliveries)."""
        meta = msg.metadata
        try:
            await self._dead_letter(
                subject=msg.subject, data=msg.data, headers=msg.headers, stream_seq=meta.sequence.stream,
                deliveries=deliveries, reason=reason, event_id=event.id if event else None,
            )
        except Exception as exc:  # noqa: BLE001 - keep the message: JetStream redelivers it, or
            # (at max_deliver) its advisory gives us another chance to copy it.
            log.error("%r: could not dead-letter %s (%s); leaving it to redelivery", self, msg.subject, exc)
            with contextlib.suppress(Exception):
                await msg.nak(delay=self.backoff[-1])
            return
        await msg.term()
        log.warning("%r: dead-lettered %s after %d deliveries: %s", self, msg.subject, deliveries, reason)

    async def _on_max_deliveries(self, advisory: Msg) -> None:
        """JetStream gave up on a message we never acknowledged: copy it to the dead-letter stream."""
        try:
            body = json.loads(advisory.data)
            stream_seq = int(body["stream_seq"])
            deliveries = int(body.get("deliveries") or self.max_deliveries)
        except (ValueError, KeyError, TypeError) as exc:
            log.error("%r: unreadable max-deliveries advisory (%s): %r", self, exc, advisory.data[:200])
            return
        subject, data, headers = "", b"", None
        reason = MAX_DELIVERIES_REASON
        try:
            stored = await self.bus.js.get_msg(self.stream, seq=stream_seq)
            subject, data, headers = stored.subject or "", stored.data or b"", stored.headers
        except NotFoundError:
            reason += "; the message is no longer in the stream"
        except Exception as exc:  # noqa: BLE001
            log.error("%r: could not fetch message %d for the dead-letter stream: %s", self, stream_seq, exc)
            reason += f"; the message could not be fetched ({_describe(exc)})"
        event_id: uuid.UUID | None = None
        with contextlib.suppress(Exception):
            event_id = decode_event(data).id
        try:
            await self._dead_letter(
                subject=subject, data=data, headers=headers, stream_seq=stream_seq,
                deliveries=deliveries, reason=reason, event_id=event_id,
            )
            log.warning("%r: dead-lettered stream message %d: %s", self, stream_seq, reason)
        except Exception as exc:  # noqa: BLE001 - nothing else to try; the message stays in its stream
            log.error("%r: could not dead-letter stream message %d: %s", self, stream_seq, exc)

    async def _dead_letter(
        self,
        *,
        subject: str,
        data: bytes,
        headers: Mapping[str, str] | None,
        stream_seq: int,
        deliveries: int,
        reason: str,
        event_id: uuid.UUID | None,
    ) -> None:
        original = dict(headers or {})
        original_msg_id = original.get(MSG_ID_HEADER)
        # The same id on both paths (handler and advisory), so a message is dead-lettered once.
        key = original_msg_id or (str(event_id) if event_id else f"{self.stream}.{stream_seq}")
        copy: dict[str, str] = {
            # Keep the trace context and our own headers; never JetStream's control headers.
            k: v for k, v in original.items() if not k.lower().startswith("nats-") and k.lower() != "status"
        }
        copy.update({
            MSG_ID_HEADER: f"{key}:{self.name}",
            HDR_ORIGINAL_SUBJECT: subject,
            HDR_ORIGINAL_STREAM: self.stream,
            HDR_ORIGINAL_SEQUENCE: str(stream_seq),
            HDR_CONSUMER: self.name,
            HDR_DELIVERIES: str(deliveries),
            HDR_REASON: _header_value(reason),
            HDR_FAILED_AT: datetime.now(UTC).isoformat(),
        })
        if original_msg_id:
            copy[HDR_ORIGINAL_MSG_ID] = original_msg_id
        await self.bus.js.publish(self.dead_letter_subject, data, headers=copy)


class _Waiting:
    """The messages of a batch not finished yet (nats-py's ``Msg`` is not hashable)."""

    def __init__(self, msgs: Sequence[Msg]) -> None:
        self._msgs = {id(m): m for m in msgs}

    def discard(self, msg: Msg) -> None:
        self._msgs.pop(id(msg), None)

    def messages(self) -> list[Msg]:
        return list(self._msgs.values())


def _decode(msg: Msg) -> Event:
    try:
        event = decode_event(msg.data)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise _Undeliverable(f"undecodable event payload: {exc}") from None
    # crm.<service>.<tenant_id>.<entity>.<action>: the subject's tenant must be the envelope's.
    parts = msg.subject.split(".")
    if len(parts) == 5 and parts[0] == SUBJECT_ROOT and parts[2] != str(event.tenant_id):
        raise _Undeliverable(f"subject tenant {parts[2]} differs from envelope tenant {event.tenant_id}")
    return event


def _header_value(text: str) -> str:
    """One line of printable ASCII (NATS headers are CRLF-delimited), of bounded length."""
    flat = " ".join(text.split())
    return flat.encode("ascii", "backslashreplace").decode("ascii")[:_MAX_REASON]


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _cancel(task: asyncio.Task[Any]) -> None:
    # Not awaited: awaiting a cancelled task could swallow a cancellation meant for us.
    task.cancel()
