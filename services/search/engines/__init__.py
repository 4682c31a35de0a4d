"""The engine of this process: PostgreSQL by default, Meilisearch with HUIKE_SEARCH_ENGINE=meilisearch."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from services.search.engines.base import Engine, EngineResult, RawHit, SearchRequest
from services.search.engines.postgres import PostgresEngine
from services.search.text import warm_up
from shared.settings import Settings

if TYPE_CHECKING:
    from shared.runtime import Runtime

__all__ = ["Engine", "EngineResult", "RawHit", "SearchRequest", "engine_for_settings", "engine_of", "start_engine"]

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
    return _EngineHandle(runtime, engine)
