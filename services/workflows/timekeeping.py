"""Time-driven duties that belong to no workflow: objection SLA clocks, task reminders and overdue
alerts, customers' follow-up reminders and each tenant's daily digest.

Records' events keep workflows' own copies (``sla_clocks``, ``tracked_records``) and durable timers
(``workflows.timers``, kinds ``sla``, ``reminder``, ``digest``); the engine fires the timers, and
what they find is published as ``crm.workflows.<tenant>.…`` events for notifications to deliver:

* ``sla.warning`` / ``sla.breached``: an objection's phase (first response or resolution) reached
  its warning share or its due time; with the assignee, the department head escalated to and the
  business time left;
* ``reminder.due`` (a task's ``remind_at``), ``task.overdue`` (its ``due_at`` passed while open),
  ``follow_up.due`` (a customer's ``next_follow_up_at``): each fires once, is re-planned when the
  date moves and dropped when the task is done or cancelled or the record deleted;
* ``digest.daily``: one per user with something in it, on working days at the calendar's
  ``digest_at`` (tenant time): today's follow-ups and tasks, overdue tasks, objections at risk.

The objection's SLA state and due times reach records through its SLA command (a ``sla`` timer
with ``sync``, due at once, so a records outage only delays it).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from services.workflows import health
from services.workflows.db import directory as directory_db
from services.workflows.db import runs, timers, tracked
from services.workflows.db import sla as sla_db
from services.workflows.db import workflows as workflows_store
from services.workflows.domain import calendar_settings, escalation, people
from services.workflows.domain import definitions as d
from services.workflows.domain import sla as sla_domain
from services.workflows.domain.calendar import BusinessCalendar
from services.workflows.records_client import RecordsClient
from shared.db import Unit
from shared.errors import Conflict, NotFound
from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer
from shared.events.envelope import Actor, Event

if TYPE_CHECKING:
    from shared.runtime import Runtime

ACTOR = Actor(kind="system", id="workflows")
DIGEST_ITEMS = 50   # items listed per section of a digest (the counts are complete)
LATE_AFTER = timedelta(minutes=1)
_ENDED = ("deleted", "merged", "purged")


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


def moment_of(value: Any) -> datetime | None:
    if not value:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


# --- records' events ----------------------------------------------------------------------------


CONSUMER_NAME = "workflows-time"
SUBJECTS = ("crm.records.*.objection.>", "crm.records.*.task.>", "crm.records.*.customer.>")


def _in_lane(bulk: bool) -> Any:
    def accepts(event: Event) -> bool:
        # Two lanes, as for search: what an import wrote (``data.import_id``) on its own consumer,
        # so 100,000 imported customers never hold up a clock or a reminder someone just set. The
        # other lane's events are acknowledged unread (shared/events/consumer.py).
        return bool((event.data or {}).get("import_id")) == bulk
    return accepts


async def _on_event(unit: Unit, event: Event) -> None:
    await on_record_event(unit, event, datetime.now(UTC))


async def _on_events(unit: Unit, events: list[Event]) -> None:
    await on_record_events(unit, events, datetime.now(UTC))


class TimeConsumers:
    """The live and the bulk lane of ``workflows-time``, started and stopped together."""

    def __init__(self, consumers: list[EventConsumer]) -> None:
        self.consumers = consumers

    async def stop(self) -> None:
        for consumer in self.consumers:
            await consumer.stop()


async def start_timekeeping(runtime: Runtime) -> TimeConsumers:
    """Its own durable consumers, so bookkeeping never delays the rules of ``workflows-triggers``."""
    assert runtime.bus is not None
    consumers = []
    for name, bulk in ((CONSUMER_NAME, False), (f"{CONSUMER_NAME}-bulk", True)):
        consumer = EventConsumer(runtime.bus, runtime.db("workflows"), name=name, stream=service_stream_name("records"),
                                 subjects=SUBJECTS, handler=_on_event, accepts=_in_lane(bulk),
                                 # A fetch's events of a tenant in one transaction, created customers
                                 # set-based (an import's 100,000 were ~8 round trips and a commit each).
                                 batch_handler=_on_events, batch_size=100, batched=True)
        await consumer.start()
        consumers.append(consumer)
    return TimeConsumers(consumers)


async def on_record_event(unit: Unit, event: Event, now: datetime) -> None:
    """Keep clocks, reminders and the digest in step with one of records' events."""
    if event.entity == "objection":
        await objection_event(unit, event, now)
    elif event.entity == "customer":
        await health.customer_event(unit, event, now)
        await ensure_digest(unit, now)   # its daily tick also rescores the tenant's customers
    if event.entity in ("task", "customer"):
        await tracked_event(unit, event.entity, event.action, dict((event.data or {}).get("record") or {}),
                            uuid.UUID(event.entity_id), now)


