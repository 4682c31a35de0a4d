"""Approval templates (审批模板): which record they apply to and when (a CEL condition over the
record), which of its fields a pending request guards, and ordered steps. Each step's approvers are
rules resolved when a request is made: named users, the holders of a role, the submitter's manager,
the head of the submitter's department, or the manager N levels up (``domain/people.py``); a step
is decided by any one of them (或签, ``mode: any``) or needs all of them (会签, ``mode: all``), and may
have an SLA (business time on the tenant's calendar) after which its approvers are reminded.

A template may start by itself (``trigger``): when a record of its entity is created, updated or
transferred (optionally only when one of the named ``fields`` changes) and its condition holds, the
request is made without a workflow (``approval_triggers.py``), for the user whose change it was.

A template is checked whole before it is saved: a step with no approver, an unknown guarded field,
a condition that does not compile, an unknown or inactive named user, a bad SLA: one 422 naming
each place, nothing saved.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec

from services.workflows.db import approvals as store
from services.workflows.db import directory
from services.workflows.domain import escalation
from services.workflows.domain.conditions import ConditionError, compile_condition
from services.workflows.domain.definitions import Duration, Expression, parse_duration
from services.workflows.domain.entities import fields_of
from shared.auth import Principal
from shared.db import Unit
from shared.errors import FieldError, NotFound, PreconditionFailed, ValidationProblem

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, examples=["折扣审批 / Discount approval"])]
Description = Annotated[str, msgspec.Meta(max_length=2000)]
Entity = Literal["customer", "contact", "interaction", "objection", "task", "opportunity"]
FieldName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["amount", "custom_fields.discount"])]
MAX_SLA = timedelta(days=366)
UNSET = msgspec.UNSET


class _Approver(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="type"):
    pass


class NamedUsers(_Approver, tag="users"):
    user_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=20)]


class RoleHolders(_Approver, tag="role"):
    role: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["manager"])]


class SubmittersManager(_Approver, tag="manager"):
    """The submitter's manager: the head of their department, or above when they head it."""


class DepartmentHead(_Approver, tag="department_head"):
    """The head of the submitter's department (the manager above when the submitter is that head)."""


class LevelsUp(_Approver, tag="levels_up"):
    levels: Annotated[int, msgspec.Meta(ge=1, le=10)]


Approver = NamedUsers | RoleHolders | SubmittersManager | DepartmentHead | LevelsUp


