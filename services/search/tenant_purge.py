"""Search's part in deleting a tenant (``shared.tenant_purge``): on identity's ``tenant.deleted``,
delete the tenant's documents (``search.documents``, the Meilisearch ledger and, with Meilisearch,
the documents of the shared indexes), its vocabulary, department mirror and reindex runs, and the
``search.tenants`` entry, then publish ``tenant.purged``. Nothing is exported: every document is
derived from records, whose export holds the data."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from services.search.engines import engine_of
from shared.db import ServiceDatabase
from shared.tenant_purge import TenantPurger

if TYPE_CHECKING:
    from shared.runtime import Runtime


async def start_tenant_purge(runtime: Runtime) -> TenantPurger:
    async def purge_more(owner_db: ServiceDatabase, tenant_id: uuid.UUID) -> dict[str, int]:
        documents = await engine_of(runtime).purge_tenant(tenant_id)
        async with owner_db.system_unit() as unit:
            await unit.execute("DELETE FROM search.tenants WHERE id = $1", tenant_id)
        return {"engine_documents": documents}

    return await TenantPurger(runtime, "search", export_tables=False, purge_more=purge_more).start()
