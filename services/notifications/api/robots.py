"""/api/v1/chat-robots: 钉钉, 飞书 and 企业微信 group robots that tell a team of events."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.notifications.db import robots as store
from services.notifications.domain import robots as domain
from services.notifications.domain.webhooks import DeliveryOut
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag
from shared.pagination import Page, check_limit, page_of, time_cursor

SERVICE = "notifications"


class ChatRobotsController(Controller):
    path = "/chat-robots"
    tags = ["chat robots"]

    @post(status_code=201)
    async def create_chat_robot(self, data: JSONBody[domain.RobotCreate], principal: PrincipalDep,
                                runtime: RuntimeDep) -> Response[domain.RobotOut]:
        """A group robot of ``platform`` (dingtalk, feishu, wecom) at ``webhook_url`` (on the platform's
        host), told of ``events``; ``secret`` signs 钉钉 (``SEC...``) and 飞书 messages; with
        ``department_id``, only events of that department's records."""
        principal.require("webhook", "create")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.create(unit, principal, data,
                                      allow_private=bool(runtime.settings.webhook_allow_private))
        return with_etag(out, out.version, status_code=201)

    @get()
    async def list_chat_robots(self, principal: PrincipalDep, runtime: RuntimeDep,
                               limit: FromQuery[int | None] = None,
                               cursor: FromQuery[str | None] = None) -> Page[domain.RobotOut]:
        principal.require("webhook", "read")
        size = check_limit(limit)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            rows = await store.page(unit, after=time_cursor(cursor), limit=size)
        return page_of([domain.robot_out(r) for r in rows], size, _cursor_key)

    @get("/{robot_id:uuid}")
    async def get_chat_robot(self, robot_id: FromPath[uuid.UUID], principal: PrincipalDep,
                             runtime: RuntimeDep) -> Response[domain.RobotOut]:
        principal.require("webhook", "read")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.get(unit, robot_id)
        return with_etag(out, out.version)

    @patch("/{robot_id:uuid}")
    async def update_chat_robot(self, robot_id: FromPath[uuid.UUID], data: JSONBody[domain.RobotPatch],
                                principal: PrincipalDep, request: AnyRequest,
                                runtime: RuntimeDep) -> Response[domain.RobotOut]:
        """Change the robot; ``If-Match`` answers 412 when stale."""
        principal.require("webhook", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.update(unit, principal, robot_id, data, expected_version(request),
                                      allow_private=bool(runtime.settings.webhook_allow_private))
        return with_etag(out, out.version)

    @delete("/{robot_id:uuid}", status_code=204)
    async def delete_chat_robot(self, robot_id: FromPath[uuid.UUID], principal: PrincipalDep,
                                runtime: RuntimeDep) -> None:
        principal.require("webhook", "delete")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            await domain.delete(unit, robot_id)

    @get("/{robot_id:uuid}/deliveries")
    async def list_chat_robot_deliveries(self, robot_id: FromPath[uuid.UUID], principal: PrincipalDep,
                                         runtime: RuntimeDep, limit: FromQuery[int | None] = None,
                                         cursor: FromQuery[str | None] = None) -> Page[DeliveryOut]:
        """Messages to the robot, newest first, with every attempt."""
        principal.require("webhook", "read")
        size = check_limit(limit)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            items = await domain.deliveries(unit, robot_id, after=time_cursor(cursor), limit=size)
        return page_of(items, size, _delivery_key)


def _cursor_key(out: domain.RobotOut) -> list[datetime | uuid.UUID]:
    return [out.created_at, out.id]


def _delivery_key(out: DeliveryOut) -> list[datetime | uuid.UUID]:
    return [out.created_at, out.id]
