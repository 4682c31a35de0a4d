"""``Idempotency-Key`` for every POST of the records service.

Inside the write's transaction: take ``pg_try_advisory_xact_lock`` on (tenant, key); when another
request holds it, answer 409 (it is in progress). A stored answer for the key (younger than 24 h)
is replayed when the request is the same (same caller, method, path and body), and a different
request with the same key answers 422 naming ``Idempotency-Key``. Otherwise the write runs and its
answer is stored in the same transaction, so a key is never stored for a write that rolled back.
Handlers use ``api.common.idempotent`` (one line) and workflows' commands ``once`` with the
command's key: both run ``once``, so a replay behaves the same on either path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from services.records.domain.history import jsonable
from shared.db import Unit
from shared.errors import Conflict, ValidationProblem

KEEP_HOURS = 24
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: Any


def request_hash(principal: str, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (principal.encode(), method.encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or any(ord(c) < 33 or ord(c) > 126 for c in key):
        raise ValidationProblem.one(
            "Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} visible ASCII characters (a UUID is a good key)",
            "invalid",
        )
    return key


async def begin(unit: Unit, key: str, principal: str, hashed: str) -> StoredAnswer | None:
    """Lock the key for this transaction; the stored answer to replay, or None to run the write."""
    locked = await unit.fetchval(
        "SELECT pg_try_advisory_xact_lock(hashtextextended($1::text || ':' || $2, 0))", str(unit.tenant_id), key
    )
    if not locked:
        raise Conflict("A request with this Idempotency-Key is in progress; retry when it has finished",
                       kind="idempotency-in-progress")
    row = await unit.fetchrow(
        f"""SELECT request_hash, status, body FROM records.idempotency_keys
            WHERE tenant_id = $1 AND key = $2 AND created_at > now() - interval '{KEEP_HOURS} hours'""",
        unit.tenant_id, key,
    )
    if row is None:
        return None
    if row["request_hash"] != hashed:
        raise ValidationProblem.one(
            "Idempotency-Key", "was used for a different request in the last 24 hours; use a new key for a new request",
            "reused",
        )
    return StoredAnswer(row["status"], row["body"])


async def finish(unit: Unit, key: str, principal: str, hashed: str, status: int, body: Any) -> None:
    """Store the answer of the write (replacing an expired one with the same key)."""
    await unit.execute(
        """INSERT INTO records.idempotency_keys (tenant_id, key, principal, request_hash, status, body)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (tenant_id, key) DO UPDATE SET principal = EXCLUDED.principal,
             request_hash = EXCLUDED.request_hash, status = EXCLUDED.status, body = EXCLUDED.body, created_at = now()""",
        unit.tenant_id, key, principal, hashed, status, body,
    )


async def once(unit: Unit, key: str, principal: str, hashed: str,
               write: Callable[[], Awaitable[tuple[int, Any]]]) -> tuple[StoredAnswer, bool]:
    """Run ``write()`` -> ``(status, body)`` once per key: ``(answer, replayed)``, where a repeat of
    the same request gets the stored answer (``replayed``) and the answer is stored in ``unit``'s
    transaction."""
    stored = await begin(unit, key, principal, hashed)
    if stored is not None:
        return stored, True
    status, body = await write()
    body = jsonable(body)
    await finish(unit, key, principal, hashed, status, body)
    return StoredAnswer(status, body), False


async def forget_expired(unit: Unit) -> int:
    """Delete the tenant's answers older than 24 hours (the purge job)."""
    done = await unit.execute(
        f"DELETE FROM records.idempotency_keys WHERE tenant_id = $1 AND created_at < now() - interval '{KEEP_HOURS} hours'",
        unit.tenant_id,
    )
    return int(done.split()[-1])
