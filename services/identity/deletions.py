"""The tenant deletion worker (``domain/tenants.py`` has the flow).

Every ``POLL_SECONDS``, and at once when a service reports: purge the tenants whose grace period
is over (``purge_due_tenants``), then finish the deletions every service has reported on
(``finish_deletions``). The reports (``crm.<service>.<tenant>.tenant.purged``) are read by one
durable consumer per service in ``PURGING_SERVICES``, on that service's stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from services.identity.domain.tenants import (
    PURGING_SERVICES,
    finish_deletions,
    purge_due_tenants,
    record_service_purged,
)
from shared.events.bus import service_stream_name
from shared.events.consumer import EventConsumer

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.identity.deletions")

POLL_SECONDS = 30.0


class TenantDeletions:
    def __init__(self, runtime: Runtime, *, poll_seconds: float = POLL_SECONDS) -> None:
        self.runtime = runtime
        self.db = runtime.db("identity")
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._consumers: list[EventConsumer] = []
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return "TenantDeletions(identity)"

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> TenantDeletions:
        bus, settings = self.runtime.bus, self.runtime.settings
        assert bus is not None
        for service in PURGING_SERVICES:
            # That service may not have started yet (or runs elsewhere): its stream must exist first.
            await bus.ensure_service_stream(service, replicas=settings.nats_stream_replicas,
                                           duplicate_window_seconds=settings.event_duplicate_window_seconds)
            consumer = EventConsumer(
                bus, self.db, name=f"identity-tenant-purged-{service}", stream=service_stream_name(service),
                subjects=(f"crm.{service}.*.tenant.purged",), handler=record_service_purged,
                on_applied=lambda _event: self.wake(),
            )
            await consumer.start()
            self._consumers.append(consumer)
        self._task = asyncio.create_task(self._loop(), name="identity-tenant-deletions")
        return self

    async def stop(self) -> None:
        for consumer in self._consumers:
            await consumer.stop()
        self._consumers.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def run_once(self) -> None:
        assert self.runtime.bus is not None
        await purge_due_tenants(self.db, self.runtime.settings)
        await finish_deletions(self.db, self.runtime.bus)

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - database or NATS trouble: the next run tries again
                log.exception("tenant deletions failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()


async def start_deletions(runtime: Runtime) -> TenantDeletions:
    if not runtime.settings.database_owner_url:
        log.warning("HUIKE_DATABASE_OWNER_URL is not set: tenants due for deletion will not be purged")
    return await TenantDeletions(runtime).start()
