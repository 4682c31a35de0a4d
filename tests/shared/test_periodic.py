"""Periodic background jobs run again after a failure and stop when asked."""

from __future__ import annotations

import asyncio

from shared.periodic import PeriodicJob


async def test_a_failed_run_is_retried_at_the_next_interval_and_stop_ends_the_job() -> None:
    runs: list[int] = []

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("the first run fails")

    job = await PeriodicJob("test-job", work, interval=0.01, first_after=0).start()
    for _ in range(200):
        if len(runs) >= 3:
            break
        await asyncio.sleep(0.01)
    await job.stop()
    seen = len(runs)
    assert seen >= 3  # runs went on after the failure
    await asyncio.sleep(0.05)
    assert len(runs) == seen  # and stopped with the job
