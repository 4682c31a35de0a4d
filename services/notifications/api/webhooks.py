"""/api/v1/webhooks: tenants' endpoints for outgoing, signed webhooks (Standard Webhooks), their
delivery log, replays, secret rotation and a test ping."""

from __future__ import annotations

import uuid
from datetime import datetime

from litestar import Controller, Response, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.notifications.db import webhooks as store
from services.notifications.domain import webhooks as domain
from shared.errors import ValidationProblem
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag
from shared.pagination import Page, check_limit, page_of, time_cursor

SERVICE = "notifications"
DELIVERY_STATUSES = ("pending", "succeeded", "failed", "cancelled")


def _allow_private(runtime: RuntimeDep) -> bool:
    return bool(runtime.settings.webhook_allow_private)


class WebhooksController(Controller):
    path = "/webhooks"
    tags = ["webhooks"]

    @post(status_code=201)
    async def create_webhook(self, data: JSONBody[domain.WebhookCreate], principal: PrincipalDep,
                             runtime: RuntimeDep) -> Response[domain.WebhookOut]:
        """Subscribe ``url`` to event types (``customer.created``, ``customer.*``, ``*``). The answer
        holds the signing ``secret`` (``whsec_...``) once. Deliveries carry ``webhook-id``,
        ``webhook-timestamp`` and ``webhook-signature`` per the Standard Webhooks specification. A
        URL that is not http(s), too long, or on a loopback, private, link-local or metadata address
        is refused (422 naming ``url``)."""
        principal.require("webhook", "create")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.create(unit, principal, data, allow_private=_allow_private(runtime))
        return with_etag(out, out.version, status_code=201)

    @get()
    async def list_webhooks(self, principal: PrincipalDep, runtime: RuntimeDep, limit: FromQuery[int | None] = None,
                            cursor: FromQuery[str | None] = None) -> Page[domain.WebhookOut]:
        """The tenant's endpoints, newest first (never their secrets)."""
        principal.require("webhook", "read")
        size = check_limit(limit)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            rows = await store.page_endpoints(unit, after=time_cursor(cursor), limit=size)
        return page_of([domain.webhook_out(r) for r in rows], size, _cursor_key)

    @get("/{webhook_id:uuid}")
    async def get_webhook(self, webhook_id: FromPath[uuid.UUID], principal: PrincipalDep,
                          runtime: RuntimeDep) -> Response[domain.WebhookOut]:
        principal.require("webhook", "read")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.get(unit, webhook_id)
        return with_etag(out, out.version)

    @patch("/{webhook_id:uuid}")
    async def update_webhook(self, webhook_id: FromPath[uuid.UUID], data: JSONBody[domain.WebhookPatch],
                             principal: PrincipalDep, request: AnyRequest,
                             runtime: RuntimeDep) -> Response[domain.WebhookOut]:
        """Change the URL, event types, description, or switch it off and on (on again: its failures
        start over). ``If-Match`` answers 412 when stale."""
        principal.require("webhook", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = await domain.update(unit, principal, webhook_id, data, expected_version(request),
                                      allow_private=_allow_private(runtime))
        return with_etag(out, out.version)

    @delete("/{webhook_id:uuid}", status_code=204)
    async def delete_webhook(self, webhook_id: FromPath[uuid.UUID], principal: PrincipalDep,
                             runtime: RuntimeDep) -> None:
        """Delete the endpoint, its delivery log and what was still to send."""
        principal.require("webhook", "delete")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            await domain.delete(unit, webhook_id)

    @post("/{webhook_id:uuid}/rotate-secret", status_code=200)
    async def rotate_webhook_secret(self, webhook_id: FromPath[uuid.UUID], principal: PrincipalDep,
                                    runtime: RuntimeDep) -> domain.WebhookOut:
        """A new signing secret, in this answer only. For 24 hours the old one signs too
        (``webhook-signature`` carries both), so the receiver can switch without losing a message."""
        principal.require("webhook", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return await domain.rotate(unit, webhook_id)

    @post("/{webhook_id:uuid}/ping", status_code=202)
    async def ping_webhook(self, webhook_id: FromPath[uuid.UUID], principal: PrincipalDep,
                           runtime: RuntimeDep) -> domain.DeliveryOut:
        """Send a ``webhook.ping`` message now; its delivery is logged like any other."""
        principal.require("webhook", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return await domain.ping(unit, principal, webhook_id)

    @get("/{webhook_id:uuid}/deliveries")
    async def list_webhook_deliveries(self, webhook_id: FromPath[uuid.UUID], principal: PrincipalDep,
                                      runtime: RuntimeDep, status: FromQuery[str | None] = None,
                                      limit: FromQuery[int | None] = None,
                                      cursor: FromQuery[str | None] = None) -> Page[domain.DeliveryOut]:
        """Messages to the endpoint, newest first, each with every attempt (status code, duration,
        answer excerpt, error); ``status`` filters: pending, succeeded, failed, cancelled."""
        principal.require("webhook", "read")
        if status is not None and status not in DELIVERY_STATUSES:
            raise ValidationProblem.one("status", f"must be one of {', '.join(DELIVERY_STATUSES)}", "not_one_of")
        size = check_limit(limit)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            await domain.get(unit, webhook_id)
            items = await domain.deliveries(unit, webhook_id, after=time_cursor(cursor), limit=size, status=status)
        return page_of(items, size, _delivery_key)

    @post("/{webhook_id:uuid}/deliveries/{delivery_id:uuid}/replay", status_code=202)
    async def replay_webhook_delivery(self, webhook_id: FromPath[uuid.UUID], delivery_id: FromPath[uuid.UUID],
                                      principal: PrincipalDep, runtime: RuntimeDep) -> domain.DeliveryOut:
        """Send this message again now (same ``webhook-id``: a receiver that already has it drops it)."""
        principal.require("webhook", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return await domain.replay_one(unit, webhook_id, delivery_id)

    @post("/{webhook_id:uuid}/replay", status_code=202)
    async def replay_webhook(self, webhook_id: FromPath[uuid.UUID], data: JSONBody[domain.ReplaySince],
                             principal: PrincipalDep, runtime: RuntimeDep) -> domain.ReplayOut:
        """Send again every message of events since ``since`` (RFC 3339), delivered or not, oldest
        first; at most 10,000 per call (``queued`` says how many)."""
        principal.require("webhook", "update")
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return await domain.replay_since(unit, webhook_id, data.since)


def _cursor_key(out: domain.WebhookOut) -> list[datetime | uuid.UUID]:
    return [out.created_at, out.id]


def _delivery_key(out: domain.DeliveryOut) -> list[datetime | uuid.UUID]:
    return [out.created_at, out.id]
