"""Approval requests (审批): made by hand or by a workflow's ``request_approval`` step, decided step
by step by their approvers, recalled by their submitter.

* **Request.** The template must be enabled, for the record's entity, and its condition must hold
  for the record. Every step's approvers are resolved now (``approval_templates``; the submitter is
  never their own approver) and a step that resolves to nobody refuses the request (422). The
  record's guarded fields are locked in records (command ``lock``, with the rights of the submitter,
  or of the workflow's author) before the request is saved, so nothing is pending unguarded.
* **Decisions.** approve (或签: the step passes with one approval; 会签: with all of its approvers),
  reject and return (回退, to the submitter) with a required comment, transfer (转交: the caller's
  place goes to ``user_id``) and add_approver (加签: ``user_id`` joins the step; in 会签 they must
  approve too). Only an undecided approver of the current step may decide (403 otherwise); a second
  decision, or one on a finished approval, answers 409. The submitter may recall (撤回) while pending.
* **Effects.** Each decision is written to the record's field history as ``approval`` (records'
  command ``note``) inside the decision's transaction (records answers its key once, so a decision
  retried after a failure writes one entry), the lock is released when the approval ends, the
  workflow run waiting on it resumes with the decision as the step's output (``approval.status`` in
  later conditions), and events ``crm.workflows.<tenant>.approval.requested|decided|step_advanced|
  reminder`` carry the approver ids for notifications. Records unreachable: 503, nothing changed.
* **SLA.** A step with ``sla`` plans a timer (business time on the tenant's calendar unless
  ``business_time`` is false); when it fires with the step still waiting, ``approval.reminder`` names
  the approvers who have not decided.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import asyncpg
import msgspec

from services.workflows.db import approvals as store
from services.workflows.db import directory, queue, runs, timers
from services.workflows.domain import calendar_settings, escalation, people
from services.workflows.domain.approval_templates import (
    ApprovalStep,
    DepartmentHead,
    LevelsUp,
    NamedUsers,
    RoleHolders,
    SubmittersManager,
    steps_of,
)
from services.workflows.domain.conditions import ConditionError, compiled
from services.workflows.domain.definitions import parse_duration
from services.workflows.records_client import Command, CommandFailed, RecordsClient, RecordsUnavailable
from shared.auth import Principal
from shared.db import ServiceDatabase, Unit
from shared.errors import Conflict, FieldError, Forbidden, NotFound, Problem, ValidationProblem
from shared.events.envelope import Actor
from shared.tenancy import TenantScope

Entity = Literal["customer", "contact", "interaction", "objection", "task", "opportunity"]
Comment = Annotated[str, msgspec.Meta(max_length=2000)]
FINISHED = {"approve": "approved", "reject": "rejected", "return": "returned", "recall": "recalled"}


class RecordRef(msgspec.Struct, forbid_unknown_fields=True):
    type: Entity
    id: uuid.UUID


class ApprovalCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    template_id: uuid.UUID
    record: RecordRef


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    decision: Literal["approve", "reject", "return", "transfer", "add_approver"]
    comment: Comment | None = None       # required to reject or return
    user_id: uuid.UUID | None = None     # required to transfer or add an approver


class ApproverOut(msgspec.Struct, kw_only=True):
    step: int
    user_id: uuid.UUID
    added_by: uuid.UUID | None
    decision: str | None
    comment: str | None
    decided_at: datetime | None


class DecisionOut(msgspec.Struct, kw_only=True):
    seq: int
    step: int
    user_id: uuid.UUID
    decision: str
    comment: str | None
    target_id: uuid.UUID | None
    decided_at: datetime


class ApprovalOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    template_id: uuid.UUID
    template_version: int
    name: str
    record: RecordRef
    submitted_by: uuid.UUID
    status: str                          # pending | approved | rejected | returned | recalled | cancelled
    current_step: int
    steps: list[ApprovalStep]
    guarded_fields: list[str]
    waiting_for: list[uuid.UUID]         # the current step's approvers who have not decided
    approvers: list[ApproverOut]
    workflow_run_id: uuid.UUID | None
    created_at: datetime
    step_started_at: datetime
    finished_at: datetime | None
    version: int
    decisions: list[DecisionOut] | None = None


@dataclass(frozen=True)
class Submission:
    """Who asks for which approval of which record: by hand (``run_id`` None) or by a workflow step."""

    template_id: uuid.UUID
    entity: str
    record_id: uuid.UUID
    record: dict[str, Any]
    submitted_by: uuid.UUID
    rights_of: uuid.UUID                 # whose rights lock the record (the submitter, or the workflow's author)
    run_id: uuid.UUID | None = None
    run_path: str | None = None
    workflow_id: uuid.UUID | None = None


def approval_out(row: Any, approvers: list[Any], decisions: list[Any] | None = None) -> ApprovalOut:
    mine = [a for a in approvers if a["approval_id"] == row["id"]]
    waiting = [a["user_id"] for a in mine if a["step"] == row["current_step"] and a["decision"] is None]
    return ApprovalOut(
        id=row["id"], template_id=row["template_id"], template_version=row["template_version"], name=row["name"],
        record=RecordRef(row["entity"], row["record_id"]), submitted_by=row["submitted_by"], status=row["status"],
        current_step=row["current_step"], steps=steps_of(row["steps"]), guarded_fields=list(row["guarded_fields"]),
        waiting_for=waiting if row["status"] == "pending" else [],
        approvers=[ApproverOut(step=a["step"], user_id=a["user_id"], added_by=a["added_by"], decision=a["decision"],
                               comment=a["comment"], decided_at=a["decided_at"]) for a in mine],
        workflow_run_id=row["run_id"], created_at=row["created_at"], step_started_at=row["step_started_at"],
        finished_at=row["finished_at"], version=row["version"],
        decisions=None if decisions is None else [
            DecisionOut(seq=d["seq"], step=d["step"], user_id=d["user_id"], decision=d["decision"],
                        comment=d["comment"], target_id=d["target_id"], decided_at=d["decided_at"]) for d in decisions],
    )


async def read(unit: Unit, approval_id: uuid.UUID) -> ApprovalOut:
    row = await store.get(unit, approval_id)
    if row is None:
        raise NotFound(f"No approval {approval_id}")
    return approval_out(row, await store.approvers(unit, [approval_id]), await store.decisions(unit, approval_id))


async def read_for(unit: Unit, principal: Principal, approval_id: uuid.UUID) -> ApprovalOut:
    """The approval, for its submitter, its approvers and those who may read workflows; 404 for others."""
    out = await read(unit, approval_id)
    involved = principal.user_id == out.submitted_by or any(a.user_id == principal.user_id for a in out.approvers)
    if not involved and not principal.can("workflow", "read"):
        raise NotFound(f"No approval {approval_id}")
    return out


async def page(unit: Unit, *, assigned_to: uuid.UUID | None, submitted_by: uuid.UUID | None, status: str | None,
               after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[ApprovalOut]:
    rows = await store.page(unit, assigned_to=assigned_to, submitted_by=submitted_by, status=status, after=after,
                            limit=limit)
    approvers = await store.approvers(unit, [r["id"] for r in rows])
    return [approval_out(r, approvers) for r in rows]


# --- resolving approvers ----------------------------------------------------------------------------


async def resolve_step(unit: Unit, step: ApprovalStep, submitter: uuid.UUID) -> list[uuid.UUID]:
    """The active users a step's rules name for this submitter, in rule order, without repeats or the submitter."""
    found: list[uuid.UUID] = []
    for rule in step.approvers:
        if isinstance(rule, NamedUsers):
            active = await directory.active_users(unit, list(rule.user_ids))
            found += [u for u in rule.user_ids if u in active]
        elif isinstance(rule, RoleHolders):
            found += await people.users_with_role(unit, rule.role)
        elif isinstance(rule, SubmittersManager):
            found += [m for m in [await people.manager_of(unit, submitter)] if m]
        elif isinstance(rule, DepartmentHead):
            user = await directory.user(unit, submitter)
            head = await people.head_of(unit, user["department_id"]) if user and user["department_id"] else None
            if head is None or head == submitter:
                head = await people.manager_of(unit, submitter)
            found += [head] if head else []
        elif isinstance(rule, LevelsUp):
            found += [m for m in [await people.levels_up(unit, submitter, rule.levels)] if m]
    return [u for u in dict.fromkeys(found) if u != submitter]


