"""identity.sessions (refresh-token families), identity.refresh_tokens and their hash index."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from shared.db import SystemUnit, Unit

COLUMNS = "id, user_id, current_token_hash, created_at, last_used_at, expires_at, revoked_at, revoked_reason"


async def create(
    unit: Unit, session_id: uuid.UUID, *, user_id: uuid.UUID, token_hash: str, expires_at: datetime,
    user_agent: str | None, source_ip: str | None,
) -> None:
    await unit.execute(
        """INSERT INTO identity.sessions (tenant_id, id, user_id, current_token_hash, expires_at, user_agent, source_ip)
           VALUES ($1, $2, $3, $4, $5, $6, $7::inet)""",
        unit.tenant_id, session_id, user_id, token_hash, expires_at, user_agent, source_ip,
    )
    await add_token(unit, session_id, token_hash)


async def add_token(unit: Unit, session_id: uuid.UUID, token_hash: str) -> None:
    await unit.execute(
        "INSERT INTO identity.refresh_tokens (tenant_id, token_hash, session_id) VALUES ($1, $2, $3)",
        unit.tenant_id, token_hash, session_id,
    )
    await unit.execute(
        "INSERT INTO identity.refresh_token_index (token_hash, tenant_id) VALUES ($1, $2)", token_hash, unit.tenant_id
    )


async def tenant_of_token(unit: SystemUnit, token_hash: str) -> uuid.UUID | None:
    return await unit.fetchval("SELECT tenant_id FROM identity.refresh_token_index WHERE token_hash = $1", token_hash)


async def by_token_for_update(unit: Unit, token_hash: str) -> asyncpg.Record | None:
    """The session (family) a refresh token belongs to, locked so two refreshes cannot both rotate."""
    return await unit.fetchrow(
        f"""SELECT {', '.join('s.' + c.strip() for c in COLUMNS.split(','))}
            FROM identity.refresh_tokens t JOIN identity.sessions s ON s.tenant_id = t.tenant_id AND s.id = t.session_id
            WHERE t.token_hash = $1 FOR UPDATE OF s""",
        token_hash,
    )


async def rotate(unit: Unit, session_id: uuid.UUID, new_hash: str) -> None:
    await unit.execute(
        "UPDATE identity.sessions SET current_token_hash = $2, last_used_at = now() WHERE id = $1", session_id, new_hash
    )
    await add_token(unit, session_id, new_hash)


async def is_active(unit: Unit, session_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return bool(await unit.fetchval(
        """SELECT EXISTS (SELECT 1 FROM identity.sessions
           WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > now())""",
        session_id, user_id,
    ))


async def revoke(unit: Unit, session_id: uuid.UUID, reason: str) -> bool:
    status = await unit.execute(
        "UPDATE identity.sessions SET revoked_at = now(), revoked_reason = $2 WHERE id = $1 AND revoked_at IS NULL",
        session_id, reason,
    )
    return status.endswith(" 1")


async def revoke_for_user(
    unit: Unit, user_id: uuid.UUID, reason: str, *, keep: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Revoke every live session of a user (but ``keep``); return the ids revoked."""
    rows = await unit.fetch(
        """UPDATE identity.sessions SET revoked_at = now(), revoked_reason = $2
           WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now() AND ($3::uuid IS NULL OR id <> $3)
           RETURNING id""",
        user_id, reason, keep,
    )
    return [r["id"] for r in rows]


async def delete_expired(unit: Unit, older_than_seconds: int) -> int:
    """Forget sessions (and their refresh tokens) that ended a while ago; return how many."""
    status = await unit.execute(
        """DELETE FROM identity.sessions
           WHERE expires_at < now() - make_interval(secs => $1)
              OR revoked_at < now() - make_interval(secs => $1)""",
        float(older_than_seconds),
    )
    # The hash index lives outside RLS; drop this tenant's entries whose token is gone.
    await unit.execute(
        """DELETE FROM identity.refresh_token_index i
           WHERE i.tenant_id = $1
             AND NOT EXISTS (SELECT 1 FROM identity.refresh_tokens t WHERE t.token_hash = i.token_hash)""",
        unit.tenant_id,
    )
    return int(status.split()[-1])


async def is_new_place(unit: Unit, user_id: uuid.UUID, source_ip: str | None) -> bool:
    """A login from an address none of the user's known sessions came from, for a user who has
    logged in before (the first login ever is not news). Ended sessions are forgotten after a
    week, so "known" means the user's recent places."""
    if not source_ip:
        return False
    return bool(await unit.fetchval(
        """SELECT EXISTS (SELECT 1 FROM identity.sessions WHERE tenant_id = $1 AND user_id = $2)
              AND NOT EXISTS (SELECT 1 FROM identity.sessions
                              WHERE tenant_id = $1 AND user_id = $2 AND source_ip = $3::inet)""",
        unit.tenant_id, user_id, source_ip))
