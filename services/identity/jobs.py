"""Identity's periodic housekeeping, once an hour (and shortly after start-up): purge tenants past
their deletion grace period, forget sessions that ended a week ago, forget stale login-failure
counters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from services.identity.domain import lockout
from services.identity.domain.sessions import prune_ended_sessions
from services.identity.domain.tenants import list_tenants, purge_due_tenants

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.identity.jobs")

INTERVAL_SECONDS = 3600.0
FIRST_RUN_AFTER_SECONDS = 30.0
_PAGE = 200


class Housekeeping:
    def __init__(self, runtime: Runtime, interval: float = INTERVAL_SECONDS) -> None:
        self.runtime = runtime
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        db = self.runtime.db("identity")
        purged = await purge_due_tenants(db, self.runtime.settings)
        forgotten = await lockout.forget_stale(db)
        sessions, after = 0, None
        while True:  # every live tenant, a page at a time (a page query answers up to limit + 1 rows)
            rows = await list_tenants(db, after=after, limit=_PAGE)
            page = rows[:_PAGE]
            sessions += await prune_ended_sessions(db, [t["id"] for t in page if t["status"] != "deleted"])
            if len(rows) <= _PAGE:
                break
            after = (page[-1]["created_at"], page[-1]["id"])
        log.info("housekeeping: purged %d tenant(s), %d ended session(s), %d login-failure counter(s)",
                 len(purged), sessions, forgotten)

    async def _loop(self) -> None:
        delay = FIRST_RUN_AFTER_SECONDS
        while True:
            await asyncio.sleep(delay)
            delay = self.interval
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - try again next hour
                log.exception("identity housekeeping failed")

    async def start(self) -> Housekeeping:
        self._task = asyncio.create_task(self._loop(), name="identity-housekeeping")
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def start_housekeeping(runtime: Runtime) -> Housekeeping:
    if not runtime.settings.database_owner_url:
        log.warning("HUIKE_DATABASE_OWNER_URL is not set: tenants due for deletion will not be purged")
    return await Housekeeping(runtime).start()
