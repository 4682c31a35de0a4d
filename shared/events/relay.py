"""The outbox relay: publishes what a service's transactions wrote to its outbox, in order, once.

A unit of work writes its events to ``<schema>.outbox`` in the same transaction as the change, so
an event exists exactly when its change committed. The relay moves them to JetStream:

- **One active relay per schema.** Each relay holds a dedicated connection (outside the pool) and
  takes a session-level advisory lock on it; other replicas wait as standbys and retry the lock
  every few seconds. When the active relay's connection dies, PostgreSQL drops its lock.
- **Wakes on NOTIFY.** A statement trigger on the outbox sends ``pg_notify('huike_outbox',
  '<schema>')`` on commit; the relay LISTENs and drains at once, and polls slowly (every
  ``poll_interval`` seconds) in case a notification was missed.
- **Two lanes.** Rows written with ``bulk`` (an import's events) are taken only when no other row
  waits, and ``bulk_batch_size`` (128) at a time: an import writes events faster than they are
  published, and in one queue a person's write made meanwhile would wait behind all of them; in
  batches of 200 it waited for the 200 publishes (each fsynced) in flight, ~0.5 s. 128 rather than
  32: JetStream (syncing always) stored 128 pipelined publishes 1.2-1.5x faster per message than
  32 on this machine's disk, and a batch is five round trips to PostgreSQL; a person's write waits
  for at most ~0.15 s of them. Order holds within each
  lane; across lanes consumers order by record version (an imported record edited at once may be
  published as updated before its created event).
- **Drain:** in one transaction, lock the oldest rows of a lane (``WHERE bulk = $2 ORDER BY seq ... FOR UPDATE``), send them
  *in order* on the one NATS connection, each with ``Nats-Msg-Id`` = event id, without waiting
  between them (JetStream stores one connection's messages in the order they were sent), then
  await their PubAcks; delete the acknowledged prefix and commit. Waiting for each PubAck before
  the next send capped a relay at one round trip per event (~300 events/s here). A publish that is
  not acknowledged ends the batch there (the acknowledged prefix is still deleted), and the relay
  backs off and retries from that row: nothing is lost. In that failure case alone, later events of
  the same batch may already be stored ahead of the retried one (their own retries are dropped as
  duplicates), so a consumer must not rely on order across a publish failure: the consumers here
  order what they apply by record version.
- **Crash safety:** a relay that dies after publishing but before committing leaves its rows in
  place; the next relay publishes them again and JetStream drops the copies by ``Nats-Msg-Id``
  (within the stream's duplicate window, which is much longer than the worst retry gap here).
- **Tracing:** each publish is a PRODUCER span ``publish <subject>`` whose parent is the trace
  context stored in the row (the request that caused the event); the span's own context is sent
  as ``traceparent`` so the consumer's span hangs below it. The relay's own SQL is not traced
  (it would add a root span every poll).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import random
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import asyncpg
from nats.js.api import PubAck
from opentelemetry import trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, Status, StatusCode

from shared.events.bus import MSG_ID_HEADER, Bus
from shared.telemetry import context_from_headers, current_trace_headers, tracer

if TYPE_CHECKING:  # shared.db imports the envelope from this package: no import cycle at run time
    from shared.db import ServiceDatabase

log = logging.getLogger("huike.events.relay")

__all__ = ["NOTIFY_CHANNEL", "OutboxRelay", "relay_lock_key"]

NOTIFY_CHANNEL = "huike_outbox"  # see huike.notify_outbox() in shared/db/platform.sql


def relay_lock_key(schema: str) -> int:
    """The advisory lock (a signed 64-bit key) that makes one relay per schema the active one."""
    digest = hashlib.sha256(f"huike.outbox-relay:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class _PublishFailed(Exception):
    """JetStream did not acknowledge a publish; the relay backs off and retries from that row."""


class _Backoff:
    """Exponential back-off with jitter, capped."""

    def __init__(self, first: float, cap: float) -> None:
        self.first, self.cap, self.attempt = first, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2**self.attempt)
        self.attempt += 1
        return delay * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not cryptography

    def reset(self) -> None:
        self.attempt = 0


class OutboxRelay:
    """Publishes one service schema's outbox to JetStream. ``start()`` returns at once; the relay
    becomes active when it gets the schema's lock. ``stop()`` finishes the batch in flight."""

    def __init__(
        self,
        db: ServiceDatabase,
        bus: Bus,
        batch_size: int = 200,
        *,
        bulk_batch_size: int = 128,
        poll_interval: float = 5.0,
        standby_interval: float = 2.0,
        publish_timeout: float = 5.0,
        max_backoff: float = 30.0,
    ) -> None:
        if batch_size < 1 or bulk_batch_size < 1:
            raise ValueError("batch_size and bulk_batch_size must be at least 1")
        self.db = db
        self.bus = bus
        self.schema = db.schema
        self.batch_size = batch_size
        self.bulk_batch_size = bulk_batch_size
        self.poll_interval = poll_interval
        self.standby_interval = standby_interval
        self.publish_timeout = publish_timeout
        # The worst gap between two attempts at the same row: keep it far below the streams'
        # duplicate window (2 h by default), or a republished row could be stored twice.
        self.max_backoff = max_backoff
        self.published = 0  # events published (acknowledged by JetStream) by this relay
        self._lock_key = relay_lock_key(self.schema)
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._active = False
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"OutboxRelay({self.schema}, {'active' if self._active else 'standby'})"

    @property
    def is_active(self) -> bool:
        """True while this relay holds the schema's lock (and so is the one publishing)."""
        return self._active

    @property
    def is_running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.is_running:
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay:{self.schema}")

    async def stop(self) -> None:
        """Stop after the batch in flight; release the lock so a standby takes over."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping.set()
        self._wake.set()
        await task

    def wake(self) -> None:
        """Drain now (as a NOTIFY would)."""
        self._wake.set()

    # --- the loop --------------------------------------------------------------------------------

    async def _run(self) -> None:
        backoff = _Backoff(0.2, self.max_backoff)
        while not self._stopping.is_set():
            try:
                await self._session()
                backoff.reset()
            except Exception as exc:  # noqa: BLE001 - database or network trouble: reconnect
                delay = backoff.next()
                log.warning("outbox relay %s: %s; reconnecting in %.1fs", self.schema, _describe(exc), delay)
                await self._sleep(delay)

    async def _session(self) -> None:
        """One database connection: wait for the lock, then drain on every wake-up until stopped."""
        with suppress_instrumentation():
            conn: asyncpg.Connection = await asyncpg.connect(
                self.db.database.url, server_settings={"application_name": f"huike-outbox-relay:{self.schema}"}
            )
        try:
            conn.add_termination_listener(lambda _conn: self._wake.set())
            if not await self._acquire_lock(conn):
                return
            self._active = True
            log.info("outbox relay %s is active", self.schema)
            # Listen before the first drain, so nothing committed in between goes unnoticed.
            with suppress_instrumentation():
                await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
            backoff = _Backoff(0.1, self.max_backoff)
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    await self._drain(conn)
                except _PublishFailed as exc:
                    delay = backoff.next()
                    log.warning("outbox relay %s: %s; retrying in %.1fs", self.schema, exc, delay)
                    await self._sleep(delay)
                    continue
                backoff.reset()
                # A NOTIFY, stop(), or the connection's death (its next query then fails) wakes us.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
        finally:
            self._active = False
            await _close(conn)

    async def _acquire_lock(self, conn: asyncpg.Connection) -> bool:
        """Wait as a standby until this relay holds the schema's lock; False if stopped first."""
        logged = False
        while not self._stopping.is_set():
            with suppress_instrumentation():
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._lock_key):
                    return True
            if not logged:
                log.info("outbox relay %s is a standby: another relay holds the lock", self.schema)
                logged = True
            await self._sleep(self.standby_interval)
        return False

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        if payload == self.schema:
            self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but return at once when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    # --- draining --------------------------------------------------------------------------------

    async def _drain(self, conn: asyncpg.Connection) -> None:
        """Publish batches until the outbox is empty (or we are stopping: the current batch ends first)."""
        while not self._stopping.is_set():
            if not await self._drain_batch(conn):
                return

    async def _drain_batch(self, conn: asyncpg.Connection) -> bool:
        """One transaction: lock the oldest rows, publish them in order, delete those acknowledged.
        True when the batch was full (more rows may wait)."""
        transaction = conn.transaction()
        with suppress_instrumentation():
            await transaction.start()
        try:
            with suppress_instrumentation():
                # The live lane first; bulk rows only when none waits, and in small batches: a row
                # written meanwhile waits for at most that many publishes (each fsynced by JetStream).
                for bulk, limit in ((False, self.batch_size), (True, self.bulk_batch_size)):
                    rows = await conn.fetch(
                        f"SELECT seq, id, subject, payload, headers FROM {self.schema}.outbox"
                        " WHERE bulk = $2 ORDER BY seq LIMIT $1 FOR UPDATE", limit, bulk)
                    if rows:
                        break
            done: list[int] = []
            failure: BaseException | None = None
            sent: list[tuple[trace.Span, asyncio.Future[PubAck]]] = []
            try:
                for row in rows:
                    try:
                        sent.append(await self._send(row))
                    except Exception as exc:  # noqa: BLE001 - NATS down: what was sent may still be acknowledged
                        failure = exc
                        break
                deadline = asyncio.get_running_loop().time() + self.publish_timeout
                for row, (span, acknowledged) in zip(rows, sent, strict=False):
                    try:
                        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
                        _end_span(span, await asyncio.wait_for(acknowledged, remaining))
                    except Exception as exc:  # noqa: BLE001 - timeout, no stream: retry from this row later
                        _end_span(span, exc)
                        failure = exc
                        break
                    done.append(row["seq"])
            finally:
                for span, acknowledged in sent[len(done):]:
                    if not acknowledged.done():
                        acknowledged.cancel()  # frees nats-py's slot for it
                    if span.is_recording():
                        span.end()
            with suppress_instrumentation():
                if done:
                    await conn.execute(f"DELETE FROM {self.schema}.outbox WHERE seq = ANY($1::bigint[])", done)
                await transaction.commit()
        except BaseException:
            # Rows stay in the outbox; whatever was published is dropped as a duplicate next time.
            if not conn.is_closed():
                with suppress_instrumentation(), contextlib.suppress(Exception):
                    await transaction.rollback()
            raise
        self.published += len(done)
        if failure is not None:
            raise _PublishFailed(f"publishing {rows[len(done)]['subject']} failed: {_describe(failure)}") from failure
        return len(rows) == limit

    async def _send(self, row: asyncpg.Record) -> tuple[trace.Span, asyncio.Future[PubAck]]:
        """Send one row's event; the PRODUCER span ends when its PubAck (or failure) arrives."""
        subject: str = row["subject"]
        event_id = str(row["id"])
        stored = _stored_headers(row["headers"])
        span = tracer("huike.events").start_span(
            f"publish {subject}",
            context=context_from_headers(stored),
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.operation.type": "send",
                "messaging.destination.name": subject,
                "messaging.message.id": event_id,
                "huike.outbox.schema": self.schema,
            },
        )
        with trace.use_span(span, end_on_exit=False):
            # The stored headers (tracestate, baggage...), with this span's context as traceparent.
            headers = {**stored, **current_trace_headers(), MSG_ID_HEADER: event_id}
        try:
            acknowledged = await self.bus.js.publish_async(subject, bytes(row["payload"]), headers=headers)
        except Exception as exc:
            _end_span(span, exc)
            raise
        return span, acknowledged


def _end_span(span: trace.Span, outcome: PubAck | BaseException) -> None:
    if isinstance(outcome, BaseException):
        span.record_exception(outcome)
        span.set_status(Status(StatusCode.ERROR, _describe(outcome)))
    else:
        span.set_attribute("messaging.nats.stream", outcome.stream)
        span.set_attribute("messaging.nats.stream_sequence", outcome.seq)
        if outcome.duplicate:
            span.set_attribute("messaging.nats.duplicate", True)
    span.end()


def _stored_headers(value: Any) -> dict[str, str]:
    """The row's headers column (a dict with the pool's codec; a JSON string without it)."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, Mapping):
        return {}
    # Only plain string headers; never let a stored header take over a JetStream control header.
    return {str(k): v for k, v in value.items() if isinstance(v, str) and not str(k).lower().startswith("nats-")}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _close(conn: asyncpg.Connection) -> None:
    if conn.is_closed():
        return
    try:
        await asyncio.wait_for(conn.close(), 5)
    except asyncio.CancelledError:
        conn.terminate()
        raise
    except Exception:  # noqa: BLE001 - a dead socket or a slow server: just drop it
        conn.terminate()
