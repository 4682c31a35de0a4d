"""The process-wide runtime: settings, the one pool, the one NATS connection, the principal cache.

Every service in the process shares it; each service works through its own view
(``runtime.db(service)``) so it only touches its own schema and outbox.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from shared.auth import PrincipalDirectory
from shared.db import Database, ServiceDatabase
from shared.events.bus import Bus
from shared.events.relay import OutboxRelay
from shared.pagination import set_cursor_secret
from shared.service import ServiceSpec, Stoppable
from shared.settings import Settings

log = logging.getLogger("huike.runtime")

READINESS_CACHE_SECONDS = 1.0


@dataclass
class Runtime:
    settings: Settings
    services: Sequence[ServiceSpec]
    database: Database | None = None
    bus: Bus | None = None
    principals: PrincipalDirectory | None = None
    started: set[str] = field(default_factory=set)
    _background: list[Stoppable] = field(default_factory=list)
    _checks: dict[str, Callable[[], bool]] = field(default_factory=dict)
    _readiness: tuple[float, dict[str, bool]] | None = None

    def db(self, service: str) -> ServiceDatabase:
        assert self.database is not None, "runtime not started"
        return self.database.for_service(service)

    async def start(self) -> None:
        s = self.settings
        set_cursor_secret(s.jwt_secret)  # list cursors are sealed with a key derived from it
        self.database = await Database.connect(s.database_url, min_size=s.db_pool_min, max_size=s.db_pool_max)
        self.bus = await Bus.connect(s.nats_url, name=f"huike-{'+'.join(x.name for x in self.services)}")
        await self.bus.ensure_dead_letter_stream(
            replicas=s.nats_stream_replicas, duplicate_window_seconds=s.event_duplicate_window_seconds
        )
        self.principals = PrincipalDirectory(self.bus.nc, s.jwt_secret, ttl_seconds=s.principal_cache_ttl_seconds,
                                             stale_seconds=s.principal_stale_seconds)
        self.bus.on_reconnect(self.principals.reconnected)
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
        """Stop background work first (it finishes what it holds), then the bus and the pool.

        Each step runs whatever the others did: with NATS or PostgreSQL already gone, shutdown
        still ends, and the pool is closed (terminated when its connections cannot be closed)."""
        self.started.clear()
        results = await asyncio.gather(
            *(asyncio.wait_for(item.stop(), timeout=15) for item in self._background), return_exceptions=True
        )
        for item, result in zip(self._background, results, strict=True):
            if isinstance(result, BaseException):  # keep stopping the rest, but say which one failed
                log.error("stopping %r failed: %s", item, _describe(result))
        self._background.clear()
        if self.principals is not None:
            await self.principals.stop()
        if self.bus is not None:
            try:
                await asyncio.wait_for(self.bus.close(), timeout=10)
            except Exception as exc:  # noqa: BLE001 - NATS down: nothing left to flush
                log.warning("closing the NATS connection failed: %s", _describe(exc))
        if self.database is not None:
            await self.database.close()

    def add_check(self, name: str, check: Callable[[], bool]) -> None:
        """One more readiness condition (the embedded servers' supervisor adds its own)."""
        self._checks[name] = check

    async def readiness(self) -> dict[str, bool]:
        """What /readyz reports; probed at most once a second (load balancers poll it often)."""
        now = time.monotonic()
        if self._readiness is not None and now - self._readiness[0] < READINESS_CACHE_SECONDS:
            return dict(self._readiness[1])
        checks: dict[str, bool] = {
            "database": self.database is not None and await self.database.can_write(),
            "nats": self.bus is not None and self.bus.is_connected,
        }
        if self.settings.readiness_disk_path is not None:
            checks["disk"] = _enough_free_space(self.settings.readiness_disk_path, self.settings.readiness_min_free_mb)
        for name, check in self._checks.items():
            checks[name] = bool(check())
        for spec in self.services:
            checks[spec.name] = spec.name in self.started
        self._readiness = (time.monotonic(), checks)
        return dict(checks)


def _enough_free_space(path: Path, min_free_mb: int) -> bool:
    try:
        return shutil.disk_usage(path).free >= min_free_mb * 1024 * 1024
    except OSError:
        return False


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
