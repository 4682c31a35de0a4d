"""Background work of data quality, started with the records service (``start_data_quality``):

* duplicate scans queued through the API (woken at once; scans left queued or running by a
  restart are picked up at start-up);
* the public pool run every ``POOL_INTERVAL_SECONDS``: warnings before a return, then returns of
  customers whose owner let them lapse (domain/public_pool.py);
* the handover consumer: identity's ``user.deactivated`` moves the user's customers and open work
  to the named successor, or to the public pool (domain/ownership.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING

from services.records.domain import ownership, public_pool, scans
from shared.db import ServiceDatabase
from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer
from shared.periodic import PeriodicJob
from shared.tenancy import scope_for_system
from shared.unavailable import log_failure

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.records.data_quality")

POOL_INTERVAL_SECONDS = 3600.0
POOL_FIRST_RUN_AFTER_SECONDS = 120.0
HANDOVER_CONSUMER = "records-handover"
_PAGE = 500


async def _tenants(db: ServiceDatabase) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    after = uuid.UUID(int=0)
    while True:
        async with db.system_unit() as unit:
            page = [r["id"] for r in await unit.fetch(
                "SELECT id FROM records.tenants WHERE id > $1 ORDER BY id LIMIT $2", after, _PAGE)]
        found += page
        if len(page) < _PAGE:
            return found
        after = page[-1]


async def unfinished_scans(db: ServiceDatabase) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Scans a restart left queued or running, tenant by tenant."""
    left: list[tuple[uuid.UUID, uuid.UUID]] = []
    for tenant_id in await _tenants(db):
        async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
            rows = await unit.fetch(
                """SELECT id FROM records.duplicate_scans WHERE tenant_id = $1 AND status IN ('queued', 'running')
                   ORDER BY created_at""", tenant_id)
        left += [(tenant_id, r["id"]) for r in rows]
    return left


async def pool_run_all(db: ServiceDatabase) -> dict[str, int]:
    """One public pool run over every tenant: totals of warnings and returns."""
    totals = {"warned": 0, "returned": 0}
    for tenant_id in await _tenants(db):
        try:
            done = await public_pool.run(db, tenant_id)
        except Exception as exc:  # noqa: BLE001 - one tenant's failure must not stop the others
            log_failure(log, exc, "public pool run failed for tenant %s", tenant_id)
            continue
        totals["warned"] += done["warned"]
        totals["returned"] += done["returned"]
    return totals


class DataQualityJobs:
    def __init__(self, runtime: Runtime, pool_interval: float = POOL_INTERVAL_SECONDS) -> None:
        self.runtime = runtime
        self.db = runtime.db("records")
        self.pool_interval = pool_interval
        self._tasks: list[asyncio.Task[None]] = []
        self._consumer: EventConsumer | None = None
        self._pool: PeriodicJob | None = None

    async def _scans(self) -> None:
        queue = scans.pending()
        for item in await unfinished_scans(self.db):
            queue.put_nowait(item)
        while True:
            tenant_id, scan_id = await queue.get()
            try:
                await scans.run(self.db, tenant_id, scan_id)
            except Exception as exc:  # noqa: BLE001 - the scan row says it failed
                log_failure(log, exc, "duplicate scan %s failed", scan_id)

    async def _pool_run(self) -> None:
        totals = await pool_run_all(self.db)
        log.info("public pool run: %(warned)d warned, %(returned)d returned", totals)

    async def start(self) -> DataQualityJobs:
        self._tasks = [asyncio.create_task(self._scans(), name="records-duplicate-scans")]
        self._pool = await PeriodicJob("records-public-pool", self._pool_run, interval=self.pool_interval,
                                       first_after=POOL_FIRST_RUN_AFTER_SECONDS).start()
        if self.runtime.bus is not None:
            self._consumer = EventConsumer(
                self.runtime.bus, self.db, name=HANDOVER_CONSUMER, stream=service_stream_name("identity"),
                subjects=("crm.identity.*.user.deactivated",), handler=ownership.on_user_deactivated,
            )
            await self._consumer.start()
        return self

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.stop()
            self._pool = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


async def start_data_quality(runtime: Runtime) -> DataQualityJobs:
    return await DataQualityJobs(runtime).start()
