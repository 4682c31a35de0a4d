"""SQL of the inbox, deliveries, preferences and suppressions (every query inside a tenant unit,
filtering ``tenant_id`` explicitly so the indexes led by it are used)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from shared.db import SystemUnit, Unit

COLUMNS = "id, user_id, seq, type, params, link_type, link_id, count, created_at, updated_at, read_at, archived_at"


# --- notifications -------------------------------------------------------------------------------


async def claim_source(unit: Unit, event_id: uuid.UUID, user_id: uuid.UUID, type_key: str,
                       notification_id: uuid.UUID) -> bool:
    """Record that this event tells this user of this type; False when it was recorded before
    (a redelivered or replayed event: nothing more to do)."""
    return bool(await unit.fetchval(
        """INSERT INTO notifications.notification_sources (tenant_id, event_id, user_id, type, notification_id)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true""",
        unit.tenant_id, event_id, user_id, type_key, notification_id))


async def claim_and_insert(unit: Unit, event_id: uuid.UUID, notification_id: uuid.UUID, *, user_id: uuid.UUID,
                           type_key: str, params: dict[str, Any], link: tuple[str, str] | None) -> bool:
    """``claim_source`` and ``insert`` (no group key) in one round trip: the row at the user's
    next stream position only when this event had not told this user of this type before."""
    return bool(await unit.fetchval(
        """WITH c AS (
             INSERT INTO notifications.notification_sources (tenant_id, event_id, user_id, type, notification_id)
             VALUES ($1, $2, $4, $5, $3) ON CONFLICT DO NOTHING RETURNING true AS claimed),
           s AS (
             INSERT INTO notifications.user_streams (tenant_id, user_id, last_seq) SELECT $1, $4, 1 FROM c
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_seq = user_streams.last_seq + 1
             RETURNING last_seq),
           n AS (
             INSERT INTO notifications.notifications (tenant_id, id, user_id, seq, type, params, link_type,
                                                      link_id, group_key)
             SELECT $1, $3, $4, s.last_seq, $5, $6, $7, $8, NULL FROM s RETURNING id)
           SELECT EXISTS (SELECT 1 FROM c)""",
        unit.tenant_id, event_id, notification_id, user_id, type_key, params, link[0] if link else None,
        link[1] if link else None))


async def claim_and_insert_many(unit: Unit, rows: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, str,
                                                             str | None, str | None]]
                                 ) -> list[uuid.UUID]:
    """``claim_and_insert`` for a whole batch in one statement. ``rows``: (event id, notification
    id, user id, type, params as JSON text, link type, link id), in event order. Rows whose
    (event, user, type) was claimed before are skipped; the rest take consecutive positions of
    their user's stream in the given order (one ``user_streams`` row lock per user, taken in user
    order so two replicas cannot deadlock). Returns the ids of the rows inserted."""
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    inserted = await unit.fetch(
        """WITH input AS (
             SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[],
                                  $8::text[]) WITH ORDINALITY
                      AS t(event_id, id, user_id, type, params, link_type, link_id, ord)),
           c AS (
             INSERT INTO notifications.notification_sources (tenant_id, event_id, user_id, type, notification_id)
             SELECT $1, event_id, user_id, type, id FROM input ORDER BY ord
             ON CONFLICT DO NOTHING RETURNING notification_id),
           fresh AS (
             SELECT i.*, row_number() OVER (PARTITION BY i.user_id ORDER BY i.ord) AS k,
                    count(*) OVER (PARTITION BY i.user_id) AS n
             FROM input i JOIN c ON c.notification_id = i.id),
           s AS (
             INSERT INTO notifications.user_streams (tenant_id, user_id, last_seq)
             SELECT DISTINCT $1::uuid, user_id, n FROM fresh ORDER BY 2
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_seq = user_streams.last_seq + excluded.last_seq
             RETURNING user_id, last_seq)
           INSERT INTO notifications.notifications (tenant_id, id, user_id, seq, type, params, link_type, link_id,
                                                    group_key)
           SELECT $1, f.id, f.user_id, s.last_seq - f.n + f.k, f.type, f.params::jsonb, f.link_type, f.link_id, NULL
           FROM fresh f JOIN s ON s.user_id = f.user_id
           RETURNING id""",
        unit.tenant_id, *[list(column) for column in columns])
    return [row["id"] for row in inserted]


async def add_deliveries(unit: Unit, rows: list[tuple[uuid.UUID | None, uuid.UUID | None, str, str, str, str, str,
                                                      datetime | None]]) -> int:
    """``add_delivery`` for many mails in one statement. ``rows``: (notification id, user id,
    address, type, locale, content as JSON text, status, due at). Suppressed addresses are
    skipped; pending ones are queued. Returns how many were made."""
    if not rows:
        return 0
    columns = [list(column) for column in zip(*rows, strict=True)]
    ids = [uuid.uuid4() for _ in rows]
    return int(await unit.fetchval(
        """WITH input AS (
             SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[],
                                  $9::text[], $10::timestamptz[])
                      AS t(id, notification_id, user_id, address, type, locale, content, status, due_at)),
           d AS (
             INSERT INTO notifications.deliveries (tenant_id, id, notification_id, user_id, channel, address, type,
                                                   locale, content, status, next_attempt_at)
             SELECT $1, i.id, i.notification_id, i.user_id, 'email', lower(i.address), i.type, i.locale,
                    i.content::jsonb, i.status, coalesce(i.due_at, now())
             FROM input i
             WHERE NOT EXISTS (SELECT 1 FROM notifications.suppressions s
                               WHERE s.tenant_id = $1 AND s.address = lower(i.address))
             RETURNING id, status, next_attempt_at),
           q AS (
             INSERT INTO notifications.delivery_queue (id, tenant_id, due_at)
             SELECT id, $1, next_attempt_at FROM d WHERE status = 'pending' RETURNING id)
           SELECT count(*) FROM d""",
        unit.tenant_id, ids, *columns))


async def repoint_source(unit: Unit, event_id: uuid.UUID, user_id: uuid.UUID, type_key: str,
                         notification_id: uuid.UUID) -> None:
    await unit.execute(
        """UPDATE notifications.notification_sources SET notification_id = $5
           WHERE tenant_id = $1 AND event_id = $2 AND user_id = $3 AND type = $4""",
        unit.tenant_id, event_id, user_id, type_key, notification_id)


async def preferences_of(unit: Unit, user_id: uuid.UUID | None) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The user's preferences and the tenant's defaults, in one round trip."""
    row = await unit.fetchrow(
        """SELECT (SELECT to_jsonb(p) FROM (SELECT types, quiet_hours, time_zone FROM notifications.user_preferences
                                            WHERE tenant_id = $1 AND user_id = $2) p) AS mine,
                  (SELECT to_jsonb(d) FROM (SELECT types, quiet_hours, time_zone FROM notifications.tenant_defaults
                                            WHERE tenant_id = $1) d) AS tenant""",
        unit.tenant_id, user_id)
    return (row["mine"], row["tenant"]) if row is not None else (None, None)


