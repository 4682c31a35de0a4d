"""/api/v1/exports: export an entity's records (with the list filters) to CSV or XLSX in the
background; read the job's status and download the file."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import Stream

from services.records import jobs_bulk
from services.records.api.common import AccessDep, RuntimeDep, records_unit
from services.records.api.schemas import ExportOut, answers, file_answer
from services.records.db import exports as store
from services.records.db import imports as queue
from services.records.domain import exports as domain
from services.records.domain.access import RecordAccess
from services.records.domain.history import jsonable
from services.records.domain.imports import snapshot_of
from services.records.storage import file_store
from shared.errors import Conflict, Gone, NotFound, ValidationProblem


class ExportCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    entity: str
    format: str = "csv"
    filters: dict[str, Any] = msgspec.field(default_factory=dict)


def _out(row: Any, retention_days: int) -> dict[str, Any]:
    body = {k: row[k] for k in ("id", "entity", "format", "filters", "status", "rows_done", "file_bytes", "error",
                                "created_at", "created_by", "started_at", "finished_at", "file_deleted_at")}
    if row["status"] == "succeeded" and row["file_deleted_at"] is None:
        body["file_url"] = f"/api/v1/exports/{row['id']}/file"
        body["file_expires_at"] = row["finished_at"] + timedelta(days=retention_days)
    return jsonable(body)


async def _own(unit: Any, access: RecordAccess, export_id: uuid.UUID) -> Any:
    """Only the person who asked for an export reads it (it holds what their permissions showed)."""
    row = await store.get(unit, export_id)
    if row is None or row["created_by"] != access.user_id:
        raise NotFound(f"No export {export_id}", kind="export-not-found")
    return row


class ExportsController(Controller):
    path = "/exports"
    tags = ["exports"]

    @post(status_code=202, responses=answers(202, ExportOut))
    async def create_export(self, data: JSONBody[ExportCreate], access: AccessDep, runtime: RuntimeDep
                            ) -> dict[str, Any]:
        """Export ``entity`` (customer, contact, interaction, objection, task, opportunity) as
        ``format`` csv (UTF-8 with BOM) or xlsx, with ``filters`` = the entity's list filters
        (e.g. ``{"lifecycle_stage": "lead", "cf.region": "east"}`` for customers; ``{"ids": [...]}``:
        only these customers, the rows selected in a list, at most 1,000). Needs the
        ``export`` permission; rows outside the caller's data scope and hidden fields are left out.
        Answers 202; follow ``GET /exports/{id}``."""
        body = data
        errors = []
        if body.entity not in domain.ENTITIES:
            errors.append(ValidationProblem.one("entity", f"must be one of {', '.join(domain.ENTITIES)}", "invalid"))
        if body.format not in domain.FORMATS:
            errors.append(ValidationProblem.one("format", "must be csv or xlsx", "invalid"))
        if errors:
            raise ValidationProblem([e for p in errors for e in (p.errors or [])])
        access.require(body.entity, "export")
        filters, custom = domain.check_filters(body.entity, body.filters)
        export_id = uuid.uuid4()
        async with records_unit(runtime, access) as unit:
            await domain.conditions(unit, access, body.entity, filters, custom)  # 422 before queueing
            row = await store.insert(unit, {
                "id": export_id, "created_by": access.user_id, "principal": snapshot_of(access),
                "entity": body.entity, "format": body.format, "filters": body.filters,
            })
            await queue.enqueue(unit, "export", export_id)
        jobs_bulk.wake()
        return _out(row, runtime.settings.bulk_file_retention_days)

    @get("/{export_id:uuid}", responses=answers(200, ExportOut))
    async def get_export(self, export_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep
                         ) -> dict[str, Any]:
        """Status (queued, running, succeeded, failed), rows written and, once succeeded, ``file_url``."""
        async with records_unit(runtime, access) as unit:
            row = await _own(unit, access, export_id)
        return _out(row, runtime.settings.bulk_file_retention_days)

    @get("/{export_id:uuid}/file", responses=file_answer("The file: CSV or XLSX"))
    async def export_file(self, export_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep) -> Stream:
        """The exported file (409 while the export is not finished; 410 once the file was deleted,
        ``HUIKE_BULK_FILE_RETENTION_DAYS`` after the export finished)."""
        async with records_unit(runtime, access) as unit:
            row = await _own(unit, access, export_id)
        if row["status"] != "succeeded":
            raise Conflict(f"The export is {row['status']}; its file is ready when the status is succeeded",
                           kind="export-not-ready")
        if row["file_deleted_at"] is not None:
            raise Gone(f"The export's file was deleted {runtime.settings.bulk_file_retention_days} days after the "
                       "export finished; ask for a new export", kind="export-file-deleted")
        files = file_store(runtime)
        media = ("text/csv; charset=utf-8" if row["format"] == "csv"
                 else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        size = await files.size(row["file_key"])
        # Streamed from the store chunk by chunk: any replica serves it, none holds it whole.
        return Stream(files.read(row["file_key"]), media_type=media, headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="{row["entity"]}-export-{export_id}.{row["format"]}"'})
