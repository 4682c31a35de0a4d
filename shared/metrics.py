"""Prometheus metrics of one process, served at ``GET /metrics`` (text exposition format).

* HTTP: ``huike_http_requests_total`` (method, route template, status class) and
  ``huike_http_request_duration_seconds`` (method, route template). The route is the template
  (``/api/v1/customers/{customer_id:uuid}``), never the raw path, so ids do not explode the series;
  a request no route matched counts (not timed) under ``route="(unmatched)"``. Errors are the
  4xx/5xx classes.
* Events, read when scraped: ``huike_consumer_pending`` / ``huike_consumer_ack_pending`` per durable
  consumer this process runs (JetStream's num_pending / num_ack_pending: the consumer lag),
  ``huike_outbox_depth`` per service (rows the relay has not yet published) and
  ``huike_dead_letters`` (messages in ``CRM_DEAD_LETTERS``).

``/metrics`` takes no credential: it is for the pod network (Prometheus, the chart's
ServiceMonitor). The gateway and the Ingress do not route it (deploy/README.md).

prometheus-client is used rather than OpenTelemetry's Prometheus exporter: it is the reference
client, has no background reader thread, and one registry per app keeps tests independent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from shared.events.bus import DEAD_LETTER_STREAM
from shared.events.consumer import running_consumers

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Message, Receive, Scope, Send

    from shared.runtime import Runtime

log = logging.getLogger("huike.metrics")

CONTENT_TYPE = CONTENT_TYPE_LATEST
UNMATCHED = "(unmatched)"
# Seconds; from a cached read to a 100 MB import upload.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_SCRAPE_TIMEOUT = 3.0  # each broker/database read of a scrape; a scrape must answer even in an outage


class Metrics:
    """The metrics of one app (its own registry)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("huike_http_requests", "HTTP requests answered", ["method", "route", "status"],
                                registry=self.registry)
        self.latency = Histogram("huike_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], buckets=_BUCKETS, registry=self.registry)
        self.consumer_pending = Gauge("huike_consumer_pending", "Events not yet delivered to a durable consumer "
                                      "(consumer lag)", ["stream", "consumer"], registry=self.registry)
        self.consumer_ack_pending = Gauge("huike_consumer_ack_pending", "Events delivered, not yet acknowledged",
                                          ["stream", "consumer"], registry=self.registry)
        self.outbox_depth = Gauge("huike_outbox_depth", "Events written, not yet published by the relay",
                                  ["service"], registry=self.registry)
        self.dead_letters = Gauge("huike_dead_letters", f"Messages in {DEAD_LETTER_STREAM} (consumers gave up)",
                                  registry=self.registry)
        self.scrape_errors = Counter("huike_metrics_scrape_errors", "Figures a scrape could not read (NATS or "
                                     "PostgreSQL unavailable)", ["figure"], registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, f"{status // 100}xx").inc()
        self.latency.labels(method, route).observe(seconds)

    async def render(self, runtime: Runtime) -> bytes:
        """The exposition text, with the event figures read now."""
        await asyncio.gather(self._read_consumers(runtime), self._read_outboxes(runtime),
                             self._read_dead_letters(runtime))
        return generate_latest(self.registry)

    async def _read_consumers(self, runtime: Runtime) -> None:
        if runtime.bus is None:
            return
        # Only the consumers running now: a stopped one's lag is another process's to report.
        self.consumer_pending.clear()
        self.consumer_ack_pending.clear()
        for consumer in running_consumers(runtime.bus):
            try:
                info = await asyncio.wait_for(runtime.bus.js.consumer_info(consumer.stream, consumer.name),
                                              _SCRAPE_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - NATS away: the figure is missing, the scrape answers
                self._failed("consumer", exc)
                continue
            self.consumer_pending.labels(consumer.stream, consumer.name).set(info.num_pending or 0)
            self.consumer_ack_pending.labels(consumer.stream, consumer.name).set(info.num_ack_pending or 0)

    async def _read_outboxes(self, runtime: Runtime) -> None:
        if runtime.database is None:
            return
        for spec in runtime.services:
            try:
                async with runtime.db(spec.name).system_unit() as unit:
                    depth = await asyncio.wait_for(unit.fetchval(f"SELECT count(*) FROM {spec.schema}.outbox"),
                                                   _SCRAPE_TIMEOUT)
            except Exception as exc:  # noqa: BLE001 - PostgreSQL away
                self._failed("outbox", exc)
                continue
            self.outbox_depth.labels(spec.name).set(depth)

    async def _read_dead_letters(self, runtime: Runtime) -> None:
        if runtime.bus is None:
            return
        try:
            info = await asyncio.wait_for(runtime.bus.js.stream_info(DEAD_LETTER_STREAM), _SCRAPE_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - NATS away
            self._failed("dead_letters", exc)
            return
        self.dead_letters.set(info.state.messages)

    def _failed(self, figure: str, exc: BaseException) -> None:
        self.scrape_errors.labels(figure).inc()
        log.warning("metrics: could not read %s: %s", figure, type(exc).__name__)


def count_unmatched(metrics: Metrics) -> Callable[[BaseException, Scope], Awaitable[None]]:
    """An ``after_exception`` hook counting requests no route matched (404/405 from the router,
    which runs before any middleware) under ``route="(unmatched)"``."""

    async def hook(exc: BaseException, scope: Scope) -> None:
        if scope.get("type") == "http" and not scope.get("path_template"):
            code = getattr(exc, "status_code", None)
            metrics.requests.labels(scope.get("method", "GET"), UNMATCHED,
                                    f"{code if isinstance(code, int) else 500}"[0] + "xx").inc()

    return hook


class MetricsMiddleware:
    """ASGI middleware timing every HTTP request under its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes everything is a 500 to the client

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            # Raised by an inner middleware (authentication's 401, the guard's 4xx): the app's
            # exception handler answers it after us, with the exception's status.
            code = getattr(exc, "status_code", None)
            status = code if isinstance(code, int) else 500
            raise
        finally:
            route = scope.get("path_template") or UNMATCHED  # set by Litestar's router
            if route != "/metrics":  # scrapes are not traffic
                self.metrics.observe(scope.get("method", "GET"), route, status, time.perf_counter() - started)


__all__ = ["CONTENT_TYPE", "Metrics", "MetricsMiddleware", "UNMATCHED", "count_unmatched"]
