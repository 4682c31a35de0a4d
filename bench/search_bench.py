"""The search benchmark: query latency, indexing throughput and write-to-searchable latency on a big tenant.

Starts the embedded default (or reuses a data directory kept by ``bench.records_bench --keep``),
loads the records benchmark's data set when starting empty (bench/records_load.py), then:

1. bulk-loads the search index of every live customer and interaction with the search service's
   own document functions and COPY (bench/search_index.py), and checks a sample of the bulk
   documents against ``documents.build`` of their rows;
2. indexing throughput through the real path: ``--sample`` new records' ``created`` events
   written to records' outbox by records' own ``history.publish``; from the commit, the outbox
   relay, JetStream and the ``search-indexer`` consumer; documents/s until all are searchable;
3. the query mix through ``GET /api/v1/search`` (the raw-socket client of bench/load.py), each
   kind with p50/p99 and the hits found, and in the same run the floor to beat: the same text as
   ``ILIKE '%…%'`` on records' tables as the runtime role (row-level security on);
4. write-to-searchable: a steady ``--write-rate`` of ``POST /api/v1/customers`` with a unique
   word in the name while polling the search API for each one; then the same again while an
   import of ``--import-rows`` customers (bench/records_import.py's CSV: 5 % duplicates, 2 %
   invalid rows) runs in the same tenant, and how long its own rows take to become searchable;
5. EXPLAIN (ANALYZE, BUFFERS) of the engine's own SQL for each query kind.

    python -m bench.search_bench [--reuse DIR] [--customers 1000000 --interactions 3000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from math import nan
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
import jieba
import msgspec
import nats
import opencc
import psutil
from nats.aio.msg import Msg
from pypinyin import lazy_pinyin

from bench.load import EmbeddedStack, Result, http_load, http_request, ops_load, summarise
from bench.records_bench import Plan, Recorder, explain, print_plan, record_access
from bench.records_data import RecordsData
from bench.records_import import generate
from bench.records_load import Loaded, load, login, reload
from bench.search_index import BulkResult, EventIndexing, bulk_index, check_documents, index_through_events
from bench.search_twenty import TwentySearch
from bench.search_twenty import build as build_twenty
from services.search.access import load_access
from services.search.api.search import parse_request
from services.search.engines import postgres
from services.search.engines.postgres import PostgresEngine
from services.search.text import pinyin_forms, warm_up
from shared.auth import Permissions, Principal, PrincipalData
from shared.db import Database, Unit
from shared.events.envelope import decode_event
from shared.settings import Settings
from shared.tenancy import scope_from_credential

SLOW_MS = 100.0
_S2T = opencc.OpenCC("s2t")
_CJK = re.compile(r"^[\u4e00-\u9fff]+$")


# --- the query mix -----------------------------------------------------------------------------------


@dataclass
class Query:
    params: dict[str, str]
    source: uuid.UUID | None = None  # the record the query was taken from, when it must be found
    floor: tuple[str, list[Any]] = ("", [])  # the ILIKE statement and its arguments after the tenant


@dataclass
class Kind:
    name: str
    queries: list[Query]
    search: Result | None = None
    hits_mean: float = 0.0
    hit_rate: float = 0.0
    found_rate: float | None = None
    floor: Result | None = None
    floor_rows: float = 0.0
    floor_rate: float = 0.0
    # Twenty's method on the same queries (bench/search_twenty.py)
    twenty: Result | None = None
    twenty_hit_rate: float = 0.0
    twenty_found_rate: float | None = None
    floor_found_rate: float | None = None
    # False: only whether each method finds the source record (not timed, not in the mix)
    timed: bool = True


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


CUSTOMERS_ILIKE = ("SELECT id, name FROM records.customers WHERE tenant_id = $1 AND deleted_at IS NULL "
                   "AND name ILIKE $2 LIMIT 20")


def _typo(word: str, rng: random.Random) -> str:
    """One transposition of two different neighbouring letters inside the word."""
    positions = [i for i in range(1, len(word) - 2) if word[i] != word[i + 1]]
    i = rng.choice(positions)
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


async def sample_queries(owner_url: str, tenant_id: uuid.UUID, owners: list[uuid.UUID], per_kind: int,
                         seed: int = 3) -> list[Kind]:
    """Queries taken from the big tenant's own records, ``per_kind`` of each kind."""
    rng = random.Random(seed)
    conn = await asyncpg.connect(owner_url)
    try:
        # The same sample on the same data from run to run (old and new code side by side).
        await conn.execute("SELECT setseed($1)", seed / 10)
        customers = await conn.fetch(
            """SELECT id, name, aliases, primary_phone FROM records.customers
               WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY random() LIMIT 5000""", tenant_id)
        summaries = [r["summary"] for r in await conn.fetch(
            """SELECT summary FROM records.interactions WHERE tenant_id = $1 AND deleted_at IS NULL
               ORDER BY random() LIMIT 400""", tenant_id)]
    finally:
        await conn.close()
    brands: list[tuple[str, uuid.UUID]] = []  # 信诚致远 of 深圳信诚致远科技有限公司 (its alias without 科技)
    english: list[tuple[str, uuid.UUID]] = []  # words of 6+ letters of English company names
    phones: list[tuple[str, uuid.UUID]] = []
    for row in customers:
        aliases = list(row["aliases"] or [])
        if aliases and _CJK.match(aliases[0]) and len(aliases[0]) >= 4:
            brands.append((aliases[0][:-2], row["id"]))
        if row["name"].isascii():
            english += [(w, row["id"]) for w in re.findall(r"[A-Za-z]+", row["name"]) if len(w) >= 6]
        phone = row["primary_phone"] or ""
        if phone.startswith("+86"):
            phones.append((phone[3:], row["id"]))  # a Chinese number as people type it
        elif phone:
            phones.append((phone, row["id"]))
    words = sorted({w for s in summaries for w in jieba.cut(s) if len(w) == 2 and _CJK.match(w)})

    def pick(items: list[Any]) -> list[Any]:
        return rng.sample(items, min(per_kind, len(items)))

    kinds = [
        Kind("Chinese company name (信诚致远)", [
            Query({"q": b}, source, (CUSTOMERS_ILIKE, [_like(b)])) for b, source in pick(brands)]),
        Kind("Chinese word of interactions (many hits)", [
            Query({"q": w}, None, ("SELECT id, summary FROM records.interactions WHERE tenant_id = $1 "
                                   "AND deleted_at IS NULL AND summary ILIKE $2 LIMIT 20", [_like(w)]))
            for w in pick(words)]),
        Kind("pinyin of a company name word (xincheng)", []),
        Kind("phone number (national digits / E.164)", [
            Query({"q": p}, source, ("SELECT id, name FROM records.customers WHERE tenant_id = $1 "
                                     "AND deleted_at IS NULL AND primary_phone ILIKE $2 LIMIT 20", [_like(p)]))
            for p, source in pick(phones)]),
        Kind("English word with a typo (transposed letters)", []),
        Kind("prefix: first 4 letters of an English word", []),
        Kind("filtered: company name + types=customer&lifecycle_stage=customer", [
            Query({"q": b, "types": "customer", "lifecycle_stage": "customer"}, None,
                  ("SELECT id, name FROM records.customers WHERE tenant_id = $1 AND deleted_at IS NULL "
                   "AND lifecycle_stage = 'customer' AND name ILIKE $2 LIMIT 20", [_like(b)]))
            for b, _ in pick(brands)]),
        Kind("filtered: interaction word + owner_id", []),
        # Issue 19's classes.
        Kind("phone tail: last 4 digits (尾号)", [
            Query({"q": p[-4:]}, source, ("SELECT id, name FROM records.customers WHERE tenant_id = $1 "
                                          "AND deleted_at IS NULL AND primary_phone LIKE $2 LIMIT 20", ["%" + p[-4:]]))
            for p, source in pick(phones)]),
        Kind("homophone typo of a company name (one character by sound)", []),
        Kind("traditional characters of a company name", [
            Query({"q": _S2T.convert(b)}, source, (CUSTOMERS_ILIKE, [_like(_S2T.convert(b))])) for b, source in pick(brands)]),
    ]
    by_sound: dict[str, list[str]] = {}
    for char in sorted({c for b, _ in brands for c in b}):
        by_sound.setdefault(lazy_pinyin(char)[0], []).append(char)
    for brand, source in pick(brands):
        i = rng.randrange(len(brand))
        others = [c for c in by_sound.get(lazy_pinyin(brand[i])[0], []) if c != brand[i]]
        typo = brand[:i] + rng.choice(others) + brand[i + 1:] if others else brand
        kinds[9].queries.append(Query({"q": typo}, source, (CUSTOMERS_ILIKE, [_like(typo)])))
    for brand, source in pick(brands):
        first = jieba.lcut(brand)[0]
        if len(first) >= 2:
            full = pinyin_forms(first)[0]
            kinds[2].queries.append(Query({"q": full}, source, (CUSTOMERS_ILIKE, [_like(full)])))
    for word, source in pick(english):
        typo = _typo(word, rng)
        kinds[4].queries.append(Query({"q": typo}, source, (CUSTOMERS_ILIKE, [_like(typo)])))
    for word, source in pick(english):
        kinds[5].queries.append(Query({"q": word[:4].lower()}, source, (CUSTOMERS_ILIKE, [_like(word[:4])])))
    for word in pick(words):
        owner = rng.choice(owners)
        kinds[7].queries.append(Query(
            {"q": word, "owner_id": str(owner)}, None,
            ("SELECT id, summary FROM records.interactions WHERE tenant_id = $1 AND deleted_at IS NULL "
             "AND owner_id = $3 AND summary ILIKE $2 LIMIT 20", [_like(word), owner])))
    # Only asked whether each method finds the record at all (not timed, not in the mix): the
    # pinyin initials of a brand (信诚致远 → xczy), a phone number as people write it.
    initials = Kind("pinyin initials of a company name (xczy)", [], timed=False)
    for brand, source in pick(brands):
        letters = pinyin_forms(brand)[1]
        initials.queries.append(Query({"q": letters}, source, (CUSTOMERS_ILIKE, [_like(letters)])))
    written = Kind("phone number in another format (+86 138 1234 5678, 010-8765-4321)", [], timed=False)
    for phone, source in pick(phones):
        digits = re.sub(r"\D", "", phone)
        shown = (f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}" if len(digits) == 11
                 else f"{digits[:3]}-{digits[3:7]}-{digits[7:]}")
        written.queries.append(Query({"q": shown}, source, (
            "SELECT id, name FROM records.customers WHERE tenant_id = $1 AND deleted_at IS NULL "
            "AND primary_phone ILIKE $2 LIMIT 20", [_like(shown)])))
    return [k for k in [*kinds, initials, written] if k.queries]


