"""The database layer: one asyncpg pool per process, tenant-scoped units of work, migrations.

Services connect as a runtime role that owns nothing and cannot bypass row-level security. Every
unit of work is one transaction; a tenant unit sets ``app.tenant_id`` with ``set_config(..., true)``
so the setting dies with the transaction and a pooled connection never carries a tenant over.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgspec
from asyncpg.transaction import Transaction, TransactionState

from shared.errors import TenantGone
from shared.events.envelope import Actor, Event, encode_event, new_event
from shared.priority import lower_backend_priority
from shared.tenancy import TenantScope

__all__ = ["Database", "ServiceDatabase", "Unit", "SystemUnit", "advisory_lock"]


_JSON_ENCODER = msgspec.json.Encoder()
# This process's row in huike.readiness.
_PROBE = f"{socket.gethostname()}:{os.getpid()}"


@asynccontextmanager
async def advisory_lock(pool: asyncpg.Pool, key: str) -> AsyncIterator[bool]:
    """Try PostgreSQL's session lock named ``key`` on a connection held for the block; yields
    whether this process got it (another process, replica or HTTP process holds it otherwise).
    For work one process at a time should do: it is released at the end of the block, or when
    the process dies and its connection closes. (The pools skip asyncpg's reset query, which
    would unlock too: the block unlocks itself.)"""
    async with pool.acquire() as conn:
        held = bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key))
        try:
            yield held
        finally:
            if held:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)


def _encode_json(value: Any) -> str:
    return _JSON_ENCODER.encode(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    # msgspec rather than the json module: decoding jsonb columns was ~12 % of a list request.
    for type_name in ("json", "jsonb"):
        await conn.set_type_codec(type_name, encoder=_encode_json, decoder=msgspec.json.decode, schema="pg_catalog")


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """A released connection keeps no session state of ours: every setting is transaction-local
    (``set_config(..., true)``), locks and LISTEN live on connections of their own (the relay's)
    or are released by their holder (a tenant purge's), and the pool itself still rolls back any
    transaction left open. So asyncpg's reset query (advisory unlock, CLOSE ALL, UNLISTEN, RESET
    ALL) would only cost every request one more round trip and one more transaction."""


async def _init_background_connection(conn: asyncpg.Connection) -> None:
    await _init_connection(conn)
    await lower_backend_priority(conn)


class Database:
    """The process-wide pools. Services get a view of them with ``for_service``.

    ``pool`` serves requests and everything a person waits for; ``background_pool`` (a few
    connections, opened on first use) serves bulk work: an import's batches, the search index's
    bulk lane, reindexes. Apart, a long import never holds every connection a request needs, and
    where PostgreSQL runs on this machine its backends run at a lower CPU priority
    (``shared.priority``)."""

    def __init__(self, pool: asyncpg.Pool, url: str, background_pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.url = url
        self.background_pool = background_pool

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 2, max_size: int = 10, background_size: int = 3
                      ) -> "Database":
        pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, init=_init_connection,
                                         reset=_nothing_to_reset)
        background = await asyncpg.create_pool(url, min_size=0, max_size=background_size,
                                               init=_init_background_connection, reset=_nothing_to_reset)
        return cls(pool, url, background)

    async def close(self, timeout: float = 10.0) -> None:
        """Close both pools; when their connections cannot be closed in time (the server is gone,
        a query hangs), terminate them."""
        for pool in (self.pool, self.background_pool):
            try:
                await asyncio.wait_for(pool.close(), timeout)
            except Exception:  # noqa: BLE001 - cannot close cleanly: cut the connections
                pool.terminate()

    def for_service(self, service: str, schema: str | None = None) -> "ServiceDatabase":
        return ServiceDatabase(self, service, schema or service)

    async def can_write(self, probe: str = _PROBE) -> bool:
        """Readiness: a small committed write (``huike.readiness``) succeeds now."""
        try:
            async with self.pool.acquire(timeout=2) as conn:
                await conn.execute(
                    "INSERT INTO huike.readiness (probe, checked_at) VALUES ($1, now())"
                    " ON CONFLICT (probe) DO UPDATE SET checked_at = excluded.checked_at", probe, timeout=2)
                return True
        except Exception:  # noqa: BLE001 - readiness reports, never raises
            return False

    async def ping(self) -> bool:
        try:
            async with self.pool.acquire(timeout=2) as conn:
                return await conn.fetchval("SELECT 1") == 1
        except Exception:  # noqa: BLE001 - readiness reports, never raises
            return False


class _TenantTransaction(Transaction):
    """asyncpg's transaction whose BEGIN also sets the tenant and asks whether it is purged, in
    the same round trip (one simple-protocol message of three statements). ``gone`` is read from
    the last statement's command tag (``SELECT 1``: a purged tenant). Nested ``conn.transaction()``
    blocks inside the unit still become savepoints, as with a plain transaction."""

    def __init__(self, conn: asyncpg.Connection, setup: str, *, readonly: bool) -> None:
        super().__init__(conn, None, readonly, False)
        self._setup = setup
        self.gone = False

    async def start(self) -> None:
        con = self._connection
        if con._top_xact is not None or con._protocol.is_in_transaction():  # noqa: SLF001
            raise asyncpg.InterfaceError("a tenant unit must be the connection's outermost transaction")
        con._top_xact = self  # noqa: SLF001 - what Transaction.start does for a top-level block
        try:
            status = await con.execute(("BEGIN READ ONLY;" if self._readonly else "BEGIN;") + self._setup)
        except BaseException:
            self._state = TransactionState.FAILED
            raise
        self._state = TransactionState.STARTED
        self.gone = status == "SELECT 1"


@dataclass
class SystemUnit:
    """A transaction with no tenant: sees only tables without row-level security."""

    conn: asyncpg.Connection
    service: str
    schema: str

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        return await self.conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        return await self.conn.execute(sql, *args)


@dataclass
class Unit(SystemUnit):
    """A transaction bound to one tenant. Events emitted here commit or roll back with it."""

    scope: TenantScope = field(kw_only=True)
    events: list[Event] = field(default_factory=list, kw_only=True)

    @property
    def tenant_id(self):  # noqa: ANN201 - uuid.UUID
        return self.scope.tenant_id

    async def emit(
        self,
        entity: str,
        action: str,
        entity_id: Any,
        *,
        actor: Actor,
        data: dict[str, Any] | None = None,
        version: int = 1,
    ) -> Event:
        """Write an event to this service's outbox, in this transaction."""
        event = new_event(
            service=self.service, tenant_id=self.scope.tenant_id, entity=entity, action=action,
            entity_id=entity_id, actor=actor, data=data, version=version,
        )
        from shared.telemetry import current_trace_headers  # local: telemetry imports nothing of db

        await self.conn.execute(
            f"INSERT INTO {self.schema}.outbox (id, tenant_id, subject, payload, headers) VALUES ($1, $2, $3, $4, $5)",
            event.id, event.tenant_id, event.subject, encode_event(event), current_trace_headers(),
        )
        self.events.append(event)
        return event

    async def emit_many(
        self, entity: str, action: str, items: list[tuple[Any, int, dict[str, Any]]], *, actor: Actor,
    ) -> list[Event]:
        """``emit`` for many records at once: ``items`` are ``(entity_id, version, data)``; one INSERT."""
        events = [
            new_event(service=self.service, tenant_id=self.scope.tenant_id, entity=entity, action=action,
                      entity_id=entity_id, actor=actor, data=data, version=version)
            for entity_id, version, data in items
        ]
        await self.write_events(events)
        return events

    async def write_events(self, events: Sequence[Event], *, bulk: bool = False) -> None:
        """Write events of this tenant, made with ``new_event``, to the outbox in one INSERT, in
        order. ``bulk`` (imports): the relay publishes them after every other waiting event, so
        one person's write is not held behind 100,000 imported rows."""
        if not events:
            return
        from shared.telemetry import current_trace_headers  # local: telemetry imports nothing of db

        await self.conn.execute(
            f"""INSERT INTO {self.schema}.outbox (id, tenant_id, subject, payload, headers, bulk)
                SELECT i, $1, s, p, $5, $6
                FROM unnest($2::uuid[], $3::text[], $4::bytea[]) WITH ORDINALITY AS t(i, s, p, n)
                ORDER BY n""",
            self.scope.tenant_id, [e.id for e in events], [e.subject for e in events],
            [encode_event(e) for e in events], current_trace_headers(), bulk,
        )
        self.events.extend(events)


class ServiceDatabase:
    """One service's view of the pool: its schema, its outbox, its units of work."""

    def __init__(self, database: Database, service: str, schema: str) -> None:
        self.database = database
        self.service = service
        self.schema = schema

    @property
    def pool(self) -> asyncpg.Pool:
        return self.database.pool

    def _pool(self, background: bool) -> asyncpg.Pool:
        return self.database.background_pool if background else self.database.pool

    @asynccontextmanager
    async def tenant_unit(
        self, scope: TenantScope, *, background: bool = False, purging: bool = False, read_only: bool = False
    ) -> AsyncIterator[Unit]:
        """A transaction of one tenant; ``background`` for bulk work (``Database``); ``read_only``
        for a unit that only reads (``BEGIN READ ONLY``: PostgreSQL refuses any write in it).

        BEGIN, setting the tenant and the purge check go to PostgreSQL as one message: one round
        trip instead of two. A tenant this service purges (``<schema>.purged_tenants``,
        shared.tenant_purge) is refused with ``TenantGone`` there, so no late event, job or cached
        credential writes its rows again; only the purge itself passes ``purging``."""
        if not isinstance(scope, TenantScope):
            raise TypeError("tenant_unit needs a TenantScope from shared.tenancy")
        # A UUID's text is hex digits and dashes only: safe as a literal in the simple protocol,
        # which takes no parameters (and is what lets the three statements share one message).
        tenant = str(uuid.UUID(str(scope.tenant_id)))
        setup = (f"SELECT set_config('app.tenant_id', '{tenant}', true);"
                 f"SELECT 1 FROM {self.schema}.purged_tenants WHERE id = '{tenant}'::uuid")
        async with self._pool(background).acquire() as conn:
            # The pool hands out a proxy; a Transaction works on the connection behind it.
            transaction = _TenantTransaction(getattr(conn, "_con", conn), setup, readonly=read_only)
            async with transaction:
                if transaction.gone and not purging:
                    raise TenantGone()
                yield Unit(conn, self.service, self.schema, scope=scope)

    @asynccontextmanager
    async def system_unit(self, *, background: bool = False) -> AsyncIterator[SystemUnit]:
        async with self._pool(background).acquire() as conn, conn.transaction():
            yield SystemUnit(conn, self.service, self.schema)
