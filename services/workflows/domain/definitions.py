"""What a workflow is made of: triggers and steps, as typed bodies, and the checks a definition must pass
before it is saved (every condition compiles, every field exists, every bound holds).

Triggers and steps are tagged unions on ``type``, so the OpenAPI document shows each shape and a
client generated from it can build them. The shapes are those of ``../shared/CONTRACT.md``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any, Literal

import isodate
import msgspec
from croniter import croniter

from services.workflows.domain.conditions import ConditionError, compile_condition
from services.workflows.domain.entities import ENTITIES, date_fields, fields_of
from shared.errors import FieldError, ValidationProblem

MAX_TRIGGERS = 10
MAX_STEPS = 50          # steps in one workflow, nested branches included
MAX_BRANCH_DEPTH = 5
MAX_WAIT = timedelta(days=366)
MAX_SETTLE = timedelta(hours=24)
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Text = Annotated[str, msgspec.Meta(max_length=2000)]
Expression = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Duration = Annotated[str, msgspec.Meta(min_length=3, max_length=40, examples=["PT8H", "P3D", "-PT1H"])]


class _Base(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="type"):
    pass


# --- triggers -----------------------------------------------------------------------------------


class RecordTrigger(_Base):
    """A record of ``entity`` was created, updated, ...: ``type`` is ``record.<action>``."""

    entity: Literal["customer", "contact", "interaction", "objection", "task", "opportunity"]
    fields: Annotated[list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(max_length=50)] = []
    condition: Expression | None = None
    settle_seconds: Annotated[int, msgspec.Meta(ge=0, le=86400)] = 0

    @property
    def action(self) -> str:
        return str(type(self).__struct_config__.tag).removeprefix("record.")


class RecordCreated(RecordTrigger, tag="record.created"):
    pass


class RecordUpdated(RecordTrigger, tag="record.updated"):
    pass


class RecordDeleted(RecordTrigger, tag="record.deleted"):
    pass


class RecordRestored(RecordTrigger, tag="record.restored"):
    pass


class RecordMerged(RecordTrigger, tag="record.merged"):
    pass


class RecordTransferred(RecordTrigger, tag="record.transferred"):
    pass


class DateTrigger(_Base, tag="date"):
    """``offset`` (ISO 8601, negative is before) from a date field of each record of ``entity``."""

    entity: Literal["customer", "contact", "interaction", "objection", "task", "opportunity"]
    field: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["due_at", "custom_fields.contract_end"])]
    offset: Duration = "PT0S"
    yearly: bool = False      # birthdays, anniversaries: the month and day every year
    condition: Expression | None = None


class ScheduleTrigger(_Base, tag="schedule"):
    cron: Annotated[str, msgspec.Meta(min_length=9, max_length=100, examples=["0 9 * * 1-5"])]


class ManualTrigger(_Base, tag="manual"):
    entity: Literal["customer", "contact", "interaction", "objection", "task", "opportunity"] | None = None


class WebhookTrigger(_Base, tag="webhook"):
    """An inbound POST to the workflow's webhook address, signed with its secret."""


class HealthCrossed(_Base, tag="health.crossed"):
    """A customer's health score (100 healthy) crossed ``threshold``: fell under it (``below``) or
    rose to it (``above``)."""

    threshold: Annotated[int, msgspec.Meta(ge=1, le=100, examples=[50])]
    direction: Literal["below", "above"] = "below"

    @property
    def entity(self) -> str:
        return "customer"


class SlaBreached(_Base, tag="sla.breached"):
    """An objection's SLA phase (``first_response``, ``resolution``, or either when absent) was
    breached; its ``record`` is the objection with ``sla_phase`` and ``head_id`` (the manager of its
    assignee, else of its owner)."""

    phase: Literal["first_response", "resolution"] | None = None

    @property
    def entity(self) -> str:
        return "objection"


# What an SLA breach's record carries besides the objection's own fields.
SLA_FIELDS = frozenset({"sla_phase", "sla_state", "head_id", "title"})

Trigger = (RecordCreated | RecordUpdated | RecordDeleted | RecordRestored | RecordMerged | RecordTransferred
           | DateTrigger | ScheduleTrigger | ManualTrigger | WebhookTrigger | HealthCrossed | SlaBreached)


# --- steps ----------------------------------------------------------------------------------------


