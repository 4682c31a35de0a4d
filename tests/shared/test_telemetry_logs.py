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
