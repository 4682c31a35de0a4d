"""Backfill of SLA clocks, reminders and follow-ups for records workflows has not heard of: those
made before workflows ran, or while it was down past the stream's retention.

On start-up (in the background), workflows asks records for its tenants
(``huike.rpc.records.tenants``) and, per tenant, replays its open objections, tasks and customers
(``huike.rpc.records.replay``, page by page), planning what is missing through the same code as
records' events (and scoring every customer's health). Known records are left alone; nothing past is announced (a backfilled clock
takes the state its times give it, without warning or breach events; reminders already past are
not planned). A records outage stops the pass; the next start-up tries again.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec

from services.workflows import health, timekeeping
from services.workflows.db import tracked
from shared.db import ServiceDatabase, Unit, advisory_lock
from shared.tenancy import scope_for_system

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.workflows.backfill")

TENANTS_SUBJECT = "huike.rpc.records.tenants"
REPLAY_SUBJECT = "huike.rpc.records.replay"
PAGE = 500
TIMEOUT_SECONDS = 10.0
START_DELAY_SECONDS = 2.0   # records' responders start alongside in the embedded default
OPEN_OBJECTION = ("open", "in_progress", "reopened")
LOCK_KEY = "workflows-backfill"


class Backfill:
    def __init__(self, runtime: Runtime) -> None:
        assert runtime.bus is not None
        self.nc = runtime.bus.nc
        self.db: ServiceDatabase = runtime.db("workflows")
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Backfill:
        self._task = asyncio.create_task(self._run(), name="workflows-backfill")
        return self

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _ask(self, subject: str, body: dict[str, Any]) -> dict[str, Any]:
        msg = await self.nc.request(subject, msgspec.json.encode(body), timeout=TIMEOUT_SECONDS)
        answer = msgspec.json.decode(msg.data)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    async def _run(self) -> None:
        await asyncio.sleep(START_DELAY_SECONDS)
        try:
            # One process at a time: every HTTP process and replica starts one, and the others
            # would plan the same records again (harmless, timers upsert by key, but wasted).
            async with advisory_lock(self.db.pool, LOCK_KEY) as held:
                if not held:
                    log.info("workflows backfill left to the process already running it")
                    return
                after: str | None = None
                while True:
                    page = await self._ask(TENANTS_SUBJECT, {"after": after, "limit": PAGE})
                    for tenant in page["tenants"]:
                        await self.tenant(uuid.UUID(tenant))
                    after = page["next"]
                    if after is None:
                        break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - records or the database away: the next start-up goes on
            log.warning("workflows backfill stopped: %s", exc)

    async def tenant(self, tenant_id: uuid.UUID) -> int:
        """Plan what is missing for one tenant; how many records it planned."""
        planned = 0
        for entity in ("objection", "task", "customer"):
            after: str | None = None
            while True:
                page = await self._ask(REPLAY_SUBJECT, {"tenant_id": str(tenant_id), "entity": entity,
                                                        "after": after, "limit": PAGE})
                async with self.db.tenant_unit(scope_for_system(tenant_id), background=True) as unit:
                    planned += await backfill_page(unit, entity, page["records"], datetime.now(UTC))
                after = page["next"]
                if after is None:
                    break
        return planned


async def backfill_page(unit: Unit, entity: str, records: list[dict[str, Any]], now: datetime) -> int:
    """Plan the records of one replayed page that workflows does not know yet."""
    ids = [uuid.UUID(str(r["id"])) for r in records]
    if entity == "objection":
        known = {row["objection_id"] for row in await unit.fetch(
            "SELECT objection_id FROM workflows.sla_clocks WHERE tenant_id = $1 AND objection_id = ANY($2::uuid[])",
            unit.tenant_id, ids)} if ids else set()
    elif entity == "customer":
        known = {row["customer_id"] for row in await unit.fetch(
            "SELECT customer_id FROM workflows.customer_health WHERE tenant_id = $1 AND customer_id = ANY($2::uuid[])",
            unit.tenant_id, ids)} if ids else set()
    else:
        known = await tracked.known(unit, entity, ids) if ids else set()
    count = 0
    for record_id, record in zip(ids, records, strict=True):
        if record_id in known:
            continue
        if entity == "objection":
            if record.get("status") not in OPEN_OBJECTION:
                continue
            updated = timekeeping.moment_of(record.get("updated_at")) or now
            await timekeeping.reconcile(unit, record_id, record, updated, now, quiet=True)
        elif entity == "task":
            if record.get("status") != "open":
                continue
            await timekeeping.tracked_event(unit, entity, "backfilled", record, record_id, now)
        else:
            await health.remember(unit, record_id, record, timekeeping.moment_of(record.get("updated_at")) or now, now,
                                  quiet=True)
            await timekeeping.ensure_digest(unit, now, cached=False)   # repairing: look, do not trust memory
            if record.get("next_follow_up_at"):
                await timekeeping.tracked_event(unit, entity, "backfilled", record, record_id, now)
        count += 1
    return count


async def start_backfill(runtime: Runtime) -> Backfill:
    return await Backfill(runtime).start()