def search_path(params: dict[str, str]) -> str:
    return "/api/v1/search?" + urlencode(params)


async def measure_queries(stack: EmbeddedStack, client: httpx.AsyncClient, headers: dict[str, str],
                          kinds: list[Kind], records_db: Any, scope: Any, args: argparse.Namespace,
                          twenty: TwentySearch | None = None) -> None:
    rng = random.Random(17)
    for kind in kinds:
        # One pass over the queries (the warm-up), at most --seconds long: what each finds.
        totals, found = [], []
        deadline = time.perf_counter() + args.seconds
        for query in kind.queries:
            if totals and time.perf_counter() > deadline:
                break
            answer = await client.get(search_path(query.params), headers=headers)
            if answer.status_code != 200:
                raise SystemExit(f"search {query.params} answered {answer.status_code}: {answer.text[:300]}")
            body = answer.json()
            totals.append(body["total_estimate"])
            if query.source is not None:
                found.append(any(h["id"] == str(query.source) for h in body["hits"]))
        kind.hits_mean = statistics.mean(totals)
        kind.hit_rate = sum(t > 0 for t in totals) / len(totals)
        kind.found_rate = sum(found) / len(found) if found else None

        def next_request(queries: list[Query] = kind.queries) -> bytes:
            return http_request("GET", search_path(rng.choice(queries).params), stack.port, headers)

        if kind.timed:
            kind.search = await http_load(kind.name, stack.host, stack.port, next_request, args.seconds,
                                          args.concurrency)
            print(f"  search  {kind.name}: p50 {kind.search.p50_ms:.1f} ms p99 {kind.search.p99_ms:.1f} ms, "
                  f"{kind.search.rps:.1f}/s, hits {kind.hits_mean:,.0f} (≥1: {kind.hit_rate:.0%}) "
                  f"errors {kind.search.errors} {kind.search.first_error}", flush=True)
        else:
            print(f"  search  {kind.name}: finds the record {kind.found_rate:.0%}", flush=True)

        # The floor: the same text as ILIKE '%…%', as the runtime role in a records tenant unit.
        async def floor_rows(query: Query) -> list[Any]:
            sql, sql_args = query.floor
            async with records_db.tenant_unit(scope) as unit:
                return await unit.fetch(sql, unit.tenant_id, *sql_args)

        floor_found = [any(r["id"] == q.source for r in await floor_rows(q)) for q in kind.queries
                       if q.source is not None]
        kind.floor_found_rate = sum(floor_found) / len(floor_found) if floor_found else None
        if kind.timed:
            rows_found: list[int] = []

            async def floor_query(queries: list[Query] = kind.queries, rows_found: list[int] = rows_found) -> None:
                rows_found.append(len(await floor_rows(rng.choice(queries))))

            kind.floor = await ops_load(kind.name, floor_query, args.seconds, args.concurrency)
            kind.floor_rows = statistics.mean(rows_found) if rows_found else 0.0
            kind.floor_rate = sum(r > 0 for r in rows_found) / len(rows_found) if rows_found else 0.0
            print(f"  ILIKE   {kind.name}: p50 {kind.floor.p50_ms:.1f} ms p99 {kind.floor.p99_ms:.1f} ms, "
                  f"{kind.floor.rps:.1f}/s, rows {kind.floor_rows:.1f} (≥1: {kind.floor_rate:.0%}) "
                  f"errors {kind.floor.errors} {kind.floor.first_error}", flush=True)

        # Twenty's method (bench/search_twenty.py) on the same queries: what it finds, how fast.
        if twenty is not None:
            answers = [(q, await twenty.search(q.params)) for q in kind.queries]
            kind.twenty_hit_rate = sum(bool(ids) for _, ids in answers) / len(answers)
            sourced = [q.source in ids for q, ids in answers if q.source is not None]
            kind.twenty_found_rate = sum(sourced) / len(sourced) if sourced else None
            if kind.timed:
                async def twenty_query(queries: list[Query] = kind.queries) -> None:
                    await twenty.search(rng.choice(queries).params)

                kind.twenty = await ops_load(kind.name, twenty_query, args.seconds, args.concurrency)
                print(f"  Twenty  {kind.name}: p50 {kind.twenty.p50_ms:.1f} ms p99 {kind.twenty.p99_ms:.1f} ms, "
                      f"with hits {kind.twenty_hit_rate:.0%}, errors {kind.twenty.errors} {kind.twenty.first_error}",
                      flush=True)


