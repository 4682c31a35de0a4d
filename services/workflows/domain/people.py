"""Who: department heads, managers, N levels up, the active users of a department or a role, from
workflows' own mirror of identity (``directory.py``), in the caller's tenant unit.

There is no per-user manager in identity: a user's **manager** is the head of their department, or,
when they head it themselves (or it has no active head), the nearest active head above it. "N levels
up" follows the same chain: level 1 is the manager, level 2 the manager's manager, and so on; a
person heading several levels in a row counts once. Deactivated users are never answered.
"""

from __future__ import annotations

import uuid

from services.workflows.db import directory as store
from shared.db import Unit


async def head_of(unit: Unit, department_id: uuid.UUID) -> uuid.UUID | None:
    """The department's head, if it names one who is active."""
    department = await store.department(unit, department_id)
    head = department["head_user_id"] if department else None
    if head is None or not await store.active_users(unit, [head]):
        return None
    return head


async def chain_of(unit: Unit, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The user's managers, nearest first: the active heads of their department and of each
    department above it, without the user and without repeats."""
    user = await store.user(unit, user_id)
    if user is None or user["department_id"] is None:
        return []
    department = await store.department(unit, user["department_id"])
    if department is None:
        return []
    ids = [uuid.UUID(part) for part in department["path"].split("/")]
    rows = await store.departments(unit, ids)
    heads = [rows[i]["head_user_id"] for i in reversed(ids) if i in rows and rows[i]["head_user_id"]]
    active = await store.active_users(unit, heads)
    chain: list[uuid.UUID] = []
    for head in heads:
        if head != user_id and head in active and head not in chain:
            chain.append(head)
    return chain


async def manager_of(unit: Unit, user_id: uuid.UUID) -> uuid.UUID | None:
    """The user's manager (see the module's note), or None when nobody is above them."""
    chain = await chain_of(unit, user_id)
    return chain[0] if chain else None


async def levels_up(unit: Unit, user_id: uuid.UUID, levels: int) -> uuid.UUID | None:
    """The manager ``levels`` steps above the user (1 = the manager), or None when the tree is shorter."""
    chain = await chain_of(unit, user_id)
    return chain[levels - 1] if 0 < levels <= len(chain) else None


async def users_of_department(unit: Unit, department_id: uuid.UUID, *, below: bool = False) -> list[uuid.UUID]:
    """Active users of the department (and its sub-departments when ``below``), ordered by id."""
    return await store.active_in_department(unit, department_id, below=below)


async def users_with_role(unit: Unit, role_key: str) -> list[uuid.UUID]:
    """Active users holding the role (by key), ordered by id."""
    return await store.active_with_role(unit, role_key)


async def is_active(unit: Unit, user_id: uuid.UUID) -> bool:
    return bool(await store.active_users(unit, [user_id]))