async def on_record_events(unit: Unit, events: list[Event], now: datetime) -> None:
    """``on_record_event`` for a batch of one tenant's events, with the same outcome: created
    customers (an import's, mostly) in a few set-based statements, every other event on its own,
    in order. A created event is a record's first, so nothing earlier in the batch concerns it;
    a record with two events in the batch goes the one-at-a-time way."""
    counts: dict[str, int] = {}
    for event in events:
        counts[event.entity_id] = counts.get(event.entity_id, 0) + 1
    created: list[Event] = []
    rest: list[Event] = []
    for event in events:
        record = (event.data or {}).get("record")
        fresh = event.entity == "customer" and event.action == "created" and record and counts[event.entity_id] == 1
        (created if fresh else rest).append(event)
    if created:
        await _customers_created(unit, created, now)
    for event in rest:
        await on_record_event(unit, event, now)


async def _customers_created(unit: Unit, events: list[Event], now: datetime) -> None:
    """What ``on_record_event`` does for each created customer, a statement per step for all."""
    records = [(uuid.UUID(e.entity_id), dict((e.data or {})["record"]), e) for e in events]
    await health.remember_many(unit, [(customer_id, record, e.occurred_at) for customer_id, record, e in records], now)
    await ensure_digest(unit, now)
    # Customers without a follow-up date are not kept (a created one never was; ``drop`` says so).
    unplanned = [customer_id for customer_id, record, _ in records if moment_of(record.get("next_follow_up_at")) is None]
    if unplanned:
        dropped = await tracked.drop_many(unit, "customer", unplanned)
        if dropped:
            await timers.remove_keys(unit, [f"follow_up:{customer_id}" for customer_id in dropped])
    for customer_id, record, e in records:
        if moment_of(record.get("next_follow_up_at")) is not None:
            await tracked_event(unit, "customer", e.action, record, customer_id, now)


async def objection_event(unit: Unit, event: Event, now: datetime, *, quiet: bool = False) -> None:
    objection_id = uuid.UUID(event.entity_id)
    if event.action in _ENDED:
        clock = await sla_db.clock(unit, objection_id, for_update=True)
        await sla_db.drop_clock(unit, objection_id)
        await timers.remove_keys(unit, _all_sla_keys(objection_id))
        if clock is not None and clock["customer_id"] is not None:
            await health.recompute(unit, clock["customer_id"], now)
        return
    record = (event.data or {}).get("record")
    if not record:
        return
    if event.action == "sla_changed":   # our own write coming back: only a reassignment is news
        await sla_db.set_assignee(unit, objection_id, _uuid(record.get("assignee_id")))
        return
    await reconcile(unit, objection_id, dict(record), event.occurred_at, now, quiet=quiet)


def _sla_key(objection_id: uuid.UUID, phase: str, level: str) -> str:
    return f"sla:{objection_id}:{phase}:{level}"


def _all_sla_keys(objection_id: uuid.UUID) -> list[str]:
    levels = ["warning", "breached", *(f"level{i}" for i in range(escalation.MAX_LEVELS))]
    return [_sla_key(objection_id, p, level) for p in sla_domain.PHASES for level in levels]


