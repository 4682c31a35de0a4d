"""Real-time push: which open SSE streams of this process to wake, fanned out over NATS.

After a consumer commits a user's notification it publishes an empty message on the core NATS
subject ``huike.notifications.push.<tenant>.<user>``; every replica's hub listens to
``huike.notifications.push.>`` and wakes the streams it serves for that user, which then read
their new rows from PostgreSQL by stream position (``seq``). The database stays the one source of
truth: a wake-up lost in transit is caught by the stream's own periodic read (every heartbeat).

The hub also listens to identity's events (``crm.identity.<tenant>.>``): any of them (a logout, a
deactivation, a role change) makes the tenant's open streams verify their credential again; a
credential that no longer works ends its stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("huike.notifications.push")

PUSH_ROOT = "huike.notifications.push"


def push_subject(tenant_id: uuid.UUID, user_id: uuid.UUID) -> str:
    return f"{PUSH_ROOT}.{tenant_id}.{user_id}"


class Listener:
    """One open stream: woken for new rows, or to verify its credential again."""

    def __init__(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
        self.tenant_id = tenant_id
        self.user_id = user_id
        self.wake = asyncio.Event()
        self.recheck = False
        self.heartbeat = False  # set by the hub's tick: send a comment, verify the credential again
        self.waiting_since = 0.0  # loop time the stream last started to wait


Fetch = Callable[[int], Awaitable[list[Any]]]  # rows with seq > n, by seq (at most a page)
HEARTBEAT_SECONDS = 15.0  # every open stream gets a comment line (and re-checks its credential) this often
_KEEP = 500  # recent rows kept per user for this process's streams
PAGE = 200  # rows a fetch reads at most


class Feed:
    """The recent rows of one user, read once for every stream of theirs in this process: with
    20 streams of one user open, a notification costs one read, not 20. Every row with
    ``floor < seq <= top`` is in ``rows``; ``stale`` means a newer one may exist."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.rows: list[Any] = []
        self.floor = 0
        self.top = -1  # nothing read yet
        self.stale = True
        # Each row's SSE data, encoded once per language for every stream of the user.
        self.encoded: dict[tuple[int, str], str] = {}

    def encode(self, row: Any, locale: str, make: Callable[[Any, str], str]) -> str:
        key = (row["seq"], locale)
        if (data := self.encoded.get(key)) is None:
            if len(self.encoded) > 2 * _KEEP:
                self.encoded.clear()
            data = self.encoded[key] = make(row, locale)
        return data

    async def after(self, position: int, fetch: Fetch) -> list[Any]:
        async with self.lock:
            if self.top < 0 or position < self.floor:
                self.stale = False
                self.rows = await fetch(position)
                self.floor = position
                self.top = self.rows[-1]["seq"] if self.rows else position
                self.stale = self.stale or len(self.rows) >= PAGE  # a full page: there may be more
            elif self.stale:
                self.stale = False  # a wake-up during the read sets it again: nothing is missed
                more = await fetch(self.top)
                if more:
                    self.rows.extend(more)
                    self.top = more[-1]["seq"]
                self.stale = self.stale or len(more) >= PAGE
                if len(self.rows) > _KEEP:
                    self.floor = self.rows[-_KEEP - 1]["seq"]
                    self.rows = self.rows[-_KEEP:]
            return [row for row in self.rows if row["seq"] > position]


ReadMany = Callable[[uuid.UUID, list[tuple[uuid.UUID, int]]], Awaitable[list[Any]]]


