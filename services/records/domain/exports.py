"""Exports of customers, contacts, interactions, objections, tasks and opportunities to CSV or XLSX.

An export runs as a background job (``jobs_bulk.py``) with the caller's permissions as they were
when they asked: their data scope (rows outside it are not exported; children only of visible
customers) and field rules (hidden fields are not columns). Filters are the list filters of the
entity's ``GET`` (same names, same checks). Rows stream from a server-side cursor into the file
(CSV: UTF-8 with BOM so Excel reads Chinese; XLSX: openpyxl's write-only mode), so memory stays
constant. Text starting with = + - @ is prefixed with ' so no spreadsheet runs it as a formula.
Every export writes an audit row: who, which entity and filters, how many rows.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import tempfile
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, BinaryIO

import msgspec

from services.records.db import activity_sql
from services.records.db import exports as store
from services.records.db import imports as queue
from services.records.domain import (
    contacts,
    custom_fields,
    customers,
    history,
    interactions,
    listing,
    objections,
    opportunities,
    tasks,
)
from services.records.domain import settings as settings_domain
from services.records.domain.access import RecordAccess, load_access
from services.records.domain.activity import Conditions
from services.records.domain.imports import csv_safe, principal_of
from services.records.storage import CHUNK_BYTES, FileStore, new_key
from shared.db import ServiceDatabase, Unit
from shared.errors import FieldError, ValidationProblem
from shared.tenancy import scope_for_system

log = logging.getLogger("huike.records.exports")

ENTITIES = ("customer", "contact", "interaction", "objection", "task", "opportunity")
FORMATS = ("csv", "xlsx")
MAX_ATTEMPTS = 3


class ContactFilters(msgspec.Struct, kw_only=True):
    customer_id: uuid.UUID | None = None


class OpportunityFilters(msgspec.Struct, kw_only=True):
    customer_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    pipeline_id: uuid.UUID | None = None
    stage_id: uuid.UUID | None = None
    status: str | None = None
    close_from: date | None = None
    close_to: date | None = None
    currency: str | None = None


FILTERS: dict[str, type[msgspec.Struct]] = {
    "customer": customers.CustomerFilters, "contact": ContactFilters,
    "interaction": interactions.InteractionFilters, "objection": objections.ObjectionFilters,
    "task": tasks.TaskFilters, "opportunity": OpportunityFilters,
}
# The field each export filter reads where its name does not say it (field rules apply to filters).
FILTER_READS: dict[str, tuple[str, ...]] = {
    "tag": ("tags",), "created_after": ("created_at",), "created_before": ("created_at",),
    "updated_after": ("updated_at",), "updated_before": ("updated_at",),
    "no_interaction_days": ("last_interaction_at",), "overdue_follow_up": ("next_follow_up_at",),
    "occurred_from": ("occurred_at",), "occurred_to": ("occurred_at",), "overdue": ("status", "due_at"),
    "due_from": ("due_at",), "due_to": ("due_at",), "close_from": ("expected_close_date",),
    "close_to": ("expected_close_date",), "stage_id": ("stage",), "ids": ("id",),
}
RECORD_OF: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "customer": customers.record_of, "contact": contacts.record_of, "interaction": interactions.record_of,
    "objection": objections.record_of, "task": tasks.record_of, "opportunity": opportunities.answer,
}


def check_filters(entity: str, filters: Mapping[str, Any]) -> tuple[msgspec.Struct, dict[str, str]]:
    """The entity's list filters (and, for customers, ``cf.<key>`` custom field filters); 422
    naming ``filters.<name>`` for an unknown or mistyped one."""
    kind = FILTERS[entity]
    known = set(kind.__struct_fields__)
    errors: list[FieldError] = []
    plain: dict[str, Any] = {}
    custom: dict[str, str] = {}
    for name, value in filters.items():
        if entity == "customer" and name.startswith("cf.") and len(name) > 3:
            custom[name[3:]] = str(value)
        elif name not in known:
            errors.append(FieldError(f"filters.{name}", f"is not a filter of {entity}; use "
                                     f"{', '.join(sorted(known))}", "unknown_field"))
        else:
            plain[name] = value
    if errors:
        raise ValidationProblem(errors)
    try:
        return msgspec.convert(plain, kind, strict=False), custom
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `$")
        raise ValidationProblem.one(f"filters{path.rstrip('`')}", message, "wrong_type") from None


async def conditions(unit: Unit, access: RecordAccess, entity: str, filters: msgspec.Struct,
                     custom: Mapping[str, str]) -> tuple[list[str], list[Any]]:
    """WHERE conditions (from ``$2``) for the entity's rows the caller may see and the filters ask
    for; 422 naming ``filters.<name>`` for a filter on a field hidden from the caller."""
    given = {name: FILTER_READS.get(name, (name,)) for name in filters.__struct_fields__
             if getattr(filters, name) is not None}
    refused = listing.hidden_filters(access, entity, {**given, **{f"cf.{k}": () for k in custom}}, "filters.")
    if refused:
        raise ValidationProblem(refused)
    if entity == "customer":
        return await customers.conditions(unit, access, filters, custom)  # type: ignore[arg-type]
    if entity == "interaction":
        channels = (await settings_domain.get(unit)).keys("interaction_channels")
        where = interactions.conditions(access, filters, channels)  # type: ignore[arg-type]
    elif entity == "objection":
        where = objections.conditions(access, filters, f"coalesce(o.due_at, {activity_sql.NO_DUE})")  # type: ignore[arg-type]
    elif entity == "task":
        where = tasks.conditions(access, filters, f"coalesce(t.due_at, {activity_sql.NO_DUE})")  # type: ignore[arg-type]
    else:
        alias = "x" if entity == "contact" else "o"
        where = Conditions()
        where.scope(access, entity, alias)
        for name in filters.__struct_fields__:
            value = getattr(filters, name)
            if value is None:
                continue
            if name == "close_from":
                where.add("o.expected_close_date >= {0}", value)
            elif name == "close_to":
                where.add("o.expected_close_date <= {0}", value)
            else:
                where.equals(access, entity, alias, name, value)
        where.raise_if_any()
    return where.sql, where.args


# --- the file -------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """One cell: lists joined with '; ' (phones and e-mails by their value), objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(_text(v.get("value") if isinstance(v, dict) and "value" in v else v) for v in value)
    if isinstance(value, dict):
        return msgspec.json.encode(value).decode()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def columns_of(access: RecordAccess, entity: str, sample: Mapping[str, Any],
               defs: Sequence[custom_fields.Definition]) -> list[str]:
    """The export's columns: the record's visible fields, custom fields one column each."""
    visible = access.redact(entity, dict(sample))
    names = [k for k in visible if k not in ("custom_fields", "deleted_at")]
    if "custom_fields" in visible:
        names += [f"custom_fields.{d.key}" for d in defs]
    return names


