"""Notifications' part in deleting a tenant (``shared.tenant_purge``): on identity's
``tenant.deleted``, export every table of the tenant (inbox, deliveries, preferences,
suppressions), delete them and the tenant's entries of the cross-tenant delivery queue, then
publish ``tenant.purged``. The local sink's mail is an operator's tool without tenant rows."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from shared.db import ServiceDatabase
from shared.tenant_purge import TenantPurger

if TYPE_CHECKING:
    from shared.runtime import Runtime


async def start_tenant_purge(runtime: Runtime) -> TenantPurger:
    async def purge_more(owner_db: ServiceDatabase, tenant_id: uuid.UUID) -> dict[str, int]:
        async with owner_db.system_unit() as unit:
            status = await unit.execute("DELETE FROM notifications.delivery_queue WHERE tenant_id = $1", tenant_id)
        return {"delivery_queue": int(status.split()[-1])}

    return await TenantPurger(runtime, "notifications", purge_more=purge_more).start()
