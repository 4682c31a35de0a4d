"""identity.rate_counters: fixed-window counters of requests per key (no RLS)."""

from __future__ import annotations

from datetime import datetime

from shared.db import SystemUnit


async def hit(unit: SystemUnit, key: str, *, window_seconds: int) -> tuple[int, datetime]:
    """Count one request; answer the count in the current window and when that window started."""
    row = await unit.fetchrow(
        """INSERT INTO identity.rate_counters AS c (key, hits, window_started_at) VALUES ($1, 1, now())
           ON CONFLICT (key) DO UPDATE SET
             hits = CASE WHEN c.window_started_at <= now() - make_interval(secs => $2) THEN 1 ELSE c.hits + 1 END,
             window_started_at = CASE WHEN c.window_started_at <= now() - make_interval(secs => $2) THEN now()
                                      ELSE c.window_started_at END
           RETURNING hits, window_started_at""",
        key, float(window_seconds),
    )
    return row["hits"], row["window_started_at"]


async def forget_stale(unit: SystemUnit, older_than_seconds: int) -> int:
    status = await unit.execute(
        "DELETE FROM identity.rate_counters WHERE window_started_at < now() - make_interval(secs => $1)",
        float(older_than_seconds),
    )
    return int(status.split()[-1])
