"""The records benchmark: creates, a filtered list page and a customer's timeline on a big tenant.

Starts the embedded default (`python -m services.cli run` in a temporary data directory), makes
100 tenants and the big tenant's 50 users through the API, bulk-loads realistic Chinese and
English customers and interactions (bench/records_data.py, bench/records_load.py) and measures,
each for ``--seconds`` at ``--concurrency`` concurrent callers:

a. POST /api/v1/customers through the API (the raw-socket client of bench/load.py);
b. the same transaction (the customer row, its outbox event; field history when a change writes
   it) straight through asyncpg: the records service's own ``domain.customers.create`` in a
   tenant unit, as the runtime role, over a pool of the server's size;
c. GET /api/v1/customers pages of 50, filtered and sorted, on the big tenant;
d. GET /api/v1/customers/{id}/timeline of random customers with interactions;
e. the duplicate check against the big tenant's stored match keys (the loader writes them as every
   create does): ``POST /api/v1/duplicates/check`` with a stored customer's name under another
   legal form, with one character of it missing (the fuzzy trigram path), with its phone written
   as people write it, and with a new candidate; then ``POST /api/v1/customers`` of near
   duplicates (saved with a warning under the default rules). For each check kind, a sequential
   sample says how often the stored customer was among the candidates;

then prints EXPLAIN (ANALYZE, BUFFERS) summaries of the exact SQL the list and the timeline run
(captured from the service's own functions, as the runtime role under row-level security) and a
markdown table for README.md.

    python -m bench.records_bench [--customers 1000000] [--interactions 3000000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import msgspec
import psutil

from bench.load import EmbeddedStack, Result, http_load, http_request, markdown_table, ops_load
from bench.records_data import TAGS, RecordsData
from bench.records_load import Loaded, Tenant, load, login, reload
from services.records.api.common import keyset, open_list
from services.records.api.customers import LIST
from services.records.db import customers as customers_store
from services.records.domain import customers as customers_domain
from services.records.domain import timeline as timeline_domain
from services.records.domain.access import RecordAccess
from shared.auth import Permissions, Principal, PrincipalData
from shared.db import Database, Unit
from shared.settings import Settings
from shared.tenancy import scope_from_credential

# A common tag (about a quarter of the customers) and a rare one (under 1 %).
COMMON_TAG, RARE_TAG = TAGS[0], TAGS[-1]


# --- the same transaction straight through asyncpg -------------------------------------------------


async def record_access(client: httpx.AsyncClient, headers: dict[str, str]) -> RecordAccess:
    """The administrator's RecordAccess, from their verified token's /me (what the API builds per request)."""
    me = (await client.get("/api/v1/me", headers=headers)).json()
    data = PrincipalData(
        tenant_id=uuid.UUID(me["tenant"]["id"]), tenant_slug=me["tenant"]["slug"], user_id=uuid.UUID(me["user"]["id"]),
        email=me["user"]["email"], name=me["user"]["name"],
        department_id=uuid.UUID(me["user"]["department_id"]) if me["user"]["department_id"] else None,
        roles=[r["key"] for r in me["roles"]], permissions=msgspec.convert(me["permissions"], Permissions),
    )
    return RecordAccess(Principal(data, scope_from_credential(data.tenant_id)))


# --- EXPLAIN of the service's own SQL ---------------------------------------------------------------


class Recorder:
    """Stands in for a Unit's asyncpg connection: runs every statement and keeps its SQL and arguments."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.statements: list[tuple[str, tuple[Any, ...]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        self.statements.append((sql, args))
        return await self.conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        self.statements.append((sql, args))
        return await self.conn.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        self.statements.append((sql, args))
        return await self.conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        self.statements.append((sql, args))
        return await self.conn.execute(sql, *args)


@dataclass
class Plan:
    label: str
    sql: str
    execution_ms: float
    planning_ms: float
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The seventh execution of the same prepared statement (what the server runs from then on).
    cached_ms: float = 0.0
    cached_lines: list[str] = field(default_factory=list)
    cached_warnings: list[str] = field(default_factory=list)