async def next_seq(unit: Unit, user_id: uuid.UUID) -> int:
    """The user's next stream position; the row lock (held to commit) orders a user's inserts, so
    positions become visible in increasing order and Last-Event-ID never skips one."""
    return int(await unit.fetchval(
        """INSERT INTO notifications.user_streams (tenant_id, user_id, last_seq) VALUES ($1, $2, 1)
           ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_seq = user_streams.last_seq + 1
           RETURNING last_seq""", unit.tenant_id, user_id))


async def collapsible(unit: Unit, user_id: uuid.UUID, type_key: str, group_key: str, within_seconds: int
                      ) -> asyncpg.Record | None:
    return await unit.fetchrow(
        f"""SELECT {COLUMNS} FROM notifications.notifications
            WHERE tenant_id = $1 AND user_id = $2 AND group_key = $3 AND type = $4 AND read_at IS NULL
              AND archived_at IS NULL AND created_at > now() - make_interval(secs => $5)
            ORDER BY created_at DESC LIMIT 1 FOR UPDATE""",
        unit.tenant_id, user_id, group_key, type_key, within_seconds)


async def insert(unit: Unit, notification_id: uuid.UUID, *, user_id: uuid.UUID, type_key: str,
                 params: dict[str, Any], link: tuple[str, str] | None, group_key: str | None,
                 seq: int | None = None) -> None:
    """The row at ``seq`` (from ``next_seq``), or at the user's next stream position taken in the
    same round trip (``next_seq``'s lock)."""
    if seq is not None:
        await unit.execute(
            """INSERT INTO notifications.notifications (tenant_id, id, user_id, seq, type, params, link_type,
                                                        link_id, group_key)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
            unit.tenant_id, notification_id, user_id, seq, type_key, params, link[0] if link else None,
            link[1] if link else None, group_key)
        return
    await unit.execute(
        """WITH s AS (
             INSERT INTO notifications.user_streams (tenant_id, user_id, last_seq) VALUES ($1, $3, 1)
             ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_seq = user_streams.last_seq + 1
             RETURNING last_seq)
           INSERT INTO notifications.notifications (tenant_id, id, user_id, seq, type, params, link_type, link_id,
                                                    group_key)
           SELECT $1, $2, $3, s.last_seq, $4, $5, $6, $7, $8 FROM s""",
        unit.tenant_id, notification_id, user_id, type_key, params, link[0] if link else None,
        link[1] if link else None, group_key)


async def grow(unit: Unit, notification_id: uuid.UUID, seq: int) -> None:
    await unit.execute(
        """UPDATE notifications.notifications SET count = count + 1, seq = $3, updated_at = now(),
                  params = params || jsonb_build_object('count', count + 1)
           WHERE tenant_id = $1 AND id = $2""", unit.tenant_id, notification_id, seq)


async def page(unit: Unit, user_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int,
               unread: bool, type_key: str | None) -> list[asyncpg.Record]:
    args: list[Any] = [unit.tenant_id, user_id, limit + 1]
    where = ["tenant_id = $1", "user_id = $2", "archived_at IS NULL"]
    if unread:
        where.append("read_at IS NULL")
    if type_key is not None:
        args.append(type_key)
        where.append(f"type = ${len(args)}")
    if after is not None:
        args += [after[0], after[1]]
        where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM notifications.notifications WHERE {' AND '.join(where)}
            ORDER BY created_at DESC, id DESC LIMIT $3""", *args)