class ApprovalStep(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    approvers: Annotated[list[Approver], msgspec.Meta(max_length=10)] = []
    mode: Literal["any", "all"] = "any"      # any: 或签, one approval decides; all: 会签, every approver
    sla: Duration | None = None              # e.g. PT8H: then the step's approvers are reminded
    business_time: bool = True               # the SLA counts working time on the tenant's calendar
    # Levels at shares of ``sla`` (e.g. 1: the approvers' manager, 2: a role); each fires once while
    # the step waits.
    escalations: Annotated[list[escalation.Level], msgspec.Meta(max_length=escalation.MAX_LEVELS)] = []


Steps = Annotated[list[ApprovalStep], msgspec.Meta(min_length=1, max_length=10)]


class ApprovalTrigger(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A record change that requests the approval by itself, e.g. an opportunity's stage changing."""

    action: Literal["created", "updated", "transferred"]
    fields: Annotated[list[FieldName], msgspec.Meta(max_length=20)] = []   # updated only: one of them changed
GuardedFields = Annotated[list[FieldName], msgspec.Meta(max_length=50)]


class TemplateCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    description: Description | None = None
    entity: Entity
    condition: Expression | None = None      # CEL over record and actor: requests only when it holds
    guarded_fields: GuardedFields = []
    steps: Steps
    enabled: bool = True
    trigger: ApprovalTrigger | None = None   # requests itself on this record change (else by hand or a workflow)


class TemplatePatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | msgspec.UnsetType = UNSET
    description: Description | None | msgspec.UnsetType = UNSET
    condition: Expression | None | msgspec.UnsetType = UNSET
    guarded_fields: GuardedFields | msgspec.UnsetType = UNSET
    steps: Steps | msgspec.UnsetType = UNSET
    enabled: bool | msgspec.UnsetType = UNSET
    trigger: ApprovalTrigger | None | msgspec.UnsetType = UNSET


class TemplateOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    description: str | None
    entity: str
    condition: str | None
    guarded_fields: list[str]
    steps: list[ApprovalStep]
    enabled: bool
    trigger: ApprovalTrigger | None
    version: int
    created_by: uuid.UUID
    created_at: datetime
    updated_at: datetime


def steps_of(raw: Any) -> list[ApprovalStep]:
    return msgspec.convert(raw, list[ApprovalStep])


def trigger_of(raw: Any) -> ApprovalTrigger | None:
    return None if raw is None else msgspec.convert(raw, ApprovalTrigger)


def template_out(row: Any) -> TemplateOut:
    return TemplateOut(
        id=row["id"], name=row["name"], description=row["description"], entity=row["entity"],
        condition=row["condition"], guarded_fields=list(row["guarded_fields"]), steps=steps_of(row["steps"]),
        enabled=row["enabled"], trigger=trigger_of(row["trigger"]), version=row["version"],
        created_by=row["created_by"], created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def check(unit: Unit, entity: str, condition: str | None, guarded: list[str], steps: list[ApprovalStep],
                trigger: ApprovalTrigger | None = None) -> None:
    """Every problem of a template in one 422."""
    errors: list[FieldError] = []
    known = fields_of(entity)
    if trigger is not None:
        if trigger.fields and trigger.action != "updated":
            errors.append(FieldError("trigger.fields", "only an 'updated' trigger names fields", "invalid"))
        for i, name in enumerate(trigger.fields):
            if name not in known and not (name.startswith("custom_fields.") and len(name) > len("custom_fields.")):
                errors.append(FieldError(f"trigger.fields[{i}]", f"{entity} has no field {name}", "unknown_field"))
    if condition is not None:
        try:
            compile_condition(condition, known)
        except ConditionError as exc:
            errors.append(FieldError("condition", str(exc), "invalid_condition"))
    for i, name in enumerate(guarded):
        if name not in known and not (name.startswith("custom_fields.") and len(name) > len("custom_fields.")):
            errors.append(FieldError(f"guarded_fields[{i}]", f"{entity} has no field {name}", "unknown_field"))
    named = [u for step in steps for a in step.approvers if isinstance(a, NamedUsers) for u in a.user_ids]
    active = await directory.active_users(unit, named) if named else set()
    for s, step in enumerate(steps):
        at = f"steps[{s}]"
        if not step.approvers:
            errors.append(FieldError(f"{at}.approvers", "a step needs at least one approver", "required"))
        for a, rule in enumerate(step.approvers):
            if isinstance(rule, NamedUsers):
                if not rule.user_ids:
                    errors.append(FieldError(f"{at}.approvers[{a}].user_ids", "name at least one user", "required"))
                for u, user_id in enumerate(rule.user_ids):
                    if user_id not in active:
                        errors.append(FieldError(f"{at}.approvers[{a}].user_ids[{u}]",
                                                 f"no active user {user_id} in this workspace", "unknown_user"))
        if step.escalations and step.sla is None:
            errors.append(FieldError(f"{at}.sla", "escalation levels count shares of the step's sla", "required"))
        errors.extend(await escalation.check(unit, list(step.escalations), f"{at}.escalations"))
        if step.sla is not None:
            try:
                sla = parse_duration(step.sla)
            except ValueError as exc:
                errors.append(FieldError(f"{at}.sla", str(exc), "invalid_duration"))
            else:
                if sla <= timedelta(0) or sla > MAX_SLA:
                    errors.append(FieldError(f"{at}.sla", "must be more than nothing and at most 366 days",
                                             "out_of_range"))
    if errors:
        raise ValidationProblem(errors)


async def create(unit: Unit, principal: Principal, body: TemplateCreate) -> TemplateOut:
    await check(unit, body.entity, body.condition, list(body.guarded_fields), list(body.steps), body.trigger)
    row = await store.insert_template(
        unit, name=body.name, description=body.description, entity=body.entity, condition=body.condition,
        guarded_fields=list(dict.fromkeys(body.guarded_fields)), steps=msgspec.to_builtins(body.steps),
        enabled=body.enabled, created_by=principal.user_id,
        trigger=msgspec.to_builtins(body.trigger) if body.trigger is not None else None)
    return template_out(row)


async def get(unit: Unit, template_id: uuid.UUID) -> TemplateOut:
    row = await store.get_template(unit, template_id)
    if row is None:
        raise NotFound(f"No approval template {template_id}")
    return template_out(row)


async def update(unit: Unit, template_id: uuid.UUID, body: TemplatePatch, expected: int | None) -> TemplateOut:
    """Change what is sent (a new version; requests already made keep the steps they were made with)."""
    row = await store.get_template(unit, template_id, for_update=True)
    if row is None:
        raise NotFound(f"No approval template {template_id}")
    if expected is not None and expected != row["version"]:
        raise PreconditionFailed("The approval template changed since you read it; read it again",
                                 kind="stale-version")
    changes: dict[str, Any] = {}
    for name in ("name", "description", "condition", "enabled"):
        if (value := getattr(body, name)) is not UNSET:
            changes[name] = value
    if body.guarded_fields is not UNSET:
        changes["guarded_fields"] = list(dict.fromkeys(body.guarded_fields))
    steps = steps_of(row["steps"]) if body.steps is UNSET else list(body.steps)
    if body.steps is not UNSET:
        changes["steps"] = msgspec.to_builtins(body.steps)
    trigger = trigger_of(row["trigger"]) if body.trigger is UNSET else body.trigger
    if body.trigger is not UNSET:
        changes["trigger"] = msgspec.to_builtins(body.trigger) if body.trigger is not None else None
    await check(unit, row["entity"], changes.get("condition", row["condition"]),
                changes.get("guarded_fields", list(row["guarded_fields"])), steps, trigger)
    if not changes:
        return template_out(row)
    return template_out(await store.update_template(unit, template_id, changes))


async def delete(unit: Unit, template_id: uuid.UUID) -> None:
    """Requests already made go on; no new ones."""
    if not await store.delete_template(unit, template_id):
        raise NotFound(f"No approval template {template_id}")
