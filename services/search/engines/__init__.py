"""The engine of this process: PostgreSQL by default, Meilisearch with HUIKE_SEARCH_ENGINE=meilisearch."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from services.search.engines.base import Engine, EngineResult, RawHit, SearchRequest
from services.search.engines.postgres import MERGE_INTERVAL_SECONDS, PostgresEngine
from services.search.text import warm_up
from shared.periodic import PeriodicJob
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.runtime import Runtime

__all__ = ["Engine", "EngineResult", "RawHit", "SearchRequest", "engine_for_settings", "engine_of", "start_engine"]

log = logging.getLogger("huike.search.engines")

# One engine per runtime (tests and the embedded default run one runtime per process).
_ENGINES: dict[int, Engine] = {}


def engine_for_settings(settings: Settings) -> Engine:
    if settings.search_engine == "meilisearch":
        from services.search.engines.meilisearch import MeilisearchEngine

        return MeilisearchEngine(settings.meilisearch_url, settings.meilisearch_key)
    return PostgresEngine()


def engine_of(runtime: Runtime) -> Engine:
    engine = _ENGINES.get(id(runtime))
    if engine is None:
        engine = _ENGINES[id(runtime)] = engine_for_settings(runtime.settings)
    return engine


class _EngineHandle:
    def __init__(self, runtime: Runtime, engine: Engine, upkeep: PeriodicJob | None) -> None:
        self.runtime = runtime
        self.engine = engine
        self.upkeep = upkeep

    async def stop(self) -> None:
        if self.upkeep is not None:
            await self.upkeep.stop()
        _ENGINES.pop(id(self.runtime), None)
        await self.engine.close()


async def start_engine(runtime: Runtime) -> _EngineHandle:
    """Starter: connect the engine (Meilisearch: check it answers, apply index settings); the
    PostgreSQL engine also merges its GIN indexes' pending lists in the background."""
    await asyncio.to_thread(warm_up)
    engine = engine_of(runtime)
    await engine.start()
    upkeep = None
    if engine.name == "postgres":
        await _check_leakproof(runtime)
        upkeep = await PeriodicJob("search-merge-pending-index-entries", lambda: merge_pending_entries(runtime),
                                   interval=MERGE_INTERVAL_SECONDS, first_after=MERGE_INTERVAL_SECONDS).start()
    return _EngineHandle(runtime, engine, upkeep)


async def merge_pending_entries(runtime: Runtime) -> int:
    """Merge the pending lists of the search schema's GIN indexes (migration 0003), on the
    background pool; answers the pending pages merged."""
    async with runtime.db("search").system_unit(background=True) as unit:
        return int(await unit.fetchval("SELECT search.merge_pending_index_entries()"))


async def _check_leakproof(runtime: Runtime) -> None:
    """Say when row-level security keeps the GIN indexes out of every search (migration 0002)."""
    async with runtime.db("search").system_unit() as unit:
        missing = [r["name"] for r in await unit.fetch(
            """SELECT p.oid::regprocedure::text AS name FROM pg_operator o JOIN pg_proc p ON p.oid = o.oprcode
               WHERE (o.oprname, o.oprleft, o.oprright) IN (('@@', 'tsvector'::regtype, 'tsquery'::regtype),
                                                             ('%', 'text'::regtype, 'text'::regtype))
                 AND NOT p.proleakproof""")]
    if missing:
        log.warning(
            "search: row-level security keeps the search indexes out of every query, so each search reads all "
            "of the tenant's documents; a superuser should run once in this database: %s",
            " ".join(f"ALTER FUNCTION {name} LEAKPROOF;" for name in missing))