async def since(unit: Unit, user_id: uuid.UUID, after_seq: int, limit: int) -> list[asyncpg.Record]:
    return await unit.fetch(
        f"""SELECT {COLUMNS} FROM notifications.notifications
            WHERE tenant_id = $1 AND user_id = $2 AND seq > $3 ORDER BY seq LIMIT $4""",
        unit.tenant_id, user_id, after_seq, limit)


async def since_many(unit: Unit, wanted: list[tuple[uuid.UUID, int]], limit: int) -> list[asyncpg.Record]:
    """``since`` for many (user, after seq) pairs in one statement (the push hub's reads)."""
    if not wanted:
        return []
    users, afters = zip(*wanted, strict=True)
    return await unit.fetch(
        f"""SELECT n.* FROM unnest($2::uuid[], $3::bigint[]) AS w(user_id, after_seq)
            CROSS JOIN LATERAL (SELECT {COLUMNS} FROM notifications.notifications
                                WHERE tenant_id = $1 AND user_id = w.user_id AND seq > w.after_seq
                                ORDER BY seq LIMIT $4) n
            ORDER BY n.user_id, n.seq""",
        unit.tenant_id, list(users), list(afters), limit)


async def last_seq(unit: Unit, user_id: uuid.UUID) -> int:
    return int(await unit.fetchval(
        "SELECT coalesce(max(last_seq), 0) FROM notifications.user_streams WHERE tenant_id = $1 AND user_id = $2",
        unit.tenant_id, user_id))


async def unread_count(unit: Unit, user_id: uuid.UUID) -> int:
    return int(await unit.fetchval(
        """SELECT count(*) FROM notifications.notifications
           WHERE tenant_id = $1 AND user_id = $2 AND read_at IS NULL AND archived_at IS NULL""",
        unit.tenant_id, user_id))


async def set_read(unit: Unit, user_id: uuid.UUID, ids: list[uuid.UUID] | None, read: bool) -> int:
    """Mark ``ids`` (None: every unread one) read or unread; ids of others are simply not found."""
    value = "now()" if read else "NULL"
    args: list[Any] = [unit.tenant_id, user_id]
    where = "tenant_id = $1 AND user_id = $2 AND archived_at IS NULL"
    if ids is not None:
        args.append(ids)
        where += " AND id = ANY($3::uuid[])"
    where += " AND read_at IS NULL" if read else " AND read_at IS NOT NULL"
    status = await unit.execute(f"UPDATE notifications.notifications SET read_at = {value} WHERE {where}", *args)
    return int(status.split()[-1])


async def archive(unit: Unit, user_id: uuid.UUID, ids: list[uuid.UUID]) -> int:
    status = await unit.execute(
        """UPDATE notifications.notifications SET archived_at = now(), read_at = coalesce(read_at, now())
           WHERE tenant_id = $1 AND user_id = $2 AND id = ANY($3::uuid[]) AND archived_at IS NULL""",
        unit.tenant_id, user_id, ids)
    return int(status.split()[-1])


# --- preferences ---------------------------------------------------------------------------------