# --- records' side ---------------------------------------------------------------------------------


async def _records(client: RecordsClient, tenant_id: uuid.UUID, row: Any, op: str, key: str,
                   fields: dict[str, Any], author: uuid.UUID | None = None) -> None:
    """A command to records about the approval's record; 503 when records does not answer."""
    try:
        await client.send(Command(
            tenant_id=tenant_id, author_id=author or row["submitted_by"], workflow_id=row["id"],
            run_id=row["run_id"] or row["id"], key=key, op=op, entity=row["entity"], record_id=row["record_id"],
            fields=fields))
    except RecordsUnavailable:
        raise Problem("The records service did not answer; try again shortly", status_code=503,
                      kind="records-unavailable", title="Service unavailable", headers={"Retry-After": "5"}) from None
    except CommandFailed as exc:
        raise Problem(str(exc.problem.get("detail") or exc), status_code=exc.status,
                      kind=str(exc.problem.get("kind") or "conflict")) from None


async def _note(client: RecordsClient, unit: Unit, row: Any, seq: int, by: uuid.UUID, decision: str,
                comment: str | None, status: str, target: uuid.UUID | None = None) -> None:
    entry = {"approval_id": str(row["id"]), "name": row["name"], "decision": decision, "step": row["current_step"],
             "status": status, "comment": comment, "user_id": str(target) if target else None}
    # The key names the decision too: a decision rolled back and then made differently is a new note.
    await _records(client, unit.tenant_id, row, "note", f"approval:{row['id']}:note:{seq}:{by}:{decision}",
                   {"actor_id": str(by), "entry": entry})


