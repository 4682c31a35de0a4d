"""Deleting a deleted tenant's data from a service: export it for the operator, purge it, report.

The flow (``services/identity/README.md`` has the whole of it):

1. identity deletes its own rows and publishes ``tenant.deleted`` (``crm.identity.<tenant>.tenant.deleted``);
2. every service holding tenant data runs a ``TenantPurger``: its durable consumer records the
   request in ``<schema>.purged_tenants`` (from then on ``tenant_unit`` refuses the tenant, so no late
   event, job or cached credential writes its rows again), and its worker, as the owning role:
   a. exports every table of the schema that has a ``tenant_id`` column (JSON Lines, one file per
      table, streamed a chunk of rows at a time) and the service's files into the service's own
      file store (``shared/files.py``: ``<schema>.files`` under the tenant's RLS, or its part of the
      S3 bucket), keys ``<tenant>/tenant-export/<service>/{tables/<table>.jsonl, files/..., manifest.json}``
      with ``manifest.json`` written last. Not the pod's disk: every replica reads it, and the
      service serves its part to the operator (``shared/http/tenant_exports.py``);
   b. deletes every row of the tenant from every such table (outbox and inbox included), children
      before parents, in batches of their own transactions, and repeats until a pass finds nothing
      (the export's files excepted: they are what the operator keeps of the tenant);
      then the service's own extras (files, search engine documents, its tenant registry row);
   c. publishes ``tenant.purged`` (``crm.<service>.<tenant>.tenant.purged``), which identity records;
3. once every service has reported, identity purges the tenant's messages from every JetStream
   stream (``purge_tenant_messages``) and marks the deletion complete.

Each step records its completion in ``purged_tenants`` (``exported_at``, ``purged_at``,
``reported_at``), so a crash resumes at the step it interrupted: an export is written again from
the start (each file is replaced; readers see a file only once it is complete), a purge continues
with the rows still there (children went first, so what is left is consistent), a report is sent
once. Tables are found in the catalogue, so a new table cannot be forgotten by the export or the
purge.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import msgspec
from nats.js.errors import NotFoundError

from shared.db import Database, ServiceDatabase, SystemUnit, Unit, advisory_lock
from shared.events.bus import DEAD_LETTER_STREAM, DEAD_LETTER_SUBJECT_ROOT, Bus, service_stream_name
from shared.events.consumer import HDR_ORIGINAL_SUBJECT, EventConsumer
from shared.events.envelope import SUBJECT_ROOT, Actor, Event
from shared.files import FileStore, store_for
from shared.tenancy import scope_for_system

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.tenant_purge")

EXPORT_KIND = "tenant-export"
# The tables of the file store: the purge keeps the export's rows of them (``export_prefix``).
FILE_TABLES = ("files", "file_chunks")
DELETED_SUBJECT = f"{SUBJECT_ROOT}.identity.*.tenant.deleted"
# Platform tables: they hold events in flight, not the tenant's data; purged, never exported.
# files, file_chunks: the file store (the export itself is written there); a service's files are
# exported as files (export_files), not as rows.
NOT_EXPORTED = ("outbox", "inbox", "files", "file_chunks")
_SYSTEM = Actor(kind="system")
_ENCODER = msgspec.json.Encoder(enc_hook=str)  # inet, ranges and other exotic values as text


# --- where exports go: the service's file store ------------------------------------------------


def export_prefix(tenant_id: uuid.UUID, service: str = "") -> str:
    """``<tenant>/tenant-export/<service>/``: the keys of one service's part of a tenant's export in
    its file store (identity's is ``<tenant>/tenant-export/identity.json``); without ``service``,
    of every part."""
    return f"{tenant_id}/{EXPORT_KIND}/" + (f"{service}/" if service else "")


# --- the tables of a tenant ----------------------------------------------------------------------


@dataclass(frozen=True)
class TenantTable:
    name: str
    self_referencing: bool  # its rows reference each other: deleted in one statement, not batches


async def tenant_tables(unit: SystemUnit, schema: str) -> list[TenantTable]:
    """Every table of ``schema`` with a ``tenant_id`` column, children before their parents."""
    names = [r["relname"] for r in await unit.fetch(
        """SELECT c.relname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
           WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           ORDER BY c.relname""", schema)]
    edges = [(r["child"], r["parent"]) for r in await unit.fetch(
        """SELECT src.relname AS child, dst.relname AS parent FROM pg_constraint k
           JOIN pg_class src ON src.oid = k.conrelid
           JOIN pg_class dst ON dst.oid = k.confrelid
           JOIN pg_namespace n ON n.oid = src.relnamespace
           WHERE k.contype = 'f' AND n.nspname = $1""", schema)]
    self_referencing = {child for child, parent in edges if child == parent}
    referenced_by: dict[str, set[str]] = {name: set() for name in names}
    for child, parent in edges:
        if child != parent and parent in referenced_by and child in referenced_by:
            referenced_by[parent].add(child)
    ordered: list[str] = []
    remaining = list(names)
    while remaining:
        # A table goes once no remaining table references it (its children are gone).
        ready = [t for t in remaining if not (referenced_by[t] & set(remaining))] or remaining[:1]
        ordered += ready
        remaining = [t for t in remaining if t not in ready]
    return [TenantTable(name, name in self_referencing) for name in ordered]


async def allow_purge(unit: Unit) -> None:
    """Let this transaction delete the tenant's entries of append-only tables (platform.sql)."""
    await unit.execute("SELECT set_config('huike.purging_tenant', $1, true)", str(unit.tenant_id))


def _count(status: str) -> int:
    return int(status.split()[-1])


async def delete_in_unit(unit: Unit, tables: Sequence[TenantTable]) -> dict[str, int]:
    """Delete the unit's tenant from ``tables`` in this one transaction (small services: identity)."""
    await allow_purge(unit)
    counts: dict[str, int] = {}
    for table in tables:
        counts[table.name] = _count(await unit.execute(
            f"DELETE FROM {unit.schema}.{table.name} WHERE tenant_id = $1", unit.tenant_id))
    return counts


async def delete_tenant_rows(db: ServiceDatabase, tenant_id: uuid.UUID, *, batch_size: int = 5000,
                             max_passes: int = 5) -> dict[str, int]:
    """Delete every row of the tenant from the service's schema, a batch per transaction, children
    first; pass again until a pass finds nothing (a unit of work begun before the purge started
    may still have committed a row meanwhile). Safe to run again after a crash at any point."""
    async with db.system_unit() as unit:
        tables = await tenant_tables(unit, db.schema)
    counts = {t.name: 0 for t in tables}
    kept = export_prefix(tenant_id)
    for _ in range(max_passes):
        found = 0
        for table in tables:
            # The export's files stay: they are the operator's copy of the tenant.
            keep = " AND NOT starts_with(key, $2)" if table.name in FILE_TABLES else ""
            args = (tenant_id, kept) if keep else (tenant_id,)
            while True:
                async with db.tenant_unit(scope_for_system(tenant_id), purging=True) as unit:
                    await allow_purge(unit)
                    if table.self_referencing:
                        sql = f"DELETE FROM {db.schema}.{table.name} WHERE tenant_id = $1{keep}"
                    else:  # tenant_id leads every index: each batch is an index range, not a scan
                        sql = (f"DELETE FROM {db.schema}.{table.name} WHERE ctid = ANY(ARRAY("
                               f"SELECT ctid FROM {db.schema}.{table.name} WHERE tenant_id = $1{keep} "
                               f"LIMIT {batch_size}))")
                    deleted = _count(await unit.execute(sql, *args))
                counts[table.name] += deleted
                found += deleted
                if table.self_referencing or deleted < batch_size:
                    break
        if not found:
            return counts
    raise RuntimeError(f"rows of tenant {tenant_id} keep appearing in schema {db.schema}")


async def export_tenant_tables(db: ServiceDatabase, tenant_id: uuid.UUID, store: FileStore, prefix: str, *,
                               skip: Sequence[str] = NOT_EXPORTED, chunk_rows: int = 1000) -> dict[str, int]:
    """Every table with a ``tenant_id`` column, as the file ``<prefix><table>.jsonl`` of ``store``
    (one row a line), written ``chunk_rows`` at a time: a big table is never held whole in memory."""
    async with db.system_unit() as unit:
        tables = [t.name for t in await tenant_tables(unit, db.schema) if t.name not in skip]
    counts: dict[str, int] = {}
    for table in sorted(tables):
        rows = 0
        async with store.create(f"{prefix}{table}.jsonl") as sink:
            async with db.tenant_unit(scope_for_system(tenant_id), purging=True, background=True) as unit:
                chunk: list[bytes] = []
                async for row in unit.conn.cursor(
                    f"SELECT * FROM {db.schema}.{table} WHERE tenant_id = $1", tenant_id, prefetch=chunk_rows
                ):
                    chunk.append(_ENCODER.encode(dict(row)) + b"\n")
                    if len(chunk) >= chunk_rows:
                        await sink.write(b"".join(chunk))
                        rows, chunk = rows + len(chunk), []
                await sink.write(b"".join(chunk))
                rows += len(chunk)
        counts[table] = rows
    return counts


# --- JetStream ------------------------------------------------------------------------------------


async def purge_tenant_messages(bus: Bus, tenant_id: uuid.UUID) -> dict[str, int]:
    """Remove the tenant's retained messages: ``crm.<service>.<tenant>.>`` from every event stream,
    and dead letters whose original subject (or payload) names the tenant. Answers, per stream,
    how many messages went (dead letters: those found by reading the stream through)."""
    removed: dict[str, int] = {}
    for info in await bus.js.streams_info():
        name = info.config.name or ""
        for subject in info.config.subjects or []:
            parts = subject.split(".")
            if len(parts) != 3 or parts[0] != SUBJECT_ROOT or parts[2] != ">":
                continue
            tenant_subjects = f"{SUBJECT_ROOT}.{parts[1]}.{tenant_id}.>"
            held = await bus.js.stream_info(name, subjects_filter=tenant_subjects)
            count = sum((held.state.subjects or {}).values())
            if count:
                await bus.js.purge_stream(name, subject=tenant_subjects)
            removed[name] = removed.get(name, 0) + count
    removed[DEAD_LETTER_STREAM] = await _purge_dead_letters(bus, tenant_id)
    return removed


async def _purge_dead_letters(bus: Bus, tenant_id: uuid.UUID) -> int:
    # A dead letter's subject names the stream and consumer, not the tenant: read them through.
    in_subject, in_payload = f".{tenant_id}.", str(tenant_id).encode()
    deleted, seq = 0, 1
    while True:
        try:
            msg = await bus.js.get_msg(DEAD_LETTER_STREAM, seq=seq, subject=f"{DEAD_LETTER_SUBJECT_ROOT}.>",
                                       next=True)
        except NotFoundError:
            return deleted
        original = (msg.headers or {}).get(HDR_ORIGINAL_SUBJECT, "")
        if in_subject in original or in_payload in (msg.data or b""):
            await bus.js.delete_msg(DEAD_LETTER_STREAM, msg.seq or seq)
            deleted += 1
        seq = (msg.seq or seq) + 1


# --- one service's purger -------------------------------------------------------------------------

MANIFEST = "manifest.json"


def export_store(runtime: Runtime, owner_db: ServiceDatabase) -> FileStore:
    """The service's file store as the purge uses it (the owning role's units, the tenant refused
    to everyone else)."""
    return store_for(runtime.settings, owner_db, purging=True)


ExportFiles = Callable[[uuid.UUID, FileStore, str], Awaitable[int]]
PurgeMore = Callable[[ServiceDatabase, uuid.UUID], Awaitable[dict[str, int]]]


class TenantPurger:
    """A service's part in deleting a tenant (module docstring): a durable consumer of
    ``tenant.deleted`` and a worker that exports, purges and reports.

    ``export_tables``: export the schema's tenant tables (a service whose data is derived, like
    search, exports nothing). ``export_files(tenant, store, prefix)`` copies the tenant's files to
    ``<prefix><their key without the tenant>`` in ``store`` (answers how many); ``purge_more(owner_db, tenant)`` deletes what is not a row of a tenant
    table (files, an external index, the service's tenant registry), answering counts."""

    def __init__(
        self,
        runtime: Runtime,
        service: str,
        *,
        export_tables: bool = True,
        export_files: ExportFiles | None = None,
        purge_more: PurgeMore | None = None,
        poll_interval: float = 30.0,
        batch_size: int = 5000,
    ) -> None:
        self.runtime = runtime
        self.service = service
        self.db = runtime.db(service)
        self.export_tables = export_tables
        self.export_files = export_files
        self.purge_more = purge_more
        self.poll_interval = poll_interval
        self.batch_size = batch_size
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: EventConsumer | None = None

    def __repr__(self) -> str:
        return f"TenantPurger({self.service})"

    async def start(self) -> TenantPurger:
        assert self.runtime.bus is not None
        self._consumer = EventConsumer(
            self.runtime.bus, self.db, name=f"{self.service}-tenant-purge", stream=service_stream_name("identity"),
            subjects=(DELETED_SUBJECT,), handler=self._requested, on_applied=lambda _event: self._wake.set(),
        )
        await self._consumer.start()
        self._task = asyncio.create_task(self._loop(), name=f"tenant-purge:{self.service}")
        return self

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._task is not None:
            self._task.cancel()  # every step works in transactions: a cancelled one rolls back
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _requested(self, unit: Unit, event: Event) -> None:
        """From this commit on, the tenant's units of work are refused (shared.db)."""
        await unit.execute(
            f"INSERT INTO {self.db.schema}.purged_tenants (id, details) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            unit.tenant_id, {"event_id": str(event.id)},
        )

    async def _loop(self) -> None:
        failures = 0
        while True:
            delay = self.poll_interval
            try:
                await self.run_once()
                failures = 0
            except Exception:  # noqa: BLE001 - database or disk trouble: try again with back-off
                failures += 1
                delay = min(self.poll_interval, 2.0 * 2**failures)
                log.exception("%r: purging failed; retrying in %.0f s", self, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()

    async def run_once(self) -> list[uuid.UUID]:
        """Take every requested purge that has not been reported yet to its end; answers their ids."""
        async with self.db.system_unit() as unit:
            pending = [r["id"] for r in await unit.fetch(
                f"SELECT id FROM {self.db.schema}.purged_tenants WHERE reported_at IS NULL ORDER BY requested_at")]
        if not pending:
            return []
        owner_url = self.runtime.settings.database_owner_url
        if not owner_url:
            log.warning("%r: %d tenant(s) wait to be purged but HUIKE_DATABASE_OWNER_URL is not set", self, len(pending))
            return []
        owner = await Database.connect(owner_url, min_size=1, max_size=3, background_size=1)
        done: list[uuid.UUID] = []
        try:
            owner_db = owner.for_service(self.service, self.db.schema)
            for tenant_id in pending:
                # One replica at a time per tenant: the lock lives as long as this connection holds it.
                key = f"tenant-purge:{self.db.schema}:{tenant_id}"
                async with advisory_lock(owner.pool, key) as held:
                    if not held:
                        continue
                    await self.purge(owner_db, tenant_id)
                    done.append(tenant_id)
        finally:
            await owner.close()
        return done

    async def purge(self, owner_db: ServiceDatabase, tenant_id: uuid.UUID) -> None:
        """Export, purge and report one tenant, each step once (see the module docstring)."""
        schema = owner_db.schema
        async with owner_db.system_unit() as unit:
            state = await unit.fetchrow(f"SELECT * FROM {schema}.purged_tenants WHERE id = $1", tenant_id)
        if state is None or state["reported_at"] is not None:
            return  # not requested, or another replica finished it meanwhile
        details: dict[str, Any] = dict(state["details"])
        if state["exported_at"] is None:
            store, prefix = export_store(self.runtime, owner_db), export_prefix(tenant_id, self.service)
            tables = (await export_tenant_tables(owner_db, tenant_id, store, prefix + "tables/")
                      if self.export_tables else {})
            files = await self.export_files(tenant_id, store, prefix + "files/") if self.export_files else 0
            manifest = {
                "format": "huike.tenant-export/1", "service": self.service, "tenant_id": str(tenant_id),
                "exported_at": datetime.now(UTC).isoformat(), "tables": tables, "files": files,
            }
            async with store.create(prefix + MANIFEST) as sink:  # last: the export is whole
                await sink.write(json.dumps(manifest, ensure_ascii=False, indent=2).encode())
            details["export"] = {"prefix": prefix, "tables": tables, "files": files}
            await self._step(owner_db, tenant_id, "exported_at", details)
            log.info("%r: exported tenant %s to %s", self, tenant_id, prefix)
        if state["purged_at"] is None:
            deleted = await delete_tenant_rows(owner_db, tenant_id, batch_size=self.batch_size)
            if self.purge_more is not None:
                deleted.update(await self.purge_more(owner_db, tenant_id))
            details["rows_deleted"] = {name: n for name, n in deleted.items() if n}
            await self._step(owner_db, tenant_id, "purged_at", details)
            log.info("%r: purged tenant %s", self, tenant_id)
        if state["reported_at"] is None:
            async with owner_db.tenant_unit(scope_for_system(tenant_id), purging=True) as unit:
                await unit.emit("tenant", "purged", tenant_id, actor=_SYSTEM, data={
                    "service": self.service, "export": details.get("export", {}).get("prefix"),
                    "rows_deleted": details.get("rows_deleted", {}), "files": details.get("export", {}).get("files", 0),
                })
                await unit.execute(f"UPDATE {schema}.purged_tenants SET reported_at = now() WHERE id = $1", tenant_id)

    async def _step(self, owner_db: ServiceDatabase, tenant_id: uuid.UUID, column: str,
                    details: dict[str, Any]) -> None:
        async with owner_db.system_unit() as unit:
            await unit.execute(
                f"UPDATE {owner_db.schema}.purged_tenants SET {column} = now(), details = $2 WHERE id = $1",
                tenant_id, details)
