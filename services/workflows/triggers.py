"""Record events start runs: a durable consumer of records' events (``workflows-triggers``).

For each event of a customer, contact, interaction, objection, task or opportunity, the enabled
workflows of the event's tenant that could match it (``matching.py``: indexed by entity, action and
the fields a trigger names) are matched, in the event's unit of work (so a run is created once,
with the inbox; a fetched batch of a tenant's events shares one transaction):

* a record trigger of the entity and action, whose ``fields`` changed and whose ``condition``
  holds, starts a run (``trigger_key`` = event id and trigger), or, with ``settle_seconds``,
  moves the record's settle timer on: one run once the record stops changing;
* a date trigger of the entity (re)plans the record's timer at the field's value plus the offset,
  or drops it when the field is emptied or the record deleted;
* waiting runs of the record check their ``wait until`` condition again;
* approval templates with a trigger of their own plan their requests (``approval_triggers.py``).

Writes that a workflow's own commands made carry ``data.origin.depth``: a run they would start is
recorded as skipped beyond ``MAX_DEPTH``, and a tenant's runs per minute are capped, each with its
reason in the run log.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from services.workflows import approval_triggers, matching
from services.workflows.db import runs, settings, timers
from services.workflows.domain import definitions as d
from services.workflows.domain.conditions import Activation, ConditionError, compiled
from services.workflows.domain.entities import ENTITIES
from services.workflows.limits import DEFAULT_MAX_RUNS_PER_MINUTE, MAX_DEPTH
from shared.db import Unit
from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer
from shared.events.envelope import Event

if TYPE_CHECKING:
    from shared.runtime import Runtime

CONSUMER_NAME = "workflows-triggers"
SUBJECTS = tuple(f"crm.records.*.{entity}.>" for entity in ENTITIES)
# Records' actions that are updates for a trigger's purpose.
ACTION_ALIASES = {"status_changed": None, "claimed": "transferred", "returned_to_pool": "transferred",
                  "merge_undone": "restored"}


def context_of(event: Event) -> dict[str, Any]:
    """What conditions and steps see: the record after the change, its values before, the actor."""
    data = event.data or {}
    record = dict(data.get("record") or {})
    changes = data.get("changes") or {}
    old: dict[str, Any] | None = None
    if event.action != "created":
        old = dict(record)
        old_custom = dict(record.get("custom_fields") or {})
        for name, change in changes.items():
            if name.startswith("custom_fields."):
                old_custom[name.removeprefix("custom_fields.")] = change.get("old")
            else:
                old[name] = change.get("old")
        old["custom_fields"] = old_custom
    return {"entity": event.entity, "record": record, "old": old,
            "actor": {"kind": event.actor.kind, "id": event.actor.id}, "event_id": str(event.id)}


def _action(event: Event) -> str | None:
    return ACTION_ALIASES.get(event.action, event.action)


def _depth(event: Event) -> int:
    origin = (event.data or {}).get("origin")
    return int(origin.get("depth", 0)) + 1 if isinstance(origin, dict) else 0


async def on_record_event(unit: Unit, event: Event) -> None:
    if event.entity not in ENTITIES:
        return
    await on_record_events(unit, [event])


async def on_record_events(unit: Unit, events: list[Event]) -> None:
    """A batch of one tenant's records events, in order. What does not change from one event to
    the next is read once per batch: the enabled workflows' listeners, the runs waiting on the
    batch's records, the approval templates a change may request; an event nothing listens to,
    no run waits on and no template may concern is skipped before its context is built."""
    events = [e for e in events if e.entity in ENTITIES]
    if not events:
        return
    now = datetime.now(UTC)
    rules = await matching.listeners(unit)
    waiting = await runs.waiting_records(unit, list({uuid.UUID(e.entity_id) for e in events}))
    templates: dict[str, list[Any]] = {}
    for event in events:
        record_id = uuid.UUID(event.entity_id)
        action = _action(event)
        changed = None if event.action == "created" else list((event.data or {}).get("changes") or {})
        record_listeners = rules.record_listeners(event.entity, action, changed)
        date_listeners = rules.date_listeners(event.entity)
        approvals: list[Any] = []
        if approval_triggers.may_request(event, action):
            if event.entity not in templates:
                templates[event.entity] = await approval_triggers.templates_of(unit, event.entity)
            approvals = templates[event.entity]
        if not record_listeners and not date_listeners and record_id not in waiting and not approvals:
            continue
        context = context_of(event)
        budget = _RunBudget(unit, now)
        # The record's variables are converted for CEL once, for every condition of this event.
        activation = Activation(record=context["record"], old=context["old"], actor=context["actor"], now=now)
        for listener in record_listeners:
            # A change made before the workflow existed is not its business, even when the consumer
            # (lagging, or catching up after an outage) reads it afterwards.
            if event.occurred_at < listener.created_at:
                continue
            await _record_trigger(unit, listener, event, context, activation, record_id, now, budget)
        for listener in date_listeners:
            await _date_trigger(unit, listener, event, context, activation, record_id, now)
        if record_id in waiting:
            await _recheck_waiting(unit, record_id, context)
        if approvals:
            await approval_triggers.on_record_event(unit, event, action, context, activation, templates=approvals)


class _RunBudget:
    """The tenant's runs of the last minute, counted once per event and only when a run would start."""

    def __init__(self, unit: Unit, now: datetime) -> None:
        self.unit = unit
        self.now = now
        self.used: int | None = None
        self.bound = DEFAULT_MAX_RUNS_PER_MINUTE

    async def take(self) -> bool:
        if self.used is None:
            self.used, self.bound = await settings.runs_budget(self.unit, self.now - timedelta(minutes=1),
                                                               DEFAULT_MAX_RUNS_PER_MINUTE)
        self.used += 1
        return self.used <= self.bound


