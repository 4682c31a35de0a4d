"""Work one process at a time does (the workflows backfill, a tenant's purge) under a named lock."""

from __future__ import annotations

from typing import Any

from shared.db import advisory_lock


async def test_only_one_holder_at_a_time_and_the_lock_is_free_again_after_the_block(runtime: Any) -> None:
    pool = runtime.db("workflows").pool
    async with advisory_lock(pool, "test-lock") as first:
        assert first
        # Another connection (another HTTP process or replica) is refused while it is held...
        async with advisory_lock(pool, "test-lock") as second:
            assert not second
        # ...and a lock of another name is not affected.
        async with advisory_lock(pool, "test-lock-other") as other:
            assert other
    async with advisory_lock(pool, "test-lock") as again:
        assert again
    # No connection going back to the pool keeps it (the pools skip asyncpg's reset query).
    async with pool.acquire() as conn:
        assert await conn.fetchval(
            """SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1
               AND ((classid::bigint << 32) | objid::bigint) = hashtextextended('test-lock', 0)""") == 0
