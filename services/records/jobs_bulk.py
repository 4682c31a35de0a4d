"""Background workers for bulk imports and exports.

Jobs wait in ``records.bulk_jobs``. A worker claims the oldest one whose lease is free or ran out
(``FOR UPDATE SKIP LOCKED``, so several workers and processes share the queue), keeps the lease
alive with a heartbeat while it works, and takes the job off the queue when it ends. A worker
that dies leaves its lease to run out; the next claim resumes the import after its last
committed batch, or runs the export again from the start (an export writes nothing until its file
is complete). The API wakes the workers of its own process at once; others poll every second.

Start it with the records service: ``starters=[..., start_bulk_jobs]`` in ``app.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import TYPE_CHECKING

from services.records.db import imports as store
from services.records.domain import exports, imports
from services.records.storage import FileStore, file_store
from shared.unavailable import log_failure

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.records.bulk")

LEASE_SECONDS = 60.0
POLL_SECONDS = 1.0
WORKERS = 2
_wakers: set[asyncio.Event] = set()


def wake() -> None:
    """Tell this process's workers a job was queued."""
    for event in _wakers:
        event.set()


class BulkJobs:
    def __init__(self, runtime: Runtime, *, workers: int = WORKERS, lease_seconds: float = LEASE_SECONDS,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.runtime = runtime
        self.db = runtime.db("records")
        self.workers = workers
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self._event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def files(self) -> FileStore:
        """The configured store, read per job (HUIKE_FILE_STORE)."""
        return file_store(self.runtime)

    async def run_once(self) -> bool:
        """Claim and run one due job; False when none is due."""
        async with self.db.system_unit() as unit:
            job = await store.claim(unit, self.lease_seconds)
        if job is None:
            return False
        heartbeat = asyncio.create_task(self._heartbeat(job["tenant_id"], job["kind"], job["job_id"]))
        ours = True
        try:
            if job["kind"] == "import":
                ours = await imports.run(self.db, self.files, job["tenant_id"], job["job_id"],
                                         attempts=job["attempts"], lease_seconds=self.lease_seconds)
            else:
                await exports.run(self.db, self.files, job["tenant_id"], job["job_id"], attempts=job["attempts"])
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            # A finished job has left the queue; one cut short (shutdown) is free for the next worker now.
            # One another worker took over keeps that worker's lease: freeing it would let a third
            # worker claim the job too, and each claim spends one of its attempts.
            if ours:
                await asyncio.shield(self._release(job["tenant_id"], job["kind"], job["job_id"]))
        return True

    async def _release(self, tenant_id: uuid.UUID, kind: str, job_id: uuid.UUID) -> None:
        async with self.db.system_unit() as unit:
            await store.renew(unit, tenant_id, kind, job_id, 0)

    async def _heartbeat(self, tenant_id: uuid.UUID, kind: str, job_id: uuid.UUID) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                async with self.db.system_unit() as unit:
                    await store.renew(unit, tenant_id, kind, job_id, self.lease_seconds)
            except Exception as exc:  # noqa: BLE001 - the next beat tries again; the lease has slack
                log_failure(log, exc, "renewing the lease of %s %s failed", kind, job_id)

    async def _loop(self) -> None:
        while True:
            try:
                ran = await self.run_once()
            except Exception as exc:  # noqa: BLE001 - a broken claim must not stop the worker
                log_failure(log, exc, "bulk job worker")
                ran = False
            if not ran:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), self.poll_seconds)
                self._event.clear()

    async def start(self) -> BulkJobs:
        _wakers.add(self._event)
        self._tasks = [asyncio.create_task(self._loop(), name=f"records-bulk-{i}") for i in range(self.workers)]
        return self

    async def stop(self) -> None:
        """Stop at once: a job in flight loses only its uncommitted batch and resumes elsewhere."""
        _wakers.discard(self._event)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []


async def start_bulk_jobs(runtime: Runtime) -> BulkJobs:
    return await BulkJobs(runtime, lease_seconds=runtime.settings.bulk_job_lease_seconds).start()