class CreateTask(_Base, tag="create_task"):
    title: Name
    description: Text | None = None
    due_in: Duration | None = None
    business_time: bool = False
    assignee: Expression | None = None   # CEL giving a user id; the record's owner when absent


class UpdateRecord(_Base, tag="update_record"):
    fields: Annotated[dict[str, Any], msgspec.Meta(min_length=1, max_length=50)]


class AddTags(_Base, tag="add_tags"):
    tags: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=50)]],
                    msgspec.Meta(min_length=1, max_length=20)]


class RemoveTags(_Base, tag="remove_tags"):
    tags: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=50)]],
                    msgspec.Meta(min_length=1, max_length=20)]


class AssignOwner(_Base, tag="assign_owner"):
    user_id: str | None = None
    strategy: Literal["round_robin", "least_loaded"] | None = None
    department_id: str | None = None
    role: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class Notify(_Base, tag="notify"):
    to: Expression
    message: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    channels: list[Literal["in_app", "email", "webhook", "chat"]] = msgspec.field(default_factory=lambda: ["in_app"])


class RequestApproval(_Base, tag="request_approval"):
    template_id: str


class Wait(_Base, tag="wait"):
    duration: Duration | None = None
    until: Expression | None = None
    business_time: bool = False


class Branch(_Base, tag="branch"):
    condition: Expression
    then: list["Step"] = []
    else_: list["Step"] = msgspec.field(default_factory=list, name="else")


class Stop(_Base, tag="stop"):
    pass


Step = CreateTask | UpdateRecord | AddTags | RemoveTags | AssignOwner | Notify | RequestApproval | Wait | Branch | Stop


class WorkflowDefinition(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    triggers: Annotated[list[Trigger], msgspec.Meta(min_length=1, max_length=MAX_TRIGGERS)]
    steps: Annotated[list[Step], msgspec.Meta(min_length=1, max_length=MAX_STEPS)]


# --- checks ---------------------------------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    """An ISO 8601 duration in weeks, days, hours, minutes and seconds (``-PT1H``, ``P3D``)."""
    try:
        value = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError):
        raise ValueError("is not an ISO 8601 duration such as PT8H, P3D or -PT1H") from None
    if not isinstance(value, timedelta):
        raise ValueError("months and years have no fixed length; give days instead (P30D)")
    return value


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def check_definition(definition: WorkflowDefinition) -> None:
    """Every problem of ``definition`` in one 422: conditions that do not compile or read missing
    fields, unknown date fields, bad durations and crons, waits over a year, empty approvals."""
    errors: list[FieldError] = []
    shapes = [fields_of(t.entity) | (SLA_FIELDS if isinstance(t, SlaBreached) else frozenset())
              for t in definition.triggers
              if isinstance(t, RecordTrigger | DateTrigger | ManualTrigger | HealthCrossed | SlaBreached)
              and t.entity is not None]
    # Steps may read the fields every triggering record has; with no record trigger, none are checked.
    known = frozenset.intersection(*shapes) if shapes else None
    for index, trigger in enumerate(definition.triggers):
        _check_trigger(trigger, f"triggers[{index}]", errors)
    count = _check_steps(definition.steps, "steps", known, 1, errors)
    if count > MAX_STEPS:
        errors.append(FieldError("steps", f"a workflow has at most {MAX_STEPS} steps, branches included", "too_many"))
    if errors:
        raise ValidationProblem(errors)


def _check_condition(source: str | None, where: str, known: frozenset[str] | None, errors: list[FieldError]) -> None:
    if source is None:
        return
    try:
        compile_condition(source, known)
    except ConditionError as exc:
        errors.append(FieldError(where, str(exc), "invalid_condition"))


def _check_duration(text: str | None, where: str, errors: list[FieldError], *, negative: bool = False,
                    limit: timedelta = MAX_WAIT) -> None:
    if text is None:
        return
    try:
        value = parse_duration(text)
    except ValueError as exc:
        errors.append(FieldError(where, str(exc), "invalid_duration"))
        return
    if value < timedelta(0) and not negative:
        errors.append(FieldError(where, "must not be negative", "out_of_range"))
    elif abs(value) > limit:
        errors.append(FieldError(where, f"must be at most {limit.days} days", "out_of_range"))


