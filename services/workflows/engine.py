"""The engine: fires due timers and runs workflows, on every replica, each item once.

Each process leases due items of ``workflows.queue`` (SKIP LOCKED, a lease of a minute, renewed
while the item is handled) and handles up to ``HUIKE_WORKFLOW_CONCURRENCY`` of them at once, each
in its tenant's units of work; the queue leases one record's items one at a time, in order
(``db/queue.py``), so concurrency never reorders what happens to a record:

* a timer fires: a date, settle or schedule timer starts a run (its ``trigger_key`` names the
  timer and the moment, so a timer leased twice starts one run) and is re-planned (a yearly date,
  the next cron tick) or removed; a wait timer marks its step done and queues the run again;
* a run is walked from its first step (``domain/walker.py``, the walker the dry run uses too). A
  step already recorded as done is not done again (a branch takes the way it took), so a run
  picked up after a crash goes on where it stopped; the
  step whose effect may have happened without being recorded repeats its command with the same
  idempotency key, and records replays its first answer. Each step's outcome, and the events it
  emits, commit together.

When records or the database is unavailable, the item is given back and tried again later; a run
fails only for its own reasons (a refused command, a condition that cannot be evaluated).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from services.workflows import approval_triggers, health, matching, timekeeping
from services.workflows.db import assignment as picks
from services.workflows.db import queue, runs, timers
from services.workflows.db import workflows as store
from services.workflows.domain import approvals, assignment, calendar_settings, walker
from services.workflows.domain import definitions as d
from services.workflows.domain.schedules import plan_schedule
from services.workflows.domain.steps import Outcome, RunState, StepFailed
from services.workflows.records_client import Command, RecordsClient, RecordsUnavailable
from shared.db import ServiceDatabase, Unit
from shared.errors import Problem
from shared.events.envelope import Actor
from shared.tenancy import scope_for_system
from shared.unavailable import log_failure

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.workflows.engine")

SERVICE = "workflows"
POLL_SECONDS = 0.25
RENEW_SECONDS = 20.0   # leases (queue.LEASE_SECONDS) of the items being handled are extended this often
RETRY_SECONDS = 15.0
LATE_AFTER = timedelta(minutes=1)   # a timer fired this long after it was due is marked late


class LiveEffects:
    """Effects of a real run: commands to records; events kept until the step is recorded."""

    def __init__(self, client: RecordsClient, db: ServiceDatabase, tenant_id: uuid.UUID, workflow: Any,
                 run: Any) -> None:
        self.client = client
        self.db = db
        self.tenant_id = tenant_id
        self.workflow = workflow
        self.run = run
        self.events: list[tuple[str, str, uuid.UUID, dict[str, Any]]] = []

    async def command(self, op: str, entity: str, record_id: uuid.UUID | None, fields: dict[str, Any],
                      key: str) -> dict[str, Any]:
        return await self.client.send(Command(
            tenant_id=self.tenant_id, author_id=self.workflow["author_id"], workflow_id=self.workflow["id"],
            run_id=self.run["id"], depth=self.run["depth"], key=key, op=op, entity=entity, record_id=record_id,
            fields=fields))

    async def emit(self, entity: str, action: str, entity_id: uuid.UUID, data: dict[str, Any]) -> None:
        self.events.append((entity, action, entity_id, data))

    async def assignee(self, step: d.AssignOwner, entity: str, key: str) -> tuple[uuid.UUID, dict[str, Any]]:
        return await assignment.choose(self.db, scope_for_system(self.tenant_id), self.client.nc,
                                       self.workflow["id"], step, entity, key)

    async def request_approval(self, step: d.RequestApproval, state: RunState, path: str) -> dict[str, Any]:
        assert state.entity is not None and state.record_id is not None
        author = self.workflow["author_id"]
        submission = approvals.Submission(
            template_id=uuid.UUID(step.template_id), entity=state.entity, record_id=state.record_id,
            record=state.record, rights_of=author,
            submitted_by=approvals.responsible_submitter(state.record, state.actor, state.entity, author),
            run_id=self.run["id"], run_path=path, workflow_id=self.workflow["id"])
        try:
            out = await approvals.submit(self.db, scope_for_system(self.tenant_id), self.client, submission)
        except Problem as exc:
            if exc.status_code == 503:
                raise RecordsUnavailable(str(exc.detail)) from None
            errors = "; ".join(f"{e.field}: {e.message}" for e in exc.errors or [])
            raise StepFailed(f"the approval was refused: {exc.detail}" + (f" ({errors})" if errors else "")) from None
        return msgspec.to_builtins(out)


async def load_state(unit: Unit, run: Any, workflow: Any, now: datetime) -> RunState:
    context = run["context"] or {}
    return RunState(
        run_id=run["id"], workflow_id=run["workflow_id"], tenant_id=unit.tenant_id, entity=run["record_type"],
        record=dict(context.get("record") or {}), old=context.get("old"), actor=dict(context.get("actor") or {}),
        calendar=await calendar_settings.load(unit), now=now, approval=dict(context.get("approval") or {}),
    )


class _RunJournal:
    """A real run's journal: its recorded steps; each outcome recorded with its events in one transaction."""

    stops_at_waits = True

    def __init__(self, engine: Engine, scope: Any, run: Any, done: dict[str, Any], effects: LiveEffects,
                 state: RunState) -> None:
        self.engine, self.scope, self.run, self.done = engine, scope, run, done
        self.effects, self.state = effects, state

    def recorded(self, path: str) -> Any | None:
        return self.done.get(path)

    async def approval_ended(self, path: str, state: RunState) -> bool:
        return await self.engine._approval_ended(self.scope, self.run, path, state)

    async def record(self, path: str, step: d.Step, outcome: Outcome, started: float) -> None:
        await self.engine._record(self.scope, self.run, path, step, outcome, self.effects, self.state, started)
        self.effects.events.clear()


