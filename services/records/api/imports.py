"""/api/v1/imports: upload a CSV or XLSX file of customers or contacts, follow the background job,
download its error report; saved column mappings.

The upload is streamed to the file store as it arrives (never held in memory) and checked before
anything is written: a file that is not CSV/XLSX, empty, header-only, in an unknown encoding, over
``HUIKE_IMPORT_MAX_BYTES`` (default 100 MB, answered 413), or a mapping to an unknown column or
field answers 4xx and leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Stream
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from services.records import jobs_bulk
from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, records_unit
from services.records.api.schemas import (
    ImportCreatedOut,
    ImportDetailOut,
    ImportMappingList,
    ImportMappingOut,
    ImportOut,
    Page,
    answers,
)
from services.records.db import imports as store
from services.records.domain import custom_fields
from services.records.domain import imports as domain
from services.records.domain.access import RecordAccess
from services.records.domain.history import jsonable
from services.records.storage import file_store, new_key
from shared.errors import Conflict, FieldError, Gone, NotFound, Problem, ValidationProblem
from shared.http.guard import check_json, check_text
from shared.pagination import check_limit, encode_cursor, time_cursor

# Binds this list's cursors (one of another list is refused).
LIST = "imports"
CSV = "text/csv; charset=utf-8"  # the reports' media type, as the document says

_TEXT_FIELDS = {"entity", "mapping", "mapping_id", "on_duplicate", "dry_run"}
_MAX_TEXT = 64 * 1024


def _too_large(limit: int) -> Problem:
    return Problem(f"The import file is larger than {limit // 1_048_576} MB; split it into smaller files",
                   status_code=413, kind="payload-too-large", title="Payload too large",
                   errors=[FieldError("file", f"must be at most {limit} bytes", "too_large")])


def _check_part(segment: MultipartSegment) -> None:
    """NUL in a part's name or file name cannot be stored (PostgreSQL refuses it): 422 naming it."""
    errors: list[FieldError] = []
    check_text("file_name" if segment.name == "file" else "field_name", segment.filename or "", errors)
    check_text("field_name", segment.name or "", errors)
    if errors:
        raise ValidationProblem(errors)


# The request body as documented (shared/http/openapi.py puts it in the operation).
MULTIPART_BODY = {
    "type": "object", "required": ["file", "entity"], "additionalProperties": False,
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "The CSV or XLSX file"},
        "entity": {"type": "string", "description": "customer or contact"},
        "mapping": {"type": "string", "description": 'JSON {"column": "field" | null}'},
        "mapping_id": {"type": "string", "description": "the id of a saved mapping"},
        "on_duplicate": {"type": "string", "description": "skip (default), update or create"},
        "dry_run": {"type": "string", "description": "true or false (default)"},
    },
}


class Upload(msgspec.Struct):
    fields: dict[str, str]
    file_key: str | None = None
    file_name: str = ""
    file_bytes: int = 0


async def _receive(request: AnyRequest, runtime: Any, tenant_id: uuid.UUID, job_id: uuid.UUID) -> Upload:
    """Parse the multipart body as it streams in: text fields in memory (small), the ``file``
    part straight into the file store. 413 past the limit; the partial file is removed."""
    limit = runtime.settings.import_max_bytes
    if (request.content_length or 0) > limit + _MAX_TEXT:
        raise _too_large(limit)
    content_type, options = request.content_type
    boundary = options.get("boundary")
    if content_type != "multipart/form-data" or not boundary:
        raise Problem("Send the import as multipart/form-data with a boundary", status_code=415,
                      kind="unsupported-media-type", title="Unsupported media type")
    files = file_store(runtime)
    upload = Upload(fields={})
    key = new_key(tenant_id, "imports", job_id, "upload")
    segment: MultipartSegment | None = None
    text = bytearray()
    try:
        async with files.create(key) as sink:
          with PushMultipartParser(boundary, max_segment_count=16) as parser:
            async for chunk in request.stream():
                for part in parser.parse(chunk):
                    if isinstance(part, MultipartSegment):
                        segment, text = part, bytearray()
                        if part.name == "file" and upload.file_key is not None:
                            raise ValidationProblem.one("file", "send one file per import", "duplicate")
                    elif part and segment is not None:
                        if segment.name == "file":
                            upload.file_bytes += len(part)
                            if upload.file_bytes > limit:
                                raise _too_large(limit)
                            await sink.write(part)
                        elif segment.name in _TEXT_FIELDS:
                            text.extend(part)
                            if len(text) > _MAX_TEXT:
                                raise ValidationProblem.one(segment.name, "is too long", "too_long")
                    elif segment is not None:  # end of a part
                        _check_part(segment)
                        if segment.name == "file":
                            upload.file_key, upload.file_name = key, segment.filename or "upload"
                        elif segment.name in _TEXT_FIELDS:
                            value = text.decode("utf-8", "replace")
                            errors: list[FieldError] = []
                            check_text(segment.name, value, errors)
                            if errors:
                                raise ValidationProblem(errors)
                            upload.fields[segment.name] = value
                        else:
                            raise ValidationProblem.one(segment.name, "is not a known field", "unknown_field")
                        segment = None
            if not parser.closed:
                raise Problem("The multipart body ended early", kind="malformed-multipart")
    except (ParserError, ParserLimitReached) as exc:
        await files.delete(key)
        raise Problem(f"The multipart body is malformed: {exc}", kind="malformed-multipart") from None
    except BaseException:
        await files.delete(key)
        raise
    if upload.file_key is None:
        await files.delete(key)
        raise ValidationProblem.one("file", "is required (a CSV or XLSX file)", "required")
    return upload


