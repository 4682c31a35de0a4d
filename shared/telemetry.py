"""OpenTelemetry traces and JSON logs that carry the trace id.

One trace follows a request from HTTP through SQL (asyncpg instrumentation) and NATS (W3C trace
context in message headers, stored in the outbox row when the event is created) into every
consumer. Spans are exported over OTLP/HTTP when an endpoint is configured, and nowhere otherwise.

Without an exporter SQL is not instrumented at all: even a non-recording span per statement (the
sampler's decision, a context attached and detached, the wrapper's own work) cost about a tenth
of the server's CPU under load. Request and event spans stay (non-recording but with ids), so
logs keep their trace ids and events their ``traceparent``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult
from pythonjsonlogger.json import JsonFormatter

_configured = False
# True once spans have somewhere to go (an OTLP exporter, or a processor a test or a tool adds).
_exporting = False


class _WhenExported(Sampler):
    """Records spans only when something receives them. Without an exporter a span is
    non-recording: it still has ids (logs carry them, ``traceparent`` is still propagated to
    events), but no attributes, events or processors are paid for on every request and query."""

    def __init__(self) -> None:
        self._sampled = ParentBased(ALWAYS_ON)

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None,  # noqa: ANN001, ANN201
                      trace_state=None):  # signature of opentelemetry's Sampler
        if not _exporting:
            return SamplingResult(Decision.DROP)
        return self._sampled.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "huike.WhenExported"


def exporting() -> bool:
    """Whether spans go anywhere (an exporter or an added processor)."""
    return _exporting


def tracer(name: str = "huike") -> trace.Tracer:
    return trace.get_tracer(name)


def setup_tracing(service_name: str, otlp_endpoint: str = "", extra_processor: SpanProcessor | None = None) -> None:
    """Install the tracer provider once per process, and asyncpg instrumentation once spans are
    exported (a processor added later, by a test or a tool, turns it on then)."""
    global _configured, _exporting
    if _configured:
        if extra_processor is not None:
            provider = trace.get_tracer_provider()
            if isinstance(provider, TracerProvider):
                provider.add_span_processor(extra_processor)
                _exporting = True
                _instrument_sql()
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}), sampler=_WhenExported())
    _exporting = bool(otlp_endpoint) or extra_processor is not None
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint.rstrip("/") + "/v1/traces")))
    if extra_processor is not None:
        provider.add_span_processor(extra_processor)
    trace.set_tracer_provider(provider)
    if _exporting:
        _instrument_sql()
    _configured = True


def _instrument_sql() -> None:
    """A span per SQL statement (asyncpg's), only worth its cost when spans go somewhere."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    instrumentor = AsyncPGInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def sql_traced() -> bool:
    """Whether asyncpg's statements are traced (only when spans are exported)."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    return bool(AsyncPGInstrumentor().is_instrumented_by_opentelemetry)


def current_trace_headers() -> dict[str, str]:
    """The W3C trace context of the current span, as message headers (``traceparent``...)."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str] | None) -> otel_context.Context:
    return extract(dict(headers or {}))


class _TraceIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        return True


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    """JSON lines on stderr, each with trace_id and span_id when inside a span."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                          rename_fields={"asctime": "time", "levelname": "level", "name": "logger"})
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_TraceIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
