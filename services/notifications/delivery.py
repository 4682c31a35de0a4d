"""Outgoing webhooks and chat robots: from events to delivery rows, and the worker that sends them.

**Events to deliveries.** A durable, idempotent consumer per source stream (records, identity,
workflows: ``notifications-hooks-<service>``) runs, in the event's tenant unit of work, over that
tenant's enabled endpoints and robots (row-level security shows no other tenant's) and adds a
pending delivery for each that subscribes to the event's type, queued now. A delivery is unique per
(target, event id), so a redelivered event adds nothing.

**Sending.** A worker on every replica leases due deliveries (``hook_queue``, SKIP LOCKED, a lease
of two minutes), only as many as it can send at once (20 per process: a slow endpoint holds one
slot, and no lease runs out waiting), and sends each outside any transaction:

* webhooks: POST the payload with the Standard Webhooks headers (``webhook-id`` = the event id, so
  a receiver drops repeats; every live secret signs); robots: their platform's message, signed,
  within the platform's rate limit (counted from the robot's attempts of the last minute/second
  under the robot's row lock, held through the send, so replicas take turns and the limit holds
  across processes: a message over the limit waits for the window and spends no attempt);
* httpx with a 10 s timeout per operation and 30 s in all, no proxies from the environment, the
  answer read up to 64 KiB; a 307/308 redirect is followed (three hops at most), its target checked
  like the first; other redirects are failures; every connection resolves and checks the address
  it connects to (``domain.ssrf.GuardedBackend``) unless ``HUIKE_WEBHOOK_ALLOW_PRIVATE``;
* 2xx (and, for robots, the platform's ``errcode``/``code`` 0) succeeds; anything else is a failed
  attempt, tried again after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 14 h (about 32 hours; a later
  ``Retry-After`` is honoured), then the delivery is failed. A target failing without a success for
  ``DISABLE_AFTER`` is disabled and ``<entity>.disabled`` is published
  (``crm.notifications.<tenant>.webhook.disabled`` / ``.chat_robot.disabled``) so admins are told.

At least once: a crash between the send and its record sends again when the lease runs out. When
the database is unavailable the delivery is given back untouched (no attempt spent), never failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import certifi
import httpcore
import httpx
import msgspec

from services.notifications.db import robots as robots_store
from services.notifications.db import webhooks as store
from services.notifications.domain import robots, signing, ssrf
from services.notifications.domain import webhooks as hooks
from shared.db import ServiceDatabase, Unit
from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer
from shared.events.envelope import Actor, Event
from shared.tenancy import scope_for_system
from shared.unavailable import log_failure

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.notifications.delivery")

SERVICE = "notifications"
RETRY_DELAYS: tuple[timedelta, ...] = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
                                       timedelta(hours=2), timedelta(hours=5), timedelta(hours=10),
                                       timedelta(hours=14))
DISABLE_AFTER = timedelta(days=5)
MAX_RETRY_AFTER = timedelta(hours=14)
TIMEOUT = 10.0          # connect, write, read, each
TOTAL_TIMEOUT = 30.0    # a slow drip cannot hold a worker longer
MAX_RESPONSE_BYTES = 64 * 1024
EXCERPT_CHARS = 1000
MAX_REDIRECTS = 3
CONCURRENCY = 20  # sends at once per process (each holds a connection only to record its attempt)
ROBOT_SENDS = 4  # robot sends at once per process: each holds a connection (its robot's row lock) while it sends
POLL_SECONDS = 0.5
INFRA_RETRY_SECONDS = 15.0
USER_AGENT = "Huike-Webhooks/1.0"
TABLES = {"webhook": "webhook_endpoints", "robot": "chat_robots"}
DISABLED_ENTITY = {"webhook": "webhook", "robot": "chat_robot"}


# --- events to deliveries --------------------------------------------------------------------------

async def on_event(unit: Unit, event: Event) -> None:
    """Add a delivery for each of the tenant's targets subscribed to ``event``'s type."""
    await on_events(unit, [event])


async def on_events(unit: Unit, events: list[Event]) -> None:
    """``on_event`` for a batch of one tenant's events, in order: its targets read once per batch
    (a tenant without webhooks or robots costs two reads, not two per event)."""
    events = [e for e in events if e.type in hooks.EVENT_TYPES]
    if not events:
        return
    endpoints = list(await store.enabled_endpoints(unit))
    robots_ = list(await robots_store.enabled(unit))
    for event in events:
        await _deliveries(unit, event, endpoints, robots_)


async def _deliveries(unit: Unit, event: Event, endpoints: list[Any], robots_: list[Any]) -> None:
    for endpoint in endpoints:
        if hooks.matches(list(endpoint["events"]), event.type):
            await store.add_delivery(unit, target_kind="webhook", target_id=endpoint["id"], event_id=event.id,
                                     event_type=event.type, occurred_at=event.occurred_at,
                                     payload=hooks.payload_of(event, endpoint["hidden_fields"] or {}))
    for robot in robots_:
        if not hooks.matches(list(robot["events"]), event.type):
            continue
        payload = hooks.payload_of(event, {})
        if robots.for_department(robot, payload):
            await store.add_delivery(unit, target_kind="robot", target_id=robot["id"], event_id=event.id,
                                     event_type=event.type, occurred_at=event.occurred_at, payload=payload)


# --- sending ---------------------------------------------------------------------------------------

@dataclass
class SendResult:
    succeeded: bool
    status_code: int | None
    duration_ms: int
    excerpt: str | None
    error: str | None
    retry_after: float | None = None


def _client(allow_private: bool) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(retries=0)
    # httpx takes no network backend; its pool does: every connection resolves and checks its address.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl.create_default_context(cafile=certifi.where()), max_connections=100,
        max_keepalive_connections=20, keepalive_expiry=5.0, network_backend=ssrf.GuardedBackend(allow_private))
    return httpx.AsyncClient(transport=transport, timeout=httpx.Timeout(TIMEOUT), follow_redirects=False,
                             trust_env=False, headers={"user-agent": USER_AGENT})


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str], *, allow_private: bool,
               accept: Callable[[bytes], str | None] | None = None) -> SendResult:
    """POST ``body``; follow 307/308 (each hop checked); read at most 64 KiB of the answer."""
    started = time.monotonic()

    def done(ok: bool, status: int | None, excerpt: str | None, error: str | None,
             retry_after: float | None = None) -> SendResult:
        return SendResult(ok, status, int((time.monotonic() - started) * 1000), excerpt, error, retry_after)

    async def attempt() -> SendResult:
        target = url
        for _hop in range(MAX_REDIRECTS + 1):
            async with client.stream("POST", target, content=body,
                                     headers={**headers, "content-type": "application/json"}) as answer:
                raw = b""
                async for chunk in answer.aiter_raw():
                    raw += chunk
                    if len(raw) >= MAX_RESPONSE_BYTES:
                        break
                raw = raw[:MAX_RESPONSE_BYTES]
                excerpt = raw[:EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS] or None
                status = answer.status_code
                if status in (307, 308) and answer.headers.get("location"):
                    target = urljoin(target, answer.headers["location"])
                    problems = ssrf.check_url(target, "location", allow_private=allow_private)
                    if problems:
                        return done(False, status, excerpt, f"redirect to {target[:200]} refused: {problems[0].message}")
                    continue
                if 300 <= status < 400:
                    return done(False, status, excerpt,
                                f"redirect ({status}) not followed: only 307 and 308 keep the POST")
                if 200 <= status < 300:
                    refusal = accept(raw) if accept is not None else None
                    return done(refusal is None, status, excerpt, refusal)
                return done(False, status, excerpt, f"the receiver answered {status}",
                            _retry_after(answer.headers.get("retry-after")))
        return done(False, None, None, f"more than {MAX_REDIRECTS} redirects")

    try:
        return await asyncio.wait_for(attempt(), TOTAL_TIMEOUT)
    except ssrf.ForbiddenAddress as exc:
        return done(False, None, None, f"refused: {exc} (HUIKE_WEBHOOK_ALLOW_PRIVATE is off)")
    except (TimeoutError, httpx.TimeoutException):
        return done(False, None, None, f"timed out (at most {TIMEOUT:.0f} s per step, {TOTAL_TIMEOUT:.0f} s in all)")
    except httpx.HTTPError as exc:
        return done(False, None, None, f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__)
    except OSError as exc:  # the name does not resolve, the network is unreachable
        return done(False, None, None, f"could not connect: {exc}"[:500])


def _robot_accept(platform: str) -> Callable[[bytes], str | None]:
    def accept(raw: bytes) -> str | None:
        try:
            return robots.refusal(platform, json.loads(raw))
        except ValueError:
            return f"{platform} answered something that is not JSON"
    return accept


class DeliveryWorker:
    """Leases due deliveries and sends them; one per process."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db: ServiceDatabase = runtime.db(SERVICE)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self._inflight: set[asyncio.Task[None]] = set()
        self._target_locks: dict[uuid.UUID, asyncio.Lock] = {}  # one per target seen: a few bytes each
        self._robot_sends = asyncio.Semaphore(ROBOT_SENDS)

    @property
    def allow_private(self) -> bool:
        return bool(self.runtime.settings.webhook_allow_private)

    def client(self) -> httpx.AsyncClient:
        allow = self.allow_private
        if allow not in self._clients:
            self._clients[allow] = _client(allow)
        return self._clients[allow]

    def wake(self, _event: Event | None = None) -> None:
        self._wake.set()

    async def start(self) -> DeliveryWorker:
        self._task = asyncio.create_task(self._loop(), name="notifications-delivery")
        return self

    async def stop(self) -> None:
        """Lease nothing more; let the sends in flight finish and record what they got."""
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _loop(self) -> None:
        """Lease only as many deliveries as can be sent now (so no lease runs out waiting), and
        lease more as soon as a send ends: a slow endpoint holds one slot, not the batch."""
        while not self._stopping.is_set():
            self._wake.clear()
            free = CONCURRENCY - len(self._inflight)
            leased = 0
            if free > 0:
                try:
                    leased = self._start_due(await self._lease(free))
                except Exception as exc:  # noqa: BLE001 - the database may be down: wait and try again
                    log_failure(log, exc, "notifications delivery: leasing failed")
            if not leased or len(self._inflight) >= CONCURRENCY:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    async def _lease(self, limit: int) -> list[Any]:
        async with self.db.system_unit() as system:
            return await store.lease_due(system, limit)

    def _start_due(self, items: list[Any]) -> int:
        for item in items:
            task = asyncio.create_task(self._guarded(item["tenant_id"], item["id"]),
                                       name=f"notifications-delivery:{item['id']}")
            self._inflight.add(task)
            task.add_done_callback(self._ended)
        return len(items)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()

    async def _guarded(self, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
        try:
            await self.deliver(tenant_id, delivery_id)
        except Exception as exc:  # noqa: BLE001 - infrastructure (or a bug): give it back, no attempt spent
            log_failure(log, exc, "notifications delivery %s: given back", delivery_id)
            with contextlib.suppress(Exception):
                async with self.db.system_unit() as system:
                    await store.queue_retry_later(system, delivery_id, INFRA_RETRY_SECONDS)

    async def deliver(self, tenant_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
        scope = scope_for_system(tenant_id)
        async with self.db.tenant_unit(scope) as unit:
            delivery = await store.get_delivery(unit, delivery_id)
            if delivery is None or delivery["status"] != "pending":
                await store.queue_drop(unit, delivery_id)
                return
            kind = delivery["target_kind"]
            target = await (store.get_endpoint(unit, delivery["target_id"]) if kind == "webhook"
                            else robots_store.get(unit, delivery["target_id"]))
            if target is None or not target["enabled"]:
                await store.finish_delivery(unit, delivery_id, "cancelled",
                                            "the target was deleted" if target is None else "the target is disabled",
                                            count_attempt=False)
                return
        if kind == "webhook":  # leased a moment ago: send
            await self._send_and_record(scope, kind, target, delivery)
            return
        # Robots: one send at a time per robot across every replica, so its rate limit counts
        # right: the robot's row lock is held from the count of its recent attempts through the
        # send to the attempt's record (a send is bounded: 30 s). In this process the sends to one
        # robot queue on an asyncio lock first, and at most ROBOT_SENDS hold a connection at once.
        async with self._target_locks.setdefault(target["id"], asyncio.Lock()), self._robot_sends:
            async with self.db.tenant_unit(scope) as unit:
                if await robots_store.get(unit, target["id"], for_update=True) is None:
                    return  # deleted meanwhile: its deliveries went with it
                # Waiting for the locks may have taken a while: still ours to send, and the lease renewed.
                if not await store.renew_lease(unit, delivery_id):
                    return
                wait_until = await self._rate_limited(unit, target)
                if wait_until is not None:
                    await store.postpone_delivery(unit, delivery_id, wait_until)
                    return
                attempted_at = datetime.now(UTC)
                result = await self._send(kind, target, delivery)
                await self._record(unit, kind, target, delivery, attempted_at, result)

    async def _send_and_record(self, scope: Any, kind: str, target: Any, delivery: Any) -> None:
        attempted_at = datetime.now(UTC)
        result = await self._send(kind, target, delivery)
        async with self.db.tenant_unit(scope) as unit:
            await self._record(unit, kind, target, delivery, attempted_at, result)

    async def _rate_limited(self, unit: Unit, robot: Any) -> datetime | None:
        """When the robot may send again, or None when it may now."""
        latest: datetime | None = None
        for count, seconds in robots.RATE_LIMITS[robot["platform"]]:
            nth = await store.sent_since(unit, robot["id"], seconds, count)
            if nth is not None:
                free = nth + timedelta(seconds=seconds)
                latest = free if latest is None or free > latest else latest
        return latest

    async def _send(self, kind: str, target: Any, delivery: Any) -> SendResult:
        payload = delivery["payload"]
        if kind == "webhook":
            body = msgspec.json.encode(payload)
            headers = signing.webhook_headers(hooks.signing_secrets(target, datetime.now(UTC)),
                                              str(delivery["event_id"]), int(time.time()), body)
            return await post(self.client(), target["url"], body, headers, allow_private=self.allow_private)
        url, message = robots.request_of(target, payload)
        hosts = None if self.allow_private else robots.HOSTS[target["platform"]]
        if hosts is not None and (urlsplit(url).hostname or "") not in hosts:
            return SendResult(False, None, 0, None, f"refused: the URL is not on {' or '.join(hosts)}")
        return await post(self.client(), url, msgspec.json.encode(message), {}, allow_private=self.allow_private,
                          accept=_robot_accept(target["platform"]))

    async def _record(self, unit: Unit, kind: str, target: Any, delivery: Any, attempted_at: datetime,
                      result: SendResult) -> None:
        await store.record_attempt(unit, delivery["id"], target["id"], attempted_at=attempted_at,
                                   succeeded=result.succeeded, status_code=result.status_code,
                                   duration_ms=result.duration_ms, response_excerpt=result.excerpt,
                                   error=result.error)
        table = TABLES[kind]
        if result.succeeded:
            await store.finish_delivery(unit, delivery["id"], "succeeded", None, count_attempt=False)
            await store.target_succeeded(unit, table, target["id"])
            return
        error = result.error or "failed"
        tries = delivery["attempts"] + 1
        if tries <= len(RETRY_DELAYS):
            delay = RETRY_DELAYS[tries - 1]
            if result.retry_after is not None:
                delay = max(delay, min(timedelta(seconds=result.retry_after), MAX_RETRY_AFTER))
            await store.retry_delivery(unit, delivery["id"], datetime.now(UTC) + delay, error)
        else:
            await store.finish_delivery(unit, delivery["id"], "failed", error)
        failing_since = await store.target_failed(unit, table, target["id"])
        if failing_since is not None and datetime.now(UTC) - failing_since >= DISABLE_AFTER:
            reason = (f"every delivery failed since {failing_since.isoformat(timespec='seconds')}; "
                      f"last error: {error}")[:1000]
            await store.disable_target(unit, table, target["id"], reason)
            name = target["url"] if kind == "webhook" else target["name"]
            await unit.emit(DISABLED_ENTITY[kind], "disabled", target["id"], actor=Actor(kind="system"),
                            data={"name": name, "reason": reason, "failing_since": failing_since.isoformat()})
            log.warning("notifications: %s %s disabled after failing since %s", kind, target["id"], failing_since)


# --- start-up --------------------------------------------------------------------------------------

class _Started:
    def __init__(self, worker: DeliveryWorker, consumers: list[EventConsumer]) -> None:
        self.worker = worker
        self.consumers = consumers

    async def stop(self) -> None:
        await asyncio.gather(*(c.stop() for c in self.consumers), return_exceptions=True)
        await self.worker.stop()


async def start_delivery(runtime: Runtime) -> _Started:
    assert runtime.bus is not None
    settings = runtime.settings
    worker = await DeliveryWorker(runtime).start()
    consumers = []
    for service in hooks.SOURCE_SERVICES:
        # Served alone (``huike serve notifications``), the source streams may not exist yet.
        await runtime.bus.ensure_service_stream(service, replicas=settings.nats_stream_replicas,
                                                duplicate_window_seconds=settings.event_duplicate_window_seconds)
        consumer = EventConsumer(runtime.bus, runtime.db(SERVICE), name=f"notifications-hooks-{service}",
                                 stream=service_stream_name(service), subjects=[f"crm.{service}.>"],
                                 handler=on_event, batch_handler=on_events,
                                 max_deliveries=settings.event_max_deliveries,
                                 on_applied=worker.wake, batch_size=100, batched=True)
        await consumer.start()
        consumers.append(consumer)
    return _Started(worker, consumers)
