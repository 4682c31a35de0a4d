"""Small helpers the identity controllers share: who is calling, ETags, cursors."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, TypeVar

from services.identity.domain.context import Caller, Origin
from shared.auth import Principal
from shared.errors import Forbidden
from shared.http import AnyRequest

T = TypeVar("T")



def origin_of(request: AnyRequest) -> Origin:
    """Where a request came from. The direct peer address: running behind a proxy needs the
    server's forwarded-header handling (uvicorn --proxy-headers with trusted addresses)."""
    return Origin(source_ip=request.client.host if request.client else None,
                  user_agent=request.headers.get("user-agent"))


def caller_of(principal: Principal, request: AnyRequest) -> Caller:
    return Caller(scope=principal.scope, actor=principal.actor, user_id=principal.user_id, origin=origin_of(request),
                  rights=principal)


def require_session(principal: Principal, what: str) -> uuid.UUID:
    """Some things only a person who logged in may do, never a program holding an API key."""
    if principal.session_id is None:
        raise Forbidden(f"{what} needs a logged-in user; API keys cannot do it", kind="session-required")
    return principal.session_id


def created_key(item: Any) -> tuple[datetime, uuid.UUID]:
    return item.created_at, item.id
