"""Field history, events and the audit of sensitive reads, the same way for every records entity.

Every create, update, delete and restore of an entity calls ``publish`` once, inside the write's
unit of work, after the row is written::

    await history.publish(unit, "customer", "updated", after_record, actor=access.actor,
                          settings=cfg, changes=history.diff(before_record, after_record),
                          customer_id=row["id"])

``publish`` writes one ``field_history`` row per changed field (one set-based INSERT) and emits
the event with ``data`` = ``record`` (every field after the change), ``changes``
(``{field: {"old", "new"}}``), ``owner_id``, ``department_id``, ``customer_id`` and
``sensitive_fields`` (the tenant's sensitive fields of the entity present in the record), so
consumers can apply the same field rules as the API.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from typing import Any

import msgspec

from services.records.domain.settings import RecordsSettings
from shared.db import Unit
from shared.events.envelope import Actor

# The workflow run whose command causes the writes of this task (set by services/records/commands.py):
# events carry it as ``data.origin`` so workflows can bound how deep its own writes retrigger it.
WRITE_ORIGIN: ContextVar[dict[str, Any] | None] = ContextVar("records_write_origin", default=None)

# Bookkeeping columns that change on every write and are not "fields" of history.
NOT_HISTORY = frozenset({"version", "updated_at", "updated_by", "created_at", "created_by", "id"})


def jsonable(value: Any) -> Any:
    """Plain JSON form (uuid, datetime, date and Decimal become strings)."""
    return msgspec.to_builtins(value)


def diff(before: Mapping[str, Any], after: Mapping[str, Any],
         fields: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
    """``{field: {"old", "new"}}`` for every field whose JSON value differs (bookkeeping excluded).
    ``custom_fields`` is compared per key and reported as ``custom_fields.<key>``."""
    names = fields if fields is not None else (set(before) | set(after)) - NOT_HISTORY
    changes: dict[str, dict[str, Any]] = {}
    for name in sorted(names):
        if name == "custom_fields":
            old_cf, new_cf = before.get(name) or {}, after.get(name) or {}
            for key in sorted(set(old_cf) | set(new_cf)):
                old, new = jsonable(old_cf.get(key)), jsonable(new_cf.get(key))
                if old != new:
                    changes[f"custom_fields.{key}"] = {"old": old, "new": new}
            continue
        old, new = jsonable(before.get(name)), jsonable(after.get(name))
        if old != new:
            changes[name] = {"old": old, "new": new}
    return changes


async def record_changes(
    unit: Unit, entity: str, record_id: uuid.UUID, customer_id: uuid.UUID | None, actor: Actor,
    changes: Mapping[str, Mapping[str, Any]],
) -> None:
    """One ``field_history`` row per changed field, in one INSERT."""
    if not changes:
        return
    # One jsonb array of {f, o, n}: a jsonb[] parameter would read JSON lists as nested arrays.
    rows = [{"f": f, "o": jsonable(c.get("old")), "n": jsonable(c.get("new"))} for f, c in changes.items()]
    await unit.execute(
        """INSERT INTO records.field_history (tenant_id, entity, record_id, customer_id, actor_kind, actor_id,
                                              field, old, new)
           SELECT $1, $2, $3, $4, $5, $6, e->>'f', e->'o', e->'n' FROM jsonb_array_elements($7::jsonb) AS e""",
        unit.tenant_id, entity, record_id, customer_id, actor.kind, actor.id, rows,
    )


def sensitive_present(settings: RecordsSettings, entity: str, record: Mapping[str, Any]) -> list[str]:
    """The tenant's sensitive fields of ``entity`` that ``record`` holds a value for (``custom_fields.<key>`` too)."""
    present = []
    for name in settings.sensitive(entity):
        base, _, key = name.partition(".")
        value = (record.get(base) or {}).get(key) if key else record.get(name)
        if value not in (None, "", [], {}):
            present.append(name)
    return present


