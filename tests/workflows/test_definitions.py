"""A workflow definition is checked as a whole before it is saved: every problem named, with its place."""

from __future__ import annotations

from typing import Any

import pytest

from services.workflows.domain.definitions import Branch, RecordTrigger, Wait, decode_definition
from shared.errors import ValidationProblem


def problems(triggers: Any, steps: Any) -> dict[str, str]:
    with pytest.raises(ValidationProblem) as caught:
        decode_definition(triggers, steps)
    return {e.field: e.message for e in caught.value.errors or []}


def test_the_contract_shapes_decode() -> None:
    definition = decode_definition(
        [{"type": "record.updated", "entity": "objection", "fields": ["status"],
          "condition": 'record.severity == "high" && old.status != record.status'},
         {"type": "date", "entity": "objection", "field": "due_at", "offset": "-PT1H"},
         {"type": "schedule", "cron": "0 9 * * 1-5"}, {"type": "manual"}],
        [{"type": "create_task", "title": "回访客户", "due_in": "PT8H", "business_time": True,
          "assignee": "record.assignee_id"},
         {"type": "branch", "condition": 'record.severity == "high"', "then": [{"type": "stop"}],
          "else": [{"type": "wait", "duration": "P2D"}]}],
    )
    first = definition.triggers[0]
    assert isinstance(first, RecordTrigger) and first.action == "updated" and first.fields == ["status"]
    branch = definition.steps[1]
    assert isinstance(branch, Branch) and isinstance(branch.else_[0], Wait)


def test_every_problem_is_named_at_its_place() -> None:
    found = problems(
        [{"type": "record.updated", "entity": "objection", "fields": ["colour"], "condition": "record.colour == 1"},
         {"type": "schedule", "cron": "* * * * * *"},
         {"type": "date", "entity": "task", "field": "title", "offset": "P1M"}],
        [{"type": "wait", "duration": "P400D"}, {"type": "assign_owner"},
         {"type": "notify", "to": "record.nobody", "message": "hi"}],
    )
    assert found.keys() == {
        "triggers[0].fields[0]", "triggers[0].condition", "triggers[1].cron", "triggers[2].field",
        "triggers[2].offset", "steps[0].duration", "steps[1]", "steps[2].to",
    }
    assert "366 days" in found["steps[0].duration"]
    assert "P30D" in found["triggers[2].offset"]


def test_unknown_trigger_and_step_types_are_refused() -> None:
    assert "triggers[0].type" in problems([{"type": "record.exploded", "entity": "customer"}], [{"type": "stop"}])
    assert "steps[0].type" in problems([{"type": "manual"}], [{"type": "launch_rocket"}])


def test_steps_may_only_read_fields_every_triggering_entity_has() -> None:
    found = problems([{"type": "record.created", "entity": "objection"}, {"type": "record.created", "entity": "task"}],
                     [{"type": "branch", "condition": 'record.severity == "high"', "then": [{"type": "stop"}]}])
    assert "no field severity" in found["steps[0].condition"]


def test_branches_cannot_nest_without_bound() -> None:
    step: dict[str, Any] = {"type": "stop"}
    for _ in range(7):
        step = {"type": "branch", "condition": "true", "then": [step]}
    found = problems([{"type": "manual"}], [step])
    assert any("nest deeper" in message for message in found.values())


def test_an_sla_breach_record_has_the_head_and_phase_a_record_change_has_not() -> None:
    notify = [{"type": "notify", "to": "record.head_id", "message": "{{record.sla_phase}}"}]
    definition = decode_definition([{"type": "sla.breached", "phase": "resolution"}], notify)
    assert definition.triggers[0].entity == "objection"
    assert problems([{"type": "record.updated", "entity": "objection"}], notify) == {
        "steps[0].to": "the record has no field head_id"}
    assert list(problems([{"type": "sla.breached", "phase": "warning"}], notify)) == ["triggers[0].phase"]
