"""A consumer of a stream that does not exist yet (its service has not started: in a cluster every
pod starts at once) waits for it instead of failing its process's start."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer, running_consumers
from shared.events.envelope import Actor, encode_event, new_event
from tests.shared.test_events import eventually


async def test_a_consumer_waits_for_a_stream_that_appears_later(runtime: Any, caplog: pytest.LogCaptureFixture) -> None:
    name = f"zzlate{uuid.uuid4().hex[:6]}"
    stream = service_stream_name(name)
    applied: list[str] = []

    async def handler(unit: Any, event: Any) -> None:
        applied.append(event.entity_id)

    consumer = EventConsumer(runtime.bus, runtime.db("records"), name=f"{name}-reader", stream=stream,
                             subjects=[f"crm.{name}.>"], handler=handler, fetch_timeout=0.2)
    with caplog.at_level(logging.WARNING, logger="huike.events.consumer"):
        starting = asyncio.create_task(consumer.start())
        await eventually(lambda: _said(caplog, f"stream {stream} does not exist yet"), what="the waiting line")
    assert not starting.done()
    assert consumer not in running_consumers(runtime.bus)
    try:
        await runtime.bus.ensure_service_stream(name, replicas=1, duplicate_window_seconds=60)
        await asyncio.wait_for(starting, 15)
        assert consumer in running_consumers(runtime.bus)
        event = new_event(service=name, tenant_id=uuid.uuid4(), entity="item", action="created",
                          entity_id=uuid.uuid4(), actor=Actor(kind="system"))
        await runtime.bus.js.publish(event.subject, encode_event(event))
        await eventually(lambda: _holds(applied, event.entity_id), what="the event applied")
    finally:
        starting.cancel()
        await consumer.stop()
        await runtime.bus.js.delete_stream(stream)


async def _said(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


async def _holds(items: list[str], item: str) -> bool:
    return item in items
