"""The process-wide runtime: settings, the one pool, the one NATS connection, the principal cache.

Every service in the process shares it; each service works through its own view
(``runtime.db(service)``) so it only touches its own schema and outbox.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.auth import PrincipalDirectory
from shared.db import Database, ServiceDatabase
from shared.events.bus import Bus
from shared.events.relay import OutboxRelay
from shared.service import ServiceSpec, Stoppable
from shared.settings import Settings

log = logging.getLogger("huike.runtime")


@dataclass
class Runtime:
    settings: Settings
    services: Sequence[ServiceSpec]
    database: Database | None = None
    bus: Bus | None = None
    principals: PrincipalDirectory | None = None
    started: set[str] = field(default_factory=set)
    _background: list[Stoppable] = field(default_factory=list)

    def db(self, service: str) -> ServiceDatabase:
        assert self.database is not None, "runtime not started"
        return self.database.for_service(service)

    async def start(self) -> None:
        s = self.settings
        self.database = await Database.connect(s.database_url, min_size=s.db_pool_min, max_size=s.db_pool_max)
        self.bus = await Bus.connect(s.nats_url, name=f"huike-{'+'.join(x.name for x in self.services)}")
        await self.bus.ensure_dead_letter_stream(
            replicas=s.nats_stream_replicas, duplicate_window_seconds=s.event_duplicate_window_seconds
        )
        self.principals = PrincipalDirectory(self.bus.nc, s.jwt_secret, ttl_seconds=s.principal_cache_ttl_seconds)
        await self.principals.start()
        for spec in self.services:
            await self.bus.ensure_service_stream(
                spec.name, replicas=s.nats_stream_replicas, duplicate_window_seconds=s.event_duplicate_window_seconds
            )
            relay = OutboxRelay(self.db(spec.name), self.bus)
            await relay.start()
            self._background.append(relay)
            for starter in spec.starters:
                self._background.append(await starter(self))
            self.started.add(spec.name)
            log.info("service started", extra={"service": spec.name})

    async def stop(self) -> None:
        """Stop background work first (it finishes what it holds), then the bus and the pool."""
        self.started.clear()
        results = await asyncio.gather(
            *(asyncio.wait_for(item.stop(), timeout=15) for item in self._background), return_exceptions=True
        )
        for item, result in zip(self._background, results, strict=True):
            if isinstance(result, BaseException):  # keep stopping the rest, but say which one failed
                log.error("stopping %r failed", item, exc_info=result)
        self._background.clear()
        if self.principals is not None:
            await self.principals.stop()
        if self.bus is not None:
            await self.bus.close()
        if self.database is not None:
            await self.database.close()

    async def readiness(self) -> dict[str, bool]:
        checks = {
            "database": self.database is not None and await self.database.ping(),
            "nats": self.bus is not None and self.bus.is_connected,
        }
        for spec in self.services:
            checks[spec.name] = spec.name in self.started
        return checks
