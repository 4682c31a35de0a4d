"""Who is acting and from where: what audit entries and events record about a request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from shared.auth import Principal
from shared.errors import NotFound
from shared.events.envelope import Actor
from shared.tenancy import TenantScope

ANONYMOUS = Actor(kind="anonymous")
OPERATOR = Actor(kind="operator")
SYSTEM = Actor(kind="system")


@dataclass(frozen=True)
class Origin:
    """The network side of a request: source address and user agent (both may be missing)."""

    source_ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Caller:
    """An authenticated caller inside one tenant: what domain functions need to act and audit."""

    scope: TenantScope
    actor: Actor  # the user, or the API key acting for them
    user_id: uuid.UUID  # the acting user (an API key acts as the user who made it)
    origin: Origin
    rights: Principal  # what the caller holds: a grant they make may not exceed it

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.scope.tenant_id


def user_actor(user_id: uuid.UUID) -> Actor:
    return Actor(kind="user", id=str(user_id))


def missing(entity: str, entity_id: object) -> NotFound:
    """The one answer for an object that does not exist or belongs to another tenant (RLS hides both)."""
    return NotFound(f"No {entity.replace('_', ' ')} with id {entity_id}", kind="not-found")
