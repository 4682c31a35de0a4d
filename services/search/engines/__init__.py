"""The engine of this process: PostgreSQL by default, Meilisearch with HUIKE_SEARCH_ENGINE=meilisearch."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from services.search.engines.base import Engine, EngineResult, RawHit, SearchRequest
from services.search.engines.postgres import PostgresEngine
from services.search.text import warm_up
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
    def __init__(self, runtime: Runtime, engine: Engine) -> None:
        self.runtime = runtime
        self.engine = engine

    async def stop(self) -> None:
        _ENGINES.pop(id(self.runtime), None)
        await self.engine.close()


async def start_engine(runtime: Runtime) -> _EngineHandle:
    """Starter: connect the engine (Meilisearch: check it answers, apply index settings)."""
    await asyncio.to_thread(warm_up)
    engine = engine_of(runtime)
    await engine.start()
    if engine.name == "postgres":
        await _check_leakproof(runtime)
    return _EngineHandle(runtime, engine)


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