def _check_trigger(trigger: Trigger, where: str, errors: list[FieldError]) -> None:
    if isinstance(trigger, RecordTrigger):
        known = fields_of(trigger.entity)
        for i, name in enumerate(trigger.fields):
            if name not in known and not name.startswith("custom_fields."):
                errors.append(FieldError(f"{where}.fields[{i}]", f"{trigger.entity} has no field {name}", "unknown_field"))
        _check_condition(trigger.condition, f"{where}.condition", known, errors)
    elif isinstance(trigger, DateTrigger):
        if trigger.field not in date_fields(trigger.entity) and not trigger.field.startswith("custom_fields."):
            errors.append(FieldError(
                f"{where}.field",
                f"{trigger.entity} has no date field {trigger.field}; one of "
                f"{', '.join(sorted(date_fields(trigger.entity)))} or custom_fields.<key>", "unknown_field"))
        _check_duration(trigger.offset, f"{where}.offset", errors, negative=True)
        _check_condition(trigger.condition, f"{where}.condition", fields_of(trigger.entity), errors)
    elif isinstance(trigger, ScheduleTrigger):
        parts = trigger.cron.split()
        if len(parts) != 5 or not croniter.is_valid(trigger.cron):
            errors.append(FieldError(f"{where}.cron", "must be a 5-field cron (minute hour day month weekday), "
                                     "e.g. 0 9 * * 1-5; it fires at most once a minute", "invalid_cron"))


def _check_steps(steps: list[Step], where: str, known: frozenset[str] | None, depth: int,
                 errors: list[FieldError]) -> int:
    """Check ``steps`` and nested branches; return how many steps there are in all."""
    count = 0
    if depth > MAX_BRANCH_DEPTH:
        errors.append(FieldError(where, f"branches nest deeper than {MAX_BRANCH_DEPTH}", "too_deep"))
        return count
    for index, step in enumerate(steps):
        at = f"{where}[{index}]"
        count += 1
        if isinstance(step, CreateTask):
            _check_duration(step.due_in, f"{at}.due_in", errors)
            _check_condition(step.assignee, f"{at}.assignee", known, errors)
        elif isinstance(step, UpdateRecord):
            for name in step.fields:
                if known is not None and name not in known and not name.startswith("custom_fields."):
                    errors.append(FieldError(f"{at}.fields.{name}", "is not a field of the triggering record",
                                             "unknown_field"))
        elif isinstance(step, AssignOwner):
            if (step.user_id is None) == (step.strategy is None):
                errors.append(FieldError(at, "give either user_id or strategy (round_robin, least_loaded)", "invalid"))
            elif step.strategy is not None:
                if (step.department_id is None) == (step.role is None):
                    errors.append(FieldError(at, "a strategy assigns among the users of department_id or of role: "
                                             "give one of them", "invalid"))
                elif step.department_id is not None and not _is_uuid(step.department_id):
                    errors.append(FieldError(f"{at}.department_id", "is not a department id", "invalid"))
            elif step.department_id is not None or step.role is not None:
                errors.append(FieldError(at, "department_id and role go with a strategy, not with user_id", "invalid"))
        elif isinstance(step, RequestApproval):
            if not _is_uuid(step.template_id):
                errors.append(FieldError(f"{at}.template_id", "is not an approval template id", "invalid"))
        elif isinstance(step, Notify):
            _check_condition(step.to, f"{at}.to", known, errors)
        elif isinstance(step, Wait):
            if (step.duration is None) == (step.until is None):
                errors.append(FieldError(at, "give either duration or until", "invalid"))
            _check_duration(step.duration, f"{at}.duration", errors)
            _check_condition(step.until, f"{at}.until", known, errors)
        elif isinstance(step, Branch):
            _check_condition(step.condition, f"{at}.condition", known, errors)
            count += _check_steps(step.then, f"{at}.then", known, depth + 1, errors)
            count += _check_steps(step.else_, f"{at}.else", known, depth + 1, errors)
    return count


def decode_definition(triggers: Any, steps: Any) -> WorkflowDefinition:
    """Decode and check a definition given as plain data (a template, a stored version)."""
    try:
        definition = msgspec.convert({"triggers": triggers, "steps": steps}, WorkflowDefinition)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `$.")
        raise ValidationProblem.one(path.rstrip("`") or "body", message, "invalid") from None
    check_definition(definition)
    return definition


__all__ = [
    "Branch", "DateTrigger", "HealthCrossed", "SlaBreached", "ManualTrigger", "RecordTrigger", "ScheduleTrigger", "Step",
    "Trigger", "WebhookTrigger", "WorkflowDefinition", "check_definition", "decode_definition", "parse_duration",
    "ENTITIES",
]
