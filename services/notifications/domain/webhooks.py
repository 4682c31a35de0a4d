"""Webhook endpoints as the API sees them, and what an endpoint is sent.

An endpoint belongs to a tenant and subscribes to event types (``customer.created``, ``customer.*``,
``*``) of the records, identity and workflows events (``EVENT_TYPES``; events that carry secrets,
such as password resets, are not offered). It is fed only by its own tenant's subjects: the
consumer runs in the event's tenant unit of work, where row-level security shows that tenant's
endpoints only. The payload is the event envelope without the fields the creator's role hides
(kept with the endpoint when it is saved), and without internal bookkeeping (``data.origin``).
The creator must be able to read every record of each entity subscribed to (scope ``all``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec

from services.notifications.db import webhooks as store
from services.notifications.domain import signing, ssrf
from shared.auth import Principal
from shared.db import Unit
from shared.errors import FieldError, NotFound, ValidationProblem
from shared.events.envelope import Event
from shared.http.conditional import check_version

ROTATION_OVERLAP = timedelta(hours=24)
PING = "webhook.ping"

_CRM = ("customer", "contact", "interaction", "objection", "task", "opportunity")
_RECORD_ACTIONS = ("created", "updated", "deleted", "restored")
EVENT_TYPES: frozenset[str] = frozenset({
    *(f"{entity}.{action}" for entity in _CRM for action in _RECORD_ACTIONS),
    "customer.transferred", "customer.claimed", "customer.returned_to_pool", "customer.pool_warning",
    "customer.merged", "customer.merge_undone", "objection.status_changed", "task.status_changed",
    "opportunity.status_changed", "contact.transferred", "opportunity.transferred", "task.transferred",
    "objection.transferred", "handover.completed",
    "pipeline.created", "pipeline.updated", "pipeline.deleted",
    "custom_field.created", "custom_field.updated", "custom_field.retired",
    # identity
    "user.created", "user.updated", "user.deactivated", "user.reactivated", "user.roles_changed",
    "department.created", "department.updated", "department.deleted",
    "role.created", "role.updated", "role.deleted",
    "invitation.created", "invitation.accepted", "invitation.revoked",
    "api_key.created", "api_key.revoked",
    # workflows
    "workflow.created", "workflow.updated", "workflow.deleted",
})
ENTITIES: frozenset[str] = frozenset(t.split(".", 1)[0] for t in EVENT_TYPES)
SOURCE_SERVICES = ("records", "identity", "workflows")

Url = Annotated[str, msgspec.Meta(min_length=1, max_length=ssrf.MAX_URL_LENGTH,
                                  examples=["https://hooks.example.com/huike"])]
EventPattern = Annotated[str, msgspec.Meta(min_length=1, max_length=100,
                                           examples=["customer.created", "customer.*", "*"])]
Events = Annotated[list[EventPattern], msgspec.Meta(min_length=1, max_length=100)]
Description = Annotated[str, msgspec.Meta(max_length=500)]
UNSET = msgspec.UNSET


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Url
    events: Events
    description: Description | None = None
    enabled: bool = True


class WebhookPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    url: Url | msgspec.UnsetType = UNSET
    events: Events | msgspec.UnsetType = UNSET
    description: Description | None | msgspec.UnsetType = UNSET
    enabled: bool | msgspec.UnsetType = UNSET


class WebhookOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    url: str
    description: str | None
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None = None
    # The signing secret: in the answer that made it (creation, rotation), never again.
    secret: str | None = None


class AttemptOut(msgspec.Struct, kw_only=True):
    seq: int
    attempted_at: datetime
    succeeded: bool
    status_code: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None


class DeliveryOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    event_id: uuid.UUID  # the webhook-id header: receivers drop repeats by it
    event_type: str
    occurred_at: datetime
    status: str  # pending | succeeded | failed | cancelled
    attempts: int  # failed tries since it was (re)queued
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    attempt_log: list[AttemptOut] = []


class ReplaySince(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    since: datetime


class ReplayOut(msgspec.Struct, kw_only=True):
    queued: int


# --- event types ------------------------------------------------------------------------------------

def check_patterns(patterns: list[str], principal: Principal, field: str = "events") -> list[FieldError]:
    """Unknown types, and entities the caller may not read in full, each named by its index."""
    errors: list[FieldError] = []
    for index, pattern in enumerate(patterns):
        where = f"{field}[{index}]"
        if pattern == "*":
            covered = ENTITIES
        elif pattern.endswith(".*") and pattern[:-2] in ENTITIES:
            covered = frozenset({pattern[:-2]})
        elif pattern in EVENT_TYPES:
            covered = frozenset({pattern.split(".", 1)[0]})
        else:
            errors.append(FieldError(where, f"'{pattern}' is not an event type; use one of "
                                     f"{', '.join(sorted(EVENT_TYPES))}, '<entity>.*' or '*'", "unknown_event_type"))
            continue
        unreadable = sorted(e for e in covered if not _reads_all(principal, e))
        if unreadable:
            errors.append(FieldError(where, f"your role cannot read every {', '.join(unreadable)}", "not_allowed"))
    return errors


def _reads_all(principal: Principal, entity: str) -> bool:
    return principal.can(entity, "read") and principal.data.permissions.data_scope(entity) == "all"


def matches(patterns: list[str], event_type: str) -> bool:
    return "*" in patterns or event_type in patterns or f"{event_type.split('.', 1)[0]}.*" in patterns


# Field names that are one field for field rules (as records applies them).
_TWINS = {"phone": "phones", "phones": "phone", "email": "emails", "emails": "email"}


def hidden_fields_of(principal: Principal) -> dict[str, list[str]]:
    """Per entity, the fields the creator's role hides (a phone rule hides the phones list too)."""
    found: dict[str, list[str]] = {}
    for entity, rules in principal.data.permissions.fields.items():
        hidden = {f for f, rule in rules.items() if rule == "hidden"}
        hidden |= {_TWINS[f] for f in hidden if f in _TWINS}
        if hidden:
            found[entity] = sorted(hidden)
    return found


