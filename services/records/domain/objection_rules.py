"""The rules of an objection's life, free of I/O: status moves, SLA due time, resolution, satisfaction.

Status moves: open → in_progress → resolved → closed; resolved or closed → reopened;
reopened → in_progress or resolved. Anything else answers 409 listing the moves allowed from the
current status, so a client can offer exactly those.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from shared.errors import Conflict, FieldError

STATUSES = ("open", "in_progress", "resolved", "closed", "reopened")
SEVERITIES = ("low", "medium", "high", "critical")
MOVES: dict[str, tuple[str, ...]] = {
    "open": ("in_progress",),
    "in_progress": ("resolved",),
    "resolved": ("closed", "reopened"),
    "closed": ("reopened",),
    "reopened": ("in_progress", "resolved"),
}
# Still being worked on: these count as overdue once due_at has passed.
ACTIVE = ("open", "in_progress", "reopened")
# A customer can only rate how an objection was handled once it was handled.
RATEABLE = ("resolved", "closed")


def allowed_moves(status: str) -> list[str]:
    return list(MOVES.get(status, ()))


def check_move(current: str, target: str) -> None:
    """Raise 409 (with the allowed moves) unless ``current → target`` is a legal move."""
    if target not in MOVES.get(current, ()):
        allowed = allowed_moves(current)
        raise Conflict(
            f"An objection cannot move from '{current}' to '{target}'; from '{current}' it can move to "
            + (", ".join(f"'{s}'" for s in allowed) or "nothing"),
            kind="illegal-status-move",
            extra={"current": current, "requested": target, "allowed": allowed},
        )


def sla_due_at(created_at: datetime, severity: str, sla_hours: Mapping[str, Any]) -> datetime | None:
    """The SLA due time for a severity, or None when the tenant sets no SLA for it."""
    hours = sla_hours.get(severity)
    if hours is None:
        return None
    return created_at + timedelta(hours=float(hours))


def status_effects(current: dict[str, Any], target: str, now: datetime) -> dict[str, Any]:
    """Columns a status move sets: resolved_at / closed_at for reporting; a reopen counts and
    drops the satisfaction score (it rated a resolution that no longer stands)."""
    columns: dict[str, Any] = {"status": target}
    if target == "resolved":
        columns["resolved_at"] = now
    elif target == "closed":
        columns["closed_at"] = now
    elif target == "reopened":
        columns["reopen_count"] = int(current.get("reopen_count") or 0) + 1
        if current.get("satisfaction") is not None:
            columns["satisfaction"] = None
    return columns


def outcome_errors(status: str, resolution: str | None, satisfaction: int | None) -> list[FieldError]:
    """Checks on the objection as it would be after a write: a resolved or closed objection has a
    resolution; a satisfaction score exists only on a resolved or closed one."""
    errors: list[FieldError] = []
    if status in RATEABLE and not (resolution or "").strip():
        errors.append(FieldError("resolution", f"is required to mark an objection {status}", "required"))
    if satisfaction is not None and status not in RATEABLE:
        errors.append(FieldError(
            "satisfaction", f"can only be given once the objection is resolved or closed (it is {status})",
            "not_rateable",
        ))
    return errors
