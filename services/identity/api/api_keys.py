"""API keys: bearer credentials for programs, shown once, scoped, revocable."""

from __future__ import annotations

import uuid

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.identity.api.common import (
    caller_of,
    created_key,
    require_session,
)
from services.identity.api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    api_key_created,
    api_key_out,
)
from services.identity.domain import api_keys as domain
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.pagination import Page, check_limit, page_of, time_cursor
from shared.validation import check_query

# Binds this list's cursors (one of another list is refused).
LIST = "api-keys"


def _only_own(principal: PrincipalDep) -> bool:
    """Scope ``own`` of ``api_key`` limits a user to their own keys; ``all`` shows the tenant's."""
    return principal.data.permissions.data_scope("api_key") != "all"


class ApiKeysController(Controller):
    path = "/api-keys"
    tags = ["api keys"]

    @post(status_code=201)
    async def create_key(
        self, data: JSONBody[ApiKeyCreate], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> ApiKeyCreated:
        """Create an API key acting as the caller, narrowed to ``scopes`` (``*``,
        ``entity:action`` such as ``customer:read``, ``entity:*`` or ``*:action``). The key is in
        ``key``, shown this once; only its prefix is shown later."""
        require_session(principal, "Creating an API key")
        principal.require("api_key", "create")
        row, key = await domain.create_key(runtime.db("identity"), caller_of(principal, request), name=data.name,
                                           scopes=data.scopes, expires_at=data.expires_at)
        return api_key_created(row, key)

    @get()
    async def list_keys(
        self, principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> Page[ApiKeyOut]:
        """Keys without their secrets: prefix, scopes, status, last use."""
        check_query(request)
        principal.require("api_key", "read")
        size = check_limit(limit)
        rows = await domain.list_keys(runtime.db("identity"), caller_of(principal, request),
                                      only_own=_only_own(principal), after=time_cursor(cursor, bind=LIST), limit=size)
        return page_of([api_key_out(r) for r in rows], size, created_key, bind=LIST)

    @delete("/{key_id:uuid}", status_code=204)
    async def revoke_key(
        self, key_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Revoke a key; it stops working on every service within moments."""
        principal.require("api_key", "delete")
        await domain.revoke_key(runtime.db("identity"), caller_of(principal, request), key_id,
                                only_own=_only_own(principal))
