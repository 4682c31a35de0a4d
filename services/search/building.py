"""Building documents off the event loop: jieba and pypinyin are pure Python (1-2 ms a record).

The indexer and a reindex hand records to ``DocumentBuilder.build``, which splits them over a pool
of worker processes (``HUIKE_SEARCH_WORKERS``, else one per CPU of the container's quota; each loads jieba's
dictionary once, when it starts: one at start-up, the others when batches overlap), so a batch of
256 events neither blocks the API sharing the process nor waits on one core.

Two pools: **live** builds (what people write one record at a time) and **background** builds
(the bulk lane of an import, a reindex). The background workers start on first use and run at a
lower CPU priority (shared/priority.py): an import's documents keep both cores busy for minutes,
and sharing the live workers, or the CPU at the same priority, made a record written meanwhile
wait behind them. Background builds go in small chunks, one per worker in flight.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.search.documents import Document, build
from services.search.text import warm_up
from shared.cpu import usable_cpus
from shared.priority import lower_priority
from shared.workers import die_with_parent, name_process

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.search.building")

SMALL = 8  # records below which one worker builds the whole batch (a process hop costs ~1 ms)
BACKGROUND_CHUNK = 32  # records per chunk of a background build: ~50 ms of a worker


@dataclass(frozen=True)
class Spec:
    """What ``documents.build`` takes for one record (picklable)."""

    type: str
    record: dict[str, Any]
    version: int
    deleted: bool = False
    customer_id: Any = None


def _init_worker(parent_pid: int, background: bool) -> None:
    name_process("huike-search-bg" if background else "huike-search")
    die_with_parent(parent_pid)
    if background:
        lower_priority()
    warm_up()


def build_all(specs: Sequence[Spec]) -> list[Document]:
    """In a worker: the documents of ``specs``, in order."""
    return [build(s.type, s.record, version=s.version, deleted=s.deleted, customer_id=s.customer_id) for s in specs]


def worker_count(configured: int) -> int:
    """Processes per pool: the setting, else one per CPU of the container's quota. Not
    ``os.cpu_count()``: that is the node's cores, and each worker holds ~175 MB (two pools)."""
    return configured if configured > 0 else usable_cpus()


# The live workers forked by ``prefork`` (one pool per process), taken by the first builder.
_preforked: ProcessPoolExecutor | None = None


def prefork(workers: int) -> None:
    """Fork the live workers now, from this process, while it has one thread and no event loop
    (an HTTP process of ``huike run``, right after its own fork): they share the parent's pages
    (jieba's and pypinyin's dictionaries, shared/preload.py) instead of each loading them again
    in a spawned interpreter (~150 MiB each). A pool that breaks later is replaced by a spawned
    one: by then this process runs threads, and forking it is no longer safe."""
    global _preforked  # noqa: PLW0603 - one per process, like the spawned pools
    pool = ProcessPoolExecutor(max(1, workers), mp_context=multiprocessing.get_context("fork"),
                               initializer=_init_worker, initargs=(os.getpid(), False))
    pool.submit(build_all, []).result()  # a fork pool starts all its workers at the first task
    _preforked = pool


class DocumentBuilder:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or usable_cpus())
        self._pools: dict[bool, ProcessPoolExecutor] = {}  # background? -> pool
        self._closed = False

    def _executor(self, background: bool) -> ProcessPoolExecutor:
        global _preforked  # noqa: PLW0603
        if self._closed:
            raise RuntimeError("the document builder is stopped")
        pool = self._pools.get(background)
        if pool is None and not background and _preforked is not None:
            pool, _preforked = _preforked, None
            self._pools[background] = pool
        if pool is None:
            # spawn: the service process runs threads (asyncpg, nats) by now; forking it is unsafe.
            pool = self._pools[background] = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(os.getpid(), background))
        return pool

    async def start(self) -> None:
        """Start one live worker now (dictionary loaded), not on the first event. The others start
        when batches overlap (a spawn pool adds a process only when none is idle): each holds jieba's
        and pypinyin's dictionaries (~145 MiB), and one keeps up with people's writes, so a quiet
        stack keeps one."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor(background=False), build_all, [])

    async def build(self, specs: Sequence[Spec], *, background: bool = False) -> list[Document]:
        """The documents of ``specs``, in order. ``background`` (the bulk lane, a reindex): in the
        background pool, in chunks of ``BACKGROUND_CHUNK``, at most one per worker in flight."""
        if not specs:
            return []
        loop = asyncio.get_running_loop()
        size = BACKGROUND_CHUNK if background else -(-len(specs) // max(1, min(self.workers, len(specs) // SMALL)))
        parts = [list(specs[i:i + size]) for i in range(0, len(specs), size)]
        slots = asyncio.Semaphore(self.workers if background else len(parts))

        async def one(part: list[Spec]) -> list[Document]:
            async with slots:
                return await loop.run_in_executor(self._executor(background), build_all, part)

        try:
            built = await asyncio.gather(*(one(p) for p in parts))
        except BrokenProcessPool:
            # A worker died (killed, out of memory): a fresh pool for the next batch; this one is retried.
            log.warning("document builder pool broke; starting a new one")
            self._pools.pop(background, None)
            raise
        return [doc for part in built for doc in part]

    async def close(self) -> None:
        """Finish the batches in flight, then stop the workers."""
        self._closed = True
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await asyncio.to_thread(pool.shutdown, True)


# One builder per runtime (tests and the embedded default run one runtime per process).
_BUILDERS: dict[int, DocumentBuilder] = {}


def builder_of(runtime: Runtime) -> DocumentBuilder:
    builder = _BUILDERS.get(id(runtime))
    if builder is None:
        builder = _BUILDERS[id(runtime)] = DocumentBuilder(worker_count(runtime.settings.search_workers))
    return builder


class _BuilderHandle:
    def __init__(self, runtime: Runtime, builder: DocumentBuilder) -> None:
        self.runtime = runtime
        self.builder = builder

    async def stop(self) -> None:
        _BUILDERS.pop(id(self.runtime), None)
        await self.builder.close()


async def start_builder(runtime: Runtime) -> _BuilderHandle:
    """Starter: the worker processes, ready before the indexer takes its first event."""
    builder = builder_of(runtime)
    await builder.start()
    return _BuilderHandle(runtime, builder)
