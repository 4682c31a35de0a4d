"""Tenant scope as a type.

A ``TenantScope`` is the only key to a tenant's data (``Database.tenant_unit``). It can be made by
the authentication layer (from a verified credential), by an event consumer (from an envelope that
came through our own bus), or by a system path that creates or operates on a tenant (sign-up, the
operator CLI). Nothing reads it from a path, body or header the client chooses.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

ScopeOrigin = Literal["credential", "event", "system"]
_KEY = object()


@dataclass(frozen=True, slots=True)
class TenantScope:
    tenant_id: uuid.UUID
    origin: ScopeOrigin
    _key: object

    def __post_init__(self) -> None:
        if self._key is not _KEY:
            raise TypeError("TenantScope is made by shared.tenancy.scope_from_* only")

    def __repr__(self) -> str:
        return f"TenantScope({self.tenant_id}, {self.origin})"


def scope_from_credential(tenant_id: uuid.UUID) -> TenantScope:
    """Called by shared.auth once a token or API key has been verified."""
    return TenantScope(tenant_id, "credential", _KEY)


def scope_from_event(tenant_id: uuid.UUID | str) -> TenantScope:
    """Called by shared.events for an envelope delivered by our own JetStream streams."""
    return TenantScope(uuid.UUID(str(tenant_id)), "event", _KEY)


def scope_for_system(tenant_id: uuid.UUID) -> TenantScope:
    """For sign-up, operator commands and background jobs that act for a known tenant."""
    return TenantScope(tenant_id, "system", _KEY)
