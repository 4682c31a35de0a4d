"""JSON logs carry the trace id of the span they were written in."""

from __future__ import annotations

import io
import json
import logging

from shared.telemetry import setup_logging, setup_tracing, tracer


def test_json_log_lines_carry_trace_and_span_ids() -> None:
    setup_tracing("huike-test")
    setup_logging("INFO", "json")
    handler = logging.getLogger().handlers[0]
    stream = io.StringIO()
    handler.setStream(stream)  # type: ignore[attr-defined]
    with tracer("test").start_as_current_span("work") as span:
        logging.getLogger("huike.test").info("inside a span", extra={"tenant_id": "t-1"})
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["message"] == "inside a span"
    assert line["level"] == "INFO"
    assert line["tenant_id"] == "t-1"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")


def test_without_an_exporter_spans_are_not_recorded_but_keep_their_ids(monkeypatch) -> None:  # noqa: ANN001
    import shared.telemetry as telemetry

    setup_tracing("huike-test")
    monkeypatch.setattr(telemetry, "_exporting", False)
    with tracer("test").start_as_current_span("unexported") as span:
        assert not span.is_recording()  # no attributes, no processors paid for
        assert span.get_span_context().is_valid  # logs and events still carry the trace
    monkeypatch.setattr(telemetry, "_exporting", True)
    with tracer("test").start_as_current_span("exported") as span:
        assert span.is_recording()


def test_sql_is_traced_only_once_spans_are_exported() -> None:
    """In a fresh interpreter (tracing is set up once per process): without an exporter asyncpg's
    statements are not wrapped at all, while request spans still carry ids into ``traceparent``;
    adding a span processor turns SQL spans on."""
    import subprocess
    import sys

    script = (
        "import asyncpg, json\n"
        "from opentelemetry.sdk.trace.export import SimpleSpanProcessor\n"
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from shared.telemetry import current_trace_headers, setup_tracing, sql_traced, tracer\n"
        "plain = asyncpg.connection.Connection.execute\n"
        "setup_tracing('huike-test')\n"
        "with tracer('t').start_as_current_span('request'):\n"
        "    headers = current_trace_headers()\n"
        "before = (sql_traced(), asyncpg.connection.Connection.execute is plain)\n"
        "setup_tracing('huike-test', extra_processor=SimpleSpanProcessor(InMemorySpanExporter()))\n"
        "after = (sql_traced(), asyncpg.connection.Connection.execute is plain)\n"
        "print(json.dumps({'before': before, 'after': after, 'traceparent': headers.get('traceparent', '')}))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["before"] == [False, True]  # no exporter: the statement methods are asyncpg's own
    assert result["after"] == [True, False]
    version, trace_id, span_id, flags = result["traceparent"].split("-")
    assert version == "00" and int(trace_id, 16) != 0 and int(span_id, 16) != 0  # correlation kept
