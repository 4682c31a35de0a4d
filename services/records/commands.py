"""Records' writes as commands over NATS request/reply, for programs inside the platform (workflows).

``huike.rpc.records.command`` takes a ``CommandRequest`` and answers a ``CommandResponse``. A
command runs exactly as the HTTP API would: the same typed bodies and validation, the same domain
functions (permissions, field rules, history, events), with the rights the author of the workflow
has *now* (identity resolves them), and an idempotency key, so a command sent again after a crash
replays the first answer instead of writing twice. Writes are attributed to the workflow
(``actor: {kind: workflow}``) and their events carry ``data.origin`` (workflow, run, depth).

``ENTITY_COMMANDS`` is the one declaration per entity of what a command may do: its create and
patch bodies and the domain functions that create, read and change it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from services.records.db import activity_sql
from services.records.db import customers as customers_db
from services.records.db import locks as locks_store
from services.records.db import objections as objections_db
from services.records.domain import (
    contacts,
    customers,
    history,
    idempotency,
    interactions,
    objections,
    opportunities,
    tasks,
)
from services.records.domain.access import RecordAccess, load_access
from shared.db import Unit
from shared.errors import NotFound, Problem, ValidationProblem
from shared.events.envelope import Actor
from shared.tenancy import scope_for_system
from shared.unavailable import is_unavailable

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.records.commands")

COMMAND_SUBJECT = "huike.rpc.records.command"
# Workflows' SLA clock of an objection (state and due times): a system write, not a user's, so not a
# command with an author's rights; the tenant comes from inside the platform, as for replay.
SLA_SUBJECT = "huike.rpc.records.sla"
SLA_ACTOR = Actor(kind="system", id="workflows.sla")
# Workflows' health score of a customer, the same kind of system write.
HEALTH_SUBJECT = "huike.rpc.records.health"
HEALTH_ACTOR = Actor(kind="system", id="workflows.health")
QUEUE = "records-commands"
SERVICE = "records"


class CommandRequest(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: uuid.UUID
    author_id: uuid.UUID       # whose rights apply
    workflow_id: uuid.UUID     # to whom the writes are attributed
    run_id: uuid.UUID
    depth: int = 0             # how many workflow writes led to this one
    key: str                   # idempotency key: the same key replays the first answer
    op: Literal["create", "update", "read", "add_tags", "remove_tags", "lock", "unlock", "note"]
    entity: str
    record_id: uuid.UUID | None = None
    fields: dict[str, Any] = msgspec.field(default_factory=dict)


class CommandResponse(msgspec.Struct, kw_only=True, omit_defaults=True):
    status: int
    record: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None


class SlaRequest(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: uuid.UUID
    objection_id: uuid.UUID
    sla_state: Literal["on_track", "at_risk", "breached", "met"] | None
    sla_due_at: datetime | None = None
    first_response_due_at: datetime | None = None
    # The SLA policy reassigns a breached objection (to the assignee's department head); ignored
    # unless it names an active user of the tenant.
    reassign_to: uuid.UUID | None = None


class HealthReason(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    points: int
    detail: dict[str, Any] = msgspec.field(default_factory=dict)


class HealthRequest(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: uuid.UUID
    customer_id: uuid.UUID
    score: Annotated[int, msgspec.Meta(ge=0, le=100)]
    reasons: Annotated[list[HealthReason], msgspec.Meta(max_length=20)] = []


Created = Callable[[Unit, RecordAccess, Any], Awaitable[dict[str, Any]]]
Changed = Callable[[Unit, RecordAccess, uuid.UUID, Any], Awaitable[dict[str, Any]]]
Read = Callable[[Unit, RecordAccess, uuid.UUID], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class EntityCommands:
    create_body: type[msgspec.Struct]
    patch_body: type[msgspec.Struct]
    create: Created
    update: Changed
    read: Read


def _created(fn: Callable[..., Awaitable[tuple[int, dict[str, Any]]]]) -> Created:
    async def create(unit: Unit, access: RecordAccess, body: Any) -> dict[str, Any]:
        return (await fn(unit, access, body))[1]
    return create


def _changed(module: Any) -> Changed:
    async def update(unit: Unit, access: RecordAccess, record_id: uuid.UUID, body: Any) -> dict[str, Any]:
        return module.out(access, await module.update(unit, access, record_id, body, None))
    return update


def _read(module: Any) -> Read:
    async def read(unit: Unit, access: RecordAccess, record_id: uuid.UUID) -> dict[str, Any]:
        return (await module.read(unit, access, record_id))[0]
    return read


async def _customer_update(unit: Unit, access: RecordAccess, record_id: uuid.UUID, body: Any) -> dict[str, Any]:
    row, _duplicates = await customers.update(unit, access, record_id, body, None)
    return customers.out(access, row)


async def _opportunity_create(unit: Unit, access: RecordAccess, body: Any) -> dict[str, Any]:
    given = {f for f in body.__struct_fields__ if getattr(body, f) is not msgspec.UNSET}
    return await opportunities.create(unit, access, body, given)


async def _opportunity_update(unit: Unit, access: RecordAccess, record_id: uuid.UUID, body: Any) -> dict[str, Any]:
    return await opportunities.update(unit, access, record_id, body, expected_version=None)


ENTITY_COMMANDS: dict[str, EntityCommands] = {
    "customer": EntityCommands(customers.CustomerCreate, customers.CustomerPatch, _created(customers.create),
                               _customer_update, _read(customers)),
    "contact": EntityCommands(contacts.ContactCreate, contacts.ContactPatch, _created(contacts.create),
                              _changed(contacts), _read(contacts)),
    "interaction": EntityCommands(interactions.InteractionCreate, interactions.InteractionPatch,
                                  _created(interactions.create), _changed(interactions), _read(interactions)),
    "objection": EntityCommands(objections.ObjectionCreate, objections.ObjectionPatch, _created(objections.create),
                                _changed(objections), _read(objections)),
    "task": EntityCommands(tasks.TaskCreate, tasks.TaskPatch, _created(tasks.create), _changed(tasks), _read(tasks)),
    "opportunity": EntityCommands(opportunities.OpportunityCreate, opportunities.OpportunityPatch,
                                  _opportunity_create, _opportunity_update, opportunities.get),
}


def _body(kind: type[msgspec.Struct], fields: dict[str, Any]) -> Any:
    try:
        return msgspec.convert(fields, kind)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `$.")
        raise ValidationProblem.one(path.rstrip("`") or "fields", message, "invalid") from None


async def _run(unit: Unit, access: RecordAccess, request: CommandRequest) -> dict[str, Any]:
    spec = ENTITY_COMMANDS[request.entity]
    if request.op == "create":
        access.require(request.entity, "create")
        return await spec.create(unit, access, _body(spec.create_body, request.fields))
    assert request.record_id is not None
    if request.op == "read":
        access.require(request.entity, "read")
        return await spec.read(unit, access, request.record_id)
    if request.op == "lock":
        access.require(request.entity, "read")
        await spec.read(unit, access, request.record_id)  # 404 when the author cannot see it
        lock = _body(LockFields, request.fields)
        await locks_store.add(unit, request.entity, request.record_id, lock.approval_id, list(lock.fields))
        return {"id": str(request.record_id), "locked": list(lock.fields)}
    access.require(request.entity, "update")
    fields = dict(request.fields)
    if request.op in ("add_tags", "remove_tags"):
        current = await spec.read(unit, access, request.record_id)
        tags = list(current.get("tags") or [])
        wanted = [str(t) for t in fields.get("tags") or []]
        tags = [*tags, *(t for t in wanted if t not in tags)] if request.op == "add_tags" else [
            t for t in tags if t not in wanted]
        fields = {"tags": tags}
    return await spec.update(unit, access, request.record_id, _body(spec.patch_body, fields))


class LockFields(msgspec.Struct, forbid_unknown_fields=True):
    approval_id: uuid.UUID
    fields: Annotated[list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(max_length=100)]


class NoteFields(msgspec.Struct, forbid_unknown_fields=True):
    actor_id: uuid.UUID
    entry: dict[str, Any]


async def _run_as_system(unit: Unit, request: CommandRequest) -> dict[str, Any]:
    """``unlock`` and ``note``: workflows' own bookkeeping on a record, with no user's rights."""
    assert request.record_id is not None
    if request.op == "unlock":
        lock = _body(LockFields, {"fields": [], **request.fields})
        await locks_store.remove(unit, request.entity, request.record_id, lock.approval_id)
        return {"id": str(request.record_id), "unlocked": True}
    note = _body(NoteFields, request.fields)
    customer_id = await locks_store.customer_of(unit, request.entity, request.record_id)
    if customer_id is None:
        raise NotFound(f"No {request.entity} {request.record_id}")
    await history.record_changes(unit, request.entity, request.record_id, customer_id,
                                 Actor(kind="user", id=str(note.actor_id)),
                                 {"approval": {"old": None, "new": history.jsonable(note.entry)}})
    return {"id": str(request.record_id), "noted": True}


class CommandResponder:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db(SERVICE)
        self._subscriptions: list[Any] = []

    async def start(self) -> CommandResponder:
        assert self.runtime.bus is not None
        nc = self.runtime.bus.nc
        self._subscriptions = [await nc.subscribe(COMMAND_SUBJECT, queue=QUEUE, cb=self._on_command),
                               await nc.subscribe(SLA_SUBJECT, queue=QUEUE, cb=self._on_sla),
                               await nc.subscribe(HEALTH_SUBJECT, queue=QUEUE, cb=self._on_health)]
        return self

    async def stop(self) -> None:
        subscriptions, self._subscriptions = self._subscriptions, []
        for subscription in subscriptions:
            await subscription.unsubscribe()

    async def handle_sla(self, request: SlaRequest) -> CommandResponse:
        """Write the objection's SLA columns; 404 when it is gone (the clock is then moot)."""
        async with self.db.tenant_unit(scope_for_system(request.tenant_id), background=True) as unit:
            assignee = request.reassign_to
            if assignee is not None and assignee not in await activity_sql.active_users(unit, [assignee]):
                assignee = None
            record = await objections.set_sla(unit, request.objection_id, sla_state=request.sla_state,
                                              sla_due_at=request.sla_due_at,
                                              first_response_due_at=request.first_response_due_at, actor=SLA_ACTOR,
                                              assignee_id=assignee)
            if record is None and await objections_db.get(unit, request.objection_id) is None:
                return CommandResponse(status=404, problem={"kind": "not-found", "detail": "no such objection"})
        return CommandResponse(status=200, record=history.jsonable(record) if record else None)

    async def handle_health(self, request: HealthRequest) -> CommandResponse:
        """Write the customer's health; 404 when it is gone."""
        async with self.db.tenant_unit(scope_for_system(request.tenant_id), background=True) as unit:
            record = await customers.set_health(unit, request.customer_id, request.score,
                                                [msgspec.structs.asdict(r) for r in request.reasons],
                                                actor=HEALTH_ACTOR)
            if record is None and await customers_db.get(unit, request.customer_id) is None:
                return CommandResponse(status=404, problem={"kind": "not-found", "detail": "no such customer"})
        return CommandResponse(status=200, record=history.jsonable(record) if record else None)

    async def _on_health(self, msg: Any) -> None:
        await self._answer(msg, lambda: self.handle_health(msgspec.json.decode(msg.data, type=HealthRequest)))

    async def _on_sla(self, msg: Any) -> None:
        await self._answer(msg, lambda: self.handle_sla(msgspec.json.decode(msg.data, type=SlaRequest)))

    async def _answer(self, msg: Any, handle: Callable[[], Awaitable[CommandResponse]]) -> None:
        try:
            answer = await handle()
        except msgspec.DecodeError as exc:
            answer = _problem(ValidationProblem.one("body", str(exc)))
        except Exception as exc:  # noqa: BLE001 - the caller gets a reason; we keep serving
            if is_unavailable(exc):
                answer = CommandResponse(status=503, problem={"kind": "unavailable", "detail": str(exc)[:300]})
            else:
                log.exception("records system write failed")
                answer = CommandResponse(status=500, problem={"kind": "internal-error", "detail": str(exc)[:300]})
        await msg.respond(msgspec.json.encode(answer))

    async def handle(self, request: CommandRequest) -> CommandResponse:
        if request.entity not in ENTITY_COMMANDS:
            return _problem(ValidationProblem.one("entity", f"must be one of {', '.join(ENTITY_COMMANDS)}"))
        if request.op != "create" and request.record_id is None:
            return _problem(ValidationProblem.one("record_id", "is required for this command"))
        if request.op in ("unlock", "note"):
            return await self._handle_as_system(request)
        assert self.runtime.principals is not None
        actor = Actor(kind="workflow", id=str(request.workflow_id))
        token = history.WRITE_ORIGIN.set({"workflow_id": str(request.workflow_id), "run_id": str(request.run_id),
                                          "depth": request.depth})
        try:
            principal = await self.runtime.principals.for_user(request.tenant_id, request.author_id, acting_as=actor)
            who = f"workflow:{request.workflow_id}"
            hashed = idempotency.request_hash(who, "COMMAND", f"{request.op}:{request.entity}:{request.record_id}",
                                              msgspec.json.encode(request.fields))
            async with self.db.tenant_unit(principal.scope) as unit:
                access = await load_access(unit, principal)
                stored = await idempotency.begin(unit, request.key, who, hashed)
                if stored is not None:
                    return CommandResponse(status=stored.status, record=stored.body)
                record = history.jsonable(await _run(unit, access, request))
                status = 201 if request.op == "create" else 200
                if request.op != "read":
                    await idempotency.finish(unit, request.key, who, hashed, status, record)
            return CommandResponse(status=status, record=record)
        except Problem as exc:
            return _problem(exc)
        finally:
            history.WRITE_ORIGIN.reset(token)

    async def _handle_as_system(self, request: CommandRequest) -> CommandResponse:
        who = f"workflow:{request.workflow_id}"
        hashed = idempotency.request_hash(who, "COMMAND", f"{request.op}:{request.entity}:{request.record_id}",
                                          msgspec.json.encode(request.fields))
        try:
            async with self.db.tenant_unit(scope_for_system(request.tenant_id)) as unit:
                stored = await idempotency.begin(unit, request.key, who, hashed)
                if stored is not None:
                    return CommandResponse(status=stored.status, record=stored.body)
                record = await _run_as_system(unit, request)
                await idempotency.finish(unit, request.key, who, hashed, 200, record)
            return CommandResponse(status=200, record=record)
        except Problem as exc:
            return _problem(exc)

    async def _on_command(self, msg: Any) -> None:
        try:
            request = msgspec.json.decode(msg.data, type=CommandRequest)
            answer = await self.handle(request)
        except msgspec.DecodeError as exc:
            answer = _problem(ValidationProblem.one("body", str(exc)))
        except Exception as exc:  # noqa: BLE001 - the caller gets a reason; we keep serving
            if is_unavailable(exc):
                answer = CommandResponse(status=503, problem={"kind": "unavailable", "detail": str(exc)[:300]})
            else:
                log.exception("records command failed")
                answer = CommandResponse(status=500, problem={"kind": "internal-error", "detail": str(exc)[:300]})
        await msg.respond(msgspec.json.encode(answer))


def _problem(exc: Problem) -> CommandResponse:
    problem: dict[str, Any] = {"kind": exc.kind, "title": exc.title, "detail": exc.detail}
    if exc.errors:
        problem["errors"] = [msgspec.structs.asdict(e) for e in exc.errors]
    return CommandResponse(status=exc.status_code, problem=problem)


async def start_commands(runtime: Runtime) -> CommandResponder:
    return await CommandResponder(runtime).start()
