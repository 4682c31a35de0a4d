"""A customer's timeline: everything that happened to it and its children, newest first.

Kinds: ``interaction`` (at = occurred_at), ``objection_created``, ``objection_status`` (each status
move after creation), ``task`` (at = created_at), ``opportunity_stage`` (each stage an opportunity
entered, its creation included), ``attachment_added`` / ``attachment_removed`` (a file attached to
the customer or one of its interactions, objections or opportunities; at = created_at / deleted_at)
and ``field_change`` (field history of the customer and its
children; changes that another item already tells — stage and objection status moves — are left
out). The caller sees only kinds of entities they may read, children in their data scope, and no
field hidden from them (absent from ``data`` and never in ``summary``).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.records.db import timeline as store
from services.records.domain import customers
from services.records.domain.access import RecordAccess
from shared.db import Unit
from shared.errors import ValidationProblem
from shared.pagination import cursor_time, decode_cursor, encode_cursor

FIELD_ENTITIES = ("customer", "contact", "interaction", "objection", "task", "opportunity")
_ENTITY_OF_KIND = {"interaction": "interaction", "objection_created": "objection", "objection_status": "objection",
                   "task": "task", "opportunity_stage": "opportunity",
                   # Each attachment's own record is checked in SQL (db/timeline.py).
                   "attachment_added": "customer", "attachment_removed": "customer"}
# data keys that are not fields of the entity (field rules do not apply to them)
_NOT_FIELDS = {"from_stage", "from_stage_name", "to_stage", "to_stage_name", "by", "from_status", "to_status",
               "field", "old", "new", "actor_kind", "actor_id", "size", "content_type", "record_entity", "record_id"}


def parse_cursor(cursor: str | None) -> tuple[datetime, str, str] | None:
    parts = decode_cursor(cursor, 3, bind="timeline")
    if parts is None:
        return None
    at = cursor_time(parts[0])
    if str(parts[1]) not in store.KINDS:
        raise ValidationProblem.one("cursor", "is not a cursor of this timeline; omit it to start over", "invalid")
    return at, str(parts[1]), str(parts[2])


def _short(text: Any, length: int = 120) -> str:
    value = " ".join(str(text or "").split())
    return value if len(value) <= length else value[: length - 1] + "…"


def summary(kind: str, entity: str, data: Mapping[str, Any]) -> str:
    """One line a person reads, from the fields the caller may see."""
    if kind == "interaction":
        return " · ".join(p for p in (data.get("channel"), _short(data.get("summary"))) if p) or "Interaction"
    if kind == "objection_created":
        head = "/".join(p for p in (data.get("category"), data.get("severity")) if p)
        return f"Objection ({head}): {_short(data.get('description'))}" if head else "Objection raised"
    if kind == "objection_status":
        return f"Objection {data.get('from_status')} → {data.get('to_status')}"
    if kind == "task":
        return f"Task: {_short(data.get('title'))}" if data.get("title") else "Task"
    if kind == "opportunity_stage":
        name = f"{data['name']}: " if data.get("name") else ""
        if data.get("from_stage_name") is None:
            return f"{name}opened in {data.get('to_stage_name')}"
        return f"{name}{data.get('from_stage_name')} → {data.get('to_stage_name')}"
    if kind == "attachment_added":
        return f"File attached: {_short(data.get('name'))}"
    if kind == "attachment_removed":
        return f"File removed: {_short(data.get('name'))}"
    return f"{entity} {data.get('field')} changed"


def _visible_data(access: RecordAccess, entity: str, data: Mapping[str, Any]) -> dict[str, Any]:
    hidden = access.hidden_fields(entity)
    return {k: v for k, v in data.items() if k in _NOT_FIELDS or k not in hidden}


def _item_id(kind: str, sort_id: str) -> str:
    """Field history ids sort zero-padded; answer them as the plain number."""
    return str(int(sort_id)) if kind == "field_change" else sort_id


async def page(unit: Unit, access: RecordAccess, customer_id: uuid.UUID, *, after: tuple[datetime, str, str] | None,
               limit: int) -> dict[str, Any]:
    """``{"items": [...], "next_cursor": ...}``; 404 when the customer is missing or not visible."""
    await customers.get_visible(unit, access, customer_id)
    kinds = [k for k, entity in _ENTITY_OF_KIND.items() if access.can(entity, "read")]
    field_entities = [e for e in FIELD_ENTITIES if access.can(e, "read")]
    hidden = [f"{e}.{f}" for e in field_entities for f in access.hidden_fields(e)]
    rows = await store.page(unit, customer_id, kinds=kinds, field_entities=field_entities, hidden_fields=hidden,
                            scope_filter=access.scope_filter, after=after, limit=limit)
    items = []
    for row in rows[:limit]:
        data = _visible_data(access, row["entity"], row["data"])
        items.append({"kind": row["kind"], "at": row["at"], "id": _item_id(row["kind"], row["id"]),
                      "entity": row["entity"],
                      "entity_id": row["entity_id"], "summary": summary(row["kind"], row["entity"], data),
                      "data": data})
    next_cursor = None
    if len(rows) > limit and items:
        last = rows[limit - 1]
        next_cursor = encode_cursor([last["at"], last["kind"], last["id"]], bind="timeline")
    return {"items": items, "next_cursor": next_cursor}
