"""What each step does, given the run's context (the record, its old values, the actor, the time).

A step acts through ``Effects``: commands to records over NATS and workflows' own events. The
dry run passes effects that only describe what would be done, so the same code explains a
workflow and runs it. Every command carries the key ``<run id>:<step path>``: a step run again
after a crash replays records' first answer instead of acting twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from services.workflows.domain import definitions as d
from services.workflows.domain.assignment import EmptyPool
from services.workflows.domain.calendar import BusinessCalendar
from services.workflows.domain.conditions import ConditionError, compiled, value_of

# Who is "the person responsible" for a record of each entity, for defaults.
RESPONSIBLE = {"customer": "owner_id", "contact": None, "interaction": "owner_id", "objection": "assignee_id",
               "task": "assignee_id", "opportunity": "owner_id"}
TAGGED = frozenset({"customer"})


class Effects(Protocol):
    async def command(self, op: str, entity: str, record_id: uuid.UUID | None, fields: dict[str, Any],
                      key: str) -> dict[str, Any]: ...

    async def emit(self, entity: str, action: str, entity_id: uuid.UUID, data: dict[str, Any]) -> None: ...

    async def assignee(self, step: d.AssignOwner, entity: str, key: str) -> tuple[uuid.UUID, dict[str, Any]]:
        """The user an assignment strategy picks (domain/assignment.py), and what it was chosen from."""
        ...

    async def request_approval(self, step: d.RequestApproval, state: RunState, path: str) -> dict[str, Any]:
        """Make (or find) the approval request of this run's step: ``{"id", "status", ...}``;
        StepFailed when it is refused."""
        ...


@dataclass
class RunState:
    run_id: uuid.UUID
    workflow_id: uuid.UUID
    tenant_id: uuid.UUID
    entity: str | None
    record: dict[str, Any]
    old: dict[str, Any] | None
    actor: dict[str, Any]
    calendar: BusinessCalendar
    now: datetime
    approval: dict[str, Any] = field(default_factory=dict)   # the last approval this run requested, once decided

    def evaluate(self, source: str) -> Any:
        """Run a CEL expression for its value (a condition, an assignee)."""
        return value_of(source, record=self.record, old=self.old, actor=self.actor, now=self.now,
                        approval=self.approval)

    def holds(self, source: str) -> bool:
        return compiled(source).evaluate(record=self.record, old=self.old, actor=self.actor, now=self.now,
                                         approval=self.approval)

    @property
    def record_id(self) -> uuid.UUID | None:
        value = self.record.get("id")
        return uuid.UUID(str(value)) if value else None


@dataclass
class Outcome:
    status: str                       # succeeded | failed | waiting | stopped
    input: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    wake_at: datetime | None = None   # a waiting step: when its timer fires
    took: str | None = None           # a branch: "then" or "else"


class StepFailed(Exception):
    """The step cannot be done as defined for this record (the run fails with this reason)."""


def _need_record(state: RunState, what: str) -> uuid.UUID:
    if state.entity is None or state.record_id is None:
        raise StepFailed(f"{what} needs a record: start the workflow from a record trigger or by hand on a record")
    return state.record_id


def _after(state: RunState, text: str, business: bool) -> datetime:
    delta = d.parse_duration(text)
    return state.calendar.add(state.now, delta) if business else state.now + delta


def _user_id(value: Any, where: str) -> str:
    try:
        return str(uuid.UUID(str(value)))
    except (TypeError, ValueError):
        raise StepFailed(f"{where} gave {value!r}, which is not a user id") from None


async def run_step(step: d.Step, path: str, state: RunState, effects: Effects) -> Outcome:
    """Do one step (branches only decide: the caller walks into the branch taken)."""
    key = f"{state.run_id}:{path}"
    try:
        if isinstance(step, d.CreateTask):
            return await _create_task(step, state, effects, key)
        if isinstance(step, d.UpdateRecord):
            record_id = _need_record(state, "update_record")
            assert state.entity is not None
            answer = await effects.command("update", state.entity, record_id, dict(step.fields), key)
            state.record.update({k: v for k, v in answer.items() if k in step.fields or k == "version"})
            return Outcome("succeeded", {"fields": dict(step.fields)}, {"version": answer.get("version")})
        if isinstance(step, d.AddTags | d.RemoveTags):
            record_id = _need_record(state, step.__struct_config__.tag)
            if state.entity not in TAGGED:
                raise StepFailed(f"{state.entity} records have no tags; tags are on customers")
            op = "add_tags" if isinstance(step, d.AddTags) else "remove_tags"
            answer = await effects.command(op, "customer", record_id, {"tags": list(step.tags)}, key)
            if "tags" in answer:
                state.record["tags"] = answer["tags"]
            return Outcome("succeeded", {"tags": list(step.tags)}, {"tags": answer.get("tags")})
        if isinstance(step, d.AssignOwner):
            return await _assign(step, state, effects, key)
        if isinstance(step, d.Notify):
            return await _notify(step, state, effects, path)
        if isinstance(step, d.Wait):
            return _wait(step, state)
        if isinstance(step, d.RequestApproval):
            _need_record(state, "request_approval")
            approval = await effects.request_approval(step, state, path)
            output = {"approval_id": approval.get("id"), "status": approval.get("status"),
                      "waiting_for": approval.get("waiting_for")}
            if approval.get("status") not in (None, "pending"):
                return Outcome("succeeded", {"template_id": step.template_id}, output)
            # The run waits; the approval's end resumes it with the decision as this step's output.
            return Outcome("waiting", {"template_id": step.template_id}, output)
        if isinstance(step, d.Branch):
            took = "then" if state.holds(step.condition) else "else"
            return Outcome("succeeded", {"condition": step.condition}, {"took": took}, took=took)
        if isinstance(step, d.Stop):
            return Outcome("stopped")
        raise StepFailed(f"{step.__struct_config__.tag} steps are refused when a workflow is saved")
    except (StepFailed, ConditionError) as exc:
        return Outcome("failed", error=str(exc))


async def _create_task(step: d.CreateTask, state: RunState, effects: Effects, key: str) -> Outcome:
    fields: dict[str, Any] = {"title": step.title}
    if step.description:
        fields["description"] = step.description
    if step.due_in:
        fields["due_at"] = _after(state, step.due_in, step.business_time).isoformat()
    # The assignee the expression names; when it names nobody (an objection nobody is assigned to
    # yet), the record's responsible person, then its owner; else records' default (the author).
    chosen = state.evaluate(step.assignee) if step.assignee else None
    if chosen in (None, "") and state.entity is not None:
        responsible = RESPONSIBLE.get(state.entity)
        chosen = (state.record.get(responsible) if responsible else None) or state.record.get("owner_id")
    if chosen not in (None, ""):
        fields["assignee_id"] = _user_id(chosen, "assignee")
    if state.entity == "customer" and state.record_id is not None:
        fields["customer_id"] = str(state.record_id)
    elif state.record.get("customer_id"):
        fields["customer_id"] = str(state.record["customer_id"])
    answer = await effects.command("create", "task", None, fields, key)
    return Outcome("succeeded", fields, {"task_id": answer.get("id")})


async def _assign(step: d.AssignOwner, state: RunState, effects: Effects, key: str) -> Outcome:
    record_id = _need_record(state, "assign_owner")
    assert state.entity is not None
    column = RESPONSIBLE.get(state.entity)
    if column is None:
        raise StepFailed(f"{state.entity} records have no owner to assign")
    chosen_from: dict[str, Any] = {}
    if step.strategy is not None:
        try:
            user, chosen_from = await effects.assignee(step, state.entity, key)
        except EmptyPool as exc:
            raise StepFailed(str(exc)) from None
        user_id = str(user)
    else:
        assert step.user_id is not None  # one of the two, checked when the workflow is saved
        user_id = step.user_id
    answer = await effects.command("update", state.entity, record_id, {column: user_id}, key)
    state.record[column] = answer.get(column, user_id)
    given = {column: user_id, **({"strategy": step.strategy} if step.strategy else {})}
    return Outcome("succeeded", given, {"version": answer.get("version"), **chosen_from})


def _render(message: str, record: Mapping[str, Any]) -> str:
    """``{{record.name}}`` placeholders filled from the record (nothing else is evaluated)."""
    out = message
    for name, value in record.items():
        if isinstance(value, str | int | float):
            out = out.replace("{{record." + name + "}}", str(value))
    return out


async def _notify(step: d.Notify, state: RunState, effects: Effects, path: str) -> Outcome:
    value = state.evaluate(step.to)
    targets = value if isinstance(value, list) else [value]
    users = sorted({_user_id(v, "to") for v in targets if v not in (None, "")})
    if not users:
        raise StepFailed("to gave nobody to notify")
    data = {"users": users, "message": _render(step.message, state.record), "channels": list(step.channels),
            "workflow_id": str(state.workflow_id), "run_id": str(state.run_id), "step": path,
            "record": {"type": state.entity, "id": str(state.record_id)} if state.record_id else None}
    # The notification's id is derived from the run and step: a step done again emits the same id.
    notification_id = uuid.uuid5(state.run_id, path)
    await effects.emit("notification", "requested", notification_id, data)
    return Outcome("succeeded", {"to": users, "channels": list(step.channels)}, {"notification_id": str(notification_id)})


def _wait(step: d.Wait, state: RunState) -> Outcome:
    if step.duration is not None:
        wake = _after(state, step.duration, step.business_time)
        return Outcome("waiting", {"duration": step.duration}, {"until": wake.isoformat()}, wake_at=wake)
    assert step.until is not None
    if state.holds(step.until):
        return Outcome("succeeded", {"until": step.until}, {"held_at": state.now.isoformat()})
    # Checked again on each event of the record; given up after the longest wait.
    give_up = state.now + timedelta(days=366)
    return Outcome("waiting", {"until": step.until}, {"gives_up_at": give_up.isoformat()}, wake_at=give_up)


__all__ = ["Effects", "Outcome", "RunState", "StepFailed", "run_step"]
