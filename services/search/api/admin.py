"""Reindex endpoints: a tenant administrator's, and the platform operator's (the operator command
``huike search reindex <tenant_id>`` calls the latter).

* ``POST /api/v1/search/reindex`` (role ``admin``) → 202 with the run; ``GET /api/v1/search/reindex/{id}``.
* ``POST /api/v1/operator/search/reindex/{tenant_id}`` (``Authorization: Bearer <HUIKE_OPERATOR_TOKEN>``)
  → 202 with the run; 404 when no operator token is configured.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.params import FromPath

from services.search.reindex import get_run, start_reindex
from shared.errors import Forbidden, NotFound
from shared.http import PrincipalDep, RuntimeDep
from shared.http.operator import operator_only


class ReindexRun(msgspec.Struct, kw_only=True):
    """One reindex run of a tenant."""

    id: uuid.UUID
    status: str                 # running | succeeded | failed
    reason: str                 # admin | operator | ...
    started_at: datetime
    finished_at: datetime | None
    records: int                # records replayed
    swept: int                  # documents of records that no longer exist, removed
    error: str | None


def _run(run: dict[str, Any]) -> ReindexRun:
    return msgspec.convert(run, ReindexRun, strict=False)


def _require_admin(principal: Any) -> None:
    if "admin" not in principal.data.roles or principal.data.scopes is not None:
        raise Forbidden("Only a tenant administrator (signed in, not an API key) may reindex search",
                        kind="permission-denied")


@post("/search/reindex", status_code=202, tags=["search"])
async def reindex(principal: PrincipalDep, runtime: RuntimeDep) -> ReindexRun:
    """Rebuild this tenant's search index in the background (search keeps answering meanwhile)."""
    _require_admin(principal)
    return _run(await start_reindex(runtime, principal.tenant_id, "admin"))


@get("/search/reindex/{run_id:uuid}", tags=["search"])
async def reindex_status(run_id: FromPath[uuid.UUID], principal: PrincipalDep, runtime: RuntimeDep) -> ReindexRun:
    """One reindex run of this tenant: status, records replayed, documents swept."""
    _require_admin(principal)
    run = await get_run(runtime, principal.scope, run_id)
    if run is None:
        raise NotFound(f"No reindex run {run_id}")
    return _run(run)


@post("/operator/search/reindex/{tenant_id:uuid}", status_code=202, tags=["operator"], guards=[operator_only],
      opt={"exclude_from_auth": True})
async def operator_reindex(tenant_id: FromPath[uuid.UUID], runtime: RuntimeDep) -> Response[ReindexRun]:
    """Rebuild one tenant's search index (platform operators)."""
    return Response(_run(await start_reindex(runtime, tenant_id, "operator")), status_code=202)
