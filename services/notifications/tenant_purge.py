"""Notifications' part in deleting a tenant (``shared.tenant_purge``): on identity's
``tenant.deleted``, export every table of the tenant (inbox, deliveries, preferences, suppressions,
webhook endpoints, chat robots, their deliveries and attempts), delete them, and take the tenant's
entries out of the two cross-tenant due queues (``delivery_queue`` and ``hook_queue``, not under
RLS), then publish ``tenant.purged``. The local sink's mail is an operator's tool without tenant
rows."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from services.notifications.db import store as deliveries
from services.notifications.db import webhooks as hooks
from shared.db import ServiceDatabase
from shared.tenant_purge import TenantPurger

if TYPE_CHECKING:
    from shared.runtime import Runtime


async def start_tenant_purge(runtime: Runtime) -> TenantPurger:
    async def purge_more(owner_db: ServiceDatabase, tenant_id: uuid.UUID) -> dict[str, int]:
        async with owner_db.system_unit() as unit:
            return {"delivery_queue": await deliveries.purge_queue(unit, tenant_id),
                    "hook_queue": await hooks.purge_queue(unit, tenant_id)}

    return await TenantPurger(runtime, "notifications", purge_more=purge_more).start()
