"""Records' part in deleting a tenant (``shared.tenant_purge``): on identity's ``tenant.deleted``,
export every records table of the tenant (customers, contacts, interactions, objections, tasks,
opportunities, pipelines, custom fields, field history, the audit log, imports and exports...) and
its files (import uploads, export files, attachments, read from the file store: records.files or
the S3 bucket) to ``$HUIKE_DATA_DIR/tenant-exports/<tenant>/records/``,
then delete all of it, files and the ``records.tenants`` entry included, and publish
``tenant.purged``."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from services.records.storage import file_store
from shared.db import ServiceDatabase
from shared.tenant_purge import TenantPurger, private_dir

if TYPE_CHECKING:
    from shared.runtime import Runtime


async def _copy_files(runtime: Runtime, tenant_id: uuid.UUID, directory: Path) -> int:
    store, prefix = file_store(runtime, purging=True), f"{tenant_id}/"
    keys = await store.keys(prefix)
    for key in keys:
        target = directory / key.removeprefix(prefix)  # imports/<job>.upload, exports/<job>.csv
        await asyncio.to_thread(private_dir, target.parent)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            async for chunk in store.read(key):
                await asyncio.to_thread(handle.write, chunk)
    return len(keys)


def records_purger(runtime: Runtime) -> TenantPurger:
    async def export_files(tenant_id: uuid.UUID, directory: Path) -> int:
        return await _copy_files(runtime, tenant_id, directory)

    async def purge_more(owner_db: ServiceDatabase, tenant_id: uuid.UUID) -> dict[str, int]:
        # After the rows: no job row points at a file that is gone meanwhile.
        # In PostgreSQL the files went with the tenant's rows (records.files is a tenant table) and
        # this only catches a file written meanwhile; in S3 this deletes them all.
        files = await file_store(runtime, purging=True).delete_all(f"{tenant_id}/")
        async with owner_db.system_unit() as unit:
            await unit.execute("DELETE FROM records.tenants WHERE id = $1", tenant_id)
        return {"late_files": files}  # "files" is the table's own count

    return TenantPurger(runtime, "records", export_files=export_files, purge_more=purge_more)


async def start_tenant_purge(runtime: Runtime) -> TenantPurger:
    return await records_purger(runtime).start()