class Engine:
    """Leases due items and handles up to ``concurrency`` of them at once (the runs and timers of
    one record one after the other: the queue leases only the first of a record's items)."""

    def __init__(self, runtime: Runtime, concurrency: int | None = None) -> None:
        assert runtime.bus is not None
        self.db: ServiceDatabase = runtime.db(SERVICE)
        self.records = RecordsClient(runtime.bus.nc)
        self.concurrency = concurrency or runtime.settings.workflow_concurrency
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._handling: dict[uuid.UUID, asyncio.Task[None]] = {}   # item id -> its handler

    async def start(self) -> Engine:
        self._task = asyncio.create_task(self._loop(), name="workflows-engine")
        return self

    async def stop(self) -> None:
        """Stop leasing; the items being handled are finished (each is bounded by records' timeout)."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        if self._handling:
            await asyncio.gather(*self._handling.values(), return_exceptions=True)

    async def _loop(self) -> None:
        renew_at = time.monotonic() + RENEW_SECONDS
        while not self._stopping.is_set():
            self._slot_freed.clear()
            free = self.concurrency - len(self._handling)
            if free > 0:
                try:
                    for item in await self._lease(free):
                        self._spawn(item)
                except Exception as exc:  # noqa: BLE001 - the database may be down: wait and try again
                    log_failure(log, exc, "workflows engine: leasing failed")
            if time.monotonic() >= renew_at and self._handling:
                renew_at = time.monotonic() + RENEW_SECONDS
                try:
                    async with self.db.system_unit() as system:
                        await queue.renew(system.conn, list(self._handling))
                except Exception as exc:  # noqa: BLE001 - a lease not renewed only risks a second try
                    log_failure(log, exc, "workflows engine: renewing leases failed")
            # Lease again once a slot frees (or after a poll interval, for newly due items).
            stop = asyncio.ensure_future(self._stopping.wait())
            freed = asyncio.ensure_future(self._slot_freed.wait())
            await asyncio.wait({stop, freed}, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            freed.cancel()

    async def _lease(self, limit: int) -> list[Any]:
        async with self.db.system_unit() as system:
            return list(await queue.lease_due(system.conn, limit))

    def _spawn(self, item: Any) -> None:
        # The same item queued again while its previous handling is still finishing (a run re-queued
        # by its own last step) waits for it: one item is never handled twice at once here.
        before = self._handling.get(item["id"])
        task = asyncio.create_task(self._handle(item, before), name=f"workflows-{item['kind']}-{item['id']}")
        self._handling[item["id"]] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self._handling.get(item["id"]) is finished:
                del self._handling[item["id"]]
            self._slot_freed.set()

        task.add_done_callback(done)

    async def work_once(self) -> int:
        """Lease the due items and handle them (concurrently); how many there were."""
        items = await self._lease(self.concurrency)
        await asyncio.gather(*(self._handle(item, None) for item in items))
        return len(items)

    async def _handle(self, item: Any, before: asyncio.Task[None] | None) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        try:
            if item["kind"] == "timer":
                await self.fire_timer(item["tenant_id"], item["id"])
            else:
                await self.run(item["tenant_id"], item["id"])
        except RecordsUnavailable as exc:
            log.info("workflows: %s; %s %s tried again in %ss", exc, item["kind"], item["id"], RETRY_SECONDS)
            await self._retry_later(item["id"])
        except Exception:  # noqa: BLE001 - one item's failure must not stop the others
            log.exception("workflows: %s %s failed; tried again later", item["kind"], item["id"])
            await self._retry_later(item["id"])

    async def _retry_later(self, item_id: uuid.UUID) -> None:
        try:
            async with self.db.system_unit() as system:
                await queue.retry_later(system.conn, item_id, RETRY_SECONDS)
        except Exception as exc:  # noqa: BLE001 - the database is down too: the lease runs out instead
            log_failure(log, exc, "workflows engine: giving an item back failed")

    # --- timers ----------------------------------------------------------------------------------

    async def fire_timer(self, tenant_id: uuid.UUID, timer_id: uuid.UUID) -> None:
        now = datetime.now(UTC)
        async with self.db.tenant_unit(scope_for_system(tenant_id)) as unit:
            timer = await timers.get(unit, timer_id)
            if timer is None:
                await queue.drop(unit.conn, timer_id)
                return
            if timer["kind"] != approval_triggers.TIMER_KIND:
                await self._fire(unit, timer, now)
                return
        # An approval template's own request: made outside that unit, since it asks records.
        await approval_triggers.request(self.db, self.records, tenant_id, timer)

    async def _fire(self, unit: Unit, timer: Any, now: datetime) -> None:
        """A due timer of a workflow trigger, a wait, an SLA step or the time features."""
        late = now - timer["due_at"] > LATE_AFTER
        if timer["kind"] == "approval":
            await approvals.on_sla_timer(unit, timer)
            return
        if timer["kind"] == "wait":
            await self._wake(unit, timer, now)
            return
        if timer["kind"] in ("sla", "reminder", "digest", "health"):
            await self._fire_time(unit, timer, now)
            return
        workflow = await store.get(unit, timer["workflow_id"])
        if workflow is None or not workflow["enabled"]:
            await timers.remove(unit, timer["id"])
            return
        saved = await matching.definition(unit, workflow["id"], workflow["version"])
        assert saved is not None
        definition = saved.definition
        index = timer["trigger_index"]
        trigger = definition.triggers[index] if index is not None and index < len(definition.triggers) else None
        payload = dict(timer["payload"] or {})
        depth = int(payload.pop("depth", 0))
        key = f"{timer['kind']}:{timer['id']}:{timer['due_at'].isoformat()}"
        trigger_type = "date" if timer["kind"] == "date" else (
            "schedule" if timer["kind"] == "schedule" else f"record.{getattr(trigger, 'action', 'updated')}")
        await runs.start(unit, workflow_id=workflow["id"], workflow_version=workflow["version"],
                         trigger_index=index or 0, trigger_type=trigger_type, trigger_key=key,
                         record_type=timer["record_type"], record_id=timer["record_id"], context=payload,
                         depth=depth, late=late)
        if isinstance(trigger, d.ScheduleTrigger):
            calendar = await calendar_settings.load(unit)
            await plan_schedule(unit, workflow["id"], index, trigger, calendar.time_zone, now)
        elif isinstance(trigger, d.DateTrigger) and trigger.yearly:
            next_due = timer["due_at"].replace(year=timer["due_at"].year + 1)
            await timers.plan(unit, key=timer["key"], timer_kind="date", due_at=next_due, workflow_id=workflow["id"],
                              trigger_index=index, record_type=timer["record_type"], record_id=timer["record_id"],
                              payload=timer["payload"])
        else:
            await timers.remove(unit, timer["id"])

    async def _fire_time(self, unit: Unit, timer: Any, now: datetime) -> None:
        """A timer of no workflow: an SLA step or records' copy of it, a reminder, the digest, a health score."""
        if timer["kind"] == "reminder":
            await timekeeping.fire_reminder(unit, timer, now)
        elif timer["kind"] == "digest":
            await timekeeping.fire_digest(unit, timer, now)
        elif timer["kind"] == "health":
            await timers.remove(unit, timer["id"])
            await health.push(unit, timer["record_id"], self.records)
        elif (timer["payload"] or {}).get("sync"):
            await timers.remove(unit, timer["id"])
            reassign = (timer["payload"] or {}).get("reassign_to")
            await timekeeping.push_sla(unit, timer["record_id"], self.records,
                                       uuid.UUID(reassign) if reassign else None)
        else:
            await timers.remove(unit, timer["id"])
            # Never before its due time (the clocks of this process and the database may differ a little).
            await timekeeping.reconcile(unit, timer["record_id"], None, now, max(now, timer["due_at"]))

    async def _wake(self, unit: Unit, timer: Any, now: datetime) -> None:
        """A wait is over: its step is done, and the run goes on."""
        path = (timer["payload"] or {}).get("path")
        await timers.remove(unit, timer["id"])
        run = await runs.get(unit, timer["run_id"], for_update=True)
        if run is None or run["status"] != "waiting":
            return
        await runs.record_step(unit, run["id"], path=path, type="wait", status="succeeded", input={},
                               output={"woke_at": now.isoformat()}, error=None, started_at=now, duration_ms=0)
        await runs.set_status(unit, run["id"], "pending")
        await queue.put(unit.conn, "run", run["id"], unit.tenant_id)

    # --- runs ------------------------------------------------------------------------------------

    async def run(self, tenant_id: uuid.UUID, run_id: uuid.UUID) -> None:
        scope = scope_for_system(tenant_id)
        now = datetime.now(UTC)
        async with self.db.tenant_unit(scope) as unit:
            run = await runs.get(unit, run_id, for_update=True)
            if run is None or run["status"] not in ("pending", "running", "waiting"):
                await queue.drop(unit.conn, run_id)
                return
            workflow = await store.get(unit, run["workflow_id"])
            if workflow is None:
                await runs.set_status(unit, run_id, "cancelled", error="the workflow was deleted")
                await queue.drop(unit.conn, run_id)
                return
            version = await matching.definition(unit, run["workflow_id"], run["workflow_version"])
            assert version is not None
            definition = version.definition
            done = {row["path"]: row for row in await runs.steps(unit, run_id)}
            state = await load_state(unit, run, workflow, now)
            if run["status"] != "running":
                await runs.set_status(unit, run_id, "running")
        author = {**dict(workflow), "author_id": version.author_id}
        effects = LiveEffects(self.records, self.db, tenant_id, author, run)
        journal = _RunJournal(self, scope, run, done, effects, state)
        end = await walker.walk(definition.steps, state, effects, journal)
        if end.status == "waiting_for_approval":
            assert end.path is not None
            await self._wait_for_approval(scope, run_id, end.path)
        else:
            await self._finish(scope, run_id, end.status, error=end.error)

    async def _record(self, scope: Any, run: Any, path: str, step: d.Step, outcome: Outcome, effects: LiveEffects,
                      state: RunState, started: float) -> None:
        """The step's outcome, its events and (for a wait) its timer, in one transaction."""
        now = datetime.now(UTC)
        async with self.db.tenant_unit(scope) as unit:
            await runs.record_step(
                unit, run["id"], path=path, type=str(step.__struct_config__.tag),
                status="succeeded" if outcome.status == "stopped" else outcome.status, input=outcome.input,
                output=outcome.output, error=outcome.error, started_at=now,
                duration_ms=int((time.perf_counter() - started) * 1000))
            if isinstance(step, d.AssignOwner) and step.strategy == "least_loaded":
                await picks.landed(unit, f"{run['id']}:{path}")   # records' counts show it from now on
            actor = Actor(kind="workflow", id=str(run["workflow_id"]))
            for entity, action, entity_id, data in effects.events:
                await unit.emit(entity, action, entity_id, actor=actor, data=data)
            if outcome.wake_at is not None:
                await timers.plan(unit, key=f"wait:{run['id']}:{path}", timer_kind="wait", due_at=outcome.wake_at,
                                  workflow_id=run["workflow_id"], record_type=run["record_type"],
                                  record_id=run["record_id"], run_id=run["id"], payload={"path": path})
            await unit.execute("UPDATE workflows.runs SET context = jsonb_set(context, '{record}', $3) "
                               "WHERE tenant_id = $1 AND id = $2", unit.tenant_id, run["id"], state.record)

    async def _approval_ended(self, scope: Any, run: Any, path: str, state: RunState) -> bool:
        """Record the ended approval of the step as its output (False while it is pending)."""
        async with self.db.tenant_unit(scope) as unit:
            outcome = await approvals.outcome_of_run(unit, run["id"], path)
            if outcome is None:
                return False
            await runs.record_step(unit, run["id"], path=path, type="request_approval", status="succeeded",
                                   input={}, output=outcome, error=None, started_at=datetime.now(UTC), duration_ms=0)
            await unit.execute("UPDATE workflows.runs SET context = jsonb_set(context, '{approval}', $3) "
                               "WHERE tenant_id = $1 AND id = $2", unit.tenant_id, run["id"], outcome)
        state.approval = outcome
        return True

    async def _wait_for_approval(self, scope: Any, run_id: uuid.UUID, path: str) -> None:
        """Wait, unless the approval ended while the step was being recorded: then go on at once.
        The run's row is locked first, so an approval ending now either sees the run waiting (and
        queues it) or is seen ended here."""
        async with self.db.tenant_unit(scope) as unit:
            await runs.get(unit, run_id, for_update=True)
            if await approvals.outcome_of_run(unit, run_id, path) is not None:
                await runs.set_status(unit, run_id, "pending")
                await queue.put(unit.conn, "run", run_id, unit.tenant_id)
            else:
                await runs.set_status(unit, run_id, "waiting")
                await queue.drop(unit.conn, run_id)

    async def _finish(self, scope: Any, run_id: uuid.UUID, status: str, *, error: str | None = None) -> None:
        async with self.db.tenant_unit(scope) as unit:
            await runs.set_status(unit, run_id, status, error=error)
            await queue.drop(unit.conn, run_id)
            if status in ("succeeded", "failed"):
                await unit.emit("run", status, run_id, actor=Actor(kind="system"), data={"error": error})


async def start_engine(runtime: Runtime) -> Engine:
    return await Engine(runtime).start()
