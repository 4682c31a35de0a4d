"""The department mirror search needs for the ``department`` data scope.

A durable consumer of identity's department events on ``CRM_IDENTITY`` (inbox: a redelivery
changes nothing twice). A moved department carries its new ``path``; the paths of its subtree
follow here exactly as they do in identity.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from shared.db import Unit
from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer
from shared.events.envelope import Event

if TYPE_CHECKING:
    from shared.runtime import Runtime

CONSUMER_NAME = "search-directory"
SUBJECTS = ("crm.identity.*.department.>",)


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


async def apply(unit: Unit, event: Event) -> None:
    """Apply one identity department event to the mirror."""
    department_id = uuid.UUID(event.entity_id)
    if event.action == "deleted":
        await unit.execute("DELETE FROM search.departments WHERE tenant_id = $1 AND id = $2",
                           unit.tenant_id, department_id)
        return
    path = str(event.data.get("path") or department_id)
    old_path = await unit.fetchval(
        "SELECT path FROM search.departments WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        unit.tenant_id, department_id,
    )
    await unit.execute(
        """INSERT INTO search.departments (tenant_id, id, parent_id, path) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, id) DO UPDATE SET parent_id = EXCLUDED.parent_id, path = EXCLUDED.path,
             updated_at = now()""",
        unit.tenant_id, department_id, _uuid(event.data.get("parent_id")), path,
    )
    if old_path is not None and old_path != path:
        await unit.execute(
            """UPDATE search.departments SET path = $3 || substr(path, length($2) + 1), updated_at = now()
               WHERE tenant_id = $1 AND path LIKE $2 || '/%'""",
            unit.tenant_id, old_path, path,
        )


async def start_directory(runtime: Runtime) -> EventConsumer:
    assert runtime.bus is not None
    consumer = EventConsumer(
        runtime.bus, runtime.db("search"), name=CONSUMER_NAME, stream=service_stream_name("identity"),
        subjects=SUBJECTS, handler=apply,
    )
    await consumer.start()
    return consumer