async def reconcile(unit: Unit, objection_id: uuid.UUID, record: dict[str, Any] | None, occurred_at: datetime,
                    now: datetime, *, quiet: bool = False) -> None:
    """Bring the objection's clock up to ``record`` (None: only to the time ``now``): plan what
    is due, publish each phase that got worse, and queue records' copy when it changed."""
    clock = await sla_db.clock(unit, objection_id, for_update=True)
    if clock is None and record is None:
        return
    values: dict[str, Any] = dict(clock) if clock is not None else {}
    if record is not None:
        if clock is None:
            if record.get("status") in ("resolved", "closed"):
                return   # nothing left to time
            values.update(objection_id=objection_id, started_at=moment_of(record.get("created_at")) or occurred_at,
                          first_response_state="on_track", resolution_state="on_track", state="on_track")
        values.update(customer_id=_uuid(record.get("customer_id")), title=str(record.get("description") or "")[:200],
                      assignee_id=_uuid(record.get("assignee_id")), owner_id=_uuid(record.get("owner_id")))
        severity, category = str(record.get("severity") or "medium"), record.get("category")
        if clock is None or (severity, category) != (clock["severity"], clock["category"]):
            calendar = await calendar_settings.load(unit)
            policy = sla_domain.policy_out(await sla_db.policy(unit))
            planned = sla_domain.plan(calendar, policy, severity, category, values["started_at"],
                                      values.get("paused_total") or timedelta(0), values.get("escalations"))
            values.update(severity=severity, category=category, **planned.__dict__)
        status = record.get("status")
        if status in ("resolved", "closed") and values.get("paused_at") is not None:
            # Resolved while waiting on the customer: the pause ends then, so it does not count.
            values.update(await _resumed(unit, values, occurred_at))
        if values.get("first_responded_at") is None and status not in (None, "open"):
            values["first_responded_at"] = occurred_at
        if status in ("resolved", "closed"):
            values["resolved_at"] = values.get("resolved_at") or moment_of(record.get("resolved_at")) or occurred_at
        else:
            values["resolved_at"] = None
    # A paused clock stands still at its pause: a first response given meanwhile counts as given then.
    paused_at = values.get("paused_at")
    moment = min(now, paused_at) if paused_at is not None else now

    def on_clock(ended: datetime | None) -> datetime | None:
        return min(ended, paused_at) if ended is not None and paused_at is not None else ended

    states = {
        "first_response": sla_domain.phase_state(
            values["first_response_warn_at"], values["first_response_due_at"],
            on_clock(values.get("first_responded_at") or values.get("resolved_at")), moment),
        "resolution": sla_domain.phase_state(values["resolution_warn_at"], values["resolution_due_at"],
                                             on_clock(values.get("resolved_at")), moment),
    }
    if not quiet and clock is not None:
        for phase, state in states.items():
            before = clock[f"{phase}_state"]
            if state in ("at_risk", "breached") and sla_domain.worse(state, before):
                values["escalated_to"] = await _publish_sla(unit, values, phase, state, now) or values.get(
                    "escalated_to")
    elif not quiet:
        for phase, state in states.items():
            if state in ("at_risk", "breached"):
                values["escalated_to"] = await _publish_sla(unit, values, phase, state, now) or values.get(
                    "escalated_to")
    await _escalate(unit, values, moment, now, quiet=quiet)
    values["first_response_state"], values["resolution_state"] = states["first_response"], states["resolution"]
    values["state"] = sla_domain.overall(states["first_response"], states["resolution"],
                                         values.get("resolved_at") is not None)
    values.pop("updated_at", None)
    await sla_db.save_clock(unit, values)
    await _plan_sla_timers(unit, objection_id, values, now)
    if values.get("customer_id") is not None:   # its open and breached objections count in its health
        await health.recompute(unit, values["customer_id"], now)
    shown = ("state", "resolution_due_at", "first_response_due_at")
    if clock is None or any(clock[k] != values[k] for k in shown):
        await _queue_records_copy(unit, objection_id, now)