def _choice(fields: dict[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = fields.get(name, default).strip()
    if value not in choices:
        raise ValidationProblem.one(name, f"must be one of {', '.join(choices)}", "invalid")
    return value


async def _options(fields: dict[str, str], access: RecordAccess, unit: Any) -> tuple[str, dict[str, Any] | None, str,
                                                                                      bool]:
    errors: list[FieldError] = []
    entity = fields.get("entity", "").strip()
    if entity not in domain.TARGETS:
        errors.append(FieldError("entity", f"must be one of {', '.join(domain.TARGETS)}",
                                 "required" if not entity else "invalid"))
    mapping: dict[str, Any] | None = None
    if fields.get("mapping", "").strip():
        try:
            check_json(fields["mapping"].encode(), field="mapping")  # depth, NUL, sizes: as for a JSON body
            mapping = msgspec.json.decode(fields["mapping"].encode())
        except msgspec.DecodeError:
            mapping = None
        if not isinstance(mapping, dict):
            errors.append(FieldError("mapping", 'must be a JSON object {"column": "field"}', "wrong_type"))
            mapping = None
    elif fields.get("mapping_id", "").strip():
        try:
            saved = await store.get_mapping(unit, uuid.UUID(fields["mapping_id"].strip()))
        except ValueError:
            saved = None
        if saved is None or saved["entity"] != entity:
            errors.append(FieldError("mapping_id", f"is not a saved mapping of {entity or 'this entity'}", "unknown"))
        else:
            mapping = saved["mapping"]
    try:
        on_duplicate = _choice(fields, "on_duplicate", domain.ON_DUPLICATE, "skip")
    except ValidationProblem as exc:
        errors.extend(exc.errors)
        on_duplicate = "skip"
    dry_run = fields.get("dry_run", "false").strip().lower()
    if dry_run not in ("true", "false"):
        errors.append(FieldError("dry_run", "must be true or false", "invalid"))
    if errors:
        raise ValidationProblem(errors)
    access.require(domain.TARGETS[entity].entity, "import")
    if on_duplicate == "update":
        access.require(entity, "update")
    return entity, mapping, on_duplicate, dry_run == "true"


def _out(row: Any) -> dict[str, Any]:
    body = {k: row[k] for k in (
        "id", "entity", "status", "file_name", "file_format", "encoding", "on_duplicate", "dry_run", "mapping",
        "rows_total", "rows_done", "rows_failed", "rows_created", "rows_updated", "rows_skipped", "error",
        "created_at", "started_at", "finished_at", "errors_deleted_at")}
    body["created_by"] = row["created_by"]
    if row["errors_deleted_at"] is None:
        body["errors_url"] = f"/api/v1/imports/{row['id']}/errors"
        body["skipped_url"] = f"/api/v1/imports/{row['id']}/skipped"
    return jsonable(body)


SKIPPED_SHOWN = 100  # skipped rows in the job's answer; the CSV report has every one


async def _visible_job(unit: Any, access: RecordAccess, import_id: uuid.UUID) -> Any:
    """The caller's own import, or any import of an entity whose data the caller sees in full."""
    row = await store.get(unit, import_id)
    if row is None or (row["created_by"] != access.user_id and access.data_scope(row["entity"]) != "all"):
        raise NotFound(f"No import {import_id}", kind="import-not-found")
    return row


class MappingCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    entity: str
    name: str
    mapping: dict[str, str | None]


def _mapping_out(row: Any) -> dict[str, Any]:
    return jsonable({k: row[k] for k in ("id", "entity", "name", "mapping", "created_at", "created_by")})


class ImportsController(Controller):
    path = "/imports"
    tags = ["imports"]

    @post(status_code=202, opt={"accepts": "multipart/form-data", "multipart_body": MULTIPART_BODY},
          request_max_body_size=None, responses=answers(202, ImportCreatedOut))
    async def create_import(self, access: AccessDep, request: AnyRequest, runtime: RuntimeDep) -> dict[str, Any]:
        """Upload a file (multipart: ``file``, ``entity`` = customer|contact, optional ``mapping``
        JSON ``{"column": "field" | null}`` or ``mapping_id`` of a saved one, ``on_duplicate`` =
        skip|update|create (default skip), ``dry_run`` = true|false). CSV in UTF-8 (with or without
        BOM) or GB18030/GBK, or XLSX (formulas are imported as their text, never evaluated); at most
        ``HUIKE_IMPORT_MAX_BYTES`` (100 MB by default). Fields: the entity's fields and
        ``custom_fields.<key>``; ``tags``/``aliases`` split on , ; 、 |; ``owner_id`` takes a user id
        or e-mail. Without a mapping, columns named like a field (also 客户名称, 电话, 邮箱, ...) map to
        it. Answers 202 with the job; follow ``GET /imports/{id}``."""
        import_id = uuid.uuid4()
        upload = await _receive(request, runtime, access.tenant_id, import_id)
        files = file_store(runtime)
        try:
            async with records_unit(runtime, access) as unit:
                entity, mapping, on_duplicate, dry_run = await _options(upload.fields, access, unit)
                target = domain.TARGETS[entity]
                defs = await custom_fields.definitions(unit, entity)
                async with files.local_copy(upload.file_key or "") as path:
                    info = await asyncio.to_thread(domain.inspect, path, upload.file_name)
                chosen = domain.resolve_mapping(target, info.header, mapping, defs)
                domain.writable_check(access, target, chosen)
                row = await store.insert(unit, {
                    "id": import_id, "created_by": access.user_id, "principal": domain.snapshot_of(access),
                    "entity": entity, "file_key": upload.file_key, "file_name": upload.file_name[:255],
                    "file_format": info.format, "encoding": info.encoding, "delimiter": info.delimiter,
                    "file_bytes": upload.file_bytes, "header": info.header, "mapping": chosen,
                    "on_duplicate": on_duplicate, "dry_run": dry_run,
                })
                await store.enqueue(unit, "import", import_id)
        except BaseException:
            await files.delete(upload.file_key or "")
            raise
        jobs_bulk.wake()
        return {**_out(row), "header": info.header,
                "ignored_columns": [c for c in info.header if c not in chosen]}

    @get(responses=answers(200, Page[ImportOut]))
    async def list_imports(self, access: AccessDep, runtime: RuntimeDep, limit: FromQuery[int | None] = None,
                           cursor: FromQuery[str | None] = None) -> dict[str, Any]:
        """The caller's imports, newest first."""
        size = check_limit(limit)
        after = time_cursor(cursor, bind=LIST)
        async with records_unit(runtime, access) as unit:
            rows = await store.page(unit, created_by=access.user_id, after=after, limit=size)
        items = rows[:size]
        next_cursor = encode_cursor([items[-1]["created_at"], items[-1]["id"]], bind=LIST) if len(rows) > size else None
        return {"items": [_out(r) for r in items], "next_cursor": next_cursor}

    @get("/{import_id:uuid}", responses=answers(200, ImportDetailOut))
    async def get_import(self, import_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
                         ) -> dict[str, Any]:
        """Status (queued, running, succeeded, failed) and progress: rows_total, rows_done (rows
        processed so far, failed ones included), rows_failed, rows_created, rows_updated, rows_skipped.
        ``skipped``: the first 100 rows skipped as duplicates, each with the ``rule`` that matched
        (phone, email, uscc, name; exact ones joined with +) and the stored record (``matched_id``)
        or earlier row of the file (``matched_row``) it duplicates; ``skipped_url`` has them all."""
        async with records_unit(runtime, access) as unit:
            job = await _visible_job(unit, access, import_id)
            skipped = await store.skipped_rows(unit, import_id, 0, SKIPPED_SHOWN + 1)
        return {**_out(job), "skipped": domain.skipped_out(skipped[:SKIPPED_SHOWN]),
                "skipped_truncated": len(skipped) > SKIPPED_SHOWN}

    @get("/{import_id:uuid}/skipped", media_type=CSV)
    async def import_skipped(self, import_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
                             ) -> Stream:
        """CSV (UTF-8 with BOM) of the rows skipped as duplicates (``on_duplicate=skip``, or a
        repeat of an earlier row of the file): ``row``, the file's columns as sent,
        ``matched_rule``, ``matched_record_id`` (the stored record) or ``matched_row`` (the earlier
        row). Kept and deleted like the error report (410 once deleted)."""
        async with records_unit(runtime, access) as unit:
            job = await _visible_job(unit, access, import_id)
        if job["errors_deleted_at"] is not None:
            raise Gone(f"The import's reports were deleted {runtime.settings.bulk_file_retention_days} days after "
                       "the import finished", kind="import-errors-deleted")
        header = list(job["header"])

        async def lines() -> AsyncIterator[bytes]:
            yield ("\ufeff" + domain.skipped_report_header(header)).encode()
            after = 0
            while True:
                async with records_unit(runtime, access) as unit:
                    rows = await store.skipped_rows(unit, import_id, after, 1000)
                if not rows:
                    return
                yield domain.skipped_report(header, rows).encode()
                after = rows[-1]["row_number"]

        return Stream(lines(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="import-{import_id}-skipped.csv"'})

    @get("/{import_id:uuid}/errors", media_type=CSV)
    async def import_errors(self, import_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
                            ) -> Stream:
        """CSV (UTF-8 with BOM, opens in Excel) of the rows that failed, or would fail in a dry run:
        ``row`` (the file's row number, header = 1), the file's columns as sent, and ``reason``.
        Readable while the import runs; 410 once deleted, ``HUIKE_BULK_FILE_RETENTION_DAYS`` after the
        import finished."""
        async with records_unit(runtime, access) as unit:
            job = await _visible_job(unit, access, import_id)
        if job["errors_deleted_at"] is not None:
            raise Gone(f"The import's error report was deleted {runtime.settings.bulk_file_retention_days} days after "
                       "the import finished", kind="import-errors-deleted")
        header = list(job["header"])

        async def lines() -> AsyncIterator[bytes]:
            yield ("\ufeff" + domain.error_report_header(header)).encode()
            after = 0
            while True:
                async with records_unit(runtime, access) as unit:
                    rows = await store.error_rows(unit, import_id, after, 1000)
                if not rows:
                    return
                yield domain.error_report(header, rows).encode()
                after = rows[-1]["row_number"]

        return Stream(lines(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="import-{import_id}-errors.csv"'})

    @post("/mappings", status_code=201, responses=answers(201, ImportMappingOut))
    async def save_mapping(self, data: JSONBody[MappingCreate], access: AccessDep, runtime: RuntimeDep
                           ) -> dict[str, Any]:
        """Save a column mapping ``{"column": "field"}`` under a name, for ``mapping_id`` later."""
        body = data
        errors: list[FieldError] = []
        if body.entity not in domain.TARGETS:
            raise ValidationProblem.one("entity", f"must be one of {', '.join(domain.TARGETS)}", "invalid")
        access.require(body.entity, "import")
        name = body.name.strip()
        if not name or len(name) > 100:
            errors.append(FieldError("name", "must be 1 to 100 characters", "invalid"))
        async with records_unit(runtime, access) as unit:
            allowed = set(domain.field_names(domain.TARGETS[body.entity],
                                             await custom_fields.definitions(unit, body.entity)))
            for column, field in body.mapping.items():
                if field is not None and field not in allowed:
                    errors.append(FieldError(f"mapping.{column}", f"maps to {field!r}, which is not a field of "
                                             f"{body.entity}", "unknown_field"))
            if errors:
                raise ValidationProblem(errors)
            row = await store.save_mapping(unit, body.entity, name,
                                           {k: v for k, v in body.mapping.items() if v}, access.user_id)
            if row is None:
                raise Conflict(f"A mapping named {name!r} exists already for {body.entity}", kind="mapping-exists",
                               errors=[FieldError("name", "is taken", "taken")])
        return _mapping_out(row)

    @get("/mappings", responses=answers(200, ImportMappingList))
    async def list_mappings(self, access: AccessDep, runtime: RuntimeDep, entity: FromQuery[str | None] = None
                            ) -> dict[str, Any]:
        """Saved mappings (of one ``entity`` if given), by name."""
        async with records_unit(runtime, access) as unit:
            rows = await store.mappings(unit, entity)
        return {"items": [_mapping_out(r) for r in rows if access.can(r["entity"], "import")]}

    @delete("/mappings/{mapping_id:uuid}", status_code=204)
    async def delete_mapping(self, mapping_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep) -> None:
        async with records_unit(runtime, access) as unit:
            row = await store.get_mapping(unit, mapping_id)
            if row is None or not access.can(row["entity"], "import"):
                raise NotFound(f"No mapping {mapping_id}", kind="mapping-not-found")
            await store.delete_mapping(unit, mapping_id)

