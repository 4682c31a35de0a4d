"""Users of the workspace as records sees them: the directory mirror of identity's users."""

from __future__ import annotations

import uuid

from services.records.db import customers as customers_db
from services.records.domain.access import RecordAccess
from shared.db import Unit


async def active_user_department(unit: Unit, access: RecordAccess, user_id: uuid.UUID) -> tuple[bool, uuid.UUID | None]:
    """(whether ``user_id`` is an active user of the tenant, their department). The caller always
    counts as active, with the department identity gave their credential: the directory mirror
    follows identity's events and may not know a brand-new user yet."""
    if user_id == access.user_id:
        return True, access.department_id
    user = await customers_db.directory_user(unit, user_id)
    if user is None or user["status"] != "active":
        return False, None
    return True, user["department_id"]