class Reader:
    """The new rows of many users of a tenant in one query: the reads asked for within
    ``delay`` (the wake-ups of one committed batch arrive together) share one transaction and
    one statement, instead of one each (which, at 200 events/s, was most of the process's CPU)."""

    def __init__(self, read_many: ReadMany, delay: float = 0.005) -> None:
        self.read_many = read_many  # (tenant, [(user, after seq)]) -> rows with user_id and seq
        self.delay = delay
        self._pending: dict[uuid.UUID, list[tuple[uuid.UUID, int, asyncio.Future[list[Any]]]]] = {}

    async def since(self, tenant_id: uuid.UUID, user_id: uuid.UUID, after: int) -> list[Any]:
        """The user's rows with ``seq > after``, by seq (at most ``PAGE``)."""
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        pending = self._pending.setdefault(tenant_id, [])
        pending.append((user_id, after, future))
        if len(pending) == 1:
            asyncio.get_running_loop().create_task(self._flush(tenant_id))
        return await future

    async def _flush(self, tenant_id: uuid.UUID) -> None:
        await asyncio.sleep(self.delay)
        batch = self._pending.pop(tenant_id, [])
        try:
            rows = await self.read_many(tenant_id, sorted({(user, after) for user, after, _ in batch}))
        except Exception as exc:  # noqa: BLE001 - each stream sees its read fail, as before
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        by_user: dict[uuid.UUID, list[Any]] = {}
        for row in rows:
            by_user.setdefault(row["user_id"], []).append(row)
        for user, after, future in batch:
            if not future.done():  # a stream closed meanwhile
                future.set_result([row for row in by_user.get(user, ()) if row["seq"] > after][:PAGE])


class Hub:
    def __init__(self, nc: Any, read_many: ReadMany) -> None:
        self.nc = nc
        self.reader = Reader(read_many)
        self._by_user: dict[tuple[uuid.UUID, uuid.UUID], set[Listener]] = {}
        self._feeds: dict[tuple[uuid.UUID, uuid.UUID], Feed] = {}
        self._subscriptions: list[Any] = []
        self._ticker: asyncio.Task[None] | None = None

    def feed(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Feed:
        return self._feeds.setdefault((tenant_id, user_id), Feed())

    def mark_stale(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
        if (feed := self._feeds.get((tenant_id, user_id))) is not None:
            feed.stale = True

    async def start(self) -> Hub:
        self._subscriptions = [
            await self.nc.subscribe(f"{PUSH_ROOT}.>", cb=self._on_push),
            await self.nc.subscribe("crm.identity.*.>", cb=self._on_identity),
        ]
        self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="notifications:heartbeat")
        return self

    async def _tick(self) -> None:
        """Every second, wake the streams that waited ``HEARTBEAT_SECONDS`` for nothing (as a
        timeout per wait would, without a timer and a task per wait). Only idle ones: waking all
        1,000 at once would verify 1,000 credentials in one go."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(1.0)
            now = loop.time()
            for listeners in list(self._by_user.values()):
                for listener in listeners:
                    if not listener.wake.is_set() and now - listener.waiting_since >= HEARTBEAT_SECONDS:
                        listener.heartbeat = True
                        listener.wake.set()

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        for sub in self._subscriptions:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        self._subscriptions = []
        for listeners in self._by_user.values():
            for listener in listeners:
                listener.recheck = True
                listener.wake.set()

    def listen(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Listener:
        listener = Listener(tenant_id, user_id)
        self._by_user.setdefault((tenant_id, user_id), set()).add(listener)
        return listener

    def forget(self, listener: Listener) -> None:
        key = (listener.tenant_id, listener.user_id)
        listeners = self._by_user.get(key)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._by_user[key]
                self._feeds.pop(key, None)

    @property
    def open_streams(self) -> int:
        return sum(len(v) for v in self._by_user.values())

    async def publish(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> None:
        try:
            await self.nc.publish(push_subject(tenant_id, user_id), b"")
        except Exception as exc:  # noqa: BLE001 - the stream's periodic read catches up
            log.info("push for %s/%s not sent: %s", tenant_id, user_id, exc)

    async def _on_push(self, msg: Any) -> None:
        parts = msg.subject.split(".")
        try:
            key = (uuid.UUID(parts[3]), uuid.UUID(parts[4]))
        except (IndexError, ValueError):
            return
        if (feed := self._feeds.get(key)) is not None:
            feed.stale = True
        for listener in self._by_user.get(key, ()):
            listener.wake.set()

    async def _on_identity(self, msg: Any) -> None:
        try:
            tenant_id = uuid.UUID(msg.subject.split(".")[2])
        except (IndexError, ValueError):
            return
        for (tenant, _user), listeners in list(self._by_user.items()):
            if tenant == tenant_id:
                for listener in listeners:
                    listener.recheck = True
                    listener.wake.set()
