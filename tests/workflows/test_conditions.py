"""CEL conditions: what they read, what they refuse before being saved, and that they stay cheap."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest

from services.workflows.domain.conditions import ConditionError, compile_condition

NOW = datetime(2026, 12, 2, 9, tzinfo=timezone.utc)
FIELDS = {"severity", "status", "tags", "name", "custom_fields", "due_at"}


def run(source: str, record: dict, old: dict | None = None) -> bool:
    return compile_condition(source, FIELDS).evaluate(record=record, old=old, actor={"id": "u1"}, now=NOW)


def test_a_condition_sees_the_record_its_old_values_and_the_time() -> None:
    moved = 'record.severity == "high" && old.status != record.status'
    assert run(moved, {"severity": "high", "status": "in_progress"}, {"status": "open"})
    assert not run(moved, {"severity": "high", "status": "open"}, {"status": "open"})
    assert run('record.tags.exists(t, t == "vip")', {"tags": ["new", "vip"]})
    assert run('timestamp(record.due_at) < now', {"due_at": "2026-12-01T00:00:00Z"})
    assert not run('timestamp(record.due_at) < now', {"due_at": "2026-12-03T00:00:00Z"})
    assert run('record.custom_fields["合同金额"] > 100000', {"custom_fields": {"合同金额": 250000}})


@pytest.mark.parametrize(("source", "reason"), [
    ("record.severity ==", "does not parse"),
    ("severity == 'high'", "names severity"),
    ("record.colour == 'red'", "no field colour"),
    ("x" * 1001, "longer than 1000"),
    ("(" * 400 + "1" + ")" * 400, "too large"),
    ("[1].all(a, [1].all(b, [1].all(c, true)))", "nest deeper"),
    (r'record.name.matches("(a)\\1")', "cannot be used"),
])
def test_a_condition_that_cannot_be_run_safely_is_refused_with_its_reason(source: str, reason: str) -> None:
    with pytest.raises(ConditionError, match=reason):
        compile_condition(source, FIELDS)


def test_matches_runs_in_linear_time() -> None:
    condition = compile_condition('record.name.matches("^(a+)+$")', FIELDS)
    started = time.perf_counter()
    assert condition.evaluate(record={"name": "a" * 5000 + "b"}, old=None, actor={}, now=NOW) is False
    # Python's backtracking re would take longer than the age of the universe here; RE2 takes microseconds.
    print(f"matches over 5,001 characters: {(time.perf_counter() - started) * 1000:.2f} ms")


def test_a_missing_value_or_a_non_boolean_fails_the_run_with_a_reason() -> None:
    with pytest.raises(ConditionError, match="failed"):
        run('record.severity == "high"', {})
    with pytest.raises(ConditionError, match="true or false"):
        run("record.severity", {"severity": "high"})