def print_plan(plan: Plan, *, show_sql: bool) -> None:
    """A plan in markdown, with the plan the server keeps after the seventh execution when it differs."""
    print(f"### {plan.label}: execution {plan.execution_ms:.2f} ms, planning {plan.planning_ms:.2f} ms")
    print("```")
    print("\n".join(plan.lines))
    print("```")
    for warning in plan.warnings:
        print(f"**slow:** {warning}")
    if plan.cached_lines != plan.lines or plan.cached_ms > 2 * plan.execution_ms + 1:
        print(f"\nThe seventh execution of the same prepared statement (the plan the server keeps): "
              f"execution {plan.cached_ms:.2f} ms")
        print("```")
        print("\n".join(plan.cached_lines))
        print("```")
        for warning in plan.cached_warnings:
            print(f"**slow:** {warning}")
    else:
        print(f"\nThe seventh execution of the same prepared statement keeps this plan ({plan.cached_ms:.2f} ms).")
    print(f"SQL: {plan.sql if show_sql else plan.sql[:400]}\n")


def _walk(node: dict[str, Any], depth: int, lines: list[str], warnings: list[str]) -> None:
    kind = node["Node Type"]
    if kind == "Result" and not node.get("Filter") and not node.get("One-Time Filter"):
        # A projection (or the row-level security set-up): tells nothing about the access path.
        for child in node.get("Plans", []):
            _walk(child, depth, lines, warnings)
        return
    where = node.get("Index Name") or node.get("Relation Name") or ""
    detail = f" on {where}" if where else ""
    if node.get("Scan Direction") == "Backward":
        detail += " (backward)"
    if node.get("Sort Key"):
        detail += f" by {', '.join(node['Sort Key'])}"
        if node.get("Sort Method"):
            detail += f" [{node['Sort Method']}]"
    for key in ("Index Cond", "Recheck Cond", "Filter"):
        if node.get(key):
            detail += f"; {key.lower()}: {node[key]}"
    if node.get("Rows Removed by Filter"):
        detail += f"; removed by filter: {node['Rows Removed by Filter']:,}"
    if "Actual Rows" in node:
        rows = node["Actual Rows"] * node.get("Actual Loops", 1)
        buffers = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
        lines.append(f"{'  ' * depth}{kind}{detail} — rows {rows:,}, {node.get('Actual Total Time', 0):.2f} ms, "
                     f"buffers {buffers:,} (read {node.get('Shared Read Blocks', 0):,})")
    else:  # a plan that was not run: the planner's estimates
        rows = node.get("Plan Rows", 0)
        lines.append(f"{'  ' * depth}{kind}{detail} — estimated rows {rows:,}, cost {node.get('Total Cost', 0):,.0f}")
    relation = node.get("Relation Name", "")
    if kind == "Seq Scan" and relation in ("customers", "interactions"):
        warnings.append(f"sequential scan of records.{relation} ({rows:,} rows out)")
    if kind in ("Sort", "Incremental Sort"):
        child_rows = sum(c.get("Actual Rows", c.get("Plan Rows", 0)) * c.get("Actual Loops", 1)
                         for c in node.get("Plans", []))
        if child_rows > 10_000:
            warnings.append(f"sort of {child_rows:,} rows by {', '.join(node.get('Sort Key', []))}")
    if kind == "Bitmap Heap Scan" and rows > 10_000:
        warnings.append(f"bitmap heap scan of {rows:,} rows of records.{relation}")
    for child in node.get("Plans", []):
        _walk(child, depth + 1, lines, warnings)


