"""Identity's periodic housekeeping, once an hour (and shortly after start-up): forget sessions that
ended a week ago, forget stale login-failure counters. (Tenant deletions: ``deletions.py``.)"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from services.identity.domain import lockout, rate_limits
from services.identity.domain.sessions import prune_ended_sessions
from services.identity.domain.tenants import list_tenants
from shared.periodic import PeriodicJob

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.identity.jobs")

INTERVAL_SECONDS = 3600.0
FIRST_RUN_AFTER_SECONDS = 30.0
_PAGE = 200


class Housekeeping:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def run_once(self) -> None:
        db = self.runtime.db("identity")
        forgotten = await lockout.forget_stale(db) + await rate_limits.forget_stale(db)
        sessions, after = 0, None
        while True:  # every live tenant, a page at a time (a page query answers up to limit + 1 rows)
            rows = await list_tenants(db, after=after, limit=_PAGE)
            page = rows[:_PAGE]
            sessions += await prune_ended_sessions(db, [t["id"] for t in page if t["status"] != "deleted"])
            if len(rows) <= _PAGE:
                break
            after = (page[-1]["created_at"], page[-1]["id"])
        log.info("housekeeping: forgot %d ended session(s), %d login and rate counter(s)", sessions, forgotten)


async def start_housekeeping(runtime: Runtime) -> PeriodicJob:
    job = PeriodicJob("identity-housekeeping", Housekeeping(runtime).run_once,
                      interval=INTERVAL_SECONDS, first_after=FIRST_RUN_AFTER_SECONDS)
    return await job.start()