async def publish(
    unit: Unit, entity: str, action: str, record: Mapping[str, Any], *, actor: Actor, settings: RecordsSettings,
    changes: Mapping[str, Mapping[str, Any]] | None = None, customer_id: uuid.UUID | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Field history for ``changes`` and the ``<entity>.<action>`` event, in the caller's unit.

    ``record`` is the full record after the change (with ``id`` and ``version``); ``extra`` adds
    members to ``data`` (a domain action's details)."""
    record_id = uuid.UUID(str(record["id"]))
    if changes:
        await record_changes(unit, entity, record_id, customer_id, actor, changes)
    data: dict[str, Any] = {
        "record": jsonable(dict(record)),
        "owner_id": jsonable(record.get("owner_id")),
        "department_id": jsonable(record.get("department_id")),
        "sensitive_fields": sensitive_present(settings, entity, record),
    }
    if changes is not None:
        data["changes"] = jsonable(dict(changes))
    if customer_id is not None:
        data["customer_id"] = str(customer_id)
    if extra:
        data.update(jsonable(dict(extra)))
    if (origin := WRITE_ORIGIN.get()) is not None:
        data["origin"] = origin
    await unit.emit(entity, action, record_id, actor=actor, version=int(record.get("version") or 1), data=data)


class Published(msgspec.Struct, frozen=True):
    """One record of a bulk change for ``publish_many``: the record after the change and its changes."""

    record: Mapping[str, Any]
    changes: Mapping[str, Mapping[str, Any]]
    customer_id: uuid.UUID | None = None
    extra: Mapping[str, Any] | None = None  # members added to this record's ``data``


async def publish_many(
    unit: Unit, entity: str, action: str, items: list[Published], *, actor: Actor, settings: RecordsSettings,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """``publish`` for records changed in bulk (a merge, transfer, handover...): the field history
    rows of all of them in one INSERT, their events in one outbox INSERT; ``data`` exactly as
    ``publish`` builds it."""
    if not items:
        return
    rows = [{"r": str(item.record["id"]), "c": None if item.customer_id is None else str(item.customer_id),
             "f": name, "o": jsonable(change.get("old")), "n": jsonable(change.get("new"))}
            for item in items for name, change in item.changes.items()]
    if rows:
        await unit.execute(
            """INSERT INTO records.field_history (tenant_id, entity, record_id, customer_id, actor_kind, actor_id,
                                                  field, old, new)
               SELECT $1, $2, (e->>'r')::uuid, (e->>'c')::uuid, $3, $4, e->>'f', e->'o', e->'n'
               FROM jsonb_array_elements($5::jsonb) AS e""",
            unit.tenant_id, entity, actor.kind, actor.id, rows,
        )
    events = []
    for item in items:
        record = item.record
        data: dict[str, Any] = {
            "record": jsonable(dict(record)),
            "owner_id": jsonable(record.get("owner_id")),
            "department_id": jsonable(record.get("department_id")),
            "sensitive_fields": sensitive_present(settings, entity, record),
            "changes": jsonable(dict(item.changes)),
        }
        if item.customer_id is not None:
            data["customer_id"] = str(item.customer_id)
        for more in (extra, item.extra):
            if more:
                data.update(jsonable(dict(more)))
        if (origin := WRITE_ORIGIN.get()) is not None:
            data["origin"] = origin
        events.append((record["id"], int(record.get("version") or 1), data))
    await unit.emit_many(entity, action, events, actor=actor)


async def audit(
    unit: Unit, action: str, entity: str, record_id: uuid.UUID | None, *, actor: Actor,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one row to ``records.audit_log`` (e.g. ``customer.sensitive_read``)."""
    await unit.execute(
        """INSERT INTO records.audit_log (tenant_id, actor_kind, actor_id, action, entity, record_id, details)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        unit.tenant_id, actor.kind, actor.id, action, entity, record_id, jsonable(dict(details or {})),
    )


async def audit_sensitive_reads(
    unit: Unit, entity: str, records: Iterable[Mapping[str, Any]], *, actor: Actor, settings: RecordsSettings,
) -> None:
    """Audit that the caller read the tenant's sensitive fields of these (already redacted)
    records: one row per record that showed any, in one INSERT."""
    rows = [(r["id"], sensitive_present(settings, entity, r)) for r in records]
    rows = [(rid, fields) for rid, fields in rows if fields]
    if not rows:
        return
    await unit.execute(
        """INSERT INTO records.audit_log (tenant_id, actor_kind, actor_id, action, entity, record_id, details)
           SELECT $1, $2, $3, $4, $5, (e->>'r')::uuid, jsonb_build_object('fields', e->'f')
           FROM jsonb_array_elements($6::jsonb) AS e""",
        unit.tenant_id, actor.kind, actor.id, f"{entity}.sensitive_read", entity,
        [{"r": str(rid), "f": fields} for rid, fields in rows],
    )
