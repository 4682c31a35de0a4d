"""A service's part of a deleted tenant's export, for the platform operator (``shared.tenant_purge``
writes it into the service's file store, where every replica reads it):

* ``GET /api/v1/operator/tenant-exports/<service>/{tenant_id}`` → the part's files (path, size,
  download URL), ``manifest.json`` among them; 404 until the service has exported the tenant;
* ``GET /api/v1/operator/tenant-exports/<service>/{tenant_id}/{path}`` → one file, streamed chunk
  by chunk (``tables/customers.jsonl``, ``files/attachments/<id>.amr``, ``manifest.json``).

The service's name is in the path so that the gateway and the Ingress route it to its owner.
``Authorization: Bearer <HUIKE_OPERATOR_TOKEN>``; the routes do not exist without an operator token.
"""

from __future__ import annotations

import uuid

import msgspec
from litestar import Router, get
from litestar.di import NamedDependency
from litestar.params import FromPath, SkipValidation
from litestar.response import Stream

from shared.errors import NotFound
from shared.files import FileStore, store_for
from shared.http.openapi import file_answer
from shared.http.operator import operator_only
from shared.runtime import Runtime
from shared.tenant_purge import MANIFEST, export_prefix

RuntimeDep = NamedDependency[SkipValidation[Runtime]]  # as in shared.http (which imports this module)
PREFIX = "/operator/tenant-exports"


class ExportFile(msgspec.Struct, kw_only=True):
    path: str  # within the part: manifest.json, tables/<table>.jsonl, files/<kind>/<name>
    size: int
    url: str


class ExportPart(msgspec.Struct, kw_only=True):
    service: str
    tenant_id: uuid.UUID
    files: list[ExportFile]


def _store(runtime: Runtime, service: str) -> FileStore:
    # The tenant's units of work are refused once its purge is requested; its export is still read.
    return store_for(runtime.settings, runtime.db(service), purging=True)


def tenant_export_router(api_prefix: str, service: str) -> Router:
    """The operator's routes to ``service``'s part of tenant exports (module docstring)."""
    base = f"{api_prefix}{PREFIX}/{service}"

    @get("/{tenant_id:uuid}", tags=["operator"], guards=[operator_only], opt={"exclude_from_auth": True},
         operation_id=f"{service}TenantExportPart")
    async def export_part(tenant_id: FromPath[uuid.UUID], runtime: RuntimeDep) -> ExportPart:
        """The files of this service's part of the tenant's deletion export (404 before it is written)."""
        store, prefix = _store(runtime, service), export_prefix(tenant_id, service)
        keys = await store.keys(prefix)
        if prefix + MANIFEST not in keys:
            raise NotFound(f"No {service} export of tenant {tenant_id}: it is written when the tenant is purged")
        files = []
        for key in keys:
            path = key.removeprefix(prefix)
            files.append(ExportFile(path=path, size=await store.size(key), url=f"{base}/{tenant_id}/{path}"))
        return ExportPart(service=service, tenant_id=tenant_id, files=files)

    @get("/{tenant_id:uuid}/{path:path}", tags=["operator"], guards=[operator_only], opt={"exclude_from_auth": True},
         operation_id=f"{service}TenantExportFile", responses=file_answer("The file's bytes"))
    async def export_file(tenant_id: FromPath[uuid.UUID], path: FromPath[str],
                          runtime: RuntimeDep) -> Stream:
        """One file of this service's part of the tenant's deletion export, streamed."""
        store, key = _store(runtime, service), export_prefix(tenant_id, service) + path.lstrip("/")
        if ".." in path.split("/"):
            raise NotFound(f"No file {path} in the {service} export of tenant {tenant_id}")
        try:
            size = await store.size(key)
        except FileNotFoundError:
            raise NotFound(f"No file {path} in the {service} export of tenant {tenant_id}") from None
        media = "application/json" if path.endswith(".json") else (
            "application/x-ndjson" if path.endswith(".jsonl") else "application/octet-stream")
        name = path.rsplit("/", 1)[-1]
        return Stream(store.read(key), media_type=media, headers={
            "Content-Length": str(size), "Content-Disposition": f'attachment; filename="{service}-{name}"'})

    return Router(path=base, route_handlers=[export_part, export_file])
