"""Objection SLA: the tenant's policy (``GET|PUT /api/v1/sla-policy``) and the clock of each objection.

A clock starts when records reports an objection created. It has two phases, each with a target
in business hours on the tenant's calendar (domain/calendar.py) and a warning at a share of it:

* **first response**: the objection's first status change away from ``open`` (records'
  ``status_changed`` event; interactions carry no link to an objection, so they do not count);
* **resolution**: the objection reaching ``resolved`` or ``closed``.

A phase is ``on_track``, then ``at_risk`` at the warning, ``breached`` at its due time, or ``met``
when it ends in time (a breached phase stays breached). The objection's ``sla_state`` is the worst
live phase (``met`` once resolved in time). Business time already leaves nights, weekends and
holidays out; a clock is also paused by hand while the objection waits on the customer, and its
resume moves every moment still ahead by the business time it was paused. Escalation levels
(domain/escalation.py) fire once each, at their share of a phase's target. A severity or category change re-plans both phases from the
original start; a reopened objection's resolution phase runs again on its original due time; a
deleted objection's clock is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec

from services.workflows.domain.calendar import BusinessCalendar
from services.workflows.domain.escalation import ObjectionLevel

SEVERITIES = ("low", "medium", "high", "critical")
STATES = ("on_track", "at_risk", "breached", "met")
_RANK = {"met": 0, "on_track": 1, "at_risk": 2, "breached": 3}
PHASES = ("first_response", "resolution")

Hours = Annotated[float, msgspec.Meta(gt=0, le=10_000, examples=[4], description="business hours")]
Share = Annotated[float, msgspec.Meta(ge=0.1, le=0.99, examples=[0.8])]
CategoryName = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class Target(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    first_response_hours: Hours
    resolution_hours: Hours


class Targets(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    low: Target = msgspec.field(default_factory=lambda: Target(first_response_hours=16, resolution_hours=80))
    medium: Target = msgspec.field(default_factory=lambda: Target(first_response_hours=8, resolution_hours=40))
    high: Target = msgspec.field(default_factory=lambda: Target(first_response_hours=4, resolution_hours=24))
    critical: Target = msgspec.field(default_factory=lambda: Target(first_response_hours=2, resolution_hours=8))


class CategoryTargets(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Overrides for one category; a severity left out uses the general target."""

    low: Target | None = None
    medium: Target | None = None
    high: Target | None = None
    critical: Target | None = None


class SlaPolicyIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # The share of a target at which a phase is at risk and a warning goes out.
    warning_share: Share = 0.8
    targets: Targets = msgspec.field(default_factory=Targets)
    categories: Annotated[dict[CategoryName, CategoryTargets], msgspec.Meta(max_length=50)] = {}
    # A breach also reassigns the objection to the department head it is escalated to.
    reassign_on_breach: bool = False
    # Levels for each phase, e.g. the assignee at 0.8, the department head at 1 (reassigning), a
    # role at 1.5; each fires once per objection and phase.
    escalations: Annotated[list[ObjectionLevel], msgspec.Meta(max_length=5)] = []


class SlaPolicyOut(SlaPolicyIn, kw_only=True):
    version: int = 0              # 0: the defaults, never saved
    updated_at: datetime | None = None


def target_of(policy: SlaPolicyIn, severity: str, category: str | None) -> Target:
    override = policy.categories.get(category or "") if category else None
    chosen = getattr(override, severity, None) if override is not None else None
    return chosen or getattr(policy.targets, severity if severity in SEVERITIES else "medium")


@dataclass(frozen=True)
class Plan:
    first_response_warn_at: datetime
    first_response_due_at: datetime
    resolution_warn_at: datetime
    resolution_due_at: datetime
    # The policy's escalation levels of each phase, as kept on the clock (jsonb): phase, index,
    # due_at (ISO), notify, reassign, fired_at.
    escalations: list[dict[str, Any]]


def plan(calendar: BusinessCalendar, policy: SlaPolicyIn, severity: str, category: str | None,
         started_at: datetime, paused: timedelta = timedelta(0),
         fired: list[dict[str, Any]] | None = None) -> Plan:
    """When each phase warns, is due and escalates, counted in business time from ``started_at``
    plus the business time the clock was ``paused``. Levels already ``fired`` stay fired."""
    target = target_of(policy, severity, category)
    share = policy.warning_share

    def at(hours: float) -> datetime:
        return calendar.add(started_at, timedelta(hours=hours) + paused)

    done = {(f["phase"], f["index"]): f.get("fired_at") for f in fired or [] if f.get("fired_at")}
    levels = [{"phase": phase, "index": i, "at": level.at,
               "due_at": at(getattr(target, f"{phase}_hours") * level.at).isoformat(),
               "notify": msgspec.to_builtins(level.notify), "reassign": level.reassign,
               "fired_at": done.get((phase, i))}
              for phase in PHASES for i, level in enumerate(policy.escalations)]
    return Plan(first_response_warn_at=at(target.first_response_hours * share),
                first_response_due_at=at(target.first_response_hours),
                resolution_warn_at=at(target.resolution_hours * share),
                resolution_due_at=at(target.resolution_hours), escalations=levels)


MOVABLE = ("first_response_warn_at", "first_response_due_at", "resolution_warn_at", "resolution_due_at")


def shifted(calendar: BusinessCalendar, clock: dict[str, Any], paused_at: datetime,
            paused: timedelta) -> dict[str, Any]:
    """The clock's moments after a pause from ``paused_at`` that lasted ``paused`` business time:
    each still ahead at the pause moves by it (a warning or breach already passed stays passed)."""
    out: dict[str, Any] = {}
    for column in MOVABLE:
        if clock[column] > paused_at:
            out[column] = calendar.add(clock[column], paused)
    levels = []
    for level in clock.get("escalations") or []:
        due = datetime.fromisoformat(level["due_at"])
        if level.get("fired_at") is None and due > paused_at:
            level = {**level, "due_at": calendar.add(due, paused).isoformat()}
        levels.append(level)
    out["escalations"] = levels
    return out


def phase_state(warn_at: datetime, due_at: datetime, ended_at: datetime | None, now: datetime) -> str:
    """Where one phase stands at ``now`` (ended at ``ended_at`` if it has)."""
    moment = ended_at or now
    if moment >= due_at:
        return "breached"
    if ended_at is not None:
        return "met"
    return "at_risk" if moment >= warn_at else "on_track"


def overall(first_response: str, resolution: str, resolved: bool) -> str:
    """The objection's state: breached if either phase is; met once resolved in time; else the worst."""
    if "breached" in (first_response, resolution):
        return "breached"
    if resolved:
        return "met"
    return max((first_response, resolution), key=_RANK.__getitem__)


def worse(new: str, old: str) -> bool:
    return _RANK[new] > _RANK[old]


def policy_out(row: Any | None) -> SlaPolicyOut:
    if row is None:
        return SlaPolicyOut()
    return msgspec.convert({"warning_share": float(row["warning_share"]), "targets": row["targets"],
                            "categories": row["categories"], "reassign_on_breach": row["reassign_on_breach"],
                            "escalations": row["escalations"],
                            "version": row["version"],
                            "updated_at": row["updated_at"]}, SlaPolicyOut)
