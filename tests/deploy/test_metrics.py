"""``GET /metrics``: Prometheus text that an operator's dashboards read, with figures that move
when traffic, consumer lag and the outbox move."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from shared.events.bus import DEAD_LETTER_STREAM, service_stream_name
from shared.events.consumer import EventConsumer
from shared.events.envelope import Actor, encode_event, new_event
from tests.conftest import SignUp
from tests.shared.test_events import eventually

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")  # no credential: it is for the pod network
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_and_timed_by_route_template_and_status_class(
        client: httpx.AsyncClient, signup: SignUp) -> None:
    tenant = await signup()
    before = await scrape(client)
    created = await client.post("/api/v1/customers", json={"name": "度量 Metrics Ltd"}, headers=tenant.headers)
    assert created.status_code == 201
    missing = await client.get(f"/api/v1/customers/{uuid.uuid4()}", headers=tenant.headers)
    assert missing.status_code == 404
    bad = await client.post("/api/v1/customers", json={"name": 5}, headers=tenant.headers)
    assert bad.status_code == 422
    anonymous = await client.get("/api/v1/customers")  # refused by the authentication middleware
    assert anonymous.status_code == 401
    nowhere = await client.get(f"/api/v1/no-such-thing/{uuid.uuid4()}", headers=tenant.headers)
    assert nowhere.status_code == 404
    after = await scrape(client)

    route = "/api/v1/customers"
    one_customer = re.compile(r"^/api/v1/customers/\{[^}/]+\}$")
    templates = {dict(labels)["route"] for (name, labels) in after if name == "huike_http_requests_total"
                 and ("method", "GET") in labels and one_customer.match(dict(labels)["route"])}
    assert len(templates) == 1, "the GET of one customer is counted under its route template, not its id"
    (item_route,) = templates

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("huike_http_requests_total", method="POST", route=route, status="2xx") == 1
    assert delta("huike_http_requests_total", method="POST", route=route, status="4xx") == 1
    assert delta("huike_http_requests_total", method="GET", route=item_route, status="4xx") == 1
    assert delta("huike_http_requests_total", method="GET", route=route, status="4xx") == 1
    assert delta("huike_http_requests_total", method="GET", route=route, status="5xx") == 0
    assert delta("huike_http_requests_total", method="GET", route="(unmatched)", status="4xx") == 1
    assert delta("huike_http_request_duration_seconds_count", method="POST", route=route) == 2
    assert delta("huike_http_request_duration_seconds_sum", method="POST", route=route) > 0
    # Scrapes are not traffic.
    assert not any(dict(labels).get("route") == "/metrics" for (_, labels) in after)


async def test_outbox_depth_and_dead_letters_are_reported(client: httpx.AsyncClient, runtime: Any) -> None:
    samples = await scrape(client)
    for service in ("identity", "records", "search", "workflows"):
        assert ("huike_outbox_depth", frozenset({("service", service)})) in samples
    info = await runtime.bus.js.stream_info(DEAD_LETTER_STREAM)
    assert value(samples, "huike_dead_letters") == info.state.messages
    # The consumers of every service are there with their lag (search reads records' events).
    assert any(name == "huike_consumer_pending" and ("stream", "CRM_RECORDS") in labels
               for (name, labels) in samples)


async def test_consumer_lag_rises_while_a_consumer_is_behind_and_falls_when_it_catches_up(
        client: httpx.AsyncClient, runtime: Any) -> None:
    name = f"zzlag{uuid.uuid4().hex[:6]}"
    await runtime.bus.ensure_service_stream(name, replicas=1, duplicate_window_seconds=60)
    stream = service_stream_name(name)
    release = asyncio.Event()

    async def slow(unit: Any, event: Any) -> None:
        await release.wait()

    consumer = EventConsumer(runtime.bus, runtime.db("records"), name=f"{name}-reader", stream=stream,
                             subjects=[f"crm.{name}.>"], handler=slow, batch_size=1, fetch_timeout=0.2)
    await consumer.start()
    try:
        tenant = uuid.uuid4()
        for _ in range(3):
            event = new_event(service=name, tenant_id=tenant, entity="item", action="created",
                              entity_id=uuid.uuid4(), actor=Actor(kind="system"))
            await runtime.bus.js.publish(event.subject, encode_event(event))
        labels = {"stream": stream, "consumer": consumer.name}

        async def behind() -> bool:
            samples = await scrape(client)
            return (value(samples, "huike_consumer_pending", **labels)
                    + value(samples, "huike_consumer_ack_pending", **labels)) == 3

        await eventually(behind, what="a lag of three events")
        release.set()

        async def caught_up() -> bool:
            samples = await scrape(client)
            return ("huike_consumer_pending", frozenset(labels.items())) in samples and \
                value(samples, "huike_consumer_pending", **labels) == 0 and \
                value(samples, "huike_consumer_ack_pending", **labels) == 0

        await eventually(caught_up, what="no lag")
    finally:
        release.set()
        await consumer.stop()
        await runtime.bus.js.delete_stream(stream)
    # A stopped consumer is no longer reported (its lag is another process's now).
    assert ("huike_consumer_pending", frozenset(labels.items())) not in await scrape(client)
