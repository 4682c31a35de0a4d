"""The department mirror search needs for the ``department`` data scope.

A durable consumer of identity's department events on ``CRM_IDENTITY`` (inbox: a redelivery
changes nothing twice), applying them with ``shared.departments``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from shared.db import Unit
from shared.departments import apply_department_event
from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer
from shared.events.envelope import Event

if TYPE_CHECKING:
    from shared.runtime import Runtime

CONSUMER_NAME = "search-directory"
SUBJECTS = ("crm.identity.*.department.>",)


async def apply(unit: Unit, event: Event) -> None:
    """Apply one identity department event to the mirror."""
    await apply_department_event(unit, "search.departments", event.action, uuid.UUID(event.entity_id), event.data)


async def start_directory(runtime: Runtime) -> EventConsumer:
    assert runtime.bus is not None
    consumer = EventConsumer(
        runtime.bus, runtime.db("search"), name=CONSUMER_NAME, stream=service_stream_name("identity"),
        subjects=SUBJECTS, handler=apply,
    )
    await consumer.start()
    return consumer
