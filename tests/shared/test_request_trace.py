"""One trace follows a real API request through HTTP, SQL and NATS into a consumer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared.db import Unit
from shared.events import EventConsumer
from shared.events.envelope import Event
from shared.telemetry import setup_tracing


async def test_signup_trace_reaches_the_consumer_of_its_event(client: httpx.AsyncClient, runtime: Any) -> None:
    exporter = InMemorySpanExporter()
    setup_tracing("huike-test", extra_processor=SimpleSpanProcessor(exporter))
    handled: dict[str, int] = {}

    async def remember_trace(unit: Unit, event: Event) -> None:
        handled[str(event.entity_id)] = trace.get_current_span().get_span_context().trace_id

    consumer = EventConsumer(
        runtime.bus, runtime.db("identity"), name=f"trace-test-{uuid.uuid4().hex[:8]}", stream="CRM_IDENTITY",
        subjects=["crm.identity.*.tenant.created"], handler=remember_trace,
    )
    await consumer.start()
    try:
        response = await client.post("/api/v1/signup", json={
            "company_name": "Traced Ltd", "admin_email": f"t-{uuid.uuid4().hex[:8]}@example.com",
            "admin_password": "Correct-Horse-Battery-9", "admin_name": "Tracy",
        })
        assert response.status_code == 201, response.text
        tenant_id = response.json()["tenant"]["id"]
        for _ in range(200):
            if tenant_id in handled:
                break
            await asyncio.sleep(0.05)
    finally:
        await consumer.stop()

    spans = exporter.get_finished_spans()
    (http_span,) = [s for s in spans if s.kind == SpanKind.SERVER and "/api/v1/signup" in s.name]
    trace_id = http_span.context.trace_id
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    kinds = {s.kind for s in in_trace}
    assert SpanKind.CLIENT in kinds, "the request's SQL is traced"  # asyncpg spans
    assert any(s.kind == SpanKind.PRODUCER and "tenant.created" in s.name for s in in_trace)
    consumer_spans = [s for s in in_trace if s.kind == SpanKind.CONSUMER and "tenant.created" in s.name]
    assert consumer_spans, "the consumer's span belongs to the request's trace"
    assert handled[tenant_id] == trace_id