async def _queue_records_copy(unit: Unit, objection_id: uuid.UUID, now: datetime) -> None:
    """Records shows the clock's state and due times: send it the clock as it is now."""
    await timers.plan(unit, key=f"sla-sync:{objection_id}", timer_kind="sla", due_at=now,
                      record_type="objection", record_id=objection_id, payload={"sync": True})


def _ended(values: dict[str, Any]) -> dict[str, datetime | None]:
    return {"first_response": values.get("first_responded_at") or values.get("resolved_at"),
            "resolution": values.get("resolved_at")}


async def _plan_sla_timers(unit: Unit, objection_id: uuid.UUID, values: dict[str, Any], now: datetime) -> None:
    if values.get("paused_at") is not None:   # nothing fires while paused; the resume plans again
        await timers.remove_keys(unit, _all_sla_keys(objection_id))
        return
    ended = _ended(values)
    wanted: dict[str, tuple[str, datetime]] = {}
    for phase in sla_domain.PHASES:
        for level, column in (("warning", f"{phase}_warn_at"), ("breached", f"{phase}_due_at")):
            wanted[_sla_key(objection_id, phase, level)] = (phase, values[column])
    for level in values.get("escalations") or []:
        if level.get("fired_at") is None:
            wanted[_sla_key(objection_id, level["phase"], f"level{level['index']}")] = (
                level["phase"], datetime.fromisoformat(level["due_at"]))
    gone = [k for k in _all_sla_keys(objection_id) if k not in wanted]
    for key, (phase, due) in wanted.items():
        if ended[phase] is None and due > now:
            await timers.plan(unit, key=key, timer_kind="sla", due_at=due, record_type="objection",
                              record_id=objection_id, payload={"phase": phase, "level": key.rsplit(":", 1)[1]})
        else:
            gone.append(key)
    await timers.remove_keys(unit, gone)


async def _escalate(unit: Unit, values: dict[str, Any], moment: datetime, now: datetime, *, quiet: bool) -> None:
    """Fire each escalation level whose time has come while its phase runs, once (marked
    ``fired_at`` in the clock, which the caller holds locked). ``quiet`` (the backfill) marks the
    past ones without telling anyone."""
    ended = _ended(values)
    levels = []
    for level in values.get("escalations") or []:
        due = datetime.fromisoformat(level["due_at"])
        if level.get("fired_at") is None and ended[level["phase"]] is None and due <= moment:
            level = {**level, "fired_at": now.isoformat()}
            if not quiet:
                level["notified"], level["reassigned_to"] = await _publish_level(unit, values, level, now)
        levels.append(level)
    values["escalations"] = levels


async def _publish_level(unit: Unit, clock: dict[str, Any], level: dict[str, Any],
                         now: datetime) -> tuple[list[str], str | None]:
    """``sla.escalated``: the people the level names (``user_ids``), reassigning the objection to
    the first of them who is an active user other than its assignee when the level says so."""
    responsible = clock.get("assignee_id") or clock.get("owner_id")
    notify = msgspec.convert(level["notify"], list[escalation.Recipient])
    users = await escalation.resolve(unit, notify, [responsible] if responsible else [])
    reassign_to = None
    if level.get("reassign"):
        active = await directory_db.active_users(unit, users)
        reassign_to = next((u for u in users if u in active and u != clock.get("assignee_id")), None)
    if reassign_to is not None:
        clock["escalated_to"] = reassign_to
        await timers.plan(unit, key=f"sla-reassign:{clock['objection_id']}", timer_kind="sla", due_at=now,
                          record_type="objection", record_id=clock["objection_id"],
                          payload={"sync": True, "reassign_to": str(reassign_to)})
    phase = level["phase"]
    due = clock[f"{phase}_due_at"]
    calendar = await calendar_settings.load(unit)
    await unit.emit("sla", "escalated", clock["objection_id"], actor=ACTOR, data={
        "objection_id": str(clock["objection_id"]), "customer_id": _text(clock.get("customer_id")),
        "record": {"type": "objection", "id": str(clock["objection_id"])},
        "title": clock.get("title") or "", "severity": clock["severity"], "category": clock.get("category"),
        "phase": phase, "level": level["index"] + 1, "at": level["at"], "breached": now >= due,
        "due_at": due.isoformat(), "time_left_seconds": int(calendar.working_time_between(now, due).total_seconds()),
        "assignee_id": _text(clock.get("assignee_id")), "owner_id": _text(clock.get("owner_id")),
        "user_ids": [str(u) for u in users], "reassigned_to": _text(reassign_to),
    })
    return [str(u) for u in users], _text(reassign_to)