# --- requesting ------------------------------------------------------------------------------------


async def _plan_sla(unit: Unit, row: Any, step_index: int, now: datetime) -> None:
    step = steps_of(row["steps"])[step_index]
    if step.sla is None:
        return
    sla = parse_duration(step.sla)
    due = (await calendar_settings.load(unit)).add(now, sla) if step.business_time else now + sla
    await timers.plan(unit, key=f"approval:{row['id']}:{step_index}", timer_kind="approval", due_at=due,
                      workflow_id=None, record_type=row["entity"], record_id=row["record_id"],
                      payload={"approval_id": str(row["id"]), "step": step_index})
    calendar = await calendar_settings.load(unit)
    for i, level in enumerate(step.escalations):
        share = sla * level.at
        at = calendar.add(now, share) if step.business_time else now + share
        await timers.plan(unit, key=f"approval:{row['id']}:{step_index}:level{i}", timer_kind="approval", due_at=at,
                          workflow_id=None, record_type=row["entity"], record_id=row["record_id"],
                          payload={"approval_id": str(row["id"]), "step": step_index, "escalation": i})


def _step_keys(approval_id: uuid.UUID, step: int) -> list[str]:
    """A step's SLA timer and its escalation levels' timers."""
    return [f"approval:{approval_id}:{step}", *(f"approval:{approval_id}:{step}:level{i}"
                                                for i in range(escalation.MAX_LEVELS))]


def _event(row: Any, **data: Any) -> dict[str, Any]:
    return {"approval_id": str(row["id"]), "template_id": str(row["template_id"]), "name": row["name"],
            "record": {"type": row["entity"], "id": str(row["record_id"])}, "submitted_by": str(row["submitted_by"]),
            "status": row["status"], "step": row["current_step"],
            **{k: [str(u) for u in v] if isinstance(v, list) else (str(v) if isinstance(v, uuid.UUID) else v)
               for k, v in data.items()}}


