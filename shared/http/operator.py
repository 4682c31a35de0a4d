"""The platform operator's guard: operator endpoints take the deployment's operator token, never
a tenant's credentials (and do not exist at all when no token is configured)."""

from __future__ import annotations

import hmac
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from shared.errors import NotFound, Unauthorized


def operator_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Litestar guard: 401 without ``Authorization: Bearer <operator token>``; 404 when the
    deployment set no operator token."""
    expected = connection.app.state.runtime.settings.operator_token
    if not expected:
        raise NotFound(f"No resource at {connection.scope.get('method', 'GET')} {connection.url.path}")
    scheme, _sep, token = (connection.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("The operator API needs Authorization: Bearer <operator token>", kind="operator-only")