def payload_of(event: Event, hidden: dict[str, list[str]]) -> dict[str, Any]:
    """The envelope the endpoint is sent: without the creator's hidden fields and ``data.origin``."""
    envelope: dict[str, Any] = msgspec.to_builtins(event)
    data = envelope.get("data") or {}
    data.pop("origin", None)
    fields = hidden.get(event.entity) or []
    record = data.get("record")
    changes = data.get("changes")
    for name in fields:
        base, _, key = name.partition(".")
        if isinstance(record, dict):
            if key and isinstance(record.get(base), dict):
                record[base].pop(key, None)
            elif not key:
                record.pop(name, None)
        if isinstance(changes, dict):
            changes.pop(name, None)
    if fields and isinstance(data.get("sensitive_fields"), list):
        data["sensitive_fields"] = [f for f in data["sensitive_fields"] if f not in fields]
    return envelope


# --- endpoints ---------------------------------------------------------------------------------------

def webhook_out(row: Any, secret: str | None = None) -> WebhookOut:
    expires = row["previous_secret_expires_at"]
    return WebhookOut(
        id=row["id"], url=row["url"], description=row["description"], events=list(row["events"]),
        enabled=row["enabled"], disabled_reason=row["disabled_reason"], failing_since=row["failing_since"],
        version=row["version"], created_at=row["created_at"], updated_at=row["updated_at"],
        previous_secret_expires_at=expires if expires is not None and expires > datetime.now(UTC) else None,
        secret=secret)


async def _check_url(url: str, allow_private: bool, errors: list[FieldError]) -> None:
    found = ssrf.check_url(url, "url", allow_private=allow_private)
    if not found:
        found = await ssrf.check_resolved(url, "url", allow_private=allow_private)
    errors.extend(found)


async def create(unit: Unit, principal: Principal, body: WebhookCreate, *, allow_private: bool) -> WebhookOut:
    errors: list[FieldError] = []
    await _check_url(body.url, allow_private, errors)
    errors += check_patterns(body.events, principal)
    if errors:
        raise ValidationProblem(errors)
    secret = signing.new_secret()
    row = await store.insert_endpoint(unit, url=body.url, description=body.description, events=body.events,
                                      hidden_fields=hidden_fields_of(principal), enabled=body.enabled, secret=secret,
                                      created_by=principal.user_id)
    return webhook_out(row, secret)


async def _endpoint(unit: Unit, endpoint_id: uuid.UUID, *, for_update: bool = False) -> Any:
    row = await store.get_endpoint(unit, endpoint_id, for_update=for_update)
    if row is None:
        raise NotFound(f"No webhook {endpoint_id}")
    return row


async def get(unit: Unit, endpoint_id: uuid.UUID) -> WebhookOut:
    return webhook_out(await _endpoint(unit, endpoint_id))


async def update(unit: Unit, principal: Principal, endpoint_id: uuid.UUID, body: WebhookPatch,
                 expected_version: int | None, *, allow_private: bool) -> WebhookOut:
    row = await _endpoint(unit, endpoint_id, for_update=True)
    check_version(expected_version, row["version"], "webhook")
    errors: list[FieldError] = []
    changes: dict[str, Any] = {}
    if body.url is not UNSET:
        await _check_url(body.url, allow_private, errors)
        changes["url"] = body.url
    if body.events is not UNSET:
        errors += check_patterns(body.events, principal)
        changes["events"] = body.events
        changes["hidden_fields"] = hidden_fields_of(principal)
    if errors:
        raise ValidationProblem(errors)
    if body.description is not UNSET:
        changes["description"] = body.description
    if body.enabled is not UNSET:
        changes["enabled"] = body.enabled
        if body.enabled:  # switched on again: failures start over
            changes["disabled_reason"] = None
            changes["failing_since"] = None
    if not changes:
        return webhook_out(row)
    return webhook_out(await store.update_endpoint(unit, endpoint_id, changes))