# --- pausing -----------------------------------------------------------------------------------


async def _resumed(unit: Unit, clock: dict[str, Any], at: datetime) -> dict[str, Any]:
    """The columns of ``clock`` resumed at ``at``: moments still ahead at the pause move by the
    business time it lasted."""
    calendar = await calendar_settings.load(unit)
    paused_at = clock["paused_at"]
    paused = calendar.working_time_between(paused_at, at)
    return {**sla_domain.shifted(calendar, clock, paused_at, paused), "paused_at": None, "pause_reason": None,
            "paused_by": None, "paused_total": (clock.get("paused_total") or timedelta(0)) + paused}


async def pause(unit: Unit, objection_id: uuid.UUID, by: uuid.UUID, reason: str, now: datetime) -> None:
    """Stop the clock (e.g. waiting on the customer): nothing warns, breaches or escalates until it
    resumes. Pausing a paused clock leaves it as it is; an ended one answers 409."""
    clock = await sla_db.clock(unit, objection_id, for_update=True)
    if clock is None:
        raise NotFound(f"Objection {objection_id} has no running SLA clock")
    if clock["resolved_at"] is not None:
        raise Conflict("This objection is resolved: its SLA clock has stopped for good", kind="sla-ended")
    if clock["paused_at"] is not None:
        return
    await reconcile(unit, objection_id, None, now, now)   # whatever fell due before the pause goes out first
    await sla_db.update_clock(unit, objection_id, {"paused_at": now, "pause_reason": reason, "paused_by": by})
    await timers.remove_keys(unit, _all_sla_keys(objection_id))
    await unit.emit("sla", "paused", objection_id, actor=Actor(kind="user", id=str(by)), data={
        "objection_id": str(objection_id), "record": {"type": "objection", "id": str(objection_id)},
        "reason": reason, "paused_by": str(by)})


async def resume(unit: Unit, objection_id: uuid.UUID, by: uuid.UUID, now: datetime) -> None:
    """Run the clock again: every moment still ahead moves by the business time it was paused
    (records gets the new due times). Resuming a running clock leaves it as it is."""
    clock = await sla_db.clock(unit, objection_id, for_update=True)
    if clock is None:
        raise NotFound(f"Objection {objection_id} has no running SLA clock")
    if clock["paused_at"] is None:
        return
    values = await _resumed(unit, dict(clock), now)
    await sla_db.update_clock(unit, objection_id, values)
    await reconcile(unit, objection_id, None, now, now)
    await _queue_records_copy(unit, objection_id, now)   # reconcile saw the moved due times as unchanged
    await unit.emit("sla", "resumed", objection_id, actor=Actor(kind="user", id=str(by)), data={
        "objection_id": str(objection_id), "record": {"type": "objection", "id": str(objection_id)},
        "paused_seconds": int((values["paused_total"] - (clock["paused_total"] or timedelta(0))).total_seconds()),
        "resolution_due_at": values.get("resolution_due_at", clock["resolution_due_at"]).isoformat()})