def cells(record: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    custom = record.get("custom_fields") or {}
    return [csv_safe(_text(custom.get(n[14:]) if n.startswith("custom_fields.") else record.get(n))) for n in names]


class _CsvSink:
    def __init__(self, handle: BinaryIO) -> None:
        self.text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="", write_through=False)
        self.writer = csv.writer(self.text)

    def row(self, values: Sequence[str]) -> None:
        self.writer.writerow(values)

    def close(self) -> None:
        self.text.flush()
        self.text.detach()


class _XlsxSink:
    def __init__(self, handle: BinaryIO, title: str) -> None:
        from openpyxl import Workbook

        self.handle = handle
        self.book = Workbook(write_only=True)
        self.sheet = self.book.create_sheet(title)

    def row(self, values: Sequence[str]) -> None:
        self.sheet.append(values)  # escaped cells: text starting with = is never a formula here

    def close(self) -> None:
        self.book.save(self.handle)


# --- the background run ---------------------------------------------------------------------------


async def run(db: ServiceDatabase, files: FileStore, tenant_id: uuid.UUID, export_id: uuid.UUID, *,
              attempts: int) -> None:
    """Write the export's file (again from the start after a crash: nothing is published until
    the file is complete), then mark it succeeded and audit it."""
    scope = scope_for_system(tenant_id)
    async with db.tenant_unit(scope) as unit:
        job = await store.get(unit, export_id)
        if job is None or job["status"] in ("succeeded", "failed"):
            await queue.done(unit, tenant_id, "export", export_id)
            return
        await store.set_status(unit, export_id, "running")
    principal = principal_of(job["principal"], tenant_id)
    key = new_key(tenant_id, "exports", export_id, job["format"])
    try:
        if attempts > MAX_ATTEMPTS:
            raise RuntimeError(f"stopped after {MAX_ATTEMPTS} attempts: the worker kept stopping")
        count = await _write(db, files, job, principal, key)
    except Exception as exc:  # noqa: BLE001 - the export fails cleanly; its caller reads why
        log.exception("export %s failed", export_id)
        await files.delete(key)
        async with db.tenant_unit(scope) as unit:
            await store.set_status(unit, export_id, "failed", error=str(exc))
            await queue.done(unit, tenant_id, "export", export_id)
        return
    async with db.tenant_unit(scope) as unit:
        await store.set_status(unit, export_id, "succeeded", rows_done=count, file_key=key,
                               file_bytes=await files.size(key))
        await history.audit(unit, f"{job['entity']}.export", job["entity"], None, actor=principal.actor, details={
            "export_id": str(export_id), "format": job["format"], "filters": job["filters"], "rows": count,
        })
        # For the notifications service: whoever asked is told the file is ready.
        await unit.emit("export", "ready", export_id, actor=principal.actor, data={
            "user_id": str(principal.user_id), "entity": job["entity"], "format": job["format"], "rows": count})
        await queue.done(unit, tenant_id, "export", export_id)


