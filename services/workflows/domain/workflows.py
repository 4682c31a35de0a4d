"""Workflows as the API sees them: create, read, change (a new version when the definition changes),
enable and disable, delete. Whoever saves a workflow becomes its author: its actions run with the
author's permissions as of each run."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from services.workflows.db import timers
from services.workflows.db import workflows as store
from services.workflows.domain import calendar_settings, schedules
from services.workflows.domain.definitions import (
    Step,
    Trigger,
    WebhookTrigger,
    WorkflowDefinition,
    check_definition,
)
from shared.auth import Principal
from shared.db import Unit
from shared.errors import NotFound, PreconditionFailed

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["异议升级 / Objection escalation"])]
Description = Annotated[str, msgspec.Meta(max_length=2000)]
Triggers = Annotated[list[Trigger], msgspec.Meta(min_length=1, max_length=10)]
Steps = Annotated[list[Step], msgspec.Meta(min_length=1, max_length=50)]
UNSET = msgspec.UNSET


class WorkflowCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    description: Description | None = None
    enabled: bool = True
    triggers: Triggers
    steps: Steps


class WorkflowPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | msgspec.UnsetType = UNSET
    description: Description | None | msgspec.UnsetType = UNSET
    enabled: bool | msgspec.UnsetType = UNSET
    triggers: Triggers | msgspec.UnsetType = UNSET
    steps: Steps | msgspec.UnsetType = UNSET


class WorkflowOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    description: str | None
    enabled: bool
    version: int
    triggers: list[Trigger]
    steps: list[Step]
    author_id: uuid.UUID
    has_webhook: bool
    created_at: datetime
    updated_at: datetime
    # The inbound webhook's secret: in the answer that created it, never again.
    webhook_secret: str | None = None


def workflow_out(row: Any, webhook_secret: str | None = None) -> WorkflowOut:
    definition = msgspec.convert({"triggers": row["triggers"], "steps": row["steps"]}, WorkflowDefinition)
    return WorkflowOut(
        id=row["id"], name=row["name"], description=row["description"], enabled=row["enabled"],
        version=row["version"], triggers=definition.triggers, steps=definition.steps, author_id=row["author_id"],
        has_webhook=row["webhook_secret_hash"] is not None, created_at=row["created_at"],
        updated_at=row["updated_at"], webhook_secret=webhook_secret,
    )


async def _replan(unit: Unit, row: Any) -> None:
    """Schedules and the webhook look-up follow the saved definition and the enabled flag (in the
    same transaction)."""
    await store.set_webhook(unit, row["id"], row["webhook_secret_hash"])
    definition = msgspec.convert({"triggers": row["triggers"], "steps": row["steps"]}, WorkflowDefinition)
    calendar = await calendar_settings.load(unit)
    await schedules.replan(unit, row["id"], row["enabled"], definition.triggers, calendar.time_zone,
                           datetime.now(UTC))


def _webhook(triggers: list[Trigger]) -> tuple[str | None, str | None]:
    """(secret, its hash) when a trigger is an inbound webhook."""
    if not any(isinstance(t, WebhookTrigger) for t in triggers):
        return None, None
    secret = "whsec_" + secrets.token_urlsafe(32)
    return secret, hashlib.sha256(secret.encode()).hexdigest()


async def create(unit: Unit, principal: Principal, body: WorkflowCreate) -> WorkflowOut:
    check_definition(WorkflowDefinition(triggers=body.triggers, steps=body.steps))
    secret, secret_hash = _webhook(body.triggers)
    row = await store.insert(
        unit, name=body.name, description=body.description, enabled=body.enabled,
        triggers=msgspec.to_builtins(body.triggers), steps=msgspec.to_builtins(body.steps),
        author_id=principal.user_id, webhook_secret_hash=secret_hash)
    await _replan(unit, row)
    await unit.emit("workflow", "created", row["id"], actor=principal.actor, version=row["version"],
                    data={"name": row["name"], "enabled": row["enabled"]})
    return workflow_out(row, secret)


async def get(unit: Unit, workflow_id: uuid.UUID) -> WorkflowOut:
    row = await store.get(unit, workflow_id)
    if row is None:
        raise NotFound(f"No workflow {workflow_id}")
    return workflow_out(row)


async def update(unit: Unit, principal: Principal, workflow_id: uuid.UUID, body: WorkflowPatch,
                 expected_version: int | None) -> WorkflowOut:
    row = await store.get(unit, workflow_id, for_update=True)
    if row is None:
        raise NotFound(f"No workflow {workflow_id}")
    if expected_version is not None and expected_version != row["version"]:
        raise PreconditionFailed(f"The workflow is at version {row['version']}, not {expected_version}; "
                                 "read it again and retry")
    changes: dict[str, Any] = {}
    for name in ("name", "description", "enabled"):
        value = getattr(body, name)
        if value is not UNSET:
            changes[name] = value
    new_definition = body.triggers is not UNSET or body.steps is not UNSET
    secret = None
    if new_definition:
        current = msgspec.convert({"triggers": row["triggers"], "steps": row["steps"]}, WorkflowDefinition)
        triggers = current.triggers if body.triggers is UNSET else body.triggers
        steps = current.steps if body.steps is UNSET else body.steps
        check_definition(WorkflowDefinition(triggers=triggers, steps=steps))
        changes["triggers"] = msgspec.to_builtins(triggers)
        changes["steps"] = msgspec.to_builtins(steps)
        had_webhook = row["webhook_secret_hash"] is not None
        if not had_webhook or not any(isinstance(t, WebhookTrigger) for t in triggers):
            secret, changes["webhook_secret_hash"] = _webhook(triggers)
        # The author is whoever saves the definition: a workflow never acts beyond its last editor's rights.
        changes["author_id"] = principal.user_id
    if not changes:
        return workflow_out(row)
    updated = await store.update(unit, workflow_id, changes, principal.user_id, new_definition=new_definition)
    await _replan(unit, updated)
    await unit.emit("workflow", "updated", workflow_id, actor=principal.actor, version=updated["version"],
                    data={"name": updated["name"], "enabled": updated["enabled"]})
    return workflow_out(updated, secret)


async def delete(unit: Unit, principal: Principal, workflow_id: uuid.UUID, expected_version: int | None) -> None:
    row = await store.get(unit, workflow_id, for_update=True)
    if row is None:
        raise NotFound(f"No workflow {workflow_id}")
    if expected_version is not None and expected_version != row["version"]:
        raise PreconditionFailed(f"The workflow is at version {row['version']}, not {expected_version}")
    await store.soft_delete(unit, workflow_id, principal.user_id)
    await timers.remove_of_workflow(unit, workflow_id, ("schedule", "date", "settle"))
    await store.set_webhook(unit, workflow_id, None)
    await unit.emit("workflow", "deleted", workflow_id, actor=principal.actor, version=row["version"])

