"""The one event envelope every service publishes and consumes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec

SUBJECT_ROOT = "crm"


class Actor(msgspec.Struct, frozen=True, omit_defaults=True):
    """Who caused the change: a user, an API key, the system, or a platform operator."""

    kind: str  # "user" | "api_key" | "system" | "operator"
    id: str | None = None


class Event(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    type: str  # "<entity>.<action>", e.g. "user.created"
    service: str
    tenant_id: uuid.UUID
    occurred_at: datetime
    actor: Actor
    entity: str
    entity_id: str
    version: int = 1
    data: dict[str, Any] = msgspec.field(default_factory=dict)

    @property
    def action(self) -> str:
        return self.type.split(".", 1)[1]

    @property
    def subject(self) -> str:
        return subject_for(self.service, self.tenant_id, self.entity, self.action)


def subject_for(service: str, tenant_id: uuid.UUID | str, entity: str, action: str) -> str:
    """``crm.<service>.<tenant_id>.<entity>.<action>``"""
    return f"{SUBJECT_ROOT}.{service}.{tenant_id}.{entity}.{action}"


def new_event(
    *,
    service: str,
    tenant_id: uuid.UUID,
    entity: str,
    action: str,
    entity_id: str | uuid.UUID,
    actor: Actor,
    data: dict[str, Any] | None = None,
    version: int = 1,
) -> Event:
    return Event(
        id=uuid.uuid4(),
        type=f"{entity}.{action}",
        service=service,
        tenant_id=tenant_id,
        occurred_at=datetime.now(UTC),
        actor=actor,
        entity=entity,
        entity_id=str(entity_id),
        version=version,
        data=data or {},
    )


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(payload: bytes) -> Event:
    return _decoder.decode(payload)
