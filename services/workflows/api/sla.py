"""/api/v1/sla-policy: the objection SLA targets per severity (and category), in business hours, and
its escalation levels; /api/v1/sla-clocks/{objection_id}: one objection's clock, paused and resumed
by hand (e.g. while it waits on the customer)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post, put
from litestar.params import FromPath, JSONBody

from services.workflows import timekeeping
from services.workflows.db import sla as store
from services.workflows.domain import escalation
from services.workflows.domain import sla as domain
from services.workflows.domain.runs import RecordRef, fetch_record
from services.workflows.records_client import RecordsClient
from shared.errors import NotFound, PreconditionFailed, ValidationProblem
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import expected_version, with_etag

SERVICE = "workflows"


class SlaPolicyController(Controller):
    path = "/sla-policy"
    tags = ["workflows"]

    @get()
    async def get_sla_policy(self, principal: PrincipalDep, runtime: RuntimeDep) -> Response[domain.SlaPolicyOut]:
        """The objection SLA: first-response and resolution targets per severity in business hours
        on the business calendar, overrides per category, and the share of a target at which an
        objection is at risk (a warning), and escalation levels (each fires once per objection and
phase, at its share of the target: whom it notifies, whether it reassigns). Version 0 is the defaults (high 4 / 24 hours, medium
        8 / 40, low 16 / 80, critical 2 / 8; warning at 80 %; no reassignment on a breach)."""
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            out = domain.policy_out(await store.policy(unit))
        return with_etag(out, out.version)

    @put()
    async def put_sla_policy(self, data: JSONBody[domain.SlaPolicyIn], principal: PrincipalDep, request: AnyRequest,
                             runtime: RuntimeDep) -> Response[domain.SlaPolicyOut]:
        """Replace the policy (``If-Match`` for 412 on a stale version). It applies to objections
        created from now on and to those whose severity or category changes; other running clocks
        keep their plan."""
        principal.require("workflow", "update")
        expected = expected_version(request)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            errors = await escalation.check(unit, list(data.escalations), "escalations")
            if errors:
                raise ValidationProblem(errors)
            current = await store.policy(unit)
            if current is None and expected not in (None, 0):
                raise PreconditionFailed(f"The SLA policy is at version 0 (the defaults), not {expected}")
            row = await store.save_policy(
                unit, warning_share=data.warning_share, targets=msgspec.to_builtins(data.targets),
                categories=msgspec.to_builtins(data.categories), reassign_on_breach=data.reassign_on_breach,
                escalations=msgspec.to_builtins(data.escalations), actor_id=principal.user_id,
                expected_version=expected)
            if row is None:
                raise PreconditionFailed(f"The SLA policy is at version {current['version'] if current else 0}, "
                                         f"not {expected}; read it again and retry")
            await unit.emit("sla_policy", "updated", unit.tenant_id, actor=principal.actor, version=row["version"])
            out = domain.policy_out(row)
        return with_etag(out, out.version)


class SlaLevelOut(msgspec.Struct, kw_only=True):
    phase: str                    # first_response | resolution
    level: int                    # 1, 2, ... in the policy's order
    at: float                     # its share of the phase's target
    due_at: datetime              # moved by a pause, like the phase's own times
    fired_at: datetime | None
    notified: list[uuid.UUID] = []
    reassigned_to: uuid.UUID | None = None


class SlaClockOut(msgspec.Struct, kw_only=True):
    objection_id: uuid.UUID
    state: str
    first_response_state: str
    resolution_state: str
    first_response_due_at: datetime
    resolution_due_at: datetime
    paused: bool
    paused_at: datetime | None
    pause_reason: str | None
    paused_by: uuid.UUID | None
    paused_seconds: int           # business time paused so far (the current pause counts once resumed)
    escalations: list[SlaLevelOut]


class SlaPause(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500, examples=["等待客户提供合同扫描件"])]


def _clock_out(row: Any) -> SlaClockOut:
    paused: timedelta = row["paused_total"] or timedelta(0)
    return SlaClockOut(
        objection_id=row["objection_id"], state=row["state"], first_response_state=row["first_response_state"],
        resolution_state=row["resolution_state"], first_response_due_at=row["first_response_due_at"],
        resolution_due_at=row["resolution_due_at"], paused=row["paused_at"] is not None, paused_at=row["paused_at"],
        pause_reason=row["pause_reason"], paused_by=row["paused_by"], paused_seconds=int(paused.total_seconds()),
        escalations=[msgspec.convert({**level, "level": level["index"] + 1}, SlaLevelOut, strict=False)
                     for level in row["escalations"] or []])


class SlaClockController(Controller):
    """An objection's SLA clock as workflows keeps it; pausing and resuming need the right to update
    objections and to see this one (404 otherwise, as in records)."""

    path = "/sla-clocks/{objection_id:uuid}"
    tags = ["workflows"]

    @get()
    async def get_sla_clock(self, objection_id: FromPath[uuid.UUID], principal: PrincipalDep,
                            runtime: RuntimeDep) -> SlaClockOut:
        """Both phases' states and due times, the pause, and each escalation level (when it is due,
        when it fired, whom it told)."""
        await _visible(runtime, principal, objection_id)
        return await _read(runtime, principal, objection_id)

    @post("/pause", status_code=200)
    async def pause_sla_clock(self, objection_id: FromPath[uuid.UUID], data: JSONBody[SlaPause],
                              principal: PrincipalDep, runtime: RuntimeDep) -> SlaClockOut:
        """Stop the clock while the objection waits on someone else (the customer): nothing warns,
        breaches or escalates until it resumes. Pausing a paused clock changes nothing; a resolved
        objection's clock answers 409."""
        principal.require("objection", "update")
        await _visible(runtime, principal, objection_id)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            await timekeeping.pause(unit, objection_id, principal.user_id, data.reason, datetime.now(UTC))
        return await _read(runtime, principal, objection_id)

    @post("/resume", status_code=200)
    async def resume_sla_clock(self, objection_id: FromPath[uuid.UUID], principal: PrincipalDep,
                               runtime: RuntimeDep) -> SlaClockOut:
        """Run the clock again: every warning, due time and escalation still ahead moves by the
        business time it was paused, and records shows the new due times."""
        principal.require("objection", "update")
        await _visible(runtime, principal, objection_id)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            await timekeeping.resume(unit, objection_id, principal.user_id, datetime.now(UTC))
        return await _read(runtime, principal, objection_id)


async def _visible(runtime: RuntimeDep, principal: PrincipalDep, objection_id: uuid.UUID) -> None:
    """404 unless records lets the caller read the objection (another tenant's is never there)."""
    assert runtime.bus is not None
    await fetch_record(RecordsClient(runtime.bus.nc), principal, objection_id, RecordRef("objection", objection_id))


async def _read(runtime: RuntimeDep, principal: PrincipalDep, objection_id: uuid.UUID) -> SlaClockOut:
    async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
        row = await store.clock(unit, objection_id)
    if row is None:
        raise NotFound(f"Objection {objection_id} has no SLA clock (not open when workflows heard of it)")
    return _clock_out(row)