async def user_preferences(unit: Unit, user_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
    """``lock``: held to commit, so an If-Match check and the save that follows see one version."""
    return await unit.fetchrow(
        "SELECT types, quiet_hours, time_zone, version FROM notifications.user_preferences"
        " WHERE tenant_id = $1 AND user_id = $2" + (" FOR UPDATE" if lock else ""), unit.tenant_id, user_id)


async def save_user_preferences(unit: Unit, user_id: uuid.UUID, types: dict[str, Any], quiet_hours: str | None,
                                time_zone: str | None, *, expected_version: int | None = None) -> asyncpg.Record | None:
    """None when ``expected_version`` is given and the stored one differs (0: nothing stored): two
    first saves at once both read no row, and only one may win."""
    return await unit.fetchrow(
        """INSERT INTO notifications.user_preferences (tenant_id, user_id, types, quiet_hours, time_zone)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (tenant_id, user_id) DO UPDATE SET types = excluded.types, quiet_hours = excluded.quiet_hours,
             time_zone = excluded.time_zone, version = user_preferences.version + 1, updated_at = now()
           WHERE $6::int IS NULL OR user_preferences.version = $6
           RETURNING types, quiet_hours, time_zone, version""",
        unit.tenant_id, user_id, types, quiet_hours, time_zone, expected_version)


async def tenant_defaults(unit: Unit, *, lock: bool = False) -> asyncpg.Record | None:
    return await unit.fetchrow(
        "SELECT types, quiet_hours, time_zone, version FROM notifications.tenant_defaults WHERE tenant_id = $1"
        + (" FOR UPDATE" if lock else ""), unit.tenant_id)


async def save_tenant_defaults(unit: Unit, types: dict[str, Any], quiet_hours: str | None,
                               time_zone: str | None, *, expected_version: int | None = None) -> asyncpg.Record | None:
    """None when ``expected_version`` is stale, as for ``save_user_preferences``."""
    return await unit.fetchrow(
        """INSERT INTO notifications.tenant_defaults (tenant_id, types, quiet_hours, time_zone)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id) DO UPDATE SET types = excluded.types, quiet_hours = excluded.quiet_hours,
             time_zone = excluded.time_zone, version = tenant_defaults.version + 1, updated_at = now()
           WHERE $5::int IS NULL OR tenant_defaults.version = $5
           RETURNING types, quiet_hours, time_zone, version""",
        unit.tenant_id, types, quiet_hours, time_zone, expected_version)


# --- deliveries ----------------------------------------------------------------------------------


async def is_suppressed(unit: Unit, address: str) -> bool:
    return bool(await unit.fetchval(
        "SELECT EXISTS (SELECT 1 FROM notifications.suppressions WHERE tenant_id = $1 AND address = $2)",
        unit.tenant_id, address.lower()))


async def add_delivery(unit: Unit, *, notification_id: uuid.UUID | None, user_id: uuid.UUID | None, address: str,
                       type_key: str, locale: str, content: dict[str, Any], status: str,
                       due_at: datetime | None) -> uuid.UUID | None:
    """The delivery (queued when pending), unless the address is suppressed (then None); one round trip."""
    delivery_id = uuid.uuid4()
    made = await unit.fetchval(
        """WITH d AS (
             INSERT INTO notifications.deliveries (tenant_id, id, notification_id, user_id, channel, address, type,
                                                   locale, content, status, next_attempt_at)
             SELECT $1, $2, $3, $4, 'email', $5, $6, $7, $8, $9, coalesce($10, now())
             WHERE NOT EXISTS (SELECT 1 FROM notifications.suppressions WHERE tenant_id = $1 AND address = $5)
             RETURNING id, next_attempt_at),
           q AS (
             INSERT INTO notifications.delivery_queue (id, tenant_id, due_at)
             SELECT id, $1, next_attempt_at FROM d WHERE $9 = 'pending' RETURNING id)
           SELECT id FROM d""",
        unit.tenant_id, delivery_id, notification_id, user_id, address.lower(), type_key, locale, content, status,
        due_at)
    return made


async def held_for_digest(unit: Unit, user_id: uuid.UUID) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT id, type, content FROM notifications.deliveries
           WHERE tenant_id = $1 AND user_id = $2 AND status = 'digest' ORDER BY created_at LIMIT 200 FOR UPDATE""",
        unit.tenant_id, user_id)


async def mark_digested(unit: Unit, ids: list[uuid.UUID], digest_id: uuid.UUID) -> None:
    await unit.execute(
        """UPDATE notifications.deliveries SET status = 'sent', sent_at = now(), last_error = $3
           WHERE tenant_id = $1 AND id = ANY($2::uuid[])""", unit.tenant_id, ids, f"sent in digest {digest_id}")


async def lease_due(unit: SystemUnit, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    return await unit.fetch(
        """UPDATE notifications.delivery_queue q SET leased_until = now() + make_interval(secs => $2)
           WHERE q.id IN (SELECT id FROM notifications.delivery_queue
                          WHERE due_at <= now() AND (leased_until IS NULL OR leased_until < now())
                          ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING q.id, q.tenant_id""", limit, lease_seconds)


async def delivery_for_send(unit: Unit, delivery_id: uuid.UUID) -> asyncpg.Record | None:
    return await unit.fetchrow(
        """SELECT d.id, d.address, d.type, d.content, d.status, d.attempts,
                  EXISTS (SELECT 1 FROM notifications.suppressions s
                          WHERE s.tenant_id = $1 AND s.address = d.address) AS suppressed
           FROM notifications.deliveries d WHERE d.tenant_id = $1 AND d.id = $2""", unit.tenant_id, delivery_id)


async def finish(unit: Unit, delivery_id: uuid.UUID, status: str, error: str | None) -> None:
    await unit.execute(
        """UPDATE notifications.deliveries SET status = $3, attempts = attempts + 1, last_error = $4,
                  sent_at = CASE WHEN $3 = 'sent' THEN now() END, content = content - 'sealed'
           WHERE tenant_id = $1 AND id = $2""", unit.tenant_id, delivery_id, status, error)
    await unit.execute("DELETE FROM notifications.delivery_queue WHERE id = $1", delivery_id)


async def retry_later(unit: Unit, delivery_id: uuid.UUID, error: str, at: datetime) -> None:
    await unit.execute(
        """UPDATE notifications.deliveries SET status = 'failed', attempts = attempts + 1, last_error = $3,
                  next_attempt_at = $4 WHERE tenant_id = $1 AND id = $2""", unit.tenant_id, delivery_id, error, at)
    await unit.execute("UPDATE notifications.delivery_queue SET due_at = $2, leased_until = NULL WHERE id = $1",
                       delivery_id, at)


async def drop_from_queue(unit: SystemUnit, delivery_id: uuid.UUID) -> None:
    await unit.execute("DELETE FROM notifications.delivery_queue WHERE id = $1", delivery_id)


async def suppress(unit: Unit, address: str, reason: str, failures: int) -> None:
    await unit.execute(
        """INSERT INTO notifications.suppressions (tenant_id, address, reason, failures) VALUES ($1, $2, $3, $4)
           ON CONFLICT (tenant_id, address) DO UPDATE SET reason = excluded.reason, failures = excluded.failures""",
        unit.tenant_id, address.lower(), reason, failures)


async def recent_failures(unit: Unit, address: str) -> int:
    """Deliveries to ``address`` that ended dead since its last successful one."""
    return int(await unit.fetchval(
        """SELECT count(*) FROM notifications.deliveries
           WHERE tenant_id = $1 AND address = $2 AND status = 'dead'
             AND created_at > coalesce((SELECT max(sent_at) FROM notifications.deliveries
                                        WHERE tenant_id = $1 AND address = $2 AND status = 'sent'), '-infinity')""",
        unit.tenant_id, address.lower()))


# --- the sink ------------------------------------------------------------------------------------


async def sink_store(unit: SystemUnit, mail_from: str, rcpt_to: list[str], subject: str, message_id: str | None,
                     raw: bytes) -> int:
    mail_id = int(await unit.fetchval(
        """INSERT INTO notifications.sink_mail (mail_from, rcpt_to, subject, message_id, raw)
           VALUES ($1, $2, $3, $4, $5) RETURNING id""", mail_from, rcpt_to, subject, message_id, raw))
    await unit.execute("DELETE FROM notifications.sink_mail WHERE id <= $1 - 5000", mail_id)
    return mail_id


async def sink_list(unit: SystemUnit, limit: int, to: str | None) -> list[asyncpg.Record]:
    return await unit.fetch(
        """SELECT id, received_at, mail_from, rcpt_to, subject, message_id FROM notifications.sink_mail
           WHERE $2::text IS NULL OR lower($2) = ANY(rcpt_to) ORDER BY id DESC LIMIT $1""", limit, to)


async def sink_get(unit: SystemUnit, mail_id: int) -> asyncpg.Record | None:
    return await unit.fetchrow(
        "SELECT id, received_at, mail_from, rcpt_to, subject, message_id, raw FROM notifications.sink_mail WHERE id = $1",
        mail_id)


async def purge_queue(unit: SystemUnit, tenant_id: uuid.UUID) -> int:
    """A deleted tenant's queued deliveries (for the service's tenant purge)."""
    status = await unit.execute("DELETE FROM notifications.delivery_queue WHERE tenant_id = $1", tenant_id)
    return int(status.split()[-1])
