"""/api/v1/notifications: the caller's inbox, its unread count, read/unread/archive, and the SSE
stream. Every query is the caller's own rows of their own tenant (RLS and ``user_id``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.params import FromQuery, JSONBody
from litestar.response import ServerSentEvent
from litestar.response.sse import ServerSentEventMessage

from services.notifications.db import store
from services.notifications.domain.types import BY_KEY, DEFAULT_LOCALE, render
from services.notifications.workers import state_of
from shared.auth import Principal
from shared.errors import FieldError, Problem, ValidationProblem
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.pagination import Page, check_limit, page_of, time_cursor

SERVICE = "notifications"
MAX_IDS = 500


class Link(msgspec.Struct):
    type: str
    id: str


class NotificationOut(msgspec.Struct):
    id: uuid.UUID
    type: str
    title: str
    body: str
    link: Link | None
    count: int
    created_at: datetime
    updated_at: datetime
    read_at: datetime | None


class UnreadCount(msgspec.Struct):
    unread: int


class Changed(msgspec.Struct):
    changed: int


class ReadBody(msgspec.Struct, forbid_unknown_fields=True):
    """Either ``ids`` (at most 500) or ``"all": true``."""

    ids: list[uuid.UUID] | None = None
    all: bool = False


class IdsBody(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[uuid.UUID]


def locale_of(principal: Principal) -> str:
    return principal.data.locale or DEFAULT_LOCALE


def out(row: object, locale: str) -> NotificationOut:
    title, body = render(row["type"], row["params"], locale)  # type: ignore[index]
    link = Link(row["link_type"], row["link_id"]) if row["link_type"] and row["link_id"] else None  # type: ignore[index]
    return NotificationOut(id=row["id"], type=row["type"], title=title, body=body, link=link,  # type: ignore[index]
                           count=row["count"], created_at=row["created_at"], updated_at=row["updated_at"],  # type: ignore[index]
                           read_at=row["read_at"])  # type: ignore[index]


def _ids(ids: list[uuid.UUID] | None) -> list[uuid.UUID]:
    if not ids:
        raise ValidationProblem.one("ids", "name at least one notification", "required")
    if len(ids) > MAX_IDS:
        raise ValidationProblem.one("ids", f"at most {MAX_IDS} ids", "too_many")
    return ids


def _user(principal: Principal) -> uuid.UUID:
    return principal.user_id


class NotificationsController(Controller):
    path = "/notifications"
    tags = ["notifications"]

    @get()
    async def list_notifications(self, principal: PrincipalDep, runtime: RuntimeDep,
                                 unread: FromQuery[bool] = False, type: FromQuery[str | None] = None,
                                 limit: FromQuery[int | None] = None,
                                 cursor: FromQuery[str | None] = None) -> Page[NotificationOut]:
        """The caller's notifications, newest first (archived ones left out); ``unread=true`` only
        unread ones, ``type=`` one type (the README's table). Title and body are in the caller's
        language (their locale, else zh-CN); ``link`` names the record."""
        if type is not None and type not in BY_KEY:
            raise ValidationProblem.one("type", "is not a notification type", "unknown_type")
        size = check_limit(limit)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            rows = await store.page(unit, _user(principal), after=time_cursor(cursor, bind="notifications"), limit=size, unread=unread,
                                    type_key=type)
        locale = locale_of(principal)
        return page_of([out(r, locale) for r in rows], size, lambda n: (n.created_at, n.id), bind="notifications")

    @get("/unread-count")
    async def unread_count(self, principal: PrincipalDep, runtime: RuntimeDep) -> UnreadCount:
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return UnreadCount(await store.unread_count(unit, _user(principal)))

    @post("/read", status_code=200)
    async def mark_read(self, data: JSONBody[ReadBody], principal: PrincipalDep, runtime: RuntimeDep) -> Changed:
        """Mark ``ids`` read, or every unread one with ``{"all": true}``. Ids that are not the
        caller's are not found and change nothing."""
        if data.all and data.ids:
            raise ValidationProblem([FieldError("all", "send either ids or all, not both", "conflict")])
        ids = None if data.all else _ids(data.ids)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return Changed(await store.set_read(unit, _user(principal), ids, True))

    @post("/unread", status_code=200)
    async def mark_unread(self, data: JSONBody[IdsBody], principal: PrincipalDep, runtime: RuntimeDep) -> Changed:
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return Changed(await store.set_read(unit, _user(principal), _ids(data.ids), False))

    @post("/archive", status_code=200)
    async def archive(self, data: JSONBody[IdsBody], principal: PrincipalDep, runtime: RuntimeDep) -> Changed:
        """Archived notifications leave the list and the unread count."""
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return Changed(await store.archive(unit, _user(principal), _ids(data.ids)))

    @get("/stream")
    async def stream(self, principal: PrincipalDep, runtime: RuntimeDep, request: AnyRequest) -> ServerSentEvent:
        """Server-Sent Events: each of the caller's notifications as an event ``notification``
        (``data`` is the item as in the list; a collapsed burst that grows comes again with the
        same ``id`` in ``data``), ``id:`` its stream position. Reconnect with ``Last-Event-ID`` to
        get exactly what came after it; without one, only what comes from now on. A comment line
        every 15 s keeps proxies from closing it. The stream ends when the credential stops
        working (logout, deactivation)."""
        last = request.headers.get("last-event-id")
        after: int | None = None
        if last:
            try:
                after = int(last)
                if not 0 <= after < 2**63:
                    raise ValueError
            except ValueError:
                raise ValidationProblem.one("Last-Event-ID", "must be an id this stream sent", "invalid") from None
        db = runtime.db(SERVICE)
        if after is None:
            async with db.tenant_unit(principal.scope) as unit:
                after = await store.last_seq(unit, _user(principal))
        authorization = request.headers.get("authorization")
        return ServerSentEvent(_events(runtime, principal, authorization, after),
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


class _Frames(ServerSentEventMessage):
    """Events already framed (``id:``, ``event:``, ``data:``): every row of one read goes out in one
    write. Each message through the ASGI stack (exception, metrics and tracing middleware) costs
    far more than its bytes, and 1,000 open streams multiply it."""

    def __init__(self, frames: str) -> None:
        super().__init__()
        self.frames = frames

    def encode(self) -> bytes:
        return self.frames.encode()


async def _events(runtime: RuntimeDep, principal: Principal, authorization: str | None, after: int
                  ) -> AsyncIterator[ServerSentEventMessage]:
    hub = state_of(runtime).hub
    listener = hub.listen(principal.tenant_id, principal.user_id)
    locale = locale_of(principal)
    encoder = msgspec.json.Encoder()
    feed = hub.feed(principal.tenant_id, principal.user_id)

    async def fetch(position: int) -> list[Any]:
        # Batched with the other streams' reads of this moment (push.Reader): one query for all.
        return await hub.reader.since(principal.tenant_id, principal.user_id, position)

    def frame(row: Any, lang: str) -> str:
        data = encoder.encode(out(row, lang)).decode()
        return ServerSentEventMessage(data=data, event="notification", id=row["seq"]).encode().decode()

    try:
        yield ServerSentEventMessage(data=None, comment="connected", retry=2000)
        while True:
            listener.wake.clear()
            rows = await feed.after(after, fetch)
            if rows:
                after = rows[-1]["seq"]
                yield _Frames("".join(feed.encode(row, locale, frame) for row in rows))
            if feed.stale:
                continue  # more came meanwhile (or a full page was read)
            # Woken by a push, an identity event, or the hub's heartbeat tick (after HEARTBEAT_SECONDS
            # of waiting: a timer and a task per wait cost more than the rest of a wake-up).
            listener.waiting_since = asyncio.get_running_loop().time()
            await listener.wake.wait()
            timed_out, listener.heartbeat = listener.heartbeat, False
            if timed_out:
                hub.mark_stale(principal.tenant_id, principal.user_id)  # a lost wake-up is caught here
            if listener.recheck or timed_out:
                assert runtime.principals is not None
                if listener.recheck:  # an identity event of the tenant: our cache may not know yet
                    runtime.principals.forget_tenant(principal.tenant_id)
                listener.recheck = False
                try:
                    await runtime.principals.authenticate(authorization)
                except Problem as exc:
                    if exc.status_code in (401, 403):
                        return  # logged out, deactivated, tenant suspended: the stream ends
                if timed_out:
                    yield ServerSentEventMessage(data=None, comment="heartbeat")
    finally:
        hub.forget(listener)
