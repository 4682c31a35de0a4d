"""Duplicate scans: groups of live customers that match each other under the tenant's rules.

A scan is queued by the API and run in the background by ``jobs_data_quality`` (``kick`` wakes it
at once; scans still queued or running after a restart are picked up at start-up). It pages through
the tenant's customers (``PAGE`` at a time, one match query per page), records its progress
(``done`` of ``total``) after each page, and joins matching pairs into groups (union-find).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.records.db import duplicates as store
from services.records.domain import duplicates
from services.records.domain import settings as settings_domain
from services.records.domain.history import jsonable
from shared.db import ServiceDatabase, Unit
from shared.errors import NotFound
from shared.tenancy import scope_for_system

PAGE = 500
MAX_GROUPS = 1000
# Scans the API queued, for the background job: (tenant_id, scan_id).
_queue: asyncio.Queue[tuple[uuid.UUID, uuid.UUID]] | None = None


def pending() -> asyncio.Queue[tuple[uuid.UUID, uuid.UUID]]:
    global _queue
    if _queue is None:
        _queue = asyncio.Queue()
    return _queue


def out(row: Mapping[str, Any]) -> dict[str, Any]:
    return jsonable({k: row[k] for k in ("id", "status", "total", "done", "groups", "error", "created_by",
                                         "created_at", "started_at", "finished_at")})


async def queue(unit: Unit, user_id: uuid.UUID) -> asyncpg.Record:
    """A queued scan; after the unit commits, ``kick`` it."""
    return await store.insert_scan(unit, uuid.uuid4(), user_id)


def kick(tenant_id: uuid.UUID, scan_id: uuid.UUID) -> None:
    """Hand a committed scan to the background job (same process)."""
    pending().put_nowait((tenant_id, scan_id))


async def get(unit: Unit, scan_id: uuid.UUID) -> asyncpg.Record:
    row = await store.get_scan(unit, scan_id)
    if row is None:
        raise NotFound(f"No duplicate scan {scan_id}", kind="duplicate-scan-not-found")
    return row


async def run(db: ServiceDatabase, tenant_id: uuid.UUID, scan_id: uuid.UUID) -> None:
    """Run one scan to its end (status succeeded or failed)."""
    scope = scope_for_system(tenant_id)
    async with db.tenant_unit(scope) as unit:
        row = await store.get_scan(unit, scan_id)
        if row is None or row["status"] in ("succeeded", "failed"):
            return
        total = await store.count_live_customers(unit)
        await store.set_scan(unit, scan_id, status="running", total=total, done=0, started_at=datetime.now(UTC))
    try:
        groups = await _scan(db, scope, scan_id)
    except Exception as exc:  # noqa: BLE001 - the scan reports its failure
        async with db.tenant_unit(scope) as unit:
            await store.set_scan(unit, scan_id, status="failed", error=str(exc)[:500], finished_at=datetime.now(UTC))
        raise
    async with db.tenant_unit(scope) as unit:
        await store.set_scan(unit, scan_id, status="succeeded", groups=groups, finished_at=datetime.now(UTC))


async def _scan(db: ServiceDatabase, scope: Any, scan_id: uuid.UUID) -> list[dict[str, Any]]:
    parent: dict[uuid.UUID, uuid.UUID] = {}
    rules_of: dict[frozenset[uuid.UUID], set[str]] = {}

    def find(x: uuid.UUID) -> uuid.UUID:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    after, done = uuid.UUID(int=0), 0
    while True:
        async with db.tenant_unit(scope, background=True) as unit:
            cfg = await settings_domain.get(unit)
            rule_set = duplicates.resolved(await duplicates.rules(unit), cfg.duplicate_rule)
            active = {r for r in duplicates.RULES if rule_set.action(r, "warn") != "off"}
            page = await store.customer_page(unit, after, PAGE)
            indexes, kinds, keys = [], [], []
            for index, row in enumerate(page):
                for kind, key in zip(row["kinds"], row["keys"], strict=True):
                    if kind in active:
                        indexes.append(index)
                        kinds.append(kind)
                        keys.append(key)
            hits = await store.matches(unit, "customer", indexes, kinds, keys, threshold=rule_set.name_threshold,
                                       fuzzy="name" in active, exclude=[]) if keys else []
            weighed = [duplicates.evidence(zip(row["kinds"], row["keys"], strict=True), [row["name"], *row["aliases"]])
                       for row in page]
            for hit in hits:
                me = page[hit["idx"]]["id"]
                other = hit["record_id"]
                if other == me or hit["deleted_at"] is not None or not duplicates.match_stands(weighed[hit["idx"]], hit):
                    continue
                parent[find(me)] = find(other)
                rules_of.setdefault(frozenset((me, other)), set()).add(hit["kind"])
            done += len(page)
            await store.set_scan(unit, scan_id, done=done)
        if len(page) < PAGE:
            break
        after = page[-1]["id"]
    members: dict[uuid.UUID, list[uuid.UUID]] = {}
    for node in list(parent):
        members.setdefault(find(node), []).append(node)
    groups = []
    for ids in members.values():
        if len(ids) < 2:
            continue
        ids_set = set(ids)
        matched = sorted({r for pair, rs in rules_of.items() if pair <= ids_set for r in rs})
        groups.append({"ids": sorted(str(i) for i in ids), "rules": matched})
    groups.sort(key=lambda g: (-len(g["ids"]), g["ids"]))
    return groups[:MAX_GROUPS]
