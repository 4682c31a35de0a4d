"""Records found by their attachments' names (``search.attachments``, migration 0005).

Records publishes ``attachment.added`` / ``attachment.removed`` with the file's name and its record
(customer, interaction, objection or opportunity), but a record's own events do not carry its
attachments. So search keeps the names of each record's live attachments here, and

* an attachment event rewrites the ``attachments`` field of its record's document in place
  (``Engine.set_attachments``; the document's version is the record's and stays);
* a document built from a record event has no attachments: those that have some get them from here
  in the same transaction (``refresh``);
* a reindex builds documents from records' replay, which carries each record's live attachments
  (the source of truth), and adds the ones this table lacks (``resync``).

The caller's access to the record governs a hit as for any other field: the names are a field of the
record's own document.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from services.search.documents import ATTACHABLE, ATTACHMENTS, Document
from services.search.engines.base import Engine
from shared.db import Unit
from shared.events.envelope import Event

ENTITY = "attachment"
Key = tuple[str, uuid.UUID]


def is_attachment_event(event: Event) -> bool:
    return event.entity == ENTITY and event.action in ("added", "removed")


def _row(event: Event) -> dict[str, Any] | None:
    data = event.data
    record = data.get("record") or {}
    type_ = data.get("entity") or record.get("entity")
    record_id = data.get("record_id") or record.get("record_id")
    if type_ not in ATTACHABLE or not record_id or not record.get("name"):
        return None
    return {"id": str(event.entity_id), "type": type_, "record_id": str(record_id), "name": str(record["name"]),
            "version": event.version, "deleted": event.action == "removed"}


async def apply_events(unit: Unit, events: Sequence[Event]) -> set[Key]:
    """Keep what attachment events say (newest version wins); answers the records whose
    attachments changed."""
    rows = [r for r in (_row(e) for e in events if is_attachment_event(e)) if r is not None]
    if not rows:
        return set()
    changed = await unit.fetch(
        """INSERT INTO search.attachments AS a (tenant_id, id, type, record_id, name, version, deleted)
           SELECT $1, x.id, x.type, x.record_id, x.name, x.version, x.deleted
           FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, type text, record_id uuid, name text, version integer,
                                                   deleted boolean)
           ON CONFLICT (tenant_id, id) DO UPDATE SET name = excluded.name, version = excluded.version,
                                                     deleted = excluded.deleted
           WHERE excluded.version > a.version
           RETURNING a.type, a.record_id""",
        unit.tenant_id, rows,
    )
    return {(r["type"], r["record_id"]) for r in changed}


async def names_of(unit: Unit, keys: Collection[Key]) -> dict[Key, list[str]]:
    """The names of the live attachments of each record (records without any are left out)."""
    if not keys:
        return {}
    rows = await unit.fetch(
        """SELECT a.type, a.record_id, a.name FROM search.attachments a
           JOIN unnest($2::text[], $3::uuid[]) AS k(type, record_id) ON a.type = k.type AND a.record_id = k.record_id
           WHERE a.tenant_id = $1 AND NOT a.deleted
           ORDER BY a.type, a.record_id, a.name, a.id""",
        unit.tenant_id, [k[0] for k in keys], [k[1] for k in keys],
    )
    names: dict[Key, list[str]] = {}
    for r in rows:
        names.setdefault((r["type"], r["record_id"]), []).append(r["name"])
    return {k: list(dict.fromkeys(v)) for k, v in names.items()}


async def refresh(unit: Unit, engine: Engine, built: Iterable[Document], changed: Collection[Key] = ()) -> int:
    """Give the documents just built from record events (which carry no attachments) their
    attachments' names, and the records of ``changed`` their current ones (none left included);
    answers how many documents were rewritten."""
    keys = {d.key for d in built if not d.deleted and d.type in ATTACHABLE} | set(changed)
    names = await names_of(unit, keys)
    rewritten = 0
    for key in sorted(keys, key=lambda k: (k[0], str(k[1]))):  # one lock order for every transaction
        if key in changed or names.get(key):
            rewritten += await engine.set_attachments(unit, key[0], key[1], names.get(key, []))
    return rewritten


async def resync(unit: Unit, type_: str, records: Iterable[Mapping[str, Any]]) -> None:
    """Add the live attachments a replayed page of records names that this table lacks (a rebuilt
    search schema; events lost). Rows already here are as new or newer (a removal is final), so
    they are left alone; a removal still on its way arrives as an event."""
    if type_ not in ATTACHABLE:
        return
    rows = [{"id": str(a["id"]), "record_id": str(r["id"]), "name": str(a["name"])}
            for r in records for a in r.get(ATTACHMENTS) or [] if isinstance(a, Mapping) and a.get("id")]
    if rows:
        await unit.execute(
            """INSERT INTO search.attachments (tenant_id, id, type, record_id, name, version)
               SELECT $1, x.id, $3, x.record_id, x.name, 1
               FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, record_id uuid, name text)
               ON CONFLICT (tenant_id, id) DO NOTHING""",
            unit.tenant_id, rows, type_,
        )
