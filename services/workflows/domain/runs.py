"""Runs as the API sees them: read with their steps, started by hand, retried, cancelled, and the
dry run that shows what each step would do for a chosen record without doing it."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import msgspec

from services.workflows.db import queue, runs, settings, timers
from services.workflows.db import workflows as store
from services.workflows.domain import approvals, assignment, calendar_settings, walker
from services.workflows.domain import definitions as d
from services.workflows.domain.entities import ENTITIES
from services.workflows.domain.steps import Outcome, RunState
from services.workflows.limits import DEFAULT_MAX_RUNS_PER_MINUTE
from services.workflows.records_client import Command, CommandFailed, RecordsClient, RecordsUnavailable
from shared.auth import Principal
from shared.db import ServiceDatabase, Unit
from shared.errors import Conflict, NotFound, Problem, TooManyRequests, Unauthorized, ValidationProblem
from shared.tenancy import scope_for_system

Entity = Literal["customer", "contact", "interaction", "objection", "task", "opportunity"]


class RecordRef(msgspec.Struct, forbid_unknown_fields=True):
    type: Entity
    id: uuid.UUID


class RunRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    record: RecordRef | None = None


class StepOut(msgspec.Struct, kw_only=True):
    path: str
    type: str
    status: str
    input: dict[str, Any]
    output: dict[str, Any]
    error: str | None
    started_at: datetime | None
    duration_ms: int


class RunOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    workflow_id: uuid.UUID
    workflow_version: int
    trigger: dict[str, Any]
    record: RecordRef | None
    status: str
    error: str | None
    late: bool
    depth: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    steps: list[StepOut] | None = None


class DryRunOut(msgspec.Struct, kw_only=True):
    workflow_id: uuid.UUID
    workflow_version: int
    record: RecordRef | None
    steps: list[StepOut]


def run_out(row: Any, steps: list[Any] | None = None) -> RunOut:
    record = RecordRef(row["record_type"], row["record_id"]) if row["record_id"] and row["record_type"] else None
    return RunOut(
        id=row["id"], workflow_id=row["workflow_id"], workflow_version=row["workflow_version"],
        trigger={"index": row["trigger_index"], "type": row["trigger_type"], "key": row["trigger_key"]},
        record=record, status=row["status"], error=row["error"], late=row["late"], depth=row["depth"],
        created_at=row["created_at"], started_at=row["started_at"], finished_at=row["finished_at"],
        steps=None if steps is None else [_step_out(s) for s in steps],
    )


def _step_out(row: Any) -> StepOut:
    return StepOut(path=row["path"], type=row["type"], status=row["status"], input=row["input"] or {},
                   output=row["output"] or {}, error=row["error"], started_at=row["started_at"],
                   duration_ms=row["duration_ms"])


async def read(unit: Unit, run_id: uuid.UUID) -> RunOut:
    row = await runs.get(unit, run_id)
    if row is None:
        raise NotFound(f"No workflow run {run_id}")
    return run_out(row, await runs.steps(unit, run_id))


async def _workflow(unit: Unit, workflow_id: uuid.UUID) -> tuple[Any, d.WorkflowDefinition]:
    row = await store.get(unit, workflow_id)
    if row is None:
        raise NotFound(f"No workflow {workflow_id}")
    return row, msgspec.convert({"triggers": row["triggers"], "steps": row["steps"]}, d.WorkflowDefinition)


async def fetch_record(client: RecordsClient, principal: Principal, workflow_id: uuid.UUID,
                       ref: RecordRef) -> dict[str, Any]:
    """The record as the caller may read it (404 when they may not, as everywhere)."""
    try:
        return await client.send(Command(
            tenant_id=principal.tenant_id, author_id=principal.user_id, workflow_id=workflow_id,
            run_id=uuid.uuid4(), key=f"read:{uuid.uuid4()}", op="read", entity=ref.type, record_id=ref.id))
    except CommandFailed as exc:
        raise Problem(str(exc.problem.get("detail") or "The record cannot be read"), status_code=exc.status,
                      kind=str(exc.problem.get("kind") or "not-found")) from None
    except RecordsUnavailable:
        raise Problem("The records service did not answer; try again shortly", status_code=503,
                      kind="records-unavailable", title="Service unavailable", headers={"Retry-After": "5"}) from None


def _context(ref: RecordRef | None, record: dict[str, Any], principal: Principal) -> dict[str, Any]:
    return {"entity": ref.type if ref else None, "record": record, "old": None,
            "actor": {"kind": principal.actor.kind, "id": principal.actor.id}}


async def start_by_hand(unit: Unit, principal: Principal, workflow_id: uuid.UUID, ref: RecordRef | None,
                        record: dict[str, Any], key: str) -> RunOut:
    row, definition = await _workflow(unit, workflow_id)
    manual = [(i, t) for i, t in enumerate(definition.triggers) if isinstance(t, d.ManualTrigger)]
    if not manual:
        raise Conflict("This workflow has no manual trigger; add {\"type\": \"manual\"} to start it by hand",
                       kind="not-manual")
    if not row["enabled"]:
        raise Conflict("This workflow is disabled; enable it to start it", kind="workflow-disabled")
    index, trigger = next(((i, t) for i, t in manual if t.entity is None or (ref and t.entity == ref.type)),
                          (None, None))
    if index is None or trigger is None:
        wanted = ", ".join(sorted({t.entity for _, t in manual if t.entity}))
        raise ValidationProblem.one("record.type", f"this workflow starts by hand on {wanted} records")
    if trigger.entity is not None and ref is None:
        raise ValidationProblem.one("record", f"name the {trigger.entity} to run it on: {{\"type\", \"id\"}}")
    run_id = await runs.start(
        unit, workflow_id=workflow_id, workflow_version=row["version"], trigger_index=index, trigger_type="manual",
        trigger_key=key, record_type=ref.type if ref else None, record_id=ref.id if ref else None,
        context=_context(ref, record, principal))
    if run_id is None:  # the same Idempotency-Key again: the run it started
        run_id = await unit.fetchval("SELECT id FROM workflows.runs WHERE tenant_id = $1 AND workflow_id = $2 "
                                     "AND trigger_key = $3", unit.tenant_id, workflow_id, key)
    return await read(unit, run_id)


async def start_from_webhook(db: ServiceDatabase, workflow_id: uuid.UUID, secret: str | None,
                             payload: dict[str, Any], key: str) -> RunOut:
    """A call to the workflow's inbound webhook: the secret is the credential (it names the
    tenant); the JSON body is what conditions and steps see as ``record``. A wrong or missing secret
    and an unknown workflow answer the same 401, so neither ids nor tenants can be probed."""
    async with db.system_unit() as system:
        endpoint = await store.webhook_endpoint(system.conn, workflow_id)
    given = hashlib.sha256((secret or "").encode()).hexdigest()
    if endpoint is None or not secret or not hmac.compare_digest(given, endpoint["secret_hash"]):
        raise Unauthorized("Send the workflow's webhook secret: Authorization: Bearer whsec_...",
                           kind="invalid-webhook-secret")
    async with db.tenant_unit(scope_for_system(endpoint["tenant_id"])) as unit:
        row, definition = await _workflow(unit, workflow_id)
        index = next((i for i, t in enumerate(definition.triggers) if isinstance(t, d.WebhookTrigger)), None)
        if index is None:
            raise Unauthorized("Send the workflow's webhook secret: Authorization: Bearer whsec_...",
                               kind="invalid-webhook-secret")
        if not row["enabled"]:
            raise Conflict("This workflow is disabled; its webhook starts nothing", kind="workflow-disabled")
        used, bound = await settings.runs_budget(unit, datetime.now(UTC) - timedelta(minutes=1),
                                                 DEFAULT_MAX_RUNS_PER_MINUTE)
        if used >= bound:
            raise TooManyRequests(f"This workspace started {bound} runs in the last minute", retry_after=60)
        context = {"entity": None, "record": payload, "old": None, "actor": {"kind": "webhook", "id": str(workflow_id)}}
        run_id = await runs.start(unit, workflow_id=workflow_id, workflow_version=row["version"], trigger_index=index,
                                  trigger_type="webhook", trigger_key=key, record_type=None, record_id=None,
                                  context=context)
        if run_id is None:  # the same delivery again (its id or Idempotency-Key): the run it started
            run_id = await unit.fetchval("SELECT id FROM workflows.runs WHERE tenant_id = $1 AND workflow_id = $2 "
                                         "AND trigger_key = $3", unit.tenant_id, workflow_id, key)
        return await read(unit, run_id)


async def retry(unit: Unit, run_id: uuid.UUID) -> RunOut:
    """Run a failed run again from the step that failed (steps done before are not done again)."""
    row = await runs.get(unit, run_id, for_update=True)
    if row is None:
        raise NotFound(f"No workflow run {run_id}")
    if row["status"] != "failed":
        raise Conflict(f"Only a failed run can be retried; this one is {row['status']}", kind="run-not-failed")
    await unit.execute("DELETE FROM workflows.run_steps WHERE tenant_id = $1 AND run_id = $2 AND status = 'failed'",
                       unit.tenant_id, run_id)
    await runs.set_status(unit, run_id, "pending")
    await queue.put(unit.conn, "run", run_id, unit.tenant_id)
    return await read(unit, run_id)


async def cancel(unit: Unit, run_id: uuid.UUID, client: RecordsClient | None = None,
                 by: uuid.UUID | None = None) -> RunOut:
    """Cancel a pending or waiting run; an approval it waits on is cancelled with it (and unlocks)."""
    row = await runs.get(unit, run_id, for_update=True)
    if row is None:
        raise NotFound(f"No workflow run {run_id}")
    if row["status"] not in ("pending", "waiting"):
        raise Conflict(f"Only a pending or waiting run can be cancelled; this one is {row['status']}",
                       kind="run-not-cancellable")
    await timers.remove_of_run(unit, run_id)
    await runs.set_status(unit, run_id, "cancelled", error="cancelled by a user")
    await queue.drop(unit.conn, run_id)
    if client is not None and by is not None:
        await approvals.cancel_of_run(unit, client, run_id, by)
    return await read(unit, run_id)


class _DryEffects:
    """Effects that describe what would be done (an assignment strategy takes no turn)."""

    def __init__(self, unit: Unit, nc: Any | None, workflow_id: uuid.UUID) -> None:
        self.unit = unit
        self.nc = nc
        self.workflow_id = workflow_id

    async def assignee(self, step: d.AssignOwner, entity: str, key: str) -> tuple[uuid.UUID, dict[str, Any]]:
        return await assignment.preview(self.unit, self.nc, self.workflow_id, step, entity)

    async def request_approval(self, step: d.RequestApproval, state: RunState, path: str) -> dict[str, Any]:
        # The dry run goes on as if the approval were approved, so the steps after it show too.
        state.approval = {"approval_id": None, "status": "approved", "decided_by": None, "comment": None}
        return {"id": None, "status": "pending", "would": {"request": step.template_id}}

    async def command(self, op: str, entity: str, record_id: uuid.UUID | None, fields: dict[str, Any],
                      key: str) -> dict[str, Any]:
        return {**fields, "id": None, "would": {"op": op, "entity": entity, "record_id": record_id}}

    async def emit(self, entity: str, action: str, entity_id: uuid.UUID, data: dict[str, Any]) -> None:
        return None


class _DryJournal:
    """The dry run's journal: nothing done before, every step listed, waits walked past."""

    stops_at_waits = False

    def __init__(self) -> None:
        self.steps: list[StepOut] = []

    def recorded(self, path: str) -> Any | None:
        return None

    async def approval_ended(self, path: str, state: RunState) -> bool:
        return True

    async def record(self, path: str, step: d.Step, outcome: Outcome, started: float) -> None:
        self.steps.append(StepOut(
            path=path, type=str(step.__struct_config__.tag), status=outcome.status, input=outcome.input,
            output=msgspec.to_builtins(outcome.output), error=outcome.error, started_at=None,
            duration_ms=int((time.perf_counter() - started) * 1000)))


async def dry_run(unit: Unit, principal: Principal, workflow_id: uuid.UUID, ref: RecordRef | None,
                  record: dict[str, Any], nc: Any | None = None) -> DryRunOut:
    """Every step as it would go for ``record`` now: its input and what it would do; waits are not waited."""
    row, definition = await _workflow(unit, workflow_id)
    if ref is not None and ref.type not in ENTITIES:
        raise ValidationProblem.one("record.type", f"must be one of {', '.join(ENTITIES)}")
    state = RunState(run_id=uuid.uuid4(), workflow_id=workflow_id, tenant_id=unit.tenant_id,
                     entity=ref.type if ref else None, record=dict(record), old=None,
                     actor={"kind": principal.actor.kind, "id": principal.actor.id},
                     calendar=await calendar_settings.load(unit), now=datetime.now(UTC))
    journal = _DryJournal()
    await walker.walk(definition.steps, state, _DryEffects(unit, nc, workflow_id), journal)
    out = journal.steps
    return DryRunOut(workflow_id=workflow_id, workflow_version=row["version"], record=ref, steps=out)
