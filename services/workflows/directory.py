"""The directory mirror: identity's users and departments as workflows needs them (department
heads, managers, users of a department or a role; ``domain/people.py`` answers from it).

A durable consumer (``workflows-directory``) of identity's user, role and department events on
``CRM_IDENTITY``, applied in the event's tenant unit with the inbox, so a redelivery changes nothing
twice (and the writes are idempotent anyway). Department paths follow moves exactly as in identity
(``shared.departments``); the head is the event's ``head_user_id``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from services.workflows.db import directory as store
from shared.db import Unit
from shared.departments import apply_department_event
from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer
from shared.events.envelope import Event

if TYPE_CHECKING:
    from shared.runtime import Runtime

CONSUMER_NAME = "workflows-directory"
SUBJECTS = ("crm.identity.*.user.>", "crm.identity.*.department.>", "crm.identity.*.role.deleted")


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


async def apply(unit: Unit, event: Event) -> None:
    """Apply one identity event to the mirror."""
    entity_id = uuid.UUID(event.entity_id)
    data = event.data or {}
    if event.entity == "department":
        await apply_department_event(unit, store.DEPARTMENTS, event.action, entity_id, data)
        if event.action != "deleted":
            await store.set_head(unit, entity_id, _uuid(data.get("head_user_id")))
    elif event.entity == "role" and event.action == "deleted":
        await store.drop_role(unit, str(data.get("key") or ""))
    elif event.entity == "user":
        await _apply_user(unit, event.action, entity_id, data)


async def _apply_user(unit: Unit, action: str, user_id: uuid.UUID, data: dict[str, Any]) -> None:
    if action == "created":
        await store.upsert_user(
            unit, user_id, status=str(data.get("status") or "active"), department_id=_uuid(data.get("department_id")),
            roles=[str(r) for r in data.get("roles") or []], locale=str(data.get("locale") or "zh-CN"),
            name=str(data.get("name") or ""),
        )
    elif action == "updated":
        changes = data.get("changes") or {}
        known = {k: changes[k] for k in ("department_id", "locale", "name") if k in changes}
        if "department_id" in known:
            known["department_id"] = _uuid(known["department_id"])
        await store.update_user(unit, user_id, known)
    elif action == "roles_changed":
        await store.update_user(unit, user_id, {"roles": [str(r) for r in data.get("after") or []]})
    elif action in ("deactivated", "reactivated"):
        await store.update_user(unit, user_id, {"status": "deactivated" if action == "deactivated" else "active"})


async def start_directory(runtime: Runtime) -> EventConsumer:
    assert runtime.bus is not None
    consumer = EventConsumer(
        runtime.bus, runtime.db("workflows"), name=CONSUMER_NAME, stream=service_stream_name("identity"),
        subjects=SUBJECTS, handler=apply,
    )
    await consumer.start()
    return consumer
