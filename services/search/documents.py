"""Search documents: what the index keeps of a record, built from a records event or replay.

A document keeps the attributes the API filters, facets and scopes on, a title, the display text
of each searchable field (for highlighting) and the lexemes of each field (``text.py``), so a
field hidden from a caller can be left out of the match, the highlight and the answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.search import text

TYPES: tuple[str, ...] = ("customer", "contact", "interaction", "objection", "task", "opportunity")
CHILD_TYPES = frozenset(TYPES) - {"customer"}
# Entities whose ``own`` data scope also covers records assigned to the caller (as in records).
ASSIGNABLE = frozenset({"objection", "task"})
# The field shown as a hit's title.
TITLE_FIELD = {"customer": "name", "contact": "name", "interaction": "summary", "objection": "description",
               "task": "title", "opportunity": "name"}
PHONE, EMAIL, TEXT = "phone", "email", "text"
# Searchable fields per type and how each is indexed. Field names are the records API's (and its
# field rules'); ``phones`` / ``emails`` also hold the single ``phone`` / ``email``.
FIELDS: dict[str, dict[str, str]] = {
    "customer": {"name": TEXT, "aliases": TEXT, "uscc": TEXT, "phones": PHONE, "emails": EMAIL, "website": TEXT,
                 "industry": TEXT, "address": TEXT, "source": TEXT, "tags": TEXT, "custom_fields": TEXT,
                 "attachments": TEXT},
    "contact": {"name": TEXT, "title": TEXT, "phones": PHONE, "emails": EMAIL, "custom_fields": TEXT},
    "interaction": {"summary": TEXT, "details": TEXT, "next_step": TEXT, "custom_fields": TEXT, "attachments": TEXT},
    "objection": {"description": TEXT, "resolution": TEXT, "category": TEXT, "custom_fields": TEXT,
                  "attachments": TEXT},
    "task": {"title": TEXT, "description": TEXT, "custom_fields": TEXT},
    "opportunity": {"name": TEXT, "description": TEXT, "won_reason": TEXT, "lost_reason": TEXT,
                    "custom_fields": TEXT, "attachments": TEXT},
}
# Types whose records take attachments (records' attachments); their ``attachments`` field holds the
# names of the live ones (services/search/attachments.py).
ATTACHMENTS = "attachments"
ATTACHABLE = frozenset({"customer", "interaction", "objection", "opportunity"})
# Company names whose derived short names (简称) are indexed too.
SHORT_NAMED = frozenset({("customer", "name")})
# Filterable attributes per type (the API's filters; owner_id applies to every type).
FILTER_FIELDS: dict[str, frozenset[str]] = {
    "customer": frozenset({"owner_id", "lifecycle_stage", "tier", "tags"}),
    "contact": frozenset({"owner_id"}),
    "interaction": frozenset({"owner_id"}),
    "objection": frozenset({"owner_id", "status"}),
    "task": frozenset({"owner_id", "status"}),
    "opportunity": frozenset({"owner_id", "status"}),
}
# The single field and its list are one field for field rules (as in records).
_SOURCES = {"phones": ("phones", "phone", "primary_phone"), "emails": ("emails", "email", "primary_email")}
MAX_TITLE = 200


@dataclass
class Document:
    type: str
    id: uuid.UUID
    version: int
    deleted: bool = False
    customer_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    assignee_id: uuid.UUID | None = None
    lifecycle_stage: str | None = None
    tier: str | None = None
    tags: list[str] = field(default_factory=list)
    status: str | None = None
    title: str = ""
    updated_at: datetime | None = None
    fields: dict[str, str] = field(default_factory=dict)  # display text per searchable field
    lexemes: dict[str, text.Lexemes] = field(default_factory=dict)  # per searchable field

    @property
    def key(self) -> tuple[str, uuid.UUID]:
        return self.type, self.id


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def _strings(value: Any) -> list[str]:
    """Every scalar inside a value (lists of contact points and custom values included)."""
    if value is None or value == "":
        return []
    if isinstance(value, Mapping):
        if "value" in value and not isinstance(value["value"], Mapping | list):
            return _strings(value["value"])
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return [str(value)]


def _field_values(record: Mapping[str, Any], name: str) -> list[str]:
    if name == ATTACHMENTS:  # a replayed record's [{"id", "name"}], or plain names
        return list(dict.fromkeys(str(a["name"]) if isinstance(a, Mapping) else str(a)
                                  for a in record.get(ATTACHMENTS) or []))
    values: list[str] = []
    for source in _SOURCES.get(name, (name,)):
        values += _strings(record.get(source))
    return list(dict.fromkeys(values))


def is_deletion(action: str, entity_id: str, data: Mapping[str, Any]) -> bool:
    """A deleted, purged or merged-away record leaves the index."""
    record = data.get("record") or {}
    if action in ("deleted", "purged") or record.get("deleted_at"):
        return True
    if action == "merged":
        into = data.get("merged_into") or data.get("merged_into_id") or record.get("merged_into_id")
        return bool(into) and str(into) != entity_id
    return False


def build(type_: str, record: Mapping[str, Any], *, version: int, deleted: bool = False,
          customer_id: Any = None) -> Document:
    """The document of one record (``record`` as records events carry it, or a replayed row)."""
    doc = Document(type=type_, id=uuid.UUID(str(record["id"])), version=version, deleted=deleted)
    if deleted:
        return doc
    if type_ in CHILD_TYPES:
        doc.customer_id = _uuid(customer_id or record.get("customer_id"))
    doc.owner_id = _uuid(record.get("owner_id"))
    doc.department_id = _uuid(record.get("department_id"))
    doc.assignee_id = _uuid(record.get("assignee_id")) if type_ in ASSIGNABLE else None
    if type_ == "customer":
        doc.lifecycle_stage = record.get("lifecycle_stage")
        doc.tier = record.get("tier")
        doc.tags = [str(t) for t in record.get("tags") or []]
    if "status" in FILTER_FIELDS[type_]:
        doc.status = record.get("status")
    doc.updated_at = _time(record.get("updated_at"))
    doc.title = " ".join(_field_values(record, TITLE_FIELD[type_]))[:MAX_TITLE]
    for name in FIELDS[type_]:
        set_field(doc, name, _field_values(record, name))
    return doc


def set_field(doc: Document, name: str, values: list[str]) -> None:
    """Index ``values`` as the document's field ``name`` (none: the field is left out)."""
    doc.fields.pop(name, None)
    doc.lexemes.pop(name, None)
    if not values:
        return
    kind = FIELDS[doc.type][name]
    doc.fields[name] = " · ".join(values)[: text.MAX_FIELD_CHARS]
    lexemes = text.Lexemes(set(), set())
    for value in values:
        if kind == PHONE:
            lexemes.update(text.phone_lexemes(value))
        elif (doc.type, name) in SHORT_NAMED:
            lexemes.update(text.name_lexemes(value))
        else:
            lexemes.update(text.text_lexemes(value))
        if name == TITLE_FIELD[doc.type]:
            lexemes.primary.add(text.exact_lexeme(value))
    doc.lexemes[name] = lexemes
