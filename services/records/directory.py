"""The directory mirror: identity's users and departments as records needs them (owners must be
active users; ``department`` data scopes follow the department tree).

A durable consumer of identity's events on ``CRM_IDENTITY``. Each event is applied in the event's
tenant unit with the inbox (shared.events.consumer), so a redelivery changes nothing twice; the
upserts are idempotent anyway. A moved department carries its new ``path``: the paths of its
subtree follow here exactly as they do in identity.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from shared.db import Unit
from shared.departments import apply_department_event
from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer
from shared.events.envelope import Event

if TYPE_CHECKING:
    from shared.runtime import Runtime

CONSUMER_NAME = "records-directory"
SUBJECTS = ("crm.identity.*.user.>", "crm.identity.*.department.>")


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


async def apply(unit: Unit, event: Event) -> None:
    """Apply one identity event to the mirror."""
    await unit.execute("INSERT INTO records.tenants (id) VALUES ($1) ON CONFLICT DO NOTHING", unit.tenant_id)
    entity_id = uuid.UUID(event.entity_id)
    data = event.data
    if event.entity == "user":
        await _apply_user(unit, event.action, entity_id, data)
    elif event.entity == "department":
        await apply_department_event(unit, "records.directory_departments", event.action, entity_id, data)


async def _apply_user(unit: Unit, action: str, user_id: uuid.UUID, data: dict[str, Any]) -> None:
    if action == "created":
        await unit.execute(
            """INSERT INTO records.directory_users (tenant_id, id, department_id, name, email, status)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (tenant_id, id) DO UPDATE SET department_id = EXCLUDED.department_id,
                 name = EXCLUDED.name, email = EXCLUDED.email, status = EXCLUDED.status, updated_at = now()""",
            unit.tenant_id, user_id, _uuid(data.get("department_id")), data.get("name") or "",
            data.get("email") or "", data.get("status") or "active",
        )
    elif action == "updated":
        changes = data.get("changes") or {}
        # Insert-or-update: an update may arrive for a user created before records existed.
        await unit.execute(
            """INSERT INTO records.directory_users (tenant_id, id, department_id, name)
               VALUES ($1, $2, $3, coalesce($4, ''))
               ON CONFLICT (tenant_id, id) DO UPDATE SET
                 department_id = CASE WHEN $5 THEN EXCLUDED.department_id ELSE directory_users.department_id END,
                 name = coalesce($4, directory_users.name), updated_at = now()""",
            unit.tenant_id, user_id, _uuid(changes.get("department_id")), changes.get("name"),
            "department_id" in changes,
        )
    elif action in ("deactivated", "reactivated"):
        status = "deactivated" if action == "deactivated" else "active"
        await unit.execute(
            """INSERT INTO records.directory_users (tenant_id, id, email, status) VALUES ($1, $2, coalesce($3, ''), $4)
               ON CONFLICT (tenant_id, id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()""",
            unit.tenant_id, user_id, data.get("email"), status,
        )


async def start_directory(runtime: Runtime) -> EventConsumer:
    assert runtime.bus is not None
    consumer = EventConsumer(
        runtime.bus, runtime.db("records"), name=CONSUMER_NAME, stream=service_stream_name("identity"),
        subjects=SUBJECTS, handler=apply,
    )
    await consumer.start()
    return consumer
