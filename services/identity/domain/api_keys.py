"""API keys: long-lived bearer credentials for programs.

A key is ``huike_`` + 32 random base62 characters + a 6-character checksum (see
``shared.auth.new_api_key``): secret scanners recognise the prefix, and a mistyped or invented
key is refused without a database look-up. Only its SHA-256 is stored; the key is shown once.
A key acts as the user who made it, narrowed by its scopes; it stops working when revoked, when
it expires, or when its user is deactivated. Keys cannot make keys (only a logged-in user can).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.identity.db import api_keys as store
from services.identity.db import audit
from services.identity.domain.context import Caller, missing
from services.identity.domain.normalise import normalise_name
from services.identity.domain.permissions import refuse_excess, scope_excess, validate_scopes
from shared.auth import hash_api_key, new_api_key
from shared.db import ServiceDatabase
from shared.errors import ValidationProblem

PREFIX_LENGTH = 14  # "huike_" and 8 characters: enough to tell keys apart in a list


def status_of(key: asyncpg.Record) -> str:
    if key["revoked_at"] is not None:
        return "revoked"
    if key["expires_at"] is not None and key["expires_at"] <= datetime.now(UTC):
        return "expired"
    return "active"


async def create_key(
    db: ServiceDatabase, caller: Caller, *, name: str, scopes: list[str], expires_at: datetime | None
) -> tuple[asyncpg.Record, str]:
    name = normalise_name(name)
    clean = validate_scopes(scopes)
    refuse_excess(scope_excess(caller.rights, scopes), "An API key's scopes may not exceed your own rights")
    scopes = clean
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise ValidationProblem.one("expires_at", "must be in the future", "in_past")
    key = new_api_key()
    async with db.tenant_unit(caller.scope) as unit:
        row = await store.insert(unit, uuid.uuid4(), user_id=caller.user_id, name=name, key_prefix=key[:PREFIX_LENGTH],
                                 key_hash=hash_api_key(key), scopes=scopes, expires_at=expires_at)
        data: dict[str, Any] = {
            "name": name, "prefix": row["key_prefix"], "scopes": scopes, "user_id": str(caller.user_id),
            "expires_at": expires_at.isoformat() if expires_at else None,
        }
        await unit.emit("api_key", "created", row["id"], actor=caller.actor, data=data)
        await audit.record(unit, "api_key.created", actor=caller.actor, source_ip=caller.origin.source_ip,
                           target_type="api_key", target_id=row["id"], details=data)
    return row, key


async def list_keys(
    db: ServiceDatabase, caller: Caller, *, only_own: bool, after: tuple[Any, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    async with db.tenant_unit(caller.scope) as unit:
        return await store.page(unit, user_id=caller.user_id if only_own else None, after=after, limit=limit)


async def revoke_key(db: ServiceDatabase, caller: Caller, key_id: uuid.UUID, *, only_own: bool) -> None:
    async with db.tenant_unit(caller.scope) as unit:
        key = await store.get(unit, key_id)
        if key is None or (only_own and key["user_id"] != caller.user_id):
            raise missing("api_key", key_id)  # someone else's key: as if it did not exist
        if not await store.revoke(unit, key_id):
            return  # already revoked
        data = {"name": key["name"], "prefix": key["key_prefix"], "user_id": str(key["user_id"]), "reason": "revoked"}
        await unit.emit("api_key", "revoked", key_id, actor=caller.actor, data=data)
        await audit.record(unit, "api_key.revoked", actor=caller.actor, source_ip=caller.origin.source_ip,
                           target_type="api_key", target_id=key_id, details=data)
