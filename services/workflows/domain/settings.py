"""A tenant's own workflow settings (``/api/v1/workflow-settings``): the bound on the runs it
starts per minute (loop and flood protection), the defaults until it saves its own."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

from services.workflows.db import settings as store
from services.workflows.limits import DEFAULT_MAX_RUNS_PER_MINUTE
from shared.auth import Principal
from shared.db import Unit
from shared.errors import PreconditionFailed


class WorkflowSettingsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # Runs started per minute from every trigger; beyond it a run is recorded as skipped with the reason.
    max_runs_per_minute: Annotated[int, msgspec.Meta(ge=1, le=1_000_000, examples=[6000])]


class WorkflowSettingsOut(msgspec.Struct, kw_only=True):
    max_runs_per_minute: int
    version: int
    updated_at: datetime | None


def settings_out(row: Any) -> WorkflowSettingsOut:
    if row is None:  # version 0: the defaults
        return WorkflowSettingsOut(max_runs_per_minute=DEFAULT_MAX_RUNS_PER_MINUTE, version=0, updated_at=None)
    return WorkflowSettingsOut(max_runs_per_minute=row["max_runs_per_minute"], version=row["version"],
                               updated_at=row["updated_at"])


async def read(unit: Unit) -> WorkflowSettingsOut:
    return settings_out(await store.get(unit))


async def save(unit: Unit, principal: Principal, body: WorkflowSettingsIn, expected_version: int | None
               ) -> WorkflowSettingsOut:
    current = await store.get(unit)
    if current is None and expected_version not in (None, 0):
        raise PreconditionFailed(f"The workflow settings are at version 0 (the defaults), not {expected_version}")
    row = await store.save(unit, max_runs_per_minute=body.max_runs_per_minute, actor_id=principal.user_id,
                           expected_version=expected_version)
    if row is None:
        raise PreconditionFailed(f"The workflow settings are at version {current['version'] if current else 0}, "
                                 f"not {expected_version}; read it again and retry")
    await unit.emit("workflow_settings", "updated", unit.tenant_id, actor=principal.actor, version=row["version"])
    return settings_out(row)
