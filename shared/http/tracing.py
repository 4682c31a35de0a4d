"""The request's span: OpenTelemetry's ASGI middleware while spans are exported, a bare span otherwise.

Without an exporter the middleware's span is non-recording anyway, yet it still read the scope
into attributes, wrapped ``send`` and timed the request: about 7 % of a small request's CPU for
nothing. Then the request only gets a non-recording span that continues the caller's trace
(``traceparent``), so logs keep their trace ids and events their ``traceparent``. The choice is
made per request: a processor added later (a test, a tool) gets the full spans from then on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.plugins.opentelemetry import OpenTelemetryInstrumentationMiddleware
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract

from shared import telemetry

if TYPE_CHECKING:
    from litestar.types import Receive, Scope, Send

_TRACE_HEADERS = (b"traceparent", b"tracestate")


class RequestTracing(OpenTelemetryInstrumentationMiddleware):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if telemetry.exporting() or scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        carrier = {name.decode("latin-1"): value.decode("latin-1")
                   for name, value in scope.get("headers", ()) if name in _TRACE_HEADERS}
        parent = extract(carrier) if carrier else otel_context.get_current()
        span = telemetry.tracer("huike.http").start_span("http request", context=parent, kind=trace.SpanKind.SERVER)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)
            span.end()
