"""Loading the records benchmark's data set into a running embedded default.

Tenants, departments and users are made through the API as people make them (sign-up,
departments, invitations accepted), so identity, the directory mirror and the events are real.
Customers and interactions are bulk-loaded with COPY (asyncpg ``copy_records_to_table``) as the
database owner straight into ``records.customers`` / ``records.interactions``, with each customer's
duplicate match keys (``domain.duplicates.match_keys``, what every create and import stores) into
``records.match_keys``, so the duplicate check runs against a real tenant's keys: the secondary
indexes of those tables are dropped for the load and rebuilt from their own definitions
(``pg_get_indexdef``) afterwards, the way any bulk load into PostgreSQL is done. Customers'
``last_interaction_at`` / ``next_follow_up_at`` are then set from their interactions in one
set-based UPDATE, the tables compacted and analysed.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.records_data import CUSTOMER_COLUMNS, INTERACTION_COLUMNS, Owner, RecordsData
from services.records.domain.duplicates import match_keys, name_key

PASSWORD = "Orchid-Lantern-Quartz-58"
DEPARTMENTS = ("华东销售部", "华南销售部", "华北销售部", "大客户部", "海外业务部")
BATCH = 20_000


@dataclass
class Tenant:
    id: uuid.UUID
    slug: str
    admin_id: uuid.UUID
    admin_email: str
    owners: list[Owner] = field(default_factory=list)


@dataclass
class Loaded:
    """What the measures need to know about the data set."""

    big: Tenant
    tenants: list[Tenant]
    # customers of the big tenant that have interactions (for timelines)
    with_interactions: list[uuid.UUID]
    customers: int
    interactions: int
    phases: dict[str, float]


async def _ok(answer: httpx.Response, status: int = 201) -> dict[str, Any]:
    if answer.status_code != status:
        raise SystemExit(f"{answer.request.method} {answer.request.url.path} answered {answer.status_code}: {answer.text}")
    return answer.json()


async def login(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, str]:
    """Fresh access-token headers for the tenant's administrator (tokens live 15 minutes)."""
    body = await _ok(await client.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": tenant.admin_email, "password": PASSWORD}), 200)
    return {"Authorization": f"Bearer {body['access_token']}"}


async def _gather_limited(calls: list[Callable[[], Any]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Any]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def make_tenants(client: httpx.AsyncClient, data: RecordsData, count: int, users: int) -> list[Tenant]:
    """``count`` tenants by sign-up; the first (the big one) gets departments and ``users`` users
    in all (its administrator and sales people invited into the departments)."""
    rng = random.Random(11)

    async def sign_up(index: int) -> Tenant:
        company = "汇客基准科技有限公司" if index == 0 else f"{rng.choice(data.zh_prefixes)}{index}贸易有限公司"
        email = f"admin{index}@bench{index}.example.com"
        body = await _ok(await client.post("/api/v1/signup", json={
            "company_name": company, "admin_email": email, "admin_password": PASSWORD,
            "admin_name": rng.choice(data.zh_people)}))
        return Tenant(uuid.UUID(body["tenant"]["id"]), body["tenant"]["slug"], uuid.UUID(body["user"]["id"]), email)

    tenants = await _gather_limited([lambda i=i: sign_up(i) for i in range(count)], 4)
    for tenant in tenants[1:]:
        tenant.owners = [Owner(tenant.admin_id, None)]
    big = tenants[0]
    headers = await login(client, big)
    root = await _ok(await client.post("/api/v1/departments", json={"name": "销售中心"}, headers=headers))
    departments = [
        uuid.UUID((await _ok(await client.post("/api/v1/departments", json={"name": name, "parent_id": root["id"]},
                                               headers=headers)))["id"])
        for name in DEPARTMENTS
    ]

    async def member(index: int) -> Owner:
        department = departments[index % len(departments)]
        invited = await _ok(await client.post("/api/v1/invitations", headers=headers, json={
            "email": f"sales{index}@bench0.example.com", "name": rng.choice(data.zh_people), "roles": ["sales"],
            "department_id": str(department)}))
        accepted = await _ok(await client.post("/api/v1/invitations/accept", json={
            "token": invited["token"], "password": PASSWORD}))
        me = await _ok(await client.get("/api/v1/me", headers={
            "Authorization": f"Bearer {accepted['access_token']}"}), 200)
        return Owner(uuid.UUID(me["user"]["id"]), department)

    big.owners = [Owner(big.admin_id, None), *await _gather_limited(
        [lambda i=i: member(i) for i in range(1, users)], 4)]
    return tenants


async def wait_for_directory(owner: asyncpg.Connection, tenant: Tenant, timeout: float = 60) -> None:
    """The records directory mirror learns users from identity's events; wait until it knows them all."""
    deadline = time.monotonic() + timeout
    while await owner.fetchval("SELECT count(*) FROM records.directory_users WHERE tenant_id = $1",
                               tenant.id) < len(tenant.owners):
        if time.monotonic() > deadline:
            raise SystemExit("the records directory did not learn the benchmark's users in time")
        await asyncio.sleep(0.5)


async def _secondary_indexes(owner: asyncpg.Connection, tables: tuple[str, ...]) -> list[tuple[str, str]]:
    """(name, definition) of the indexes of ``tables`` that back no constraint."""
    rows = await owner.fetch(
        """SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
           FROM pg_index i
           WHERE i.indrelid = ANY($1::regclass[])
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
        list(tables),
    )
    return [(r["name"], r["definition"]) for r in rows]


class _Progress:
    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self.started, self.shown = label, total, 0, time.monotonic(), 0.0

    def add(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.shown > 10 or self.done == self.total:
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            print(f"  {self.label}: {self.done:,} / {self.total:,} ({rate:,.0f} rows/s)", flush=True)


MATCH_KEY_COLUMNS = ("tenant_id", "entity", "record_id", "kind", "key")
_COLUMN = {name: index for index, name in enumerate(CUSTOMER_COLUMNS)}


def customer_keys(row: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The match_keys rows of a customer row (its phone, e-mail and USCC are valid already). Names
    repeat in the generated data, so their keys are computed once per distinct name."""
    record = {"uscc": row[_COLUMN["uscc"]], "phone": row[_COLUMN["primary_phone"]],
              "email": row[_COLUMN["primary_email"]]}
    keys = match_keys("customer", record, "CN", normalised=True)
    keys += [("name", key) for name in (row[_COLUMN["name"]], *row[_COLUMN["aliases"]]) if (key := _name_key(name))]
    return [(row[_COLUMN["tenant_id"]], "customer", row[_COLUMN["id"]], kind, key)
            for kind, key in dict.fromkeys(keys)]


_name_key = functools.lru_cache(maxsize=500_000)(name_key)


async def load(client: httpx.AsyncClient, owner_url: str, *, customers: int, interactions: int, tenants: int,
               other_customers: int, users: int, seed: int = 7) -> Loaded:
    """Make the tenants and users through the API, then COPY the records; every phase is timed."""
    phases: dict[str, float] = {}
    rng = random.Random(seed)
    data = RecordsData(seed)
    started = time.monotonic()
    all_tenants = await make_tenants(client, data, tenants, users)
    big = all_tenants[0]
    owner = await asyncpg.connect(owner_url)
    try:
        await wait_for_directory(owner, big)
        phases["tenants and users through the API"] = time.monotonic() - started
        # Session settings of this loading connection only (a bulk load's usual ones).
        await owner.execute("SET maintenance_work_mem = '512MB'; SET synchronous_commit = off")
        tables = ("records.customers", "records.interactions", "records.match_keys")
        dropped = await _secondary_indexes(owner, tables)
        for name, _ in dropped:
            await owner.execute(f"DROP INDEX {name}")
        # A foreign key checks (and share-locks, dirtying) the customer row of every interaction
        # COPYed; added back afterwards it validates all rows in one join.
        foreign = await owner.fetch(
            """SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS definition
               FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY($1::regclass[])""", list(tables))
        for fk in foreign:
            await owner.execute(f'ALTER TABLE {fk["tbl"]} DROP CONSTRAINT "{fk["conname"]}"')

        now = datetime.now(UTC).replace(microsecond=0)
        plan = [(big, customers, interactions)] + [(t, other_customers, other_customers * 3) for t in all_tenants[1:]]
        total_customers = sum(p[1] for p in plan)
        total_interactions = sum(p[2] for p in plan)
        # Per customer what its interactions need: (tenant, id, owner, created_at, chinese).
        kept: list[tuple[uuid.UUID, uuid.UUID, Owner, datetime, bool]] = []
        spans: list[tuple[int, int]] = []
        weights = [3] + [1] * (len(big.owners) - 1) if len(big.owners) > 1 else [1]

        def customer_batches() -> Iterator[list[tuple[Any, ...]]]:
            progress = _Progress("customers", total_customers)
            for tenant, count, _ in plan:
                first = len(kept)
                owners = tenant.owners
                tenant_weights = weights if tenant is big else [1] * len(owners)
                for start in range(0, count, BATCH):
                    batch = []
                    for _ in range(min(BATCH, count - start)):
                        created = now - timedelta(seconds=rng.randrange(3 * 365 * 86400))
                        row = data.customer_row(tenant.id, rng.choices(owners, tenant_weights)[0], created)
                        kept.append((tenant.id, row[1], Owner(row[7], row[8]), created, "\u4e00" <= row[9][0] <= "\u9fff"))
                        batch.append(row)
                    yield batch
                    progress.add(len(batch))
                spans.append((first, len(kept)))

        t0 = time.monotonic()
        for batch in customer_batches():
            await owner.copy_records_to_table("customers", schema_name="records", columns=list(CUSTOMER_COLUMNS),
                                              records=batch)
            await owner.copy_records_to_table("match_keys", schema_name="records", columns=list(MATCH_KEY_COLUMNS),
                                              records=[key for row in batch for key in customer_keys(row)])
        phases["COPY customers and their match keys"] = time.monotonic() - t0

        with_interactions: list[uuid.UUID] = []
        two_years_ago = now - timedelta(days=730)

        def interaction_batches() -> Iterator[list[tuple[Any, ...]]]:
            progress = _Progress("interactions", total_interactions)
            for (tenant, _, count), (first, last) in zip(plan, spans, strict=True):
                # 60 % of the customers have interactions, a few of them very many (power law).
                active = list(range(first, last))
                rng.shuffle(active)
                active = active[: max(1, len(active) * 6 // 10)]
                if tenant is big:
                    with_interactions.extend(kept[i][1] for i in active)
                for start in range(0, count, BATCH):
                    batch = []
                    for _ in range(min(BATCH, count - start)):
                        tenant_id, customer_id, owner_of, created, chinese = kept[active[int(len(active) * rng.random() ** 1.5)]]
                        since = max(created, two_years_ago)
                        occurred = since + timedelta(seconds=rng.randrange(max(1, int((now - since).total_seconds()))))
                        batch.append(data.interaction_row(tenant_id, customer_id, owner_of, occurred, chinese))
                    yield batch
                    progress.add(len(batch))

        t0 = time.monotonic()
        for batch in interaction_batches():
            await owner.copy_records_to_table("interactions", schema_name="records",
                                              columns=list(INTERACTION_COLUMNS), records=batch)
        phases["COPY interactions"] = time.monotonic() - t0
        kept.clear()

        t0 = time.monotonic()
        # What the interactions API keeps up one by one (touch_interaction), in one statement:
        # the latest occurrence, and the follow-up of the latest interaction that set one.
        await owner.execute(
            """UPDATE records.customers c
               SET last_interaction_at = s.last_at, next_follow_up_at = s.follow_up
               FROM (SELECT tenant_id, customer_id, max(occurred_at) AS last_at,
                            (array_agg(next_follow_up_at ORDER BY occurred_at DESC)
                               FILTER (WHERE next_follow_up_at IS NOT NULL))[1] AS follow_up
                     FROM records.interactions WHERE deleted_at IS NULL
                     GROUP BY tenant_id, customer_id) s
               WHERE c.tenant_id = s.tenant_id AND c.id = s.customer_id"""
        )
        phases["UPDATE customers from interactions"] = time.monotonic() - t0
        t0 = time.monotonic()
        await owner.execute("VACUUM FULL records.customers")
        phases["VACUUM FULL customers (the UPDATE's old row versions)"] = time.monotonic() - t0
        t0 = time.monotonic()
        for _, definition in dropped:
            await owner.execute(definition)
        phases[f"rebuild {len(dropped)} secondary indexes"] = time.monotonic() - t0
        t0 = time.monotonic()
        for fk in foreign:
            await owner.execute(f'ALTER TABLE {fk["tbl"]} ADD CONSTRAINT "{fk["conname"]}" {fk["definition"]}')
        phases[f"add back and validate {len(foreign)} foreign keys"] = time.monotonic() - t0
        t0 = time.monotonic()
        await owner.execute("VACUUM (ANALYZE) records.customers")
        await owner.execute("VACUUM (ANALYZE) records.interactions")
        await owner.execute("VACUUM (ANALYZE) records.match_keys")
        phases["VACUUM ANALYZE"] = time.monotonic() - t0
    finally:
        await owner.close()
    phases["total"] = time.monotonic() - started
    return Loaded(big, all_tenants, with_interactions, total_customers, total_interactions, phases)


async def reload(owner_url: str) -> Loaded:
    """What ``load`` answered, read back from a kept data directory's database: the big tenant is
    the one with the most customers, its administrator the ``admin0@`` user ``make_tenants`` made."""
    owner = await asyncpg.connect(owner_url)
    try:
        counts = await owner.fetch("SELECT tenant_id, count(*) AS n FROM records.customers GROUP BY 1 ORDER BY 2 DESC")
        interactions = await owner.fetchval("SELECT count(*) FROM records.interactions")
        tenants = []
        for row in await owner.fetch(
                """SELECT t.id, t.slug, u.id AS admin_id, u.email FROM identity.tenants t
                   JOIN identity.users u ON u.tenant_id = t.id AND u.email LIKE 'admin%@bench%'"""):
            tenants.append(Tenant(row["id"], row["slug"], row["admin_id"], row["email"]))
        by_id = {t.id: t for t in tenants}
        big = by_id[counts[0]["tenant_id"]]
        tenants = [big, *(t for t in tenants if t is not big)]
        big.owners = [Owner(r["id"], r["department_id"]) for r in await owner.fetch(
            "SELECT id, department_id FROM records.directory_users WHERE tenant_id = $1 ORDER BY id = $2 DESC",
            big.id, big.admin_id)]
        with_interactions = [r["customer_id"] for r in await owner.fetch(
            """SELECT DISTINCT customer_id FROM records.interactions TABLESAMPLE SYSTEM (5)
               WHERE tenant_id = $1""", big.id)]
    finally:
        await owner.close()
    return Loaded(big, tenants, with_interactions, sum(r["n"] for r in counts), interactions, {})
