"""Lockout with back-off after repeated failed logins, per account and per source address.

* Per account (tenant slug + e-mail, whether or not it exists, so lockout reveals nothing):
  the 5th consecutive failure locks it for 30 s, each further failure doubles the lock, up to
  15 minutes. A success clears the count; 15 minutes without a failure starts it over.
* Per source address: the 20th failure without a 15-minute pause locks the address for a minute,
  doubling up to 15 minutes. A success does not clear it (one valid account must not let an
  attacker reset the counter for guesses at others).

While locked, a login answers 429 with Retry-After before the password is even checked, so the
right password does not help and a locked guesser costs no argon2 work.
"""

from __future__ import annotations

import math
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
ADDRESS = Policy(threshold=20, first_lock_seconds=60, max_lock_seconds=900, reset_after_seconds=900)


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
