"""Rate limits on the unauthenticated endpoints that cost us something: sign-up (a workspace, an
argon2 hash) and password-reset requests (a mail to someone's inbox).

Fixed windows counted in PostgreSQL (``identity.rate_counters``), so every replica sees the same
count. Over the limit answers 429 with Retry-After (the end of the window). Counted per key before
anything is looked up, so a limit on an account reveals nothing about whether it exists.

* sign-up: ``HUIKE_SIGNUP_RATE_LIMIT`` per source address per hour (20 by default);
* password-reset requests: 20 per source address per hour and 5 per account (workspace slug and
  e-mail) per hour, on top of the one-mail-a-minute gap per existing account.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.identity.db import rate_counters as store
from shared.db import ServiceDatabase
from shared.errors import TooManyRequests


@dataclass(frozen=True)
class Limit:
    name: str  # the key prefix, and the problem's kind: "<name>-rate-limited"
    limit: int  # requests per window; 0: no limit
    window_seconds: int
    what: str  # for the message: "Too many <what> from ..."


RESET_PER_ADDRESS = Limit("reset-ip", 20, 3_600, "password-reset requests from your address")
RESET_PER_ACCOUNT = Limit("reset-account", 5, 3_600, "password-reset requests for this account")
HOUR = 3_600


def signup_per_address(limit: int) -> Limit:
    return Limit("signup-ip", limit, HOUR, "sign-ups from your address")


async def take(db: ServiceDatabase, *checks: tuple[Limit, str]) -> None:
    """Count one request against each (limit, key); 429 if any is over its limit."""
    waits: list[tuple[int, Limit]] = []
    async with db.system_unit() as unit:
        for limit, key in checks:
            if limit.limit <= 0:
                continue
            hits, started = await store.hit(unit, f"{limit.name}:{key}", window_seconds=limit.window_seconds)
            if hits > limit.limit:
                ends = started + timedelta(seconds=limit.window_seconds)
                waits.append((max(1, math.ceil((ends - datetime.now(UTC)).total_seconds())), limit))
    if waits:
        wait, limit = max(waits, key=lambda w: w[0])
        raise TooManyRequests(
            f"Too many {limit.what} ({limit.limit} an hour); try again in {wait} seconds",
            retry_after=wait, kind=f"{limit.name}-rate-limited",
        )


async def forget_stale(db: ServiceDatabase) -> int:
    async with db.system_unit() as unit:
        return await store.forget_stale(unit, 2 * HOUR)