async def explain(conn: asyncpg.Connection, label: str, sql: str, args: tuple[Any, ...]) -> Plan:
    raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", *args)
    doc = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    plan = Plan(label, " ".join(sql.split()), doc["Execution Time"], doc["Planning Time"])
    _walk(doc["Plan"], 1, plan.lines, plan.warnings)
    # The server runs the query as a prepared statement, many times: after five executions
    # PostgreSQL may keep a generic plan, blind to the values. Run it the same way and explain the
    # seventh execution: the plan the server really uses from then on.
    # EXECUTE takes no bound parameters: pass each value as a typed literal PostgreSQL writes itself.
    literals = []
    for value, parameter in zip(args, (await conn.prepare(sql)).get_parameters(), strict=True):
        type_name = await conn.fetchval("SELECT format_type($1, NULL)", parameter.oid)
        literals.append(await conn.fetchval(f"SELECT quote_nullable(($1::{type_name})::text)", value) + f"::{type_name}")
    await conn.execute(f"PREPARE bench_statement AS {sql}")
    try:
        call = f"EXECUTE bench_statement({', '.join(literals)})" if literals else "EXECUTE bench_statement"
        for _ in range(6):
            await conn.fetch(call)
        raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {call}")
    finally:
        await conn.execute("DEALLOCATE bench_statement")
    doc = (json.loads(raw) if isinstance(raw, str) else raw)[0]
    plan.cached_ms = doc["Execution Time"]
    _walk(doc["Plan"], 1, plan.cached_lines, plan.cached_warnings)
    return plan


async def explain_reads(app_db: Database, access: RecordAccess, owner_id: uuid.UUID,
                        customer_id: uuid.UUID) -> list[Plan]:
    """Run the list and the timeline through the service's own functions once (recording their SQL),
    then EXPLAIN ANALYZE the statements that read customers or interactions, in the same tenant
    transaction as the runtime role (row-level security on, as the API runs them)."""
    service_db = app_db.for_service("records")
    plans: list[Plan] = []
    lists = (
        ("list: lifecycle_stage + owner_id, sort -last_interaction_at",
         customers_domain.CustomerFilters(lifecycle_stage="customer", owner_id=owner_id)),
        (f"list: tag={COMMON_TAG} (common), sort -last_interaction_at", customers_domain.CustomerFilters(tag=COMMON_TAG)),
        (f"list: tag={RARE_TAG} (rare), sort -last_interaction_at", customers_domain.CustomerFilters(tag=RARE_TAG)),
    )
    async with service_db.tenant_unit(access.scope) as unit:
        for label, filters in lists:
            recorder = Recorder(unit.conn)
            recorded = Unit(recorder, unit.service, unit.schema, scope=unit.scope)  # type: ignore[arg-type]
            # What GET /api/v1/customers does (api/customers.py list_customers), on the recording unit.
            params = open_list(LIST, access, {}, limit=50, cursor=None, sort="-last_interaction_at")
            conds, args = await customers_domain.conditions(recorded, access, filters, {})
            after, order, after_args = keyset(params, "c", len(args) + 2)
            await customers_store.page(recorded, conditions=[*conds, after], args=[*args, *after_args], order=order,
                                       limit=params.limit, sort_expr=params.expr.format(a="c"))
            for sql, sql_args in recorder.statements:
                if "records.customers" in sql and sql.lstrip().upper().startswith("SELECT"):
                    plans.append(await explain(unit.conn, label, sql, sql_args))
        recorder = Recorder(unit.conn)
        recorded = Unit(recorder, unit.service, unit.schema, scope=unit.scope)  # type: ignore[arg-type]
        await timeline_domain.page(recorded, access, customer_id, after=None, limit=50)
        for sql, sql_args in recorder.statements:
            if "records.interactions" in sql:
                plans.append(await explain(unit.conn, "timeline, first page of 50", sql, sql_args))
    return plans


# --- the run ---------------------------------------------------------------------------------------