async def _write(db: ServiceDatabase, files: FileStore, job: Mapping[str, Any], principal: Any, key: str) -> int:
    entity = job["entity"]
    record_of = RECORD_OF[entity]
    count = 0
    async with db.tenant_unit(principal.scope, background=True) as unit:
        access = await load_access(unit, principal)
        filters, custom = check_filters(entity, job["filters"])
        where, args = await conditions(unit, access, entity, filters, custom)
        defs = await custom_fields.definitions(unit, entity)
        names: list[str] | None = None
        # Written to a local temporary file first (an XLSX is a zip: openpyxl needs a seekable file),
        # then streamed into the store in chunks; the temporary file goes either way.
        with tempfile.TemporaryFile() as handle:
            sink = _XlsxSink(handle, entity) if job["format"] == "xlsx" else _CsvSink(handle)
            async for row in store.rows(unit, entity, where, args):
                record = history.jsonable(record_of(row))
                if names is None:
                    names = columns_of(access, entity, record, defs)
                    sink.row(names)
                sink.row(cells(record, names))
                count += 1
                if count % 10_000 == 0:
                    await _progress(db, principal, job["id"], count)
            if names is None:  # no rows: still a file with the columns
                try:
                    blank = history.jsonable(_empty_record(entity))
                except (KeyError, TypeError, ValueError, AttributeError):
                    blank = {}
                sink.row(columns_of(access, entity, blank, defs))
            sink.close()
            await _store(files, key, handle)
    return count


async def _store(files: FileStore, key: str, handle: BinaryIO) -> None:
    handle.seek(0)
    async with files.create(key) as out:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            await out.write(chunk)


def _empty_record(entity: str) -> dict[str, Any]:
    """A record of ``entity`` with every field empty (for the header of an empty export)."""

    class Blank(dict[str, Any]):
        def __getitem__(self, key: str) -> Any:
            return {} if key in ("custom_fields",) else [] if key in ("aliases", "tags", "contact_ids",
                                                                         "user_ids") else None

    return RECORD_OF[entity](Blank())


async def _progress(db: ServiceDatabase, principal: Any, export_id: uuid.UUID, count: int) -> None:
    async with db.tenant_unit(principal.scope) as unit:
        await unit.execute("UPDATE records.exports SET rows_done = $3, updated_at = $4 WHERE tenant_id = $1 AND id = $2",
                           unit.tenant_id, export_id, count, datetime.now(UTC))