# --- write-to-searchable ----------------------------------------------------------------------------


@dataclass
class Freshness:
    api: Result  # the POSTs
    delays_ms: list[float] = field(default_factory=list)  # 201 received → first search answer with it
    server_ms: list[float] = field(default_factory=list)  # indexer transaction start − customer created_at
    missing: int = 0
    searches: int = 0
    ids: list[str] = field(default_factory=list)  # the customers created
    # Where the server-side time goes, per customer (ms): its transaction start (created_at) → 201
    # received; 201 → its event on NATS (the outbox relay); event → indexer transaction start.
    create_ms: list[float] = field(default_factory=list)
    relay_ms: list[float] = field(default_factory=list)
    indexer_ms: list[float] = field(default_factory=list)
    # GET /healthz every 100 ms meanwhile: it does no I/O, so its latency is the wait in the
    # server's event loop (every service shares it in the embedded default).
    healthz_ms: list[float] = field(default_factory=list)


async def write_to_searchable(client: httpx.AsyncClient, headers: dict[str, str], stack: EmbeddedStack, rate: float,
                              seconds: float, poll: float, pollers: int = 4, timeout: float = 60) -> Freshness:
    """``rate`` creates/s (open loop) for ``seconds``; each new customer's unique word searched every ``poll`` s.

    At most ``pollers`` searches are in flight at once. Unbounded, every write still waiting adds
    its own 10 searches/s: once the latency passes a few hundred ms the polls alone saturate the
    two cores and the measure measures itself. A poll waiting for a slot counts in the latency,
    so the figures are upper bounds."""
    slots = asyncio.Semaphore(pollers)
    data = RecordsData(seed=2024)
    posts: list[float] = []
    delays: list[float] = []
    errors: list[str] = []
    searches = 0
    acked_at: dict[str, float] = {}  # customer id → wall clock when its 201 arrived (in creation order)
    published_at: dict[str, float] = {}  # entity id → wall clock when its created event reached NATS

    async def on_event(msg: Msg) -> None:
        # An import's events are not ours: decoding each of them took up to half a core from the
        # server the benchmark measures.
        if b'"import_id"' not in msg.data:
            published_at.setdefault(str(decode_event(msg.data).entity_id), time.time())

    nc = await nats.connect(stack.nats_url)
    await nc.subscribe("crm.records.*.customer.created", cb=on_event)  # core: sees what JetStream stores

    async def one(at: float) -> None:
        nonlocal searches
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        word = "rt" + secrets.token_hex(6)
        body = data.customer_body()
        body["name"] = f"{body['name']} {word}"[:200]
        started = time.perf_counter()
        answer = await client.post("/api/v1/customers", json=body, headers=headers)
        acked = time.perf_counter()
        posts.append((acked - started) * 1000)
        if answer.status_code != 201:
            errors.append(f"{answer.status_code} {answer.text[:200]}")
            return
        customer_id = answer.json()["id"]
        acked_at[customer_id] = time.time()
        path = search_path({"q": word, "types": "customer"})
        while time.perf_counter() - acked < timeout:
            searches += 1
            async with slots:
                found = await client.get(path, headers=headers)
            if found.status_code == 200 and any(h["id"] == customer_id for h in found.json()["hits"]):
                delays.append((time.perf_counter() - acked) * 1000)
                return
            await asyncio.sleep(poll)

    healthz: list[float] = []
    writing = True

    async def probe() -> None:
        while writing:
            sent = time.perf_counter()
            await client.get("/healthz")
            healthz.append((time.perf_counter() - sent) * 1000)
            await asyncio.sleep(0.1)

    start = time.perf_counter() + 0.5
    count = int(rate * seconds)
    probing = asyncio.create_task(probe())
    try:
        await asyncio.gather(*(one(start + i / rate) for i in range(count)))
    finally:
        writing = False
        await probing
        await nc.close()
    ids = list(acked_at)
    result = Freshness(summarise("POST /api/v1/customers at a steady rate", posts, len(errors), seconds,
                                 errors[0] if errors else ""), delays, missing=len(ids) - len(delays),
                       searches=searches, ids=ids, healthz_ms=healthz)
    conn = await asyncpg.connect(stack.owner_url)
    try:
        rows = await conn.fetch(
            """SELECT c.id::text, extract(epoch FROM c.created_at) AS created, extract(epoch FROM d.indexed_at) AS indexed
               FROM records.customers c JOIN search.documents d
                 ON d.tenant_id = c.tenant_id AND d.type = 'customer' AND d.id = c.id
               WHERE c.id = ANY($1::uuid[])""", ids)
    finally:
        await conn.close()
    for r in rows:
        created, indexed = float(r["created"]), float(r["indexed"])
        result.server_ms.append((indexed - created) * 1000)
        if (published := published_at.get(r["id"])) is not None:
            result.create_ms.append((acked_at[r["id"]] - created) * 1000)
            result.relay_ms.append((published - acked_at[r["id"]]) * 1000)
            result.indexer_ms.append((indexed - published) * 1000)
    return result


