"""Per-process caches that keep matching cheap: every record event used to read, decode and check
every enabled workflow of its tenant.

* ``definition(unit, workflow_id, version)``: a saved version, decoded once. Versions never change
  (a new definition is a new version), so nothing invalidates them.
* ``listeners(unit)``: the tenant's enabled workflows indexed by (entity, action) and by the fields
  a trigger names, so an event only looks at the triggers that could match it. Checked against a
  fingerprint of the enabled workflows (count, last change, sum of versions: one small query on
  each event) and rebuilt when it moved: a workflow saved, enabled, disabled or deleted by any
  replica is seen by the next event.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from services.workflows.db import workflows as store
from services.workflows.domain import definitions as d
from shared.db import Unit

MAX_DEFINITIONS = 5000   # decoded versions kept per process
MAX_TENANTS = 1000       # tenants whose index is kept per process


@dataclass(frozen=True)
class Version:
    workflow_id: uuid.UUID
    version: int
    author_id: uuid.UUID
    definition: d.WorkflowDefinition


@dataclass(frozen=True)
class Listener:
    """One trigger of one enabled workflow."""
    workflow_id: uuid.UUID
    version: int
    created_at: datetime
    index: int
    trigger: d.RecordTrigger | d.DateTrigger
    order: int            # (workflow, trigger) order in the index, to keep a stable order of runs


@dataclass
class _Fields:
    """The record triggers of one (entity, action): those without ``fields`` hear every change."""
    always: list[Listener] = field(default_factory=list)
    by_field: dict[str, list[Listener]] = field(default_factory=dict)

    def candidates(self, changed: list[str] | None) -> list[Listener]:
        """Listeners that may match; ``changed`` None (a created record): all of them."""
        if changed is None:
            found = self.always + [listener for group in self.by_field.values() for listener in group]
        else:
            found = list(self.always)
            for name in changed:
                parts = name.split(".")
                # "custom_fields.x" changed: triggers on "custom_fields.x" and on "custom_fields".
                for end in range(1, len(parts) + 1):
                    found += self.by_field.get(".".join(parts[:end]), [])
        unique = {listener.order: listener for listener in found}
        return [unique[order] for order in sorted(unique)]


@dataclass
class Rules:
    fingerprint: tuple[Any, ...]
    record: dict[tuple[str, str], _Fields]
    date: dict[str, list[Listener]]

    def record_listeners(self, entity: str, action: str | None, changed: list[str] | None) -> list[Listener]:
        fields = self.record.get((entity, action or ""))
        return fields.candidates(changed) if fields is not None else []

    def date_listeners(self, entity: str) -> list[Listener]:
        return self.date.get(entity, [])


_definitions: OrderedDict[tuple[uuid.UUID, uuid.UUID, int], Version] = OrderedDict()
_rules: OrderedDict[uuid.UUID, Rules] = OrderedDict()


def decode(triggers: Any, steps: Any) -> d.WorkflowDefinition:
    return msgspec.convert({"triggers": triggers, "steps": steps}, d.WorkflowDefinition)


async def definition(unit: Unit, workflow_id: uuid.UUID, version: int) -> Version | None:
    """A saved version of a workflow, decoded (None when it does not exist in this tenant)."""
    key = (unit.tenant_id, workflow_id, version)
    found = _definitions.get(key)
    if found is not None:
        _definitions.move_to_end(key)
        return found
    row = await store.version_of(unit, workflow_id, version)
    if row is None:
        return None
    found = Version(workflow_id, version, row["author_id"], decode(row["triggers"], row["steps"]))
    _definitions[key] = found
    if len(_definitions) > MAX_DEFINITIONS:
        _definitions.popitem(last=False)
    return found


async def listeners(unit: Unit) -> Rules:
    """The tenant's enabled workflows, indexed (rebuilt when any of them changed)."""
    fingerprint = tuple(await store.enabled_fingerprint(unit))
    rules = _rules.get(unit.tenant_id)
    if rules is not None and rules.fingerprint == fingerprint:
        _rules.move_to_end(unit.tenant_id)
        return rules
    rules = Rules(fingerprint, {}, {})
    order = 0
    for row in sorted(await store.enabled(unit), key=lambda r: (r["created_at"], r["id"])):
        definition = decode(row["triggers"], row["steps"])
        for index, trigger in enumerate(definition.triggers):
            listener = Listener(row["id"], row["version"], row["created_at"], index, trigger, order)  # type: ignore[arg-type]
            order += 1
            if isinstance(trigger, d.RecordTrigger):
                group = rules.record.setdefault((trigger.entity, trigger.action), _Fields())
                if trigger.fields:
                    for name in trigger.fields:
                        group.by_field.setdefault(name, []).append(listener)
                else:
                    group.always.append(listener)
            elif isinstance(trigger, d.DateTrigger):
                rules.date.setdefault(trigger.entity, []).append(listener)
    _rules[unit.tenant_id] = rules
    if len(_rules) > MAX_TENANTS:
        _rules.popitem(last=False)
    return rules