async def submit(db: ServiceDatabase, scope: TenantScope, client: RecordsClient, sub: Submission) -> ApprovalOut:
    """Make the request (see the module's note); an existing request of the same workflow step is answered as is."""
    approval_id = uuid.uuid4()
    async with db.tenant_unit(scope) as unit:
        if sub.run_id is not None and sub.run_path is not None:
            existing = await store.of_run(unit, sub.run_id, sub.run_path)
            if existing is not None:
                return await read(unit, existing["id"])
        template = await store.get_template(unit, sub.template_id)
        if template is None:
            raise ValidationProblem.one("template_id", f"no approval template {sub.template_id}", "unknown_template")
        if not template["enabled"]:
            raise Conflict("This approval template is disabled", kind="template-disabled")
        if template["entity"] != sub.entity:
            raise ValidationProblem.one("record.type", f"this template is for {template['entity']} records", "invalid")
        if template["condition"]:
            try:
                holds = compiled(template["condition"]).evaluate(
                    record=sub.record, old=None, actor={"kind": "user", "id": str(sub.submitted_by)},
                    now=datetime.now(UTC))
            except ConditionError as exc:
                raise ValidationProblem.one("record", f"the template's condition cannot be evaluated: {exc}",
                                            "invalid_condition") from None
            if not holds:
                raise ValidationProblem.one("record", "the record does not meet the template's condition "
                                            f"({template['condition']})", "condition_not_met")
        pending = await store.pending_of(unit, sub.entity, sub.record_id, sub.template_id)
        if pending is not None:
            raise Conflict(f"Approval {pending['id']} of this record is already pending", kind="approval-pending",
                           extra={"approval_id": str(pending["id"])})
        resolved: list[list[uuid.UUID]] = []
        errors = []
        for index, step in enumerate(steps_of(template["steps"])):
            users = await resolve_step(unit, step, sub.submitted_by)
            if not users:
                errors.append(FieldError("template_id", f"step {index + 1} ({step.name or 'unnamed'}) has no "
                                         "approver for this submitter", "no_approver"))
            resolved.append(users)
        if errors:
            raise ValidationProblem(errors)
    draft = {"id": approval_id, "entity": sub.entity, "record_id": sub.record_id, "submitted_by": sub.submitted_by,
             "run_id": sub.run_id}
    if template["guarded_fields"]:
        await _records(client, scope.tenant_id, draft, "lock", f"approval:{approval_id}:lock",
                       {"approval_id": str(approval_id), "fields": list(template["guarded_fields"])}, sub.rights_of)
    try:
        async with db.tenant_unit(scope) as unit:
            row = await store.insert_approval(unit, approval_id, template, record_id=sub.record_id,
                                              submitted_by=sub.submitted_by, run_id=sub.run_id, run_path=sub.run_path)
            for index, users in enumerate(resolved):
                await store.add_approvers(unit, approval_id, index, users)
            await store.log(unit, approval_id, 0, sub.submitted_by, "submit", None)
            await _note(client, unit, row, 0, sub.submitted_by, "submit", None, "pending")
            await _plan_sla(unit, row, 0, datetime.now(UTC))
            await unit.emit("approval", "requested", approval_id, actor=_user(sub.submitted_by),
                            data=_event(row, approvers=resolved[0], reason="submitted"))
            return await read(unit, approval_id)
    except asyncpg.UniqueViolationError:
        # Another request of the same record and template won the race: release this one's lock.
        if template["guarded_fields"]:
            await _records(client, scope.tenant_id, draft, "unlock", f"approval:{approval_id}:unlock",
                           {"approval_id": str(approval_id)})
        raise Conflict("An approval of this record is already pending", kind="approval-pending") from None


def _user(user_id: uuid.UUID) -> Actor:
    return Actor(kind="user", id=str(user_id))


# --- deciding ----------------------------------------------------------------------------------------


async def _finish(unit: Unit, client: RecordsClient, row: Any, status: str, by: uuid.UUID,
                  comment: str | None) -> Any:
    """End the approval: its lock released, its timers gone, the waiting run resumed."""
    if row["guarded_fields"]:
        await _records(client, unit.tenant_id, row, "unlock", f"approval:{row['id']}:unlock", {"approval_id": str(row["id"])})
    await timers.remove_keys(unit, [k for i in range(len(row["steps"])) for k in _step_keys(row["id"], i)])
    done = await store.set_state(unit, row["id"], status=status, current_step=row["current_step"], step_started=False)
    if row["run_id"] is not None:
        # The waiting run goes on; the engine reads the outcome (outcome_of_run). A run still
        # recording its step is locked here until it has, and then finds the approval ended.
        run = await runs.get(unit, row["run_id"], for_update=True)
        if run is not None and run["status"] == "waiting":
            await runs.set_status(unit, run["id"], "pending")
            await queue.put(unit.conn, "run", run["id"], unit.tenant_id)
    return done


async def outcome_of_run(unit: Unit, run_id: uuid.UUID, path: str) -> dict[str, Any] | None:
    """The ended approval of a run's step as the step's output (``approval`` in later conditions);
    None while it is pending."""
    row = await store.of_run(unit, run_id, path)
    if row is None or row["status"] == "pending":
        return None
    last = (await store.decisions(unit, row["id"]))[-1]
    return {"approval_id": str(row["id"]), "status": row["status"], "decided_by": str(last["user_id"]),
            "comment": last["comment"]}