@dataclass
class DuringImport:
    fresh: Freshness
    rows: int
    created: int
    import_seconds: float
    catch_up_seconds: float  # import finished → every imported customer searchable
    imported_ms: list[float]  # per imported customer: created_at → indexed_at


async def write_during_import(client: httpx.AsyncClient, headers: dict[str, str], stack: EmbeddedStack,
                              tenant_id: uuid.UUID, args: argparse.Namespace) -> DuringImport:
    """Write-to-searchable while an import of ``args.import_rows`` customers runs in the same tenant."""
    with tempfile.TemporaryDirectory(prefix="huike-search-import-") as tmp:
        path = Path(tmp) / "customers.csv"
        generate(path, args.import_rows, seed=args.import_seed)
        with open(path, "rb") as handle:
            answer = await client.post("/api/v1/imports", headers=headers,
                                       data={"entity": "customer", "on_duplicate": args.import_on_duplicate},
                                       files={"file": (path.name, handle, "text/csv")})
    if answer.status_code != 202:
        raise SystemExit(f"POST /api/v1/imports answered {answer.status_code}: {answer.text}")
    started = time.perf_counter()
    job_path = f"/api/v1/imports/{answer.json()['id']}"
    state: dict[str, Any] = {}
    while not state.get("rows_done") and state.get("status") not in ("succeeded", "failed"):
        state = (await client.get(job_path, headers=headers)).json()
        await asyncio.sleep(0.2)
    print(f"  the import is running ({state.get('rows_done')} rows done); writing ...", flush=True)
    fresh = await write_to_searchable(client, headers, stack, args.write_rate, args.write_seconds, args.poll,
                                      args.pollers)
    print(f"  writes done; the import: {(await client.get(job_path, headers=headers)).json().get('rows_done')} rows "
          "done", flush=True)
    while state.get("status") not in ("succeeded", "failed"):
        await asyncio.sleep(0.5)
        state = (await client.get(job_path, headers=headers)).json()
    import_seconds = time.perf_counter() - started
    if state["status"] != "succeeded":
        raise SystemExit(f"the import failed: {state}")
    since = datetime.fromisoformat(state["started_at"])
    conn = await asyncpg.connect(stack.owner_url)
    try:
        finished = time.perf_counter()
        while await conn.fetchval(
                """SELECT count(*) FROM records.customers c WHERE c.tenant_id = $1 AND c.created_at >= $2
                   AND NOT EXISTS (SELECT 1 FROM search.documents d WHERE d.tenant_id = c.tenant_id
                                   AND d.type = 'customer' AND d.id = c.id AND d.version >= c.version)""",
                tenant_id, since):
            await asyncio.sleep(0.5)
        catch_up = time.perf_counter() - finished
        imported = await conn.fetch(
            """SELECT extract(epoch FROM d.indexed_at - c.created_at) * 1000 AS ms
               FROM records.customers c JOIN search.documents d
                 ON d.tenant_id = c.tenant_id AND d.type = 'customer' AND d.id = c.id
               WHERE c.tenant_id = $1 AND c.created_at >= $2 AND NOT (c.id = ANY($3::uuid[]))""",
            tenant_id, since, fresh.ids)
    finally:
        await conn.close()
    return DuringImport(fresh, args.import_rows, state["rows_created"], import_seconds, catch_up,
                        [float(r["ms"]) for r in imported])


