"""Escalation levels of an SLA: who is told (and, for an objection, who takes it over) when a share
of the target has passed. The same shapes serve the objection SLA policy and an approval step.

A level ``{"at": 0.8, "notify": [...]}`` fires once, at ``at`` × the target in business time from
the start (1 = the due time; above 1 = after the breach), while the clock runs (not while paused,
not once its phase ended). Levels are kept in ascending ``at``.
"""

from __future__ import annotations

import uuid
from typing import Annotated

import msgspec

from services.workflows.db import directory
from services.workflows.domain import people
from shared.db import Unit
from shared.errors import FieldError

MAX_LEVELS = 5


class _Recipient(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, tag_field="type"):
    pass


class Responsible(_Recipient, tag="assignee"):
    """The person responsible: an objection's assignee (else its owner); an approval step's
    approvers who have not decided."""


class ResponsiblesHead(_Recipient, tag="department_head"):
    """The manager of the responsible person (their department's head, or the nearest head above)."""


class NamedUsers(_Recipient, tag="users"):
    user_ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=20)]


class RoleHolders(_Recipient, tag="role"):
    role: Annotated[str, msgspec.Meta(min_length=1, max_length=100, examples=["manager"])]


Recipient = Responsible | ResponsiblesHead | NamedUsers | RoleHolders
Share = Annotated[float, msgspec.Meta(ge=0.1, le=5, examples=[0.8], description="share of the target: 1 = due")]
Recipients = Annotated[list[Recipient], msgspec.Meta(min_length=1, max_length=10)]


class Level(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    at: Share
    notify: Recipients


class ObjectionLevel(Level, kw_only=True):
    # The objection is also reassigned to the first active person ``notify`` names who is not its
    # assignee (e.g. the department head at the breach).
    reassign: bool = False


async def check(unit: Unit, levels: list[Level], where: str) -> list[FieldError]:
    """Ascending shares and active named users; each problem named at its place."""
    errors: list[FieldError] = []
    named = [u for level in levels for r in level.notify if isinstance(r, NamedUsers) for u in r.user_ids]
    active = await directory.active_users(unit, named) if named else set()
    for i, level in enumerate(levels):
        if i and level.at <= levels[i - 1].at:
            errors.append(FieldError(f"{where}[{i}].at", "levels must come in ascending order of 'at'", "invalid"))
        for r, rule in enumerate(level.notify):
            if isinstance(rule, NamedUsers):
                for u, user_id in enumerate(rule.user_ids):
                    if user_id not in active:
                        errors.append(FieldError(f"{where}[{i}].notify[{r}].user_ids[{u}]",
                                                 f"no active user {user_id} in this workspace", "unknown_user"))
    return errors


async def resolve(unit: Unit, recipients: list[Recipient], responsible: list[uuid.UUID]) -> list[uuid.UUID]:
    """The active users the rules name today, in rule order, each once."""
    found: list[uuid.UUID] = []
    for rule in recipients:
        if isinstance(rule, Responsible):
            found.extend(responsible)
        elif isinstance(rule, ResponsiblesHead):
            for person in responsible:
                head = await people.manager_of(unit, person)
                if head is not None:
                    found.append(head)
        elif isinstance(rule, NamedUsers):
            found.extend(rule.user_ids)
        elif isinstance(rule, RoleHolders):
            found.extend(await people.users_with_role(unit, rule.role))
    unique = list(dict.fromkeys(found))
    # A deactivated user is told nothing; one the directory has not seen yet is (as for the digest).
    gone = await directory.inactive_users(unit, unique) if unique else set()
    return [u for u in unique if u not in gone]
