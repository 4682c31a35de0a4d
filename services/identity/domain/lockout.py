"""Lockout with back-off after repeated failed logins, per account and per source address, and a
global rate of login attempts per process.

* Per account (tenant slug + e-mail, whether or not it exists, so lockout reveals nothing): the
  5th consecutive failure locks it for 30 s, each further failure doubles the lock, up to 15
  minutes. A success clears the count; 15 minutes without a failure starts it over. This is the
  lockout that protects an account: it never touches another account, nor another tenant.
* Per source address, only at a much higher threshold: the 100th failure without a 15-minute pause
  locks the address for a minute, doubling up to 15 minutes. An office behind one shared address
  (or a reverse proxy not listed in HUIKE_TRUSTED_PROXIES) is many people; a few of them
  mistyping must not lock out everyone else, but a password sprayer guessing across accounts from
  one address is stopped. A success does not clear it (one valid account must not let an attacker
  reset the counter for guesses at others).
* Globally, per process: at most four login attempts per core in progress at once (at least 8),
  whoever sends them; one more answers 429 with Retry-After 1 at once. A credential-stuffing run
  spread over many addresses passes the two counters above; this keeps it from spending every
  core on argon2 and queueing everyone's logins behind it. It limits the rate to what the process
  can hash, however fast the machine. Per process on purpose: the CPU it protects is its own.

The counters live in PostgreSQL (``identity.login_failures``), so every replica sees the same
lockout. While locked, a login answers 429 with Retry-After before the password is even checked,
so the right password does not help and a locked guesser costs no argon2 work.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from services.identity.db import lockout as store
from shared.db import ServiceDatabase
from shared.errors import TooManyRequests


@dataclass(frozen=True)
class Policy:
    threshold: int
    first_lock_seconds: float
    max_lock_seconds: float
    reset_after_seconds: int

    def lock_seconds(self, failures: int) -> float | None:
        if failures < self.threshold:
            return None
        return min(self.first_lock_seconds * 2 ** (failures - self.threshold), self.max_lock_seconds)


ACCOUNT = Policy(threshold=5, first_lock_seconds=30, max_lock_seconds=900, reset_after_seconds=900)
ADDRESS = Policy(threshold=100, first_lock_seconds=60, max_lock_seconds=900, reset_after_seconds=900)


class InFlightLimit:
    """At most ``limit`` logins being worked on in this process at once; one more is refused at
    once (429, Retry-After 1) rather than queued behind them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        if self.in_flight >= self.limit:
            raise TooManyRequests("The service is taking too many logins right now; try again in a second",
                                  retry_after=1, kind="login-rate-limited")
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1


# argon2 takes one core ~25 ms: this many at once already queue for a while on every core.
GLOBAL = InFlightLimit(max(8, 4 * (os.cpu_count() or 1)))


def account_key(tenant_slug: str, email: str) -> str:
    return f"account:{tenant_slug.lower()}:{email.lower()}"


def address_key(source_ip: str | None) -> str:
    return f"ip:{source_ip or 'unknown'}"


async def ensure_not_locked(db: ServiceDatabase, *keys: str) -> None:
    async with db.system_unit() as unit:
        until = await store.locked_until(unit, keys)
    if until is not None:
        wait = max(1, math.ceil((until - datetime.now(UTC)).total_seconds()))
        raise TooManyRequests(
            f"Too many failed logins; try again in {wait} seconds", retry_after=wait, kind="login-locked"
        )


async def record_failure(db: ServiceDatabase, account: str, address: str) -> None:
    async with db.system_unit() as unit:
        for key, policy in ((account, ACCOUNT), (address, ADDRESS)):
            failures = await store.count_failure(unit, key, reset_after_seconds=policy.reset_after_seconds)
            seconds = policy.lock_seconds(failures)
            if seconds is not None:
                await store.lock(unit, key, seconds)


async def record_success(db: ServiceDatabase, account: str) -> None:
    async with db.system_unit() as unit:
        await store.clear(unit, account)


async def forget_stale(db: ServiceDatabase) -> int:
    async with db.system_unit() as unit:
        return await store.forget_stale(unit, max(ACCOUNT.reset_after_seconds, ADDRESS.reset_after_seconds) * 2)