async def database_sizes(owner_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(owner_url)
    try:
        row = await conn.fetchrow(
            """SELECT pg_database_size(current_database()) AS database,
                      pg_table_size('records.customers') AS customers_table,
                      pg_indexes_size('records.customers') AS customers_indexes,
                      pg_table_size('records.interactions') AS interactions_table,
                      pg_indexes_size('records.interactions') AS interactions_indexes""")
        return dict(row)
    finally:
        await conn.close()


async def _tenant_counts(owner_url: str, tenant_id: uuid.UUID) -> tuple[int, int]:
    conn = await asyncpg.connect(owner_url)
    try:
        return (await conn.fetchval("SELECT count(*) FROM records.customers WHERE tenant_id = $1", tenant_id),
                await conn.fetchval("SELECT count(*) FROM records.interactions WHERE tenant_id = $1", tenant_id))
    finally:
        await conn.close()


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


async def measure(stack: EmbeddedStack, loaded: Loaded, client: httpx.AsyncClient, args: argparse.Namespace,
                  ) -> tuple[list[Result], list[Plan]]:
    big: Tenant = loaded.big
    rng = random.Random(5)
    data = RecordsData(seed=99)
    seconds, concurrency = args.seconds, args.concurrency
    results: list[Result] = []

    async def api(name: str, next_request: Any) -> Result:
        await http_load(name, stack.host, stack.port, next_request, 2, concurrency)  # warm-up
        result = await http_load(name, stack.host, stack.port, next_request, seconds, concurrency)
        print(f"  {name}: {result.rps:,.0f}/s p50 {result.p50_ms:.2f} ms p99 {result.p99_ms:.2f} ms "
              f"errors {result.errors} {result.first_error}", flush=True)
        return result

    # (a) creates through the API.
    headers = await login(client, big)

    def create_request() -> bytes:
        body = json.dumps(data.customer_body(), ensure_ascii=False).encode()
        return http_request("POST", "/api/v1/customers", stack.port, headers, body)

    results.append(await api("POST /api/v1/customers (API)", create_request))

    # (b) the same transaction straight through asyncpg, as the runtime role, with a pool of the
    # server's size (HUIKE_DB_POOL_MAX) and the same number of concurrent callers.
    access = await record_access(client, headers)
    pool_size = Settings().db_pool_max
    app_db = await Database.connect(stack.app_url, min_size=pool_size, max_size=pool_size)
    try:
        service_db = app_db.for_service("records")

        async def create_direct() -> None:
            body = msgspec.convert(data.customer_body(), customers_domain.CustomerCreate)
            async with service_db.tenant_unit(access.scope) as unit:
                await customers_domain.create(unit, access, body)

        await ops_load("warm-up", create_direct, 2, concurrency)
        direct = await ops_load("the same transaction via asyncpg (domain.create)", create_direct, seconds, concurrency)
        print(f"  {direct.name}: {direct.rps:,.0f}/s p50 {direct.p50_ms:.2f} ms p99 {direct.p99_ms:.2f} ms "
              f"errors {direct.errors} {direct.first_error}", flush=True)
        results.append(direct)

        # (c) list pages of 50, filtered and sorted, rotating over the big tenant's sales people.
        headers.update(await login(client, big))
        owners = [o.id for o in big.owners]

        def list_request(query: dict[str, str]) -> Any:
            def make() -> bytes:
                params = {**query, "sort": "-last_interaction_at", "limit": "50"}
                if "owner_id" in params:
                    params["owner_id"] = str(rng.choice(owners))
                return http_request("GET", f"/api/v1/customers?{urlencode(params)}", stack.port, headers)
            return make

        results.append(await api("GET /api/v1/customers?lifecycle_stage=customer&owner_id=…&sort=-last_interaction_at",
                                 list_request({"lifecycle_stage": "customer", "owner_id": ""})))
        results.append(await api(f"GET /api/v1/customers?tag={COMMON_TAG}&sort=-last_interaction_at (common tag)",
                                 list_request({"tag": COMMON_TAG})))
        results.append(await api(f"GET /api/v1/customers?tag={RARE_TAG}&sort=-last_interaction_at (rare tag)",
                                 list_request({"tag": RARE_TAG})))

        # (d) timelines of random customers that have interactions.
        headers.update(await login(client, big))
        sample = rng.sample(loaded.with_interactions, min(20_000, len(loaded.with_interactions)))

        def timeline_request() -> bytes:
            return http_request("GET", f"/api/v1/customers/{rng.choice(sample)}/timeline?limit=50", stack.port, headers)

        results.append(await api("GET /api/v1/customers/{id}/timeline?limit=50", timeline_request))

        results.extend(await measure_duplicate_checks(stack, client, big, api, rng))

        # The busiest customer, for the plan: its timeline is the longest to page.
        conn = await asyncpg.connect(stack.owner_url)
        try:
            busiest = await conn.fetchval(
                """SELECT customer_id FROM records.interactions WHERE tenant_id = $1
                   GROUP BY customer_id ORDER BY count(*) DESC LIMIT 1""", big.id)
        finally:
            await conn.close()
        plans = await explain_reads(app_db, access, rng.choice(owners[1:] or owners), busiest)
    finally:
        await app_db.close()
    return results, plans


def _variants(name: str) -> tuple[str, str]:
    """(the name under another legal form, the name with one character of its core missing)."""
    if name.endswith("有限公司") and not name.endswith("股份有限公司"):
        other_form = name[:-4] + "股份有限公司"
    elif name.endswith("有限公司"):
        other_form = name[:-6] + "有限公司"
    else:
        other_form = f"{name.rstrip('.')}, Co., Ltd."
    core_start = 3 if name[:1] >= "\u4e00" else 0  # past a city prefix like 深圳市
    core = name[core_start:]
    middle = core_start + max(1, len(core) // 3)
    return other_form, name[:middle] + name[middle + 1:]


def _written(phone: str) -> str:
    """A phone as people write it: +8613800138000 -> 138 0013 8000 (national: the tenant's default
    region is CN); +14155550123 -> +1 (415) 555-0123."""
    if phone.startswith("+86"):
        digits = phone[3:]
        return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
    digits = phone[2:]
    return f"+1 ({digits[:3]}) {digits[3:6]}-{digits[6:]}"


async def measure_duplicate_checks(stack: EmbeddedStack, client: httpx.AsyncClient, big: Tenant, api: Any,
                                   rng: random.Random) -> list[Result]:
    """The duplicate check's latency against the big tenant's keys, and how often it finds the source."""
    conn = await asyncpg.connect(stack.owner_url)
    try:
        stored = await conn.fetch(
            """SELECT id, name, primary_phone FROM records.customers TABLESAMPLE SYSTEM (5) REPEATABLE (3)
               WHERE tenant_id = $1 AND kind = 'company' AND primary_phone IS NOT NULL AND deleted_at IS NULL
               LIMIT 5000""", big.id)
    finally:
        await conn.close()
    data = RecordsData(seed=123)
    headers = await login(client, big)
    kinds: list[tuple[str, Any]] = [
        ("name under another legal form", lambda r: {"name": _variants(r["name"])[0]}),
        ("name with one character missing", lambda r: {"name": _variants(r["name"])[1]}),
        ("phone written with spaces and brackets", lambda r: {"name": data.customer_body()["name"],
                                                      "phone": _written(r["primary_phone"])}),
        ("a new candidate (generated names share cores)", lambda r: {k: v for k, v in data.customer_body().items()
                                                       if k in ("name", "aliases", "phone", "email", "uscc")}),
    ]
    results: list[Result] = []
    for label, candidate in kinds:
        def check_request(candidate: Any = candidate) -> bytes:
            body = json.dumps({"entity": "customer", "record": candidate(rng.choice(stored))}, ensure_ascii=False)
            return http_request("POST", "/api/v1/duplicates/check", stack.port, headers, body.encode())

        result = await api(f"POST /api/v1/duplicates/check ({label})", check_request)
        found = candidates = 0
        sample = rng.sample(list(stored), min(100, len(stored)))
        for row in sample:
            answer = await client.post("/api/v1/duplicates/check", headers=headers,
                                       json={"entity": "customer", "record": candidate(row)})
            answer.raise_for_status()
            ids = [d["id"] for d in answer.json()["duplicates"]]
            found += str(row["id"]) in ids
            candidates += len(ids)
        result.name += f": source found {found}/{len(sample)}, {candidates / len(sample):.1f} candidates each"
        print(f"    {result.name}", flush=True)
        results.append(result)

    def near_duplicate_create() -> bytes:
        row = rng.choice(stored)
        body = {**data.customer_body(), "name": _variants(row["name"])[0]}
        return http_request("POST", "/api/v1/customers", stack.port, headers, json.dumps(body, ensure_ascii=False).encode())

    results.append(await api("POST /api/v1/customers (a near duplicate: saved with a warning)", near_duplicate_create))
    return results


async def run(stack: EmbeddedStack, args: argparse.Namespace) -> int:
    async with httpx.AsyncClient(base_url=stack.base, timeout=120) as client:
        if args.reuse:
            loaded = await reload(stack.owner_url)
            args.customers, args.interactions = await _tenant_counts(stack.owner_url, loaded.big.id)
        else:
            print(f"loading {args.customers:,} customers and {args.interactions:,} interactions into one of "
                  f"{args.tenants} tenants ({args.other_customers:,} customers each in the others) ...", flush=True)
            loaded = await load(client, stack.owner_url, customers=args.customers, interactions=args.interactions,
                                tenants=args.tenants, other_customers=args.other_customers, users=args.users)
        sizes = await database_sizes(stack.owner_url)
        print("measuring ...", flush=True)
        load_before = os.getloadavg()[0]
        results, plans = await measure(stack, loaded, client, args)
        load_after = os.getloadavg()[0]

    print(f"\n## Records benchmark: embedded default, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM\n")
    print(f"Data: {len(loaded.tenants)} tenants; the big one has {args.customers:,} customers, "
          f"{args.interactions:,} interactions and {len(loaded.big.owners)} users; {loaded.customers:,} customers "
          f"and {loaded.interactions:,} interactions in all.\n")
    if loaded.phases:
        print("| load phase | seconds |\n| --- | ---: |")
    for phase, took in loaded.phases.items():
        print(f"| {phase} | {took:,.1f} |")
    print(f"\nDisk: database {_mib(sizes['database'])}; customers {_mib(sizes['customers_table'])} + indexes "
          f"{_mib(sizes['customers_indexes'])}; interactions {_mib(sizes['interactions_table'])} + indexes "
          f"{_mib(sizes['interactions_indexes'])}\n")
    print(f"Load: {args.concurrency} concurrent callers, {args.seconds} s each, closed loop (raw-socket client on "
          f"the same machine for the API). Machine load average (1 min) {load_before:.1f} before the measures, "
          f"{load_after:.1f} after: above ~3 on 2 cores something else was running and the figures are low.\n")
    print(markdown_table(results, "ops/s"))
    api_rate, direct_rate = results[0].rps, results[1].rps
    if direct_rate:
        print(f"\nAPI creates / the same transaction via asyncpg: {api_rate / direct_rate:.2f}")
    for r in results:
        if r.first_error:
            print(f"first error of {r.name}: {r.first_error}")
    print("\n## Plans (EXPLAIN ANALYZE, BUFFERS; runtime role, row-level security on)\n")
    for plan in plans:
        print_plan(plan, show_sql=args.show_sql)
    return 0


def main() -> int:
    # A database of a million customers: the buffer cache a server of this size would have
    # (a quarter of the memory), not the embedded default's laptop-sized 128 MB.
    os.environ.setdefault("HUIKE_EMBEDDED_PG_SHARED_BUFFERS_MB", "0")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000, help="customers of the big tenant")
    parser.add_argument("--interactions", type=int, default=3_000_000, help="interactions of the big tenant")
    parser.add_argument("--tenants", type=int, default=100, help="tenants in all (the big one included)")
    parser.add_argument("--other-customers", type=int, default=2_000,
                        help="customers of each other tenant (with three times as many interactions)")
    parser.add_argument("--users", type=int, default=50, help="users of the big tenant")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--show-sql", action="store_true", help="print the whole SQL of each plan (else its start)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="measure again on a data directory kept by --keep (no load; it keeps what the "
                             "measures add)")
    args = parser.parse_args()
    started = time.monotonic()
    with EmbeddedStack(keep=args.keep, data_dir=args.reuse) as stack:
        code = asyncio.run(run(stack, args))
        if args.keep:
            print(f"\ndata kept in {stack.data_dir}")
    print(f"\nwhole run: {time.monotonic() - started:,.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
