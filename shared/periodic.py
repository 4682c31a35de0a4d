"""A background job that runs every so often inside a service process (purges, housekeeping,
rule runs). It is a ``Stoppable``, so a service's starter can return it to the runtime."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from shared.unavailable import log_failure

log = logging.getLogger("huike.periodic")


class PeriodicJob:
    """Runs ``work`` first ``first_after`` seconds after start, then every ``interval`` seconds.
    A failed run is logged and tried again at the next interval; stopping cancels the wait or
    the run in flight (every job here works in transactions, so a cancelled run rolls back)."""

    def __init__(self, name: str, work: Callable[[], Awaitable[object]], *, interval: float, first_after: float) -> None:
        self.name = name
        self.work = work
        self.interval = interval
        self.first_after = first_after
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        delay = self.first_after
        while True:
            await asyncio.sleep(delay)
            delay = self.interval
            try:
                await self.work()
            except Exception as exc:  # noqa: BLE001 - try again at the next interval
                log_failure(log, exc, "%s failed", self.name)

    async def start(self) -> PeriodicJob:
        self._task = asyncio.create_task(self._loop(), name=self.name)
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
