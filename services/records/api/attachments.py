"""Attachments of customers, interactions, objections and opportunities (domain/attachments.py).

``POST /api/v1/<collection>/{id}/attachments`` (multipart ``file``) and ``GET`` of the same path
are made per collection by ``collection_routes``; ``GET|DELETE /api/v1/attachments/{id}`` download
and delete one. The upload streams into the file store as it arrives (one chunk in memory at a
time) and stops reading at the workspace's cap (``attachment_max_bytes`` of the records settings,
never above the server's ``HUIKE_ATTACHMENT_MAX_BYTES``: 413); the record is checked before a byte
is stored, the bytes are sniffed before the row is written, and a refused upload leaves nothing.
"""

from __future__ import annotations

import inspect
import uuid
from datetime import datetime
from typing import Any

import msgspec
from litestar import Response, delete, get, post
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath, FromQuery
from litestar.response import Stream
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from services.records.api.common import AccessDep, AnyRequest, RuntimeDep, records_unit
from services.records.api.schemas import answers, file_answer
from services.records.db import attachments as store
from services.records.domain import attachments as domain
from services.records.domain import settings
from services.records.storage import FileStore, file_store, new_key
from shared.errors import FieldError, Problem, ValidationProblem
from shared.http.guard import check_text
from shared.pagination import check_limit, encode_cursor, time_cursor

# The multipart envelope around the file: part headers and boundaries, never close to this.
_ENVELOPE = 64 * 1024
# The request body as documented (shared/http/openapi.py puts it in the operation).
MULTIPART_BODY = {
    "type": "object", "required": ["file"], "additionalProperties": False,
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "The file; its name is kept (cleaned), its type is read from its bytes"}},
}


class AttachmentOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    size: int
    content_type: str
    created_at: datetime
    created_by: uuid.UUID | None


class AttachmentPage(msgspec.Struct, kw_only=True):
    items: list[AttachmentOut]
    next_cursor: str | None


def _too_large(limit: int) -> Problem:
    shown = f"{limit / 1_048_576:g} MB" if limit >= 1_048_576 else f"{limit / 1024:g} KB"
    return Problem(f"The file is larger than {shown}, the most an attachment may be in this workspace",
                   status_code=413, kind="payload-too-large", title="Payload too large",
                   errors=[FieldError("file", f"must be at most {limit} bytes", "too_large")])


class Received(msgspec.Struct):
    name: str
    size: int
    content_type: str


async def _receive(request: AnyRequest, files: FileStore, key: str, limit: int) -> Received:
    """Stream the ``file`` part of a multipart body into ``files`` under ``key``; the first bytes
    are sniffed as soon as they are in (an executable is refused before the rest is read). Any
    problem removes what was written."""
    if (request.content_length or 0) > limit + _ENVELOPE:
        raise _too_large(limit)
    content_type, options = request.content_type
    boundary = options.get("boundary")
    if content_type != "multipart/form-data" or not boundary:
        raise Problem("Send the file as multipart/form-data with a boundary", status_code=415,
                      kind="unsupported-media-type", title="Unsupported media type")
    received: Received | None = None
    segment: MultipartSegment | None = None
    head = bytearray()
    sniffed: domain.Sniffed | None = None
    size = 0
    try:
        async with files.create(key) as sink:
            with PushMultipartParser(boundary, max_segment_count=4) as parser:
                async for chunk in request.stream():
                    for part in parser.parse(chunk):
                        if isinstance(part, MultipartSegment):
                            errors: list[FieldError] = []
                            check_text("file", part.filename or "", errors)
                            check_text("field_name", part.name or "", errors)
                            if errors:
                                raise ValidationProblem(errors)
                            if part.name != "file":
                                raise ValidationProblem.one(part.name or "field_name",
                                                            "is not a known field; send only 'file'", "unknown_field")
                            if received is not None or segment is not None:
                                raise ValidationProblem.one("file", "send one file per request", "duplicate")
                            segment = part
                        elif part and segment is not None:
                            size += len(part)
                            if size > limit:
                                raise _too_large(limit)
                            if sniffed is None:
                                head.extend(part[: domain.HEAD_BYTES - len(head)])
                                if len(head) >= domain.HEAD_BYTES:
                                    sniffed = domain.sniff(domain.clean_name(segment.filename or ""), bytes(head))
                            await sink.write(part)
                        elif segment is not None:  # the end of the file part
                            name = domain.clean_name(segment.filename or "")
                            sniffed = sniffed or domain.sniff(name, bytes(head))
                            received = Received(name, size, sniffed.content_type)
                            segment = None
                if not parser.closed:
                    raise Problem("The multipart body ended early", kind="malformed-multipart")
                if received is None:
                    raise ValidationProblem.one("file", "is required (a multipart part named 'file')", "required")
    except (ParserError, ParserLimitReached) as exc:
        raise Problem(f"The multipart body is malformed: {exc}", kind="malformed-multipart") from None
    return received


def _download(runtime: Any, row: Any) -> Stream:
    return Stream(file_store(runtime).read(row["file_key"]), media_type=row["content_type"], headers={
        "Content-Disposition": domain.content_disposition(row["name"]),
        "Content-Length": str(row["size"]),
        "X-Content-Type-Options": "nosniff",
        # Never rendered as a page of this origin, whatever the bytes are.
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
    })