async def _publish_sla(unit: Unit, clock: dict[str, Any], phase: str, state: str, now: datetime) -> uuid.UUID | None:
    """``sla.warning`` or ``sla.breached`` for one phase; a breach escalates to the department head
    of the assignee (the owner when nobody is assigned), and reassigns the objection to them when
    the policy says so. Answers the head escalated to."""
    responsible = clock.get("assignee_id") or clock.get("owner_id")
    head = await people.manager_of(unit, responsible) if responsible else None
    due = clock[f"{phase}_due_at"]
    calendar = await calendar_settings.load(unit)
    reassign = state == "breached" and head is not None and head != clock.get("assignee_id") and (
        sla_domain.policy_out(await sla_db.policy(unit)).reassign_on_breach)
    if reassign:
        # Records reassigns when this timer fires (a records outage only delays it).
        await timers.plan(unit, key=f"sla-reassign:{clock['objection_id']}", timer_kind="sla", due_at=now,
                          record_type="objection", record_id=clock["objection_id"],
                          payload={"sync": True, "reassign_to": str(head)})
    await unit.emit("sla", "warning" if state == "at_risk" else "breached", clock["objection_id"], actor=ACTOR, data={
        "objection_id": str(clock["objection_id"]), "customer_id": _text(clock.get("customer_id")),
        "record": {"type": "objection", "id": str(clock["objection_id"])},
        "title": clock.get("title") or "", "severity": clock["severity"], "category": clock.get("category"),
        "phase": phase, "state": state, "due_at": due.isoformat(),
        "time_left_seconds": int(calendar.working_time_between(now, due).total_seconds()),
        "assignee_id": _text(clock.get("assignee_id")), "owner_id": _text(clock.get("owner_id")),
        "head_id": _text(head), "reassigned_to": _text(head) if reassign else None,
    })
    if state == "breached":
        await _start_breach_runs(unit, clock, phase, head, now)
    return head if state == "breached" else None


async def _start_breach_runs(unit: Unit, clock: dict[str, Any], phase: str, head: uuid.UUID | None,
                             now: datetime) -> None:
    """Start the enabled workflows whose ``sla.breached`` trigger names this phase (or any)."""
    objection_id = clock["objection_id"]
    record = {"id": str(objection_id), "customer_id": _text(clock.get("customer_id")), "title": clock.get("title"),
              "severity": clock["severity"], "category": clock.get("category"),
              "assignee_id": _text(clock.get("assignee_id")), "owner_id": _text(clock.get("owner_id")),
              "sla_state": "breached", "sla_phase": phase, "head_id": _text(head), "custom_fields": {}}
    for row in await workflows_store.enabled(unit):
        definition = msgspec.convert({"triggers": row["triggers"], "steps": row["steps"]}, d.WorkflowDefinition)
        for index, trigger in enumerate(definition.triggers):
            if not isinstance(trigger, d.SlaBreached) or trigger.phase not in (None, phase):
                continue
            await runs.start(
                unit, workflow_id=row["id"], workflow_version=row["version"], trigger_index=index,
                trigger_type="sla.breached", trigger_key=f"sla:{objection_id}:{phase}",
                record_type="objection", record_id=objection_id,
                context={"entity": "objection", "record": record, "old": None,
                         "actor": {"kind": "system", "id": "workflows.sla"}})


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


async def push_sla(unit: Unit, objection_id: uuid.UUID, records: RecordsClient,
                   reassign_to: uuid.UUID | None = None) -> None:
    """Records' copy of the clock, with a reassignment the policy asked for (its answer
    ``RecordsUnavailable`` makes the engine retry)."""
    clock = await sla_db.clock(unit, objection_id)
    if clock is None:
        return
    await records.set_sla(unit.tenant_id, objection_id, clock["state"], clock["resolution_due_at"],
                          clock["first_response_due_at"], reassign_to=reassign_to)


# --- reminders ----------------------------------------------------------------------------------


