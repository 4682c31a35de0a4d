"""Full reindex of a tenant, in the background and without downtime, and periodic reconciliation.

Reindex: a ``search.reindex_runs`` row (one running per tenant), then, page by page, the records
service replays the tenant's live records over NATS (``huike.rpc.records.replay``); each page is
written like events are (newest version wins, an equal version is rewritten: new settings apply)
and marked as seen. Searches keep answering from the documents meanwhile. Afterwards every live
document the replay did not see (and no event touched since the run began) is swept.

Reconciliation (soon after start-up, then hourly): per tenant, records' live counts and ``id:version`` checksums per entity
(``huike.rpc.records.counts``) against the index's; a difference that is still there once the
indexer has applied every event it was given starts a reindex of the tenant. While events are
still queued (an import in flight) a difference is lag, not loss: the pass ends and is tried
again in a few minutes (reindexing then rebuilt the same records twice and deadlocked with the
indexer's writes).
So does a tenant whose documents an older text analysis built (``search.tenants.analysis`` below
``text.ANALYSIS_VERSION``); the reindex's success records the version.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec
from nats.errors import NoRespondersError

from services.search import attachments
from services.search.building import Spec, builder_of
from services.search.documents import TYPES
from services.search.engines import Engine, engine_of
from services.search.indexer import caught_up
from services.search.text import ANALYSIS_VERSION
from shared.tenancy import scope_for_system
from shared.unavailable import log_failure

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.search.reindex")

REPLAY_SUBJECT = "huike.rpc.records.replay"
COUNTS_SUBJECT = "huike.rpc.records.counts"
PAGE = 500
RPC_TIMEOUT = 10.0
RPC_ATTEMPTS = 5  # waits of 1, 2, 4 and 8 s (jittered) between them
RPC_BACKOFF = 1.0
RECONCILE_EVERY_SECONDS = 3600.0
CATCH_UP_SECONDS = 30.0  # how long a pass waits for the indexer before calling a difference lag
RECONCILE_AGAIN_SECONDS = 300.0  # the next pass, when this one ended on an indexer still behind
PAGE_ATTEMPTS = 3  # a page's write that lost a deadlock to the indexer's is written again
TOMBSTONE_DAYS = 7
# A sum of hashes of "id:version" (the records service computes the same over its rows).
CHECKSUM = "coalesce(sum(('x' || substr(md5(id::text || ':' || version), 1, 8))::bit(32)::int::bigint), 0)"

_running: dict[uuid.UUID, asyncio.Task[None]] = {}


class ReindexError(RuntimeError):
    pass


class RecordsUnavailable(ReindexError):
    """The records service left a request unanswered through every attempt."""


class IndexingBehind(ReindexError):
    """The indexer still had events to apply: a difference in counts may be nothing but lag."""


async def _request(runtime: Runtime, subject: str, body: dict[str, Any], *, timeout: float | None = None,
                   attempts: int | None = None, backoff: float | None = None) -> dict[str, Any]:
    """Ask the records service; a request nobody answered in time is asked again after a back-off.

    Replay pages and counts are reads, so asking twice is harmless. Under an import the records
    service can take longer than ``timeout`` for a page, or be restarting: without a retry one
    slow page failed a whole reindex (seen at 1M customers). An error answer is not retried."""
    assert runtime.bus is not None
    timeout, attempts = timeout or RPC_TIMEOUT, attempts or RPC_ATTEMPTS
    backoff = RPC_BACKOFF if backoff is None else backoff
    payload = msgspec.json.encode(body)
    for attempt in range(1, attempts + 1):
        try:
            reply = await runtime.bus.nc.request(subject, payload, timeout=timeout)
            break
        except (TimeoutError, NoRespondersError) as exc:
            if attempt == attempts:
                raise RecordsUnavailable(f"records did not answer {subject} in {attempts} attempts of {timeout:g} s "
                                   f"({type(exc).__name__})") from exc
            pause = backoff * 2 ** (attempt - 1) * random.uniform(0.5, 1.0)  # jittered: reindexes do not align
            log.warning("records did not answer %s (attempt %d of %d, %s); asking again in %.1f s",
                        subject, attempt, attempts, type(exc).__name__, pause)
            await asyncio.sleep(pause)
    answer = msgspec.json.decode(reply.data)
    if not isinstance(answer, dict) or "error" in answer:
        raise ReindexError(f"records answered {subject} with an error: {answer.get('error') if isinstance(answer, dict) else answer}")
    return answer


def _ledger(engine: Engine) -> str:
    return "documents" if engine.name == "postgres" else "meili_ledger"


async def start_reindex(runtime: Runtime, tenant_id: uuid.UUID, reason: str) -> dict[str, Any]:
    """Start a reindex of the tenant (or answer the one already running)."""
    db = runtime.db("search")
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        row = await unit.fetchrow(
            """INSERT INTO search.reindex_runs (tenant_id, id, reason) VALUES ($1, $2, $3)
               ON CONFLICT (tenant_id) WHERE status = 'running' DO NOTHING RETURNING *""",
            tenant_id, uuid.uuid4(), reason,
        )
        if row is None:
            row = await unit.fetchrow(
                "SELECT * FROM search.reindex_runs WHERE tenant_id = $1 AND status = 'running'", tenant_id)
            assert row is not None
            return run_out(row)
    task = asyncio.create_task(_run(runtime, engine_of(runtime), tenant_id, row["id"], row["started_at"]),
                               name=f"search-reindex:{tenant_id}")
    _running[row["id"]] = task
    task.add_done_callback(lambda _: _running.pop(row["id"], None))
    return run_out(row)


def run_out(row: Any) -> dict[str, Any]:
    return {"id": str(row["id"]), "status": row["status"], "reason": row["reason"],
            "started_at": row["started_at"].isoformat(),
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
            "records": row["records"], "swept": row["swept"], "error": row["error"]}


async def get_run(runtime: Runtime, scope: Any, run_id: uuid.UUID) -> dict[str, Any] | None:
    async with runtime.db("search").tenant_unit(scope) as unit:
        row = await unit.fetchrow("SELECT * FROM search.reindex_runs WHERE tenant_id = $1 AND id = $2",
                                  scope.tenant_id, run_id)
    return run_out(row) if row else None


async def _run(runtime: Runtime, engine: Engine, tenant_id: uuid.UUID, run_id: uuid.UUID, started_at: Any) -> None:
    db = runtime.db("search")
    scope = scope_for_system(tenant_id)
    records = swept = 0
    try:
        for entity in TYPES:
            after: str | None = None
            while True:
                page = await _request(runtime, REPLAY_SUBJECT,
                                      {"tenant_id": str(tenant_id), "entity": entity, "after": after, "limit": PAGE})
                docs = await builder_of(runtime).build(
                    [Spec(entity, r, int(r.get("version") or 1)) for r in page["records"]], background=True)
                for attempt in range(1, PAGE_ATTEMPTS + 1):
                    try:
                        async with db.tenant_unit(scope, background=True) as unit:
                            await engine.apply(unit, docs, replay=True, background=True)
                            # Replayed records carry their attachments; keep any this service missed.
                            await attachments.resync(unit, entity, page["records"])
                        break
                    except asyncpg.DeadlockDetectedError:
                        # The indexer wrote some of the same documents at the same moment;
                        # PostgreSQL rolled this page back, so writing it again is safe.
                        if attempt == PAGE_ATTEMPTS:
                            raise
                records += len(docs)
                after = page.get("next")
                if not after:
                    break
        async with db.tenant_unit(scope, background=True) as unit:
            swept = await engine.sweep(unit, started_at)
            await unit.execute(
                """UPDATE search.reindex_runs SET status = 'succeeded', finished_at = now(), records = $3, swept = $4
                   WHERE tenant_id = $1 AND id = $2""", tenant_id, run_id, records, swept)
            # Every document is now built by this text analysis (see ``reconcile``).
            await unit.execute("UPDATE search.tenants SET analysis = $2 WHERE id = $1 AND analysis < $2",
                               tenant_id, ANALYSIS_VERSION)
        log.info("reindexed tenant %s: %d records, %d swept", tenant_id, records, swept)
    except BaseException as exc:
        reason = str(exc) or type(exc).__name__  # a timeout has no message of its own
        log.warning("reindex of tenant %s failed after %d records: %s", tenant_id, records, reason)
        with contextlib.suppress(Exception):
            async with db.tenant_unit(scope) as unit:
                await unit.execute(
                    """UPDATE search.reindex_runs SET status = 'failed', finished_at = now(), records = $3, error = $4
                       WHERE tenant_id = $1 AND id = $2""", tenant_id, run_id, records, reason[:500])
        if not isinstance(exc, Exception):
            raise


async def drift(runtime: Runtime, tenant_id: uuid.UUID, **rpc: Any) -> dict[str, Any]:
    """Per entity where records and the index disagree: ``{entity: {"records": .., "index": ..}}``.
    ``rpc``: ``timeout``, ``attempts``, ``backoff`` of the request to records (``_request``)."""
    theirs = await _request(runtime, COUNTS_SUBJECT, {"tenant_id": str(tenant_id)}, **rpc)
    table = _ledger(engine_of(runtime))
    async with runtime.db("search").tenant_unit(scope_for_system(tenant_id)) as unit:
        rows = await unit.fetch(
            f"""SELECT type, count(*) AS n, {CHECKSUM} AS checksum FROM search.{table}
                WHERE tenant_id = $1 AND NOT deleted GROUP BY type""", tenant_id)
    ours = {r["type"]: {"count": r["n"], "checksum": int(r["checksum"])} for r in rows}
    empty = {"count": 0, "checksum": 0}
    return {t: {"records": theirs.get(t, empty), "index": ours.get(t, empty)}
            for t in TYPES if theirs.get(t, empty) != ours.get(t, empty)}


async def lasting_drift(runtime: Runtime, tenant_id: uuid.UUID, *, catch_up: float = CATCH_UP_SECONDS,
                        **rpc: Any) -> dict[str, Any]:
    """``drift`` that is still there once the indexer has applied every event it holds (compared
    again then). Raises ``IndexingBehind`` when it does not catch up within ``catch_up`` seconds."""
    if not await drift(runtime, tenant_id, **rpc):
        return {}
    if not await caught_up(runtime, within=catch_up):
        raise IndexingBehind(f"the indexer did not catch up within {catch_up:g} s")
    return await drift(runtime, tenant_id, **rpc)


async def reconcile(runtime: Runtime, *, catch_up: float = CATCH_UP_SECONDS, **rpc: Any) -> int:
    """Compare every known tenant; reindex those that drifted; purge old tombstones. Answers how
    many reindexes started. ``rpc`` as for ``drift``. Raises ``IndexingBehind`` (after the
    tenants before) when the indexer is too far behind to tell drift from lag."""
    table = _ledger(engine_of(runtime))
    db = runtime.db("search")
    started, after = 0, uuid.UUID(int=0)
    while True:
        async with db.system_unit() as unit:
            rows = await unit.fetch(
                "SELECT id, analysis FROM search.tenants WHERE id > $1 ORDER BY id LIMIT 500", after)
        tenants = [r["id"] for r in rows]
        outdated = {r["id"] for r in rows if r["analysis"] < ANALYSIS_VERSION}
        for tenant_id in tenants:
            try:
                # Documents an older text analysis built lack forms queries now ask for.
                if tenant_id in outdated:
                    await start_reindex(runtime, tenant_id, "text analysis")
                    started += 1
                elif await lasting_drift(runtime, tenant_id, catch_up=catch_up, **rpc):
                    await start_reindex(runtime, tenant_id, "reconciliation")
                    started += 1
                async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
                    await unit.execute(
                        f"""DELETE FROM search.{table} WHERE tenant_id = $1 AND deleted
                            AND indexed_at < now() - make_interval(days => $2)""", tenant_id, TOMBSTONE_DAYS)
            except IndexingBehind:
                raise
            except RecordsUnavailable as exc:
                # Not this tenant's problem: asking each of thousands of tenants again, with its
                # back-off, would take hours. The next pass tries them all.
                log.warning("search reconciliation stopped at tenant %s: %s", tenant_id, exc)
                return started
            except Exception as exc:  # noqa: BLE001 - one tenant's failure must not stop the others
                log_failure(log, exc, "reconciling tenant %s failed", tenant_id)
        if len(tenants) < 500:
            return started
        after = tenants[-1]


class ReconcileJob:
    """Reconciles ``first_after`` seconds after start-up (whatever an outage or a crash before
    it left behind is repaired then, not an hour later), then every ``interval`` seconds."""

    def __init__(self, runtime: Runtime, interval: float = RECONCILE_EVERY_SECONDS,
                 first_after: float | None = None) -> None:
        self.runtime = runtime
        self.interval = interval
        self.first_after = runtime.settings.search_reconcile_first_after_seconds if first_after is None else first_after
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        delay = self.first_after
        while True:
            await asyncio.sleep(delay)
            delay = self.interval
            try:
                started = await reconcile(self.runtime)
                log.info("search reconciliation: %d tenant(s) reindexed", started)
            except IndexingBehind as exc:
                delay = min(self.interval, RECONCILE_AGAIN_SECONDS)
                log.info("search reconciliation put off for %.0f s: %s", delay, exc)
            except Exception as exc:  # noqa: BLE001 - try again next time
                log_failure(log, exc, "search reconciliation failed")

    async def start(self) -> ReconcileJob:
        self._task = asyncio.create_task(self._loop(), name="search-reconcile")
        return self

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *_running.values()) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._task = None


async def start_reconcile(runtime: Runtime) -> ReconcileJob:
    return await ReconcileJob(runtime).start()
