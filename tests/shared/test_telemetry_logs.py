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