# --- plans -------------------------------------------------------------------------------------------


async def principal_of(client: httpx.AsyncClient, headers: dict[str, str]) -> Principal:
    """The caller's Principal from /me (what the API resolves per request)."""
    me = (await client.get("/api/v1/me", headers=headers)).json()
    data = PrincipalData(
        tenant_id=uuid.UUID(me["tenant"]["id"]), tenant_slug=me["tenant"]["slug"], user_id=uuid.UUID(me["user"]["id"]),
        email=me["user"]["email"], name=me["user"]["name"],
        department_id=uuid.UUID(me["user"]["department_id"]) if me["user"]["department_id"] else None,
        roles=[r["key"] for r in me["roles"]], permissions=msgspec.convert(me["permissions"], Permissions),
    )
    return Principal(data, scope_from_credential(data.tenant_id))


async def explain_searches(app_db: Database, principal: Principal, kinds: list[Kind],
                           ranking: list[tuple[str, float, float]]) -> list[Plan]:
    """Each kind's first query through the engine once on a recording unit, then EXPLAIN ANALYZE of
    the statements it ran (runtime role, search tenant unit, row-level security on)."""
    engine = PostgresEngine()
    plans: list[Plan] = []
    async with app_db.for_service("search").tenant_unit(principal.scope) as unit:
        access = await load_access(unit, principal)
        for kind in kinds:
            query = kind.queries[0]
            request, _ = parse_request({k: [v] for k, v in query.params.items()}, access)
            recorder = Recorder(unit.conn)
            recorded = Unit(recorder, unit.service, unit.schema, scope=unit.scope)  # type: ignore[arg-type]
            await engine.search(recorded, request)
            for sql, sql_args in recorder.statements:
                if "search." in sql and sql.lstrip().upper().startswith(("SELECT", "WITH")):
                    label = f"{kind.name}: q={query.params['q']!r}" + (
                        " (typo vocabulary)" if "search.terms" in sql else "")
                    if "search.terms" not in sql:
                        # The same statement with every match ranked (as before issue 18): the
                        # cost the capped ranking saves, on the same data in the same sitting.
                        every = sql.replace(f"d.n <= {postgres.RANK_CAP} ", f"d.n <= {postgres.MATCH_CAP} ")
                        before = await explain(unit.conn, label, every, sql_args)
                        now = await explain(unit.conn, label, sql, sql_args)
                        ranking.append((label, min(before.execution_ms, before.cached_ms),
                                        min(now.execution_ms, now.cached_ms)))
                    plan = await explain(unit.conn, label, sql, sql_args)
                    for lines, warnings in ((plan.lines, plan.warnings), (plan.cached_lines, plan.cached_warnings)):
                        warnings += [f"sequential scan: {line.strip()}" for line in lines
                                     if "Seq Scan on documents" in line or "Seq Scan on terms" in line]
                    plans.append(plan)
    return plans


# --- the run -----------------------------------------------------------------------------------------


async def sizes(owner_url: str, tenant_id: uuid.UUID) -> dict[str, Any]:
    conn = await asyncpg.connect(owner_url)
    try:
        row = dict(await conn.fetchrow(
            """SELECT pg_database_size(current_database()) AS database,
                      pg_table_size('search.documents') AS documents_table,
                      pg_indexes_size('search.documents') AS documents_indexes,
                      pg_relation_size('search.documents_lexemes') AS lexemes_index,
                      (SELECT count(*) FROM search.documents WHERE NOT deleted) AS documents,
                      (SELECT count(*) FROM search.terms) AS terms,
                      (SELECT count(*) FROM search.tenants) AS tenants"""))
        row["big"] = {r["type"]: r["n"] for r in await conn.fetch(
            "SELECT type, count(*) AS n FROM search.documents WHERE tenant_id = $1 AND NOT deleted GROUP BY type",
            tenant_id)}
        return row
    finally:
        await conn.close()