async def tracked_event(unit: Unit, entity: str, action: str, record: dict[str, Any], record_id: uuid.UUID,
                        now: datetime) -> None:
    keys = [f"reminder:{record_id}", f"overdue:{record_id}"] if entity == "task" else [f"follow_up:{record_id}"]
    if action in _ENDED:
        await tracked.drop(unit, entity, record_id)
        await timers.remove_keys(unit, keys)
        return
    if not record:
        return
    if entity == "task":
        user, title, open_ = _uuid(record.get("assignee_id")), str(record.get("title") or ""), record.get(
            "status") == "open"
        due, remind = moment_of(record.get("due_at")), moment_of(record.get("remind_at"))
    else:
        user, title, open_ = _uuid(record.get("owner_id")), str(record.get("name") or ""), True
        due, remind = moment_of(record.get("next_follow_up_at")), None
    if not open_ or (entity == "customer" and due is None):
        # Nothing to remind of (a task done or cancelled, a customer without a follow-up): forget it
        # (its timers exist only if it was kept).
        if await tracked.drop(unit, entity, record_id):
            await timers.remove_keys(unit, keys)
        return
    if not await tracked.save(unit, entity=entity, record_id=record_id, user_id=user, title=title, open=open_,
                              due_at=due, remind_at=remind, version=int(record.get("version") or 0)):
        return   # an older event than one already seen
    planned = {f"reminder:{record_id}": remind, f"overdue:{record_id}": due} if entity == "task" else {
        f"follow_up:{record_id}": due}
    gone = []
    for key, moment in planned.items():
        if open_ and moment is not None and moment > now:
            await timers.plan(unit, key=key, timer_kind="reminder", due_at=moment, record_type=entity,
                              record_id=record_id, payload={"what": key.split(":", 1)[0]})
        else:
            gone.append(key)
    await timers.remove_keys(unit, gone)
    await ensure_digest(unit, now)


async def fire_reminder(unit: Unit, timer: Any, now: datetime) -> None:
    """One reminder, overdue alert or follow-up: published once if the record still calls for it."""
    await timers.remove(unit, timer["id"])
    what = (timer["payload"] or {}).get("what")
    entity = "task" if what in ("reminder", "overdue") else "customer"
    row = await unit.fetchrow(
        """SELECT user_id, title, open, due_at, remind_at FROM workflows.tracked_records
           WHERE tenant_id = $1 AND entity = $2 AND record_id = $3""", unit.tenant_id, entity, timer["record_id"])
    if row is None or not row["open"]:
        return
    planned_for = row["remind_at"] if what == "reminder" else row["due_at"]
    if planned_for != timer["due_at"]:
        return   # moved since: its own timer does it
    late = now - timer["due_at"] > LATE_AFTER
    common = {"record_type": entity, "record_id": str(timer["record_id"]), "user_id": _text(row["user_id"]),
              "title": row["title"], "late": late,
              "record": {"type": entity, "id": str(timer["record_id"])}}   # the link notifications show
    if what == "reminder":
        await unit.emit("reminder", "due", timer["record_id"], actor=ACTOR, data={
            **common, "task_id": str(timer["record_id"]), "assignee_id": _text(row["user_id"]),
            "remind_at": row["remind_at"].isoformat(), "due_at": _iso(row["due_at"])})
    elif what == "overdue":
        await unit.emit("task", "overdue", timer["record_id"], actor=ACTOR, data={
            **common, "task_id": str(timer["record_id"]), "assignee_id": _text(row["user_id"]),
            "due_at": row["due_at"].isoformat()})
    else:
        await unit.emit("follow_up", "due", timer["record_id"], actor=ACTOR, data={
            **common, "customer_id": str(timer["record_id"]), "owner_id": _text(row["user_id"]),
            "customer_name": row["title"],
            "next_follow_up_at": row["due_at"].isoformat()})


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


# --- the daily digest ---------------------------------------------------------------------------

DIGEST_KEY = "digest"


def next_digest(calendar: BusinessCalendar, digest_at: str, now: datetime) -> datetime:
    """The next working day's ``digest_at`` (tenant time) after ``now``."""
    local = now.astimezone(calendar.zone)
    hour, minute = (int(p) for p in digest_at.split(":"))
    day = local.date()
    for _ in range(400):
        moment = datetime.combine(day, time(hour, minute), calendar.zone)
        if moment > local and calendar.is_working_day(day):
            return moment
        day += timedelta(days=1)
    return datetime.combine(day, time(hour, minute), calendar.zone)


async def digest_at(unit: Unit) -> str:
    return await unit.fetchval("SELECT digest_at FROM workflows.calendars WHERE tenant_id = $1",
                               unit.tenant_id) or "08:30"


