"""Schedule triggers: the next cron tick, in the tenant's time zone, kept as a durable timer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from services.workflows.db import timers
from services.workflows.domain import definitions as d
from shared.db import Unit


def next_tick(cron: str, time_zone: str, after: datetime) -> datetime:
    """The next moment ``cron`` names after ``after``, read in the tenant's time zone, in UTC."""
    local = after.astimezone(ZoneInfo(time_zone))
    return croniter(cron, local).get_next(datetime).astimezone(UTC)


async def plan_schedule(unit: Unit, workflow_id: uuid.UUID, index: int, trigger: d.ScheduleTrigger, time_zone: str,
                        now: datetime) -> None:
    await timers.plan(unit, key=f"schedule:{workflow_id}:{index}", timer_kind="schedule",
                      due_at=next_tick(trigger.cron, time_zone, now), workflow_id=workflow_id, trigger_index=index)


async def replan(unit: Unit, workflow_id: uuid.UUID, enabled: bool, triggers: list[d.Trigger], time_zone: str,
                 now: datetime) -> None:
    """Drop the workflow's schedule timers and, when it is enabled, plan each schedule's next tick."""
    await timers.remove_of_workflow(unit, workflow_id, ("schedule",))
    if not enabled:
        return
    for index, trigger in enumerate(triggers):
        if isinstance(trigger, d.ScheduleTrigger):
            await plan_schedule(unit, workflow_id, index, trigger, time_zone, now)