def meilisearch_status() -> str:
    url = Settings().meilisearch_url or "http://127.0.0.1:7700"
    try:
        answer = httpx.get(f"{url.rstrip('/')}/health", timeout=2)
        return f"Meilisearch answered at {url} ({answer.status_code}); this run measured the PostgreSQL engine only"
    except httpx.HTTPError as exc:
        return (f"Meilisearch is not reachable on this machine ({url}: {type(exc).__name__}), so only the "
                f"PostgreSQL engine was measured")


def _cuts(values: list[float]) -> list[float]:
    return statistics.quantiles(values, n=100, method="inclusive") if len(values) >= 2 else [nan] * 99


def _mib(size: int) -> str:
    return f"{size / 2**20:,.0f} MiB"


def _ms(value: float) -> str:
    return "n/a" if value != value else f"{value:,.1f}"


async def run(stack: EmbeddedStack, args: argparse.Namespace) -> int:
    meili = await asyncio.to_thread(meilisearch_status)
    print(meili, flush=True)
    await asyncio.to_thread(warm_up)
    async with httpx.AsyncClient(base_url=stack.base, timeout=120) as client:
        if args.reuse:
            loaded: Loaded = await reload(stack.owner_url)
        else:
            print(f"loading {args.customers:,} customers and {args.interactions:,} interactions into one of "
                  f"{args.tenants} tenants ...", flush=True)
            loaded = await load(client, stack.owner_url, customers=args.customers, interactions=args.interactions,
                                tenants=args.tenants, other_customers=args.other_customers, users=args.users)
        big = loaded.big
        print("bulk-loading the search index ...", flush=True)
        bulk: BulkResult = await bulk_index(stack.owner_url, args.workers)
        same, compared, differences = await check_documents(stack.owner_url, big.id)
        print(f"  bulk documents identical to documents.build of their rows: {same}/{compared} {differences}",
              flush=True)

        headers = await login(client, big)
        access = await record_access(client, headers)
        pool_size = Settings().db_pool_max
        app_db = await Database.connect(stack.app_url, min_size=2, max_size=pool_size)
        try:
            records_db = app_db.for_service("records")
            print(f"indexing {args.sample:,} documents through events ...", flush=True)
            indexing: EventIndexing = await index_through_events(
                stack.owner_url, records_db, access, big.id, big.owners, args.sample)
            print(f"  {indexing.documents:,} documents in {indexing.index_seconds:.1f} s: {indexing.rate:,.0f}/s",
                  flush=True)
            conn = await asyncpg.connect(stack.owner_url)
            try:
                await conn.execute("VACUUM (ANALYZE) search.documents")
            finally:
                await conn.close()
            size = await sizes(stack.owner_url, big.id)
            twenty_pool: asyncpg.Pool | None = None
            if args.twenty:
                print("Twenty's method: side tables with generated search vectors ...", flush=True)
                size["twenty"] = await build_twenty(stack.owner_url, big.id)
                twenty_pool = await asyncpg.create_pool(stack.owner_url, min_size=2, max_size=2)

            print("query mix ...", flush=True)
            kinds = await sample_queries(stack.owner_url, big.id, [o.id for o in big.owners[1:]] or [big.admin_id],
                                         args.queries)
            headers = await login(client, big)
            load_before = os.getloadavg()[0]
            try:
                await measure_queries(stack, client, headers, kinds, records_db, access.scope, args,
                                      TwentySearch(twenty_pool) if twenty_pool is not None else None)
            finally:
                if twenty_pool is not None:
                    await twenty_pool.close()
            headers = await login(client, big)
            every = [q for k in kinds if k.timed for q in k.queries]
            mix_rng = random.Random(8)
            mixed = await http_load(
                "the whole mix", stack.host, stack.port,
                lambda: http_request("GET", search_path(mix_rng.choice(every).params), stack.port, headers),
                args.seconds, args.load_concurrency)
            print(f"  the whole mix at {args.load_concurrency} callers: {mixed.rps:.1f}/s p50 {mixed.p50_ms:.1f} ms "
                  f"p99 {mixed.p99_ms:.1f} ms errors {mixed.errors}", flush=True)
            load_after = os.getloadavg()[0]

            print(f"write-to-searchable: {args.write_rate:g} creates/s for {args.write_seconds:g} s ...", flush=True)
            headers = await login(client, big)
            fresh = await write_to_searchable(client, headers, stack, args.write_rate, args.write_seconds,
                                              args.poll, args.pollers)
            during: DuringImport | None = None
            if args.import_rows:
                print(f"write-to-searchable while an import of {args.import_rows:,} customers runs ...", flush=True)
                during = await write_during_import(client, await login(client, big), stack, big.id, args)
            plans: list[Plan] = []
            ranking: list[tuple[str, float, float]] = []
            if args.plans:
                principal = await principal_of(client, await login(client, big))
                plans = await explain_searches(app_db, principal, [k for k in kinds if k.timed], ranking)
        finally:
            await app_db.close()

    report(args, loaded, bulk, (same, compared, differences), indexing, size, kinds, mixed, fresh, during, plans,
           meili, (load_before, load_after), ranking)
    return 0