_DIGEST_PLANNED: set[uuid.UUID] = set()   # tenants this process saw with a digest timer (it only moves on)


async def ensure_digest(unit: Unit, now: datetime, *, replan: bool = False, cached: bool = True) -> None:
    """The tenant's digest timer exists (moved to the next digest moment when ``replan``; looked up
    again, not trusted from memory, unless ``cached``)."""
    if not replan and cached and unit.tenant_id in _DIGEST_PLANNED:
        return
    if not replan and await unit.fetchval("SELECT 1 FROM workflows.timers WHERE tenant_id = $1 AND key = $2",
                                          unit.tenant_id, DIGEST_KEY):
        _DIGEST_PLANNED.add(unit.tenant_id)
        return
    calendar = await calendar_settings.load(unit)
    await timers.plan(unit, key=DIGEST_KEY, timer_kind="digest", due_at=next_digest(calendar, await digest_at(unit), now))


class _Section:
    def __init__(self) -> None:
        self.count = 0
        self.items: list[dict[str, Any]] = []

    def add(self, item: dict[str, Any]) -> None:
        self.count += 1
        if len(self.items) < DIGEST_ITEMS:
            self.items.append(item)

    def out(self) -> dict[str, Any]:
        return {"count": self.count, "items": self.items}


SECTIONS = ("follow_ups", "tasks_due_today", "overdue_tasks", "objections_at_risk")


async def build_digests(unit: Unit, now: datetime) -> dict[uuid.UUID, dict[str, Any]]:
    """Each user's digest for the tenant's day of ``now``: customers to follow up today, tasks due
    today, overdue tasks, objections at risk or breached (by assignee, else owner)."""
    calendar = await calendar_settings.load(unit)
    day = now.astimezone(calendar.zone).date()
    start = datetime.combine(day, time(0), calendar.zone)
    end = start + timedelta(days=1)
    by_user: dict[uuid.UUID, dict[str, _Section]] = {}

    def section(user: uuid.UUID | None, name: str) -> _Section | None:
        if user is None:
            return None
        return by_user.setdefault(user, {s: _Section() for s in SECTIONS})[name]

    for row in await tracked.due_between(unit, "customer", start, end):
        if (s := section(row["user_id"], "follow_ups")) is not None:
            s.add({"customer_id": str(row["record_id"]), "title": row["title"], "due_at": row["due_at"].isoformat()})
    for row in await tracked.due_between(unit, "task", max(start, now), end):
        if (s := section(row["user_id"], "tasks_due_today")) is not None:
            s.add({"task_id": str(row["record_id"]), "title": row["title"], "due_at": row["due_at"].isoformat()})
    for row in await tracked.overdue_tasks(unit, now):
        if (s := section(row["user_id"], "overdue_tasks")) is not None:
            s.add({"task_id": str(row["record_id"]), "title": row["title"], "due_at": row["due_at"].isoformat()})
    for row in await sla_db.at_risk(unit):
        if (s := section(row["assignee_id"] or row["owner_id"], "objections_at_risk")) is not None:
            s.add({"objection_id": str(row["objection_id"]), "title": row["title"], "state": row["state"],
                   "severity": row["severity"], "due_at": row["resolution_due_at"].isoformat()})
    return {user: {"user_id": str(user), "date": day.isoformat(), **{k: v.out() for k, v in sections.items()}}
            for user, sections in by_user.items()}


async def fire_digest(unit: Unit, timer: Any, now: datetime) -> None:
    """Today's digests (on a working day), then the timer moves to the next working day."""
    calendar = await calendar_settings.load(unit)
    if calendar.is_working_day(now.astimezone(calendar.zone).date()):
        digests = await build_digests(unit, now)
        gone = await directory_db.inactive_users(unit, list(digests))
        for user, digest in digests.items():
            if user not in gone:   # a deactivated user gets none; one the directory has not seen yet does
                await unit.emit("digest", "daily", user, actor=ACTOR, data=digest)
    await health.recompute_all(unit, now)   # days without an interaction add up by themselves
    await ensure_digest(unit, max(now, timer["due_at"]), replan=True)
