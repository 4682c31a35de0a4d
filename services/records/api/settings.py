"""GET/PATCH /api/v1/settings/records: the tenant's records settings."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get, patch
from litestar.params import JSONBody

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, records_unit, with_etag
from services.records.api.schemas import answers
from services.records.domain import settings as domain
from shared.errors import PreconditionFailed
from shared.http.conditional import expected_version


def _out(cfg: domain.RecordsSettings) -> dict[str, Any]:
    return msgspec.to_builtins(cfg)


@get("/settings/records", tags=["settings"], responses=answers(200, domain.RecordsSettings))
async def get_records_settings(access: AccessDep, runtime: RuntimeDep) -> Response[dict[str, Any]]:
    """The workspace's records settings (any signed-in user may read them: forms need them)."""
    async with records_unit(runtime, access) as unit:
        cfg = await domain.get(unit)
    return with_etag(_out(cfg), cfg.version)


@patch("/settings/records", tags=["settings"], responses=answers(200, domain.RecordsSettings))
async def patch_records_settings(
    data: JSONBody[domain.SettingsPatch], access: AccessDep, request: AnyRequest, runtime: RuntimeDep
) -> Response[dict[str, Any]]:
    """Change the records settings (needs ``tenant:update``; honours If-Match). Option lists
    (``objection_categories``, ``interaction_channels``, ``customer_tiers``) are sent whole:
    ``[{"key": "price", "labels": {"zh-CN": "价格", "en": "Price"}}, ...]`` (a bare key keeps its
    labels); a value records hold cannot be left out (``customer_tiers``
    may be empty: tiers are then free text). ``time_zone``: an IANA name. ``attachment_max_bytes``:
    the workspace's cap on one attachment (1024 up to the server's HUIKE_ATTACHMENT_MAX_BYTES; null
    for the server's)."""
    access.require("tenant", "update")
    patch = data
    version = expected_version(request)
    async with records_unit(runtime, access) as unit:
        current = await domain.get(unit)
        changes = domain.validate_patch(patch, current,
                                         server_attachment_cap=runtime.settings.attachment_max_bytes)
        await domain.check_in_use(unit, changes)
        cfg = await domain.update(unit, changes, user_id=access.user_id, expected_version=version)
        if cfg is None:
            raise PreconditionFailed("The records settings changed since you read them; read them again",
                                     kind="stale-version")
        if changes:
            await unit.emit("records_settings", "updated", access.tenant_id, actor=access.actor, version=cfg.version,
                            data={"changes": sorted(changes)})
    return with_etag(_out(cfg), cfg.version)
