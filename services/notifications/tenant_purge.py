"""Notifications' part in deleting a tenant (``shared.tenant_purge``): on identity's
``tenant.deleted``, export every table of the tenant (webhook endpoints, chat robots, deliveries and
attempts, the consumer inbox), delete them, and take the tenant's sends out of the cross-tenant due
queue (``hook_queue``, not under RLS), then publish ``tenant.purged``."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from services.notifications.db import webhooks as store
from shared.db import ServiceDatabase
from shared.tenant_purge import TenantPurger

if TYPE_CHECKING:
    from shared.runtime import Runtime


async def start_tenant_purge(runtime: Runtime) -> TenantPurger:
    async def purge_more(owner_db: ServiceDatabase, tenant_id: uuid.UUID) -> dict[str, int]:
        async with owner_db.system_unit() as unit:
            return {"hook_queue": await store.purge_queue(unit, tenant_id)}

    return await TenantPurger(runtime, "notifications", purge_more=purge_more).start()