async def decide(db: ServiceDatabase, client: RecordsClient, principal: Principal, approval_id: uuid.UUID,
                 body: DecisionIn) -> ApprovalOut:
    caller = principal.user_id
    async with db.tenant_unit(principal.scope) as unit:
        row = await store.get(unit, approval_id, for_update=True)
        if row is None:
            raise NotFound(f"No approval {approval_id}")
        approvers = await store.approvers(unit, [approval_id])
        step = [a for a in approvers if a["step"] == row["current_step"]]
        mine = next((a for a in step if a["user_id"] == caller), None)
        if row["status"] != "pending":
            if mine is None and caller != row["submitted_by"] and not any(a["user_id"] == caller for a in approvers) \
                    and not principal.can("workflow", "read"):
                raise NotFound(f"No approval {approval_id}")
            raise Conflict(f"This approval is already {row['status']}", kind="approval-finished")
        if mine is None:
            if caller != row["submitted_by"] and not any(a["user_id"] == caller for a in approvers) \
                    and not principal.can("workflow", "read"):
                raise NotFound(f"No approval {approval_id}")
            raise Forbidden("You are not an approver of this approval's current step", kind="not-an-approver")
        if mine["decision"] is not None:
            raise Conflict(f"You already decided this step ({mine['decision']})", kind="already-decided")
        _check_decision(body)
        if body.decision in ("transfer", "add_approver"):
            assert body.user_id is not None
            if not await directory.active_users(unit, [body.user_id]):
                raise ValidationProblem.one("user_id", f"no active user {body.user_id} in this workspace",
                                            "unknown_user")
            if body.user_id == row["submitted_by"] or any(a["user_id"] == body.user_id and a["decision"] is None
                                                          for a in step):
                raise ValidationProblem.one("user_id", "is the submitter or already an approver of this step",
                                            "already_approver")
        seq = len(await store.decisions(unit, approval_id)) + 1
        await store.log(unit, approval_id, row["current_step"], caller, body.decision, body.comment, body.user_id)
        actor = _user(caller)
        if body.decision == "add_approver":
            assert body.user_id is not None
            await store.add_approvers(unit, approval_id, row["current_step"], [body.user_id], added_by=caller)
            await _note(client, unit, row, seq, caller, body.decision, body.comment, "pending", body.user_id)
            await unit.emit("approval", "requested", approval_id, actor=actor,
                            data=_event(row, approvers=[body.user_id], reason="add_approver", by=caller))
            return await read(unit, approval_id)
        await store.decide(unit, approval_id, row["current_step"], caller, body.decision, body.comment)
        if body.decision == "transfer":
            assert body.user_id is not None
            await store.add_approvers(unit, approval_id, row["current_step"], [body.user_id], added_by=caller)
            await _note(client, unit, row, seq, caller, body.decision, body.comment, "pending", body.user_id)
            await unit.emit("approval", "requested", approval_id, actor=actor,
                            data=_event(row, approvers=[body.user_id], reason="transfer", by=caller))
            return await read(unit, approval_id)
        if body.decision in ("reject", "return"):
            done = await _finish(unit, client, row, FINISHED[body.decision], caller, body.comment)
            await _note(client, unit, row, seq, caller, body.decision, body.comment, done["status"])
            await unit.emit("approval", "decided", approval_id, actor=actor,
                            data=_event(done, decision=body.decision, by=caller, comment=body.comment))
            return await read(unit, approval_id)
        # approve: the step passes with one approval (any) or once every approver approved (all).
        steps = steps_of(row["steps"])
        waiting = [a for a in step if a["decision"] is None and a["user_id"] != caller]
        passed = steps[row["current_step"]].mode == "any" or not waiting
        if not passed:
            status = "pending"
            done = row
        elif row["current_step"] + 1 < len(steps):
            status = "pending"
            await timers.remove_keys(unit, _step_keys(approval_id, row["current_step"]))
            done = await store.set_state(unit, approval_id, status="pending", current_step=row["current_step"] + 1,
                                         step_started=True)
            await _plan_sla(unit, done, done["current_step"], datetime.now(UTC))
        else:
            done = await _finish(unit, client, row, "approved", caller, body.comment)
            status = "approved"
        await _note(client, unit, row, seq, caller, "approve", body.comment, status)
        await unit.emit("approval", "decided", approval_id, actor=actor,
                        data=_event(done, decision="approve", by=caller, comment=body.comment))
        if passed and status == "pending":
            upcoming = [a["user_id"] for a in approvers if a["step"] == done["current_step"]]
            await unit.emit("approval", "step_advanced", approval_id, actor=actor,
                            data=_event(done, approvers=upcoming, previous_step=row["current_step"]))
        return await read(unit, approval_id)


def _check_decision(body: DecisionIn) -> None:
    errors = []
    if body.decision in ("reject", "return") and not (body.comment or "").strip():
        errors.append(FieldError("comment", f"is required to {body.decision}", "required"))
    if body.decision in ("transfer", "add_approver") and body.user_id is None:
        errors.append(FieldError("user_id", f"names the user to {body.decision.replace('_', ' ')}", "required"))
    if errors:
        raise ValidationProblem(errors)


