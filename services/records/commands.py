"""Records' writes as commands over NATS request/reply, for programs inside the platform (workflows).

``huike.rpc.records.command`` takes a ``CommandRequest`` and answers a ``CommandResponse``. A
command runs exactly as the HTTP API would: the same typed bodies and validation, the same domain
functions (permissions, field rules, history, events), with the rights the author of the workflow
has *now* (identity resolves them), and an idempotency key, so a command sent again after a crash
replays the first answer instead of writing twice. Writes are attributed to the workflow
(``actor: {kind: workflow}``) and their events carry ``data.origin`` (workflow, run, depth).

Each command goes through its entity's one declaration (``entities.py``), the very one the HTTP
routes are built from: the same bodies checked by ``shared.validation`` (every bad field in one
422), the same permission per operation, the same domain functions and the same idempotency
(``idempotency.once``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from services.records.db import activity_sql
from services.records.db import customers as customers_db
from services.records.db import locks as locks_store
from services.records.db import objections as objections_db
from services.records.domain import customers, history, idempotency, objections
from services.records.domain.access import RecordAccess, load_access
from services.records.entities import ENTITIES, OP_ACTIONS
from shared.db import Unit
from shared.errors import NotFound, Problem, ValidationProblem
from shared.events.envelope import Actor
from shared.tenancy import scope_for_system
from shared.unavailable import is_unavailable
from shared.validation import convert

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


async def _run(unit: Unit, access: RecordAccess, request: CommandRequest) -> tuple[int, dict[str, Any]]:
    """The command through the entity's declaration: the permission its op needs, the body checked
    as the HTTP API checks it (every bad field in one 422), then the very function the route calls."""
    entity = ENTITIES[request.entity]
    access.require(entity.name, OP_ACTIONS[request.op])
    if request.op == "create":
        return await entity.create(unit, access, convert(entity.create_body, request.fields))
    assert request.record_id is not None
    if request.op == "read":
        return 200, (await entity.read(unit, access, request.record_id))[0]
    if request.op == "lock":
        await entity.read(unit, access, request.record_id)  # 404 when the author cannot see it
        lock = convert(LockFields, request.fields)
        await locks_store.add(unit, entity.name, request.record_id, lock.approval_id, list(lock.fields))
        return 200, {"id": str(request.record_id), "locked": list(lock.fields)}
    fields = request.fields
    if request.op in ("add_tags", "remove_tags"):
        change = convert(TagFields, fields)
        current, _ = await entity.read(unit, access, request.record_id)
        tags = list(current.get("tags") or [])
        tags = [*tags, *(t for t in change.tags if t not in tags)] if request.op == "add_tags" else [
            t for t in tags if t not in change.tags]
        fields = {"tags": tags}
    record, _ = await entity.update(unit, access, request.record_id, convert(entity.patch_body, fields), None)
    return 200, record


class TagFields(msgspec.Struct, forbid_unknown_fields=True):
    tags: Annotated[list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(max_length=50)]


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
        lock = convert(LockFields, {"fields": [], **request.fields})
        await locks_store.remove(unit, request.entity, request.record_id, lock.approval_id)
        return {"id": str(request.record_id), "unlocked": True}
    note = convert(NoteFields, request.fields)
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
        if request.entity not in ENTITIES:
            return _problem(ValidationProblem.one("entity", f"must be one of {', '.join(ENTITIES)}"))
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
            async with self.db.tenant_unit(principal.scope) as unit:
                access = await load_access(unit, principal)
                if request.op == "read":  # nothing written, nothing to replay
                    status, record = await _run(unit, access, request)
                    return CommandResponse(status=status, record=history.jsonable(record))
                answer, _ = await idempotency.once(unit, request.key, *_who(request),
                                                   lambda: _run(unit, access, request))
            return CommandResponse(status=answer.status, record=answer.body)
        except Problem as exc:
            return _problem(exc)
        finally:
            history.WRITE_ORIGIN.reset(token)

    async def _handle_as_system(self, request: CommandRequest) -> CommandResponse:
        async def write() -> tuple[int, dict[str, Any]]:
            return 200, await _run_as_system(unit, request)

        try:
            async with self.db.tenant_unit(scope_for_system(request.tenant_id)) as unit:
                answer, _ = await idempotency.once(unit, request.key, *_who(request), write)
            return CommandResponse(status=answer.status, record=answer.body)
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


def _who(request: CommandRequest) -> tuple[str, str]:
    """Who sends the command and the hash of what it asks: a key reused for another command is refused."""
    who = f"workflow:{request.workflow_id}"
    return who, idempotency.request_hash(who, "COMMAND", f"{request.op}:{request.entity}:{request.record_id}",
                                         msgspec.json.encode(request.fields))


def _problem(exc: Problem) -> CommandResponse:
    problem: dict[str, Any] = {"kind": exc.kind, "title": exc.title, "detail": exc.detail}
    if exc.errors:
        problem["errors"] = [msgspec.structs.asdict(e) for e in exc.errors]
    return CommandResponse(status=exc.status_code, problem=problem)


async def start_commands(runtime: Runtime) -> CommandResponder:
    return await CommandResponder(runtime).start()
