"""The tenant's security audit log, read-only."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import FromQuery, QueryParameter

from services.identity.api.schemas import AuditEntryOut, audit_out
from services.identity.db import audit
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.pagination import Page, check_limit, cursor_int, cursor_time, decode_cursor, page_of
from shared.validation import check_query

# Binds this list's cursors (one of another list is refused).
LIST = "audit-log"


@get("/audit-log", tags=["audit"])
async def audit_log(
    principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep,
    action: Annotated[
        str | None, QueryParameter(max_length=100, description="exact action, or a prefix like login.*")
    ] = None,
    limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
) -> Page[AuditEntryOut]:
    """Security-relevant actions, newest first: logins, sessions, passwords, keys, roles, users,
    invitations, tenant lifecycle. Entries can be read, never changed."""
    check_query(request)
    principal.require("audit_log", "read")
    size = check_limit(limit)
    after = None
    if (parts := decode_cursor(cursor, 2, bind=LIST)) is not None:
        after = cursor_time(parts[0]), cursor_int(parts[1])
    async with runtime.db("identity").tenant_unit(principal.scope) as unit:
        rows = await audit.page(unit, action=action, after=after, limit=size)
    return page_of([audit_out(r) for r in rows], size, lambda e: [e.occurred_at, e.id], bind=LIST)