async def recall(db: ServiceDatabase, client: RecordsClient, principal: Principal,
                 approval_id: uuid.UUID) -> ApprovalOut:
    """The submitter takes the request back while it is pending (撤回)."""
    async with db.tenant_unit(principal.scope) as unit:
        row = await store.get(unit, approval_id, for_update=True)
        if row is None:
            raise NotFound(f"No approval {approval_id}")
        if row["submitted_by"] != principal.user_id:
            await read_for(unit, principal, approval_id)  # 404 for those who may not see it
            raise Forbidden("Only the submitter may recall an approval", kind="not-the-submitter")
        if row["status"] != "pending":
            raise Conflict(f"This approval is already {row['status']}", kind="approval-finished")
        seq = len(await store.decisions(unit, approval_id)) + 1
        await store.log(unit, approval_id, row["current_step"], principal.user_id, "recall", None)
        done = await _finish(unit, client, row, "recalled", principal.user_id, None)
        await _note(client, unit, row, seq, principal.user_id, "recall", None, "recalled")
        await unit.emit("approval", "decided", approval_id, actor=_user(principal.user_id),
                        data=_event(done, decision="recall", by=principal.user_id))
        return await read(unit, approval_id)


async def cancel_of_run(unit: Unit, client: RecordsClient, run_id: uuid.UUID, by: uuid.UUID) -> None:
    """The run waiting on its approvals was cancelled: they end as ``cancelled`` and unlock their
    fields, in the cancel's transaction (records unreachable: 503, the run stays as it was)."""
    for row in await store.pending_of_run(unit, run_id):
        seq = len(await store.decisions(unit, row["id"])) + 1
        await store.log(unit, row["id"], row["current_step"], by, "cancel", "the workflow run was cancelled")
        done = await _finish(unit, client, row, "cancelled", by, None)
        await _note(client, unit, row, seq, by, "cancel", "the workflow run was cancelled", "cancelled")
        await unit.emit("approval", "decided", row["id"], actor=_user(by),
                        data=_event(done, decision="cancel", by=by, comment="the workflow run was cancelled"))


# --- SLA -----------------------------------------------------------------------------------------------


async def on_sla_timer(unit: Unit, timer: Any) -> None:
    """A step's SLA is due: remind the approvers who have not decided (if the step still waits)."""
    await timers.remove(unit, timer["id"])
    payload = timer["payload"] or {}
    row = await store.get(unit, uuid.UUID(str(payload.get("approval_id"))))
    if row is None or row["status"] != "pending" or row["current_step"] != payload.get("step"):
        return
    waiting = [a["user_id"] for a in await store.approvers(unit, [row["id"]])
               if a["step"] == row["current_step"] and a["decision"] is None]
    if payload.get("escalation") is not None:
        await _escalate(unit, row, int(payload["escalation"]), waiting, timer["due_at"])
        return
    await unit.emit("approval", "reminder", row["id"], actor=Actor(kind="system"),
                    data=_event(row, approvers=waiting, due_at=timer["due_at"].isoformat(),
                                waiting_since=row["step_started_at"].isoformat()))


async def _escalate(unit: Unit, row: Any, index: int, waiting: list[uuid.UUID], due_at: datetime) -> None:
    """One escalation level of the waiting step (its timer fires once): ``approval.escalated`` to
    the people it names (``user_ids``; "assignee" there means the approvers who have not decided)."""
    levels = steps_of(row["steps"])[row["current_step"]].escalations
    if index >= len(levels):
        return
    users = await escalation.resolve(unit, list(levels[index].notify), waiting)
    await unit.emit("approval", "escalated", row["id"], actor=Actor(kind="system"),
                    data=_event(row, level=index + 1, at=levels[index].at, user_ids=users, waiting_approvers=waiting,
                                due_at=due_at.isoformat(), waiting_since=row["step_started_at"].isoformat()))


def responsible_submitter(record: dict[str, Any], actor: dict[str, Any], entity: str | None,
                          author: uuid.UUID) -> uuid.UUID:
    """Who a workflow's request is made for: the user whose change started it, else the record's
    responsible person or owner, else the workflow's author."""
    candidates = [actor.get("id") if actor.get("kind") == "user" else None,
                  record.get("assignee_id") if entity in ("objection", "task") else None, record.get("owner_id")]
    for value in candidates:
        try:
            return uuid.UUID(str(value))
        except (TypeError, ValueError):
            continue
    return author