def collection_routes(collection: str, id_name: str) -> list[HTTPRouteHandler]:
    """``POST`` and ``GET /<collection>/{<id_name>}/attachments`` for one collection."""
    entity = domain.entity_of(collection)
    path = f"/{collection}/{{{id_name}:uuid}}/attachments"
    bind = f"attachments|{entity}"

    async def upload(access: AccessDep, request: AnyRequest, runtime: RuntimeDep, **ids: uuid.UUID
                     ) -> Response[dict[str, Any]]:
        record_id = ids[id_name]
        async with records_unit(runtime, access) as unit:  # refused before a byte is stored
            await domain.record(unit, access, entity, record_id, "update")
            limit = (await settings.get(unit)).attachment_cap(runtime.settings.attachment_max_bytes)
        attachment_id = uuid.uuid4()
        files = file_store(runtime)
        key = new_key(access.tenant_id, "attachments", attachment_id, "bin")
        try:
            received = await _receive(request, files, key, limit)
            async with records_unit(runtime, access) as unit:
                body = await domain.add(unit, access, entity, record_id, attachment_id=attachment_id,
                                        name=received.name, size=received.size,
                                        content_type=received.content_type, file_key=key)
        except BaseException:
            await files.delete(key)
            raise
        return Response(body, status_code=201)

    async def listing(access: AccessDep, runtime: RuntimeDep, limit: int | None = None, cursor: str | None = None,
                      **ids: uuid.UUID) -> dict[str, Any]:
        record_id = ids[id_name]
        size = check_limit(limit)
        after = time_cursor(cursor, bind=bind)
        async with records_unit(runtime, access) as unit:
            await domain.record(unit, access, entity, record_id, "read")
            rows = await store.page(unit, entity, record_id, after=after, limit=size)
        items = rows[:size]
        next_cursor = encode_cursor([items[-1]["created_at"], items[-1]["id"]], bind=bind) if len(rows) > size else None
        return {"items": [domain.out(r) for r in items], "next_cursor": next_cursor}

    # The handlers' signatures name the collection's own path parameter (customer_id, ...).
    path_param = {id_name: FromPath[uuid.UUID]}
    upload.__annotations__ = {"access": AccessDep, "request": AnyRequest, "runtime": RuntimeDep, **path_param,
                              "return": Response[dict[str, Any]]}
    listing.__annotations__ = {"access": AccessDep, "runtime": RuntimeDep, **path_param,
                               "limit": FromQuery[int | None], "cursor": FromQuery[str | None],
                               "return": dict[str, Any]}
    _signature(upload, id_name, ["access", "request", "runtime"], [])
    _signature(listing, id_name, ["access", "runtime"], ["limit", "cursor"])
    upload.__name__ = upload.__qualname__ = f"add_{entity}_attachment"
    listing.__name__ = listing.__qualname__ = f"list_{entity}_attachments"
    upload.__doc__ = (f"Attach a file to the {entity} (multipart/form-data, one part ``file``). Needs the right "
                      f"to update the {entity}. At most the workspace's ``attachment_max_bytes`` (/settings/records), "
                      "never above the server's ``HUIKE_ATTACHMENT_MAX_BYTES`` (50 MB by default); 413 above. "
                      "The content type is read from the bytes: executables, and a name whose extension "
                      "contradicts the bytes (a .jpg that is a ZIP), answer 422 naming ``file``. Publishes "
                      "``attachment.added``.")
    listing.__doc__ = f"The {entity}'s attachments, newest first (needs the right to read the {entity})."
    return [
        post(path, status_code=201, tags=["attachments"], opt={"accepts": "multipart/form-data",
                                                               "multipart_body": MULTIPART_BODY},
             request_max_body_size=None, responses=answers(201, AttachmentOut))(upload),
        get(path, tags=["attachments"], responses=answers(200, AttachmentPage))(listing),
    ]


def _signature(fn: Any, id_name: str, before: list[str], after: list[str]) -> None:
    """Give a generated handler the signature Litestar reads (keyword parameters by name)."""
    kinds = inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter(n, kinds, annotation=fn.__annotations__[n]) for n in before]
    parameters.append(inspect.Parameter(id_name, kinds, annotation=fn.__annotations__[id_name]))
    parameters += [inspect.Parameter(n, kinds, default=None, annotation=fn.__annotations__[n]) for n in after]
    fn.__signature__ = inspect.Signature(parameters, return_annotation=fn.__annotations__["return"])


@get("/attachments/{attachment_id:uuid}", tags=["attachments"],
     responses=file_answer("The attachment's bytes, in its own content type"))
async def download_attachment(attachment_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep) -> Stream:
    """Download an attachment (streamed; ``Content-Disposition: attachment`` with its name, in RFC 5987
    form for non-ASCII names; ``X-Content-Type-Options: nosniff``). Needs the right to read its
    record: an attachment of a record the caller cannot see, or of a deleted one, answers 404."""
    async with records_unit(runtime, access) as unit:
        row, _ = await domain.visible(unit, access, attachment_id, "read")
    return _download(runtime, row)


@delete("/attachments/{attachment_id:uuid}", status_code=204, tags=["attachments"])
async def delete_attachment(attachment_id: FromPath[uuid.UUID], access: AccessDep, runtime: RuntimeDep) -> None:
    """Delete an attachment (needs the right to update its record); publishes ``attachment.removed``.
    Its bytes are deleted for good by the purge 30 days later."""
    async with records_unit(runtime, access) as unit:
        await domain.remove(unit, access, attachment_id)


def attachment_routes() -> list[HTTPRouteHandler]:
    """Every attachment route, for the records router."""
    return [
        *collection_routes("customers", "customer_id"),
        *collection_routes("interactions", "interaction_id"),
        *collection_routes("objections", "objection_id"),
        *collection_routes("opportunities", "opportunity_id"),
        download_attachment, delete_attachment,
    ]