def report(args: argparse.Namespace, loaded: Loaded, bulk: BulkResult, check: tuple[int, int, list[str]],
           indexing: EventIndexing, size: dict[str, Any], kinds: list[Kind], mixed: Result, fresh: Freshness,
           during: DuringImport | None, plans: list[Plan], meili: str, loads: tuple[float, float],
           ranking: list[tuple[str, float, float]]) -> None:
    big = size["big"]
    print(f"\n## Search benchmark: embedded default, PostgreSQL engine, {psutil.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM\n")
    print(f"{meili}.\n")
    print(f"Index: {size['documents']:,} documents of {size['tenants']} tenants; the big tenant has "
          f"{big.get('customer', 0):,} customer and {big.get('interaction', 0):,} interaction documents "
          f"({sum(big.values()):,} in all). search.documents {_mib(size['documents_table'])} + indexes "
          f"{_mib(size['documents_indexes'])} (GIN of lexemes {_mib(size['lexemes_index'])}); "
          f"{size['terms']:,} typo vocabulary words; database {_mib(size['database'])}.\n")
    print("| bulk load of the index (search's own document functions + COPY) | seconds |\n| --- | ---: |")
    for phase, took in bulk.phases.items():
        print(f"| {phase} | {took:,.1f} |")
    same, compared, differences = check
    print(f"\nBulk documents identical to `documents.build` of their rows (title, fields, every lexeme and weight): "
          f"{same}/{compared}{' — differ: ' + ', '.join(differences) if differences else ''}.\n")
    print("| indexing through the real path (records outbox → relay → JetStream → search-indexer) | |\n| --- | ---: |")
    print(f"| documents (¼ customers, ¾ interactions) | {indexing.documents:,} |")
    print(f"| events written by records' `history.publish` in one transaction | {indexing.write_seconds:,.1f} s |")
    print(f"| commit → first document searchable | {indexing.first_seconds:,.2f} s |")
    print(f"| commit → outbox drained (every event published) | {indexing.relay_seconds:,.1f} s |")
    print(f"| commit → last document searchable | {indexing.index_seconds:,.1f} s |")
    print(f"| **indexing throughput** | **{indexing.rate:,.0f} documents/s** |")
    print(f"\nQueries: {args.concurrency} caller(s), closed loop, {args.seconds} s per kind, {args.queries} distinct "
          f"queries per kind taken from the big tenant's records, as its administrator (data scope: all). "
          f"Load average (1 min) {loads[0]:.1f} before, {loads[1]:.1f} after.\n")
    timed = [k for k in kinds if k.timed]
    print("| query kind | example | search p50 ms | search p99 ms | searches/s | hits (mean total) | with hits "
          "| ILIKE p50 ms | ILIKE p99 ms | ILIKE rows (≤20) | ILIKE with rows | Twenty p50 ms | Twenty p99 ms "
          "| Twenty with hits |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for k in timed:
        assert k.search is not None and k.floor is not None
        example = "&".join(f"{n}={v}" for n, v in k.queries[0].params.items() if n != "owner_id")
        found = f" (source in top 20: {k.found_rate:.0%})" if k.found_rate is not None else ""
        twenty = (f"{_ms(k.twenty.p50_ms)} | {_ms(k.twenty.p99_ms)} | {k.twenty_hit_rate:.0%}" if k.twenty
                  else "| |")
        print(f"| {k.name} | `{example}` | {_ms(k.search.p50_ms)} | {_ms(k.search.p99_ms)} | {k.search.rps:,.1f} "
              f"| {k.hits_mean:,.0f} | {k.hit_rate:.0%}{found} | {_ms(k.floor.p50_ms)} | {_ms(k.floor.p99_ms)} "
              f"| {k.floor_rows:.1f} | {k.floor_rate:.0%} | {twenty} |")
    print(f"| the whole mix at {args.load_concurrency} callers | | {_ms(mixed.p50_ms)} | {_ms(mixed.p99_ms)} "
          f"| {mixed.rps:,.1f} | | | | | | | | | |")
    print("\nDoes it find the record the query was taken from (in the first 20 answers)? Huike's API, the "
          "ILIKE floor, Twenty's method; same queries, same data.\n")
    print("| query kind | Huike | ILIKE | Twenty |\n| --- | ---: | ---: | ---: |")

    def rate(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    for k in kinds:
        if k.found_rate is not None:
            print(f"| {k.name} | {rate(k.found_rate)} | {rate(k.floor_found_rate)} "
                  f"| {rate(k.twenty_found_rate) if args.twenty else 'not run'} |")
    if "twenty" in size:
        t = size["twenty"]
        print(f"\nTwenty's side tables: {t['companies']:,} companies, {t['notes']:,} notes, {_mib(t['bytes'])} with "
              f"their GIN indexes (built in {t['seconds']:,.0f} s, or kept from an earlier run).")
    errors = [k for k in kinds if (k.search and k.search.errors) or (k.floor and k.floor.errors)]
    for k in errors:
        print(f"errors in {k.name}: search {k.search.first_error if k.search else ''} "
              f"ILIKE {k.floor.first_error if k.floor else ''}")
    print(f"\nWrite-to-searchable: {args.write_rate:g} `POST /api/v1/customers`/s for {args.write_seconds:g} s, "
          f"each new name's unique word searched every {args.poll * 1000:.0f} ms (at most "
          f"{args.pollers} searches in flight); first alone, then while an "
          f"import runs in the same tenant.\n")
    print("| write-to-searchable | POST p50 ms | POST p99 ms | p50 ms | p99 ms | max ms | not found in 60 s |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    runs = [("", fresh)] + ([(" (during the import)", during.fresh)] if during else [])
    for label, run_ in runs:
        cuts, server = _cuts(run_.delays_ms), _cuts(run_.server_ms)
        print(f"| 201 received → first search answer with the customer{label} | {_ms(run_.api.p50_ms)} "
              f"| {_ms(run_.api.p99_ms)} | {_ms(cuts[49])} | {_ms(cuts[98])} | {_ms(max(run_.delays_ms, default=nan))} "
              f"| {run_.missing} |")
        print(f"| server side: `created_at` → indexer transaction start (`indexed_at`){label} | | | {_ms(server[49])} "
              f"| {_ms(server[98])} | {_ms(max(run_.server_ms, default=nan))} | |")
        for part, values in (("… of which its transaction start → 201 received", run_.create_ms),
                             ("… of which 201 received → its event on NATS (outbox relay)", run_.relay_ms),
                             ("… of which its event on NATS → indexer transaction start", run_.indexer_ms),
                             ("meanwhile, `GET /healthz` every 100 ms (waits in the server's event loop)",
                              run_.healthz_ms)):
            cut = _cuts(values)
            print(f"| {part}{label} | | | {_ms(cut[49])} | {_ms(cut[98])} "
                  f"| {_ms(max(values, default=nan))} | |")
    if during:
        imported = _cuts(during.imported_ms)
        print(f"\nThe import: {during.rows:,} rows, {during.created:,} customers created in "
              f"{during.import_seconds:,.1f} s ({during.rows / during.import_seconds:,.0f} rows/s, writes above "
              f"included); its customers searchable {_ms(imported[49])} ms p50, {_ms(imported[98])} ms p99 after "
              f"their commit (bulk lane); the last {during.catch_up_seconds:,.1f} s after the import finished.")
    slow = [k for k in kinds if k.search and k.search.p50_ms > SLOW_MS]
    print(f"\nQuery kinds slower than {SLOW_MS:.0f} ms p50: "
          f"{', '.join(f'{k.name} ({k.search.p50_ms:.0f} ms)' for k in slow if k.search) or 'none'}.")
    if ranking:
        print(f"\nThe engine's search statement with every match ranked (up to {postgres.MATCH_CAP:,} per type, as "
              f"before) and with the first {postgres.RANK_CAP} ranked: EXPLAIN ANALYZE execution, the lower of two "
              "runs each, ms.\n")
        print("| query | every match ranked | first matches ranked |\n| --- | ---: | ---: |")
        for label, before, now in ranking:
            print(f"| {label} | {before:,.1f} | {now:,.1f} |")
    print("\n## Plans of the engine's SQL (EXPLAIN ANALYZE, BUFFERS; runtime role, row-level security on)\n")
    for plan in plans:
        print_plan(plan, show_sql=args.show_sql)


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
    parser.add_argument("--workers", type=int, default=psutil.cpu_count() or 2,
                        help="processes building documents for the bulk load")
    parser.add_argument("--sample", type=int, default=100_000, help="documents indexed through events")
    parser.add_argument("--queries", type=int, default=40, help="distinct queries per kind")
    parser.add_argument("--seconds", type=int, default=10, help="per query kind, for search and for ILIKE")
    parser.add_argument("--concurrency", type=int, default=1, help="callers per query kind (latency)")
    parser.add_argument("--load-concurrency", type=int, default=8, help="callers for the whole mix (throughput)")
    parser.add_argument("--write-rate", type=float, default=20, help="creates per second for write-to-searchable")
    parser.add_argument("--write-seconds", type=float, default=60)
    parser.add_argument("--import-on-duplicate", choices=("skip", "update", "create"), default="skip",
                        help="what the import does with a row that duplicates a stored customer")
    parser.add_argument("--import-seed", type=int, default=11,
                        help="seed of the imported CSV: the same seed again imports duplicates only")
    parser.add_argument("--import-rows", type=int, default=100_000,
                        help="customers imported while write-to-searchable is measured again (0: skip)")
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between searches for a new customer")
    parser.add_argument("--pollers", type=int, default=4, help="searches in flight at once while polling")
    parser.add_argument("--show-sql", action="store_true", help="print the whole SQL of each plan (else its start)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--source", type=Path, metavar="DIR",
                        help="run the server from another checkout (e.g. /work/main: old and new side by side)")
    parser.add_argument("--no-plans", dest="plans", action="store_false",
                        help="skip the EXPLAIN ANALYZE of this checkout's engine SQL (wrong for --source)")
    parser.add_argument("--no-twenty", dest="twenty", action="store_false",
                        help="skip Twenty's method (bench/search_twenty.py)")
    parser.add_argument("--http-processes", type=int, default=None, metavar="N",
                        help="HUIKE_HTTP_PROCESSES of the server (default: its own default, one process)")
    parser.add_argument("--reuse", type=Path, metavar="DIR",
                        help="a data directory kept by records_bench/search_bench --keep (no records load; "
                             "documents missing from the index are bulk-loaded; it keeps what the run adds)")
    args = parser.parse_args()
    started = time.monotonic()
    env = {"HUIKE_HTTP_PROCESSES": str(args.http_processes)} if args.http_processes is not None else None
    # A kept data directory may get a migration that rebuilds an index (minutes at this size).
    with EmbeddedStack(keep=args.keep, data_dir=args.reuse, source=args.source, env=env,
                       ready_timeout=3600 if args.reuse else 180) as stack:
        code = asyncio.run(run(stack, args))
        if args.keep:
            print(f"\ndata kept in {stack.data_dir}")
    print(f"\nwhole run: {time.monotonic() - started:,.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main())
