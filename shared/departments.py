"""A service's mirror of identity's department tree, for the ``department`` data scope.

Services never read identity's tables: each keeps its own table ``(tenant_id, id, parent_id,
path, updated_at)`` from identity's department events. A moved department carries its new
``path`` (ids from the root, ``<root>/<child>/...``); the paths of its subtree follow here exactly
as they do in identity.
"""

from __future__ import annotations

import uuid
from typing import Any

from shared.db import Unit


async def apply_department_event(
    unit: Unit, table: str, action: str, department_id: uuid.UUID, data: dict[str, Any]
) -> None:
    """Apply one ``crm.identity.<tenant>.department.<action>`` event to ``table`` (a constant of the
    calling service, e.g. ``records.directory_departments``), in the event's tenant unit."""
    if action == "deleted":
        await unit.execute(f"DELETE FROM {table} WHERE tenant_id = $1 AND id = $2", unit.tenant_id, department_id)
        return
    path = str(data.get("path") or department_id)
    old_path = await unit.fetchval(
        f"SELECT path FROM {table} WHERE tenant_id = $1 AND id = $2 FOR UPDATE", unit.tenant_id, department_id
    )
    parent_id = uuid.UUID(str(data["parent_id"])) if data.get("parent_id") else None
    await unit.execute(
        f"""INSERT INTO {table} (tenant_id, id, parent_id, path) VALUES ($1, $2, $3, $4)
            ON CONFLICT (tenant_id, id) DO UPDATE SET parent_id = EXCLUDED.parent_id, path = EXCLUDED.path,
              updated_at = now()""",
        unit.tenant_id, department_id, parent_id, path,
    )
    if old_path is not None and old_path != path:
        await unit.execute(
            f"""UPDATE {table} SET path = $3 || substr(path, length($2) + 1), updated_at = now()
                WHERE tenant_id = $1 AND path LIKE $2 || '/%'""",
            unit.tenant_id, old_path, path,
        )
