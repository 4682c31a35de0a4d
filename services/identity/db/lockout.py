"""identity.login_failures: failure counters per account and per source address (no RLS)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shared.db import SystemUnit


async def locked_until(unit: SystemUnit, keys: Sequence[str]) -> datetime | None:
    """The latest lock still in force on any of the keys, or None."""
    return await unit.fetchval(
        "SELECT max(locked_until) FROM identity.login_failures WHERE key = ANY($1::text[]) AND locked_until > now()",
        list(keys),
    )


async def count_failure(unit: SystemUnit, key: str, *, reset_after_seconds: int) -> int:
    """One more failure; the count starts over after ``reset_after_seconds`` without one."""
    return await unit.fetchval(
        """INSERT INTO identity.login_failures AS f (key, failures, first_failed_at, last_failed_at)
           VALUES ($1, 1, now(), now())
           ON CONFLICT (key) DO UPDATE SET
             failures = CASE WHEN f.last_failed_at < now() - make_interval(secs => $2) THEN 1 ELSE f.failures + 1 END,
             first_failed_at = CASE WHEN f.last_failed_at < now() - make_interval(secs => $2) THEN now()
                                    ELSE f.first_failed_at END,
             last_failed_at = now()
           RETURNING failures""",
        key, float(reset_after_seconds),
    )


async def lock(unit: SystemUnit, key: str, seconds: float) -> datetime:
    return await unit.fetchval(
        """UPDATE identity.login_failures SET locked_until = now() + make_interval(secs => $2)
           WHERE key = $1 RETURNING locked_until""",
        key, float(seconds),
    )


async def clear(unit: SystemUnit, key: str) -> None:
    await unit.execute("DELETE FROM identity.login_failures WHERE key = $1", key)


async def forget_stale(unit: SystemUnit, older_than_seconds: int) -> int:
    status = await unit.execute(
        """DELETE FROM identity.login_failures
           WHERE last_failed_at < now() - make_interval(secs => $1)
             AND (locked_until IS NULL OR locked_until < now())""",
        float(older_than_seconds),
    )
    return int(status.split()[-1])