async def _record_trigger(unit: Unit, listener: matching.Listener, event: Event, context: dict[str, Any],
                          activation: Activation, record_id: uuid.UUID, now: datetime, budget: _RunBudget) -> None:
    trigger, index = listener.trigger, listener.index
    assert isinstance(trigger, d.RecordTrigger)
    changes = (event.data or {}).get("changes") or {}
    if trigger.fields and event.action != "created" and not any(
            f in changes or any(c.startswith(f + ".") for c in changes) for f in trigger.fields):
        return
    status, error = "pending", None
    if trigger.condition is not None:
        try:
            if not compiled(trigger.condition).holds(activation):
                return
        except ConditionError as exc:
            status, error = "skipped", f"the trigger's condition could not be checked: {exc}"
    depth = _depth(event)
    if status == "pending" and depth > MAX_DEPTH:
        status, error = "skipped", (f"loop protection: this change was made by a workflow {depth - 1} levels deep "
                                    f"(at most {MAX_DEPTH})")
    if status == "pending" and not await budget.take():
        status, error = "skipped", (f"rate limit: this workspace started {budget.bound} runs in the last minute "
                                    "(its max_runs_per_minute, /api/v1/workflow-settings)")
    if status == "pending" and trigger.settle_seconds:
        await timers.plan(unit, key=f"settle:{listener.workflow_id}:{index}:{record_id}", timer_kind="settle",
                          due_at=now + timedelta(seconds=trigger.settle_seconds), workflow_id=listener.workflow_id,
                          trigger_index=index, record_type=event.entity, record_id=record_id,
                          payload={**context, "depth": depth})
        return
    await runs.start(unit, workflow_id=listener.workflow_id, workflow_version=listener.version, trigger_index=index,
                     trigger_type=f"record.{trigger.action}", trigger_key=f"{event.id}:{index}",
                     record_type=event.entity, record_id=record_id, context=context, depth=depth,
                     status=status, error=error)


def date_due(trigger: d.DateTrigger, record: dict[str, Any], now: datetime) -> datetime | None:
    """When the date trigger fires for ``record``: its field plus the offset (the next anniversary
    for a yearly trigger); None when the field is empty or the moment has passed."""
    value: Any = record
    for part in trigger.field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if not value:
        return None
    try:
        text = str(value)
        moment = datetime.fromisoformat(text if "T" in text else text + "T09:00:00+08:00")
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    due = moment + d.parse_duration(trigger.offset)
    if trigger.yearly:
        for years in range(0, 200):
            try:
                candidate = due.replace(year=now.year + years)
            except ValueError:  # 29 February in a common year: the day before
                candidate = (due - timedelta(days=1)).replace(year=now.year + years)
            if candidate > now:
                return candidate
        return None
    return due if due > now else None


async def _date_trigger(unit: Unit, listener: matching.Listener, event: Event, context: dict[str, Any],
                        activation: Activation, record_id: uuid.UUID, now: datetime) -> None:
    trigger, index = listener.trigger, listener.index
    assert isinstance(trigger, d.DateTrigger)
    key = f"date:{listener.workflow_id}:{index}:{record_id}"
    due = None if event.action in ("deleted", "merged") else date_due(trigger, context["record"], now)
    # The condition is checked on the record as it is now (each change plans again): a record that
    # no longer meets it has no timer. One that cannot be evaluated on this record counts as false.
    if due is not None and trigger.condition is not None:
        try:
            if not compiled(trigger.condition).holds(activation):
                due = None
        except ConditionError:
            due = None
    if due is None:
        await timers.remove_keys(unit, [key])
        return
    await timers.plan(unit, key=key, timer_kind="date", due_at=due, workflow_id=listener.workflow_id,
                      trigger_index=index,
                      record_type=event.entity, record_id=record_id, payload={**context, "depth": _depth(event)})


async def _recheck_waiting(unit: Unit, record_id: uuid.UUID, context: dict[str, Any]) -> None:
    from services.workflows.db import queue

    for run in await runs.waiting_on_record(unit, record_id):
        await unit.execute(
            """UPDATE workflows.runs SET context = jsonb_set(jsonb_set(context, '{record}', $3), '{old}', $4)
               WHERE tenant_id = $1 AND id = $2""",
            unit.tenant_id, run["id"], context["record"], context["old"])
        await queue.put(unit.conn, "run", run["id"], unit.tenant_id)


async def start_triggers(runtime: Runtime) -> EventConsumer:
    assert runtime.bus is not None
    consumer = EventConsumer(runtime.bus, runtime.db("workflows"), name=CONSUMER_NAME,
                             stream=service_stream_name("records"), subjects=SUBJECTS, handler=on_record_event,
                             batch_handler=on_record_events,
                             # A fetched batch of a tenant's events in one transaction: one commit for many.
                             batch_size=50, batched=True)
    await consumer.start()
    return consumer