async def delete(unit: Unit, endpoint_id: uuid.UUID) -> None:
    if not await store.delete_endpoint(unit, endpoint_id):
        raise NotFound(f"No webhook {endpoint_id}")


async def rotate(unit: Unit, endpoint_id: uuid.UUID) -> WebhookOut:
    """A new secret; the old one keeps signing next to it for ``ROTATION_OVERLAP``."""
    await _endpoint(unit, endpoint_id, for_update=True)
    secret = signing.new_secret()
    row = await store.rotate_secret(unit, endpoint_id, secret, int(ROTATION_OVERLAP.total_seconds()))
    return webhook_out(row, secret)


def signing_secrets(row: Any, now: datetime) -> list[str]:
    """The current secret, and the previous one while its overlap lasts."""
    found = [row["secret"]]
    if row["previous_secret"] and row["previous_secret_expires_at"] and row["previous_secret_expires_at"] > now:
        found.append(row["previous_secret"])
    return found


async def ping(unit: Unit, principal: Principal, endpoint_id: uuid.UUID) -> DeliveryOut:
    """A ``webhook.ping`` message to the endpoint, delivered and logged like any other."""
    await _endpoint(unit, endpoint_id)
    now = datetime.now(UTC)
    event_id = uuid.uuid4()
    payload = {"id": str(event_id), "type": PING, "service": "notifications", "tenant_id": str(unit.tenant_id),
               "occurred_at": now.isoformat(), "actor": msgspec.to_builtins(principal.actor),
               "entity": "webhook", "entity_id": str(endpoint_id), "version": 1, "data": {"ping": True}}
    delivery_id = await store.add_delivery(unit, target_kind="webhook", target_id=endpoint_id, event_id=event_id,
                                           event_type=PING, occurred_at=now, payload=payload)
    assert delivery_id is not None
    return await delivery(unit, endpoint_id, delivery_id)


# --- deliveries ---------------------------------------------------------------------------------------

def delivery_out(row: Any, attempts: list[Any]) -> DeliveryOut:
    return DeliveryOut(
        id=row["id"], event_id=row["event_id"], event_type=row["event_type"], occurred_at=row["occurred_at"],
        status=row["status"], attempts=row["attempts"], next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"], created_at=row["created_at"],
        attempt_log=[AttemptOut(seq=a["seq"], attempted_at=a["attempted_at"], succeeded=a["succeeded"],
                                status_code=a["status_code"], duration_ms=a["duration_ms"],
                                response_excerpt=a["response_excerpt"], error=a["error"]) for a in attempts])


async def deliveries(unit: Unit, target_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int,
                     status: str | None) -> list[DeliveryOut]:
    rows = await store.page_deliveries(unit, target_id, after=after, limit=limit, status=status)
    by_delivery: dict[uuid.UUID, list[Any]] = {}
    for attempt in await store.attempts_of(unit, [r["id"] for r in rows]):
        by_delivery.setdefault(attempt["delivery_id"], []).append(attempt)
    return [delivery_out(r, by_delivery.get(r["id"], [])) for r in rows]


async def delivery(unit: Unit, target_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryOut:
    row = await store.get_delivery(unit, delivery_id, target_id)
    if row is None:
        raise NotFound(f"No delivery {delivery_id}")
    return delivery_out(row, await store.attempts_of(unit, [delivery_id]))


async def replay_one(unit: Unit, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryOut:
    """Send the delivery's message again (the same ``webhook-id``), whatever became of it."""
    await _endpoint(unit, endpoint_id)
    if not await store.requeue(unit, endpoint_id, delivery_id=delivery_id):
        raise NotFound(f"No delivery {delivery_id}")
    return await delivery(unit, endpoint_id, delivery_id)


async def replay_since(unit: Unit, endpoint_id: uuid.UUID, since: datetime) -> ReplayOut:
    """Send again every message of the endpoint's events since ``since`` (at most 10,000, oldest first)."""
    await _endpoint(unit, endpoint_id)
    if since.tzinfo is None:
        raise ValidationProblem.one("since", "must carry a time zone (RFC 3339)", "invalid_format")
    return ReplayOut(queued=len(await store.requeue(unit, endpoint_id, since=since)))
