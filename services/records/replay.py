"""Replay of a tenant's records over NATS request/reply, for the search service's reindex and
reconciliation (a service never reads another's tables; it asks).

* ``huike.rpc.records.replay`` ``{"tenant_id", "entity", "after": id | null, "limit"}`` answers
  ``{"records": [...], "next": id | null}``: one page of the entity's live records in id order,
  every column as JSON (as the row is stored), so the caller pages through at its own pace; a
  customer, interaction, objection or opportunity also carries ``attachments`` (its live ones:
  ``[{"id", "name"}]``).
* ``huike.rpc.records.tenants`` ``{"after": id | null, "limit"}`` answers ``{"tenants": [...], "next"}``:
  the tenants records knows, in id order (workflows' backfill of timers goes through them).
* ``huike.rpc.records.counts`` ``{"tenant_id"}`` answers ``{"<entity>": {"count", "checksum"}}``
  over live records (checksum: a sum of hashes of ``id:version``), to detect drift cheaply.

Errors answer ``{"error": "..."}``. Requests come from inside the platform (NATS), never from a
client, so the tenant in the request is trusted like an event's.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from shared.tenancy import scope_for_system

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.records.replay")

REPLAY_SUBJECT = "huike.rpc.records.replay"
COUNTS_SUBJECT = "huike.rpc.records.counts"
TENANTS_SUBJECT = "huike.rpc.records.tenants"
QUEUE = "records-replay"
MAX_PAGE = 1000
# The same expression the search service computes over its index.
CHECKSUM = "coalesce(sum(('x' || substr(md5(id::text || ':' || version), 1, 8))::bit(32)::int::bigint), 0)"
TABLES = {"customer": "customers", "contact": "contacts", "interaction": "interactions",
          "objection": "objections", "task": "tasks", "opportunity": "opportunities"}

# A record that takes attachments is replayed with its live ones (``attachments``: ``[{"id", "name"}]``,
# oldest first): search finds a record by its files' names, and a reindex must rebuild that too.
ATTACHABLE = frozenset({"customer", "interaction", "objection", "opportunity"})
ATTACHED = """to_jsonb(t) || jsonb_build_object('attachments', coalesce((
    SELECT jsonb_agg(jsonb_build_object('id', a.id, 'name', a.name) ORDER BY a.created_at, a.id)
    FROM records.attachments a
    WHERE a.tenant_id = t.tenant_id AND a.entity = $4 AND a.record_id = t.id AND a.deleted_at IS NULL), '[]'))"""


class ReplayRequest(msgspec.Struct, frozen=True):
    tenant_id: uuid.UUID
    entity: str
    after: uuid.UUID | None = None
    limit: int = 500


class CountsRequest(msgspec.Struct, frozen=True):
    tenant_id: uuid.UUID


class TenantsRequest(msgspec.Struct, frozen=True):
    after: uuid.UUID | None = None
    limit: int = 500


class ReplayResponder:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db("records")
        self._subscriptions: list[Any] = []

    async def start(self) -> ReplayResponder:
        assert self.runtime.bus is not None
        nc = self.runtime.bus.nc
        self._subscriptions = [await nc.subscribe(REPLAY_SUBJECT, queue=QUEUE, cb=self._on_replay),
                               await nc.subscribe(COUNTS_SUBJECT, queue=QUEUE, cb=self._on_counts),
                               await nc.subscribe(TENANTS_SUBJECT, queue=QUEUE, cb=self._on_tenants)]
        return self

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            await subscription.unsubscribe()
        self._subscriptions = []

    async def _on_replay(self, msg: Any) -> None:
        try:
            request = msgspec.json.decode(msg.data, type=ReplayRequest)
            if request.entity not in TABLES:
                raise ValueError(f"unknown entity {request.entity!r}")
            limit = max(1, min(request.limit, MAX_PAGE))
            async with self.db.tenant_unit(scope_for_system(request.tenant_id), background=True) as unit:
                record = ATTACHED if request.entity in ATTACHABLE else "to_jsonb(t)"
                rows = await unit.fetch(
                    f"""SELECT id, {record} AS record FROM records.{TABLES[request.entity]} t
                        WHERE tenant_id = $1 AND deleted_at IS NULL AND ($2::uuid IS NULL OR id > $2)
                        ORDER BY id LIMIT $3""",
                    request.tenant_id, request.after, limit, *([request.entity] if request.entity in ATTACHABLE else []),
                )
            answer: dict[str, Any] = {"records": [r["record"] for r in rows],
                                      "next": str(rows[-1]["id"]) if len(rows) == limit else None}
        except Exception as exc:  # noqa: BLE001 - the caller gets the reason, we keep serving
            log.warning("replay request failed: %s", exc)
            answer = {"error": str(exc)[:500]}
        await msg.respond(msgspec.json.encode(answer))

    async def _on_tenants(self, msg: Any) -> None:
        try:
            request = msgspec.json.decode(msg.data, type=TenantsRequest)
            limit = max(1, min(request.limit, MAX_PAGE))
            async with self.db.system_unit() as unit:
                ids = [r["id"] for r in await unit.fetch(
                    "SELECT id FROM records.tenants WHERE $1::uuid IS NULL OR id > $1 ORDER BY id LIMIT $2",
                    request.after, limit)]
            answer: dict[str, Any] = {"tenants": [str(i) for i in ids],
                                      "next": str(ids[-1]) if len(ids) == limit else None}
        except Exception as exc:  # noqa: BLE001 - the caller gets the reason, we keep serving
            log.warning("tenants request failed: %s", exc)
            answer = {"error": str(exc)[:500]}
        await msg.respond(msgspec.json.encode(answer))

    async def _on_counts(self, msg: Any) -> None:
        try:
            request = msgspec.json.decode(msg.data, type=CountsRequest)
            selects = " UNION ALL ".join(
                f"SELECT '{entity}' AS entity, count(*) AS n, {CHECKSUM} AS checksum "
                f"FROM records.{table} WHERE tenant_id = $1 AND deleted_at IS NULL"
                for entity, table in TABLES.items()
            )
            async with self.db.tenant_unit(scope_for_system(request.tenant_id), background=True) as unit:
                rows = await unit.fetch(selects, request.tenant_id)
            answer: dict[str, Any] = {r["entity"]: {"count": r["n"], "checksum": int(r["checksum"])} for r in rows}
        except Exception as exc:  # noqa: BLE001
            log.warning("counts request failed: %s", exc)
            answer = {"error": str(exc)[:500]}
        await msg.respond(msgspec.json.encode(answer))


async def start_replay(runtime: Runtime) -> ReplayResponder:
    return await ReplayResponder(runtime).start()
