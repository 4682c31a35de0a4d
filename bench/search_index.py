"""Filling the search index of the search benchmark: the bulk load and the real event path.

Bulk load (``bulk_index``): every live customer and interaction that has no search document yet
becomes one, built by the search service's own ``documents.build`` and ``tsvector_text`` (what
the indexer and a reindex write) and COPYed into ``search.documents`` as the database owner. The
secondary indexes of ``search.documents`` are dropped for the COPY and rebuilt from their own
definitions (``pg_get_indexdef``), as ``bench/records_load.py`` does for records.

* Customers are built in worker processes (jieba and pypinyin are pure Python: one core each).
  ``text_lexemes`` is memoised per distinct value inside the workers (industries, sources, tags,
  company and person names repeat); it returns a fresh object that ``build`` only reads, so the
  documents are the same.
* An interaction's document depends only on its text (summary, details, next step, custom
  fields) plus columns copied as they are (ids, owner, department, updated_at). The data set
  composes those texts from phrase pools, so each distinct text is built once and joined to its
  interactions in SQL: 3,000,000 documents without 3,000,000 jieba passes.

``check_documents`` then rebuilds a random sample of documents the indexer's way and compares
title, display fields and every lexeme with its weight.

Event path (``index_through_events``): new customers and interactions are COPYed into records,
then their ``created`` events are written to records' outbox by records' own
``history.publish`` in one transaction (what ``domain.customers.create`` ends with); from its
commit the outbox relay, JetStream and the ``search-indexer`` consumer index them, and the run
waits until every document is in ``search.documents``.
"""

from __future__ import annotations

import asyncio
import io
import json
import multiprocessing
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import asyncpg

from bench.records_data import CUSTOMER_COLUMNS, INTERACTION_COLUMNS, Owner, RecordsData
from services.search import documents, text
from services.search.engines.postgres import tsvector_text, vocabulary

CHUNK = 2_000
# An interaction's text, the key that joins a built document to its interactions.
CONTENT_KEY = "md5(jsonb_build_array(t.summary, t.details, t.next_step, t.custom_fields)::text)"
DOCUMENT_COLUMNS = ("tenant_id", "type", "id", "version", "deleted", "customer_id", "owner_id", "department_id",
                    "assignee_id", "lifecycle_stage", "tier", "tags", "status", "title", "fields", "lexemes",
                    "updated_at")


# --- worker processes --------------------------------------------------------------------------------


def _init_worker() -> None:
    text.warm_up()
    text.text_lexemes = lru_cache(maxsize=200_000)(text.text_lexemes)  # type: ignore[method-assign]


def _copy_value(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, list):
        value = "{" + ",".join('"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in value) + "}"
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, datetime):
        value = value.isoformat()
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy_line(values: Iterable[Any]) -> str:
    return "\t".join(_copy_value(v) for v in values) + "\n"


def build_records(type_: str, rows: list[tuple[str, str]]) -> tuple[bytes, list[tuple[str, str]]]:
    """(COPY text of the documents, (tenant, typo word) pairs) of ``(tenant_id, to_jsonb(row))`` rows."""
    out = io.StringIO()
    words: set[tuple[str, str]] = set()
    for tenant_id, raw in rows:
        record = json.loads(raw)
        doc = documents.build(type_, record, version=int(record.get("version") or 1))
        out.write(_copy_line((
            tenant_id, doc.type, doc.id, doc.version, False, doc.customer_id, doc.owner_id, doc.department_id,
            doc.assignee_id, doc.lifecycle_stage, doc.tier, doc.tags, doc.status, doc.title, doc.fields,
            tsvector_text(doc), doc.updated_at)))
        words.update((tenant_id, w) for w in vocabulary([doc]))
    return out.getvalue().encode(), sorted(words)


def build_contents(rows: list[tuple[str, str]]) -> bytes:
    """COPY text of (key, title, fields, lexemes, typo words) of distinct interaction texts."""
    out = io.StringIO()
    for key, raw in rows:
        summary, details, next_step, custom = json.loads(raw)
        doc = documents.build("interaction", {"id": str(uuid.UUID(int=0)), "summary": summary, "details": details,
                                              "next_step": next_step, "custom_fields": custom}, version=1)
        out.write(_copy_line((key, doc.title, doc.fields, tsvector_text(doc), vocabulary([doc]))))
    return out.getvalue().encode()


# --- bulk load ---------------------------------------------------------------------------------------


@dataclass
class BulkResult:
    documents: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)
    distinct_interaction_texts: int = 0


class _Progress:
    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done, self.started, self.shown = label, total, 0, time.monotonic(), 0.0

    def add(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.shown > 15 or self.done >= self.total:
            self.shown = now
            rate = self.done / max(now - self.started, 1e-9)
            print(f"  {self.label}: {self.done:,} / {self.total:,} ({rate:,.0f}/s)", flush=True)


async def _pipeline(owner_url: str, sql: str, args: tuple[Any, ...], total: int, label: str, pool: ProcessPoolExecutor,
                    work: Any, sink: Any, workers: int) -> None:
    """Read ``sql`` in chunks on one connection, build each chunk in the pool, hand results to ``sink``."""
    loop = asyncio.get_running_loop()
    reader = await asyncpg.connect(owner_url)
    progress = _Progress(label, total)
    pending: list[tuple[asyncio.Future[Any], int]] = []
    try:
        async with reader.transaction():
            cursor = await reader.cursor(sql, *args)
            while True:
                rows = await cursor.fetch(CHUNK)
                if rows:
                    pending.append((loop.run_in_executor(pool, work, [tuple(r) for r in rows]), len(rows)))
                # Keep every worker busy, and no more than that in memory.
                while pending and (len(pending) > workers * 2 or not rows):
                    future, count = pending.pop(0)
                    await sink(await future)
                    progress.add(count)
                if not rows:
                    break
    finally:
        await reader.close()


async def _copy_text(conn: asyncpg.Connection, table: str, schema: str | None, columns: tuple[str, ...],
                     data: bytes) -> None:
    if data:
        await conn.copy_to_table(table, schema_name=schema, columns=list(columns), source=io.BytesIO(data),
                                 format="text")


MISSING = ("NOT EXISTS (SELECT 1 FROM search.documents d WHERE d.tenant_id = t.tenant_id AND d.type = $1 "
           "AND d.id = t.id)")


async def bulk_index(owner_url: str, workers: int) -> BulkResult:
    """Index every live customer and interaction that has no document yet (see the module text)."""
    result = BulkResult()
    owner = await asyncpg.connect(owner_url)
    writer = await asyncpg.connect(owner_url)
    try:
        await owner.execute("SET maintenance_work_mem = '512MB'")
        await writer.execute("SET synchronous_commit = off")
        # The documents are built by this analysis: without it, the reconciliation (30 s after the
        # server starts) would reindex every tenant of a kept data directory while it is measured.
        await owner.execute("UPDATE search.tenants SET analysis = $1 WHERE analysis < $1", text.ANALYSIS_VERSION)
        customers = await owner.fetchval(
            f"SELECT count(*) FROM records.customers t WHERE deleted_at IS NULL AND {MISSING}", "customer")
        interactions = await owner.fetchval(
            f"SELECT count(*) FROM records.interactions t WHERE deleted_at IS NULL AND {MISSING}", "interaction")
        if not customers and not interactions:
            return result  # a reused data directory whose index is complete
        indexes = await owner.fetch(
            """SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition
               FROM pg_index i WHERE i.indrelid = 'search.documents'::regclass
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""")
        for index in indexes:
            await owner.execute(f"DROP INDEX {index['name']}")
        try:
            await _load(owner_url, writer, workers, result, customers)
        finally:
            # Rebuilt even when the load failed, so a kept data directory keeps the migration's indexes.
            started = time.monotonic()
            for index in indexes:
                await owner.execute(index["definition"].replace("CREATE INDEX ", "CREATE INDEX IF NOT EXISTS ", 1))
            result.phases[f"rebuild {len(indexes)} secondary indexes of search.documents"] = time.monotonic() - started
        started = time.monotonic()
        await owner.execute("VACUUM (ANALYZE) search.documents")
        await owner.execute("VACUUM (ANALYZE) search.terms")
        result.phases["VACUUM ANALYZE"] = time.monotonic() - started
    finally:
        await writer.close()
        await owner.close()
    return result


async def _load(owner_url: str, writer: asyncpg.Connection, workers: int, result: BulkResult, customers: int) -> None:
    words: dict[str, set[str]] = defaultdict(set)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        # Customers, built one by one in the workers.
        started = time.monotonic()

        async def customers_sink(built: tuple[bytes, list[tuple[str, str]]]) -> None:
            data, pairs = built
            await _copy_text(writer, "documents", "search", DOCUMENT_COLUMNS, data)
            for tenant_id, word in pairs:
                words[tenant_id].add(word)

        await _pipeline(owner_url, f"""SELECT t.tenant_id::text, to_jsonb(t)::text FROM records.customers t
                                       WHERE deleted_at IS NULL AND {MISSING}""", ("customer",), customers,
                        "customer documents", pool, _build_customers, customers_sink, workers)
        result.documents["customer"] = customers
        result.phases[f"build and COPY {customers:,} customer documents ({workers} worker processes)"] = (
            time.monotonic() - started)

        # Interactions: each distinct text built once.
        started = time.monotonic()
        await writer.execute(
            """CREATE TEMP TABLE bench_contents (key text PRIMARY KEY, title text, fields jsonb, lexemes tsvector,
                                                 words text[])""")
        distinct = await writer.fetchval(
            f"SELECT count(DISTINCT {CONTENT_KEY}) FROM records.interactions t WHERE deleted_at IS NULL AND {MISSING}",
            "interaction")
        result.distinct_interaction_texts = distinct

        async def contents_sink(data: bytes) -> None:
            await _copy_text(writer, "bench_contents", None, ("key", "title", "fields", "lexemes", "words"), data)

        await _pipeline(owner_url, f"""SELECT DISTINCT ON (key) key, body FROM (
                                         SELECT {CONTENT_KEY} AS key,
                                                jsonb_build_array(t.summary, t.details, t.next_step,
                                                                  t.custom_fields)::text AS body
                                         FROM records.interactions t WHERE deleted_at IS NULL AND {MISSING}) x""",
                        ("interaction",), distinct, "distinct interaction texts", pool, build_contents,
                        contents_sink, workers)
        result.phases[f"build {distinct:,} distinct interaction texts (in the workers)"] = time.monotonic() - started
    started = time.monotonic()
    await writer.execute("ANALYZE bench_contents")
    inserted = await writer.execute(
        f"""INSERT INTO search.documents (tenant_id, type, id, version, deleted, customer_id, owner_id, department_id,
                                          title, fields, lexemes, updated_at)
            SELECT t.tenant_id, 'interaction', t.id, t.version, false, t.customer_id, t.owner_id, t.department_id,
                   s.title, s.fields, s.lexemes, t.updated_at
            FROM records.interactions t JOIN bench_contents s ON s.key = {CONTENT_KEY}
            WHERE t.deleted_at IS NULL AND {MISSING}""", "interaction")
    result.documents["interaction"] = int(inserted.split()[-1])
    await writer.execute(
        f"""INSERT INTO search.terms (tenant_id, term)
            SELECT DISTINCT p.tenant_id, w FROM (SELECT DISTINCT t.tenant_id, {CONTENT_KEY} AS key
                                                 FROM records.interactions t WHERE t.deleted_at IS NULL) p
            JOIN bench_contents s ON s.key = p.key, unnest(s.words) AS w
            ON CONFLICT DO NOTHING""")
    result.phases[f"INSERT … SELECT {result.documents['interaction']:,} interaction documents from their texts"] = (
        time.monotonic() - started)
    started = time.monotonic()
    for tenant_id, tenant_words in words.items():
        await writer.execute(
            "INSERT INTO search.terms (tenant_id, term) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
            uuid.UUID(tenant_id), sorted(tenant_words))
    await writer.execute(
        "INSERT INTO search.tenants (id, analysis) SELECT DISTINCT tenant_id, $1::integer FROM search.documents "
        "ON CONFLICT (id) DO UPDATE SET analysis = excluded.analysis", text.ANALYSIS_VERSION)
    result.phases["typo vocabulary of the customers (search.terms), search.tenants"] = time.monotonic() - started


def _build_customers(rows: list[tuple[str, str]]) -> tuple[bytes, list[tuple[str, str]]]:
    return build_records("customer", rows)


# --- the bulk documents against the indexer's ---------------------------------------------------------


def _weights(doc: documents.Document) -> dict[str, str | None]:
    """Each lexeme's weight, as ``tsvector_text`` writes it (the bare lexemes have none)."""
    weights: dict[str, str | None] = {}
    for name, lexemes in doc.lexemes.items():
        strong = "A" if name == documents.TITLE_FIELD[doc.type] else "B"
        for lexeme in lexemes.derived:
            weights.setdefault(f"{name}|{lexeme}", "D")
        for lexeme in lexemes.primary:
            weights[f"{name}|{lexeme}"] = strong
        weights.update(dict.fromkeys(lexemes.primary | lexemes.derived))
    return weights


async def check_documents(owner_url: str, tenant_id: uuid.UUID, sample: int = 200) -> tuple[int, int, list[str]]:
    """(identical, compared, first differences) of random documents against ``documents.build`` of their row."""
    conn = await asyncpg.connect(owner_url)
    same, compared, differences = 0, 0, []
    try:
        for type_, table in (("customer", "customers"), ("interaction", "interactions")):
            rows = await conn.fetch(
                f"""SELECT to_jsonb(t)::text AS record, d.title, d.fields::text AS fields,
                           (SELECT jsonb_object_agg(u.lexeme, u.weights[1]) FROM unnest(d.lexemes) u) AS weights
                    FROM (SELECT * FROM records.{table} WHERE tenant_id = $1 AND deleted_at IS NULL
                          ORDER BY random() LIMIT $2) t
                    JOIN search.documents d ON d.tenant_id = t.tenant_id AND d.type = $3 AND d.id = t.id""",
                tenant_id, sample // 2, type_)
            for row in rows:
                record = json.loads(row["record"])
                doc = documents.build(type_, record, version=int(record["version"]))
                stored = json.loads(row["weights"]) if isinstance(row["weights"], str) else row["weights"]
                ok = (doc.title == row["title"] and doc.fields == json.loads(row["fields"])
                      and _weights(doc) == stored)
                compared += 1
                same += ok
                if not ok and len(differences) < 3:
                    differences.append(f"{type_} {record['id']}")
    finally:
        await conn.close()
    return same, compared, differences


# --- the real path: events → relay → JetStream → indexer ----------------------------------------------


@dataclass
class EventIndexing:
    documents: int
    write_seconds: float  # writing the outbox rows (one transaction)
    relay_seconds: float  # commit → outbox empty (every event published)
    index_seconds: float  # commit → the last document in search.documents
    first_seconds: float  # commit → the first document

    @property
    def rate(self) -> float:
        return self.documents / self.index_seconds if self.index_seconds else float("nan")


async def index_through_events(owner_url: str, records_db: Any, access: Any, tenant_id: uuid.UUID,
                               owners: list[Owner], count: int, seed: int = 4242, timeout: float = 3600,
                               ) -> EventIndexing:
    """``count`` documents (a quarter customers, the rest their interactions) through the real event path."""
    from services.records.domain import customers as customers_domain
    from services.records.domain import history
    from services.records.domain import interactions as interactions_domain
    from services.records.domain import settings as settings_domain

    rng = random.Random(seed)
    data = RecordsData(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    n_customers = max(1, count // 4)
    customer_rows, interaction_rows = [], []
    for _ in range(n_customers):
        owner = rng.choice(owners)
        customer_rows.append(data.customer_row(tenant_id, owner, now - timedelta(days=rng.randrange(700))))
    for _ in range(count - n_customers):
        customer = rng.choice(customer_rows)
        chinese = "\u4e00" <= customer[9][0] <= "\u9fff"
        interaction_rows.append(data.interaction_row(tenant_id, customer[1], Owner(customer[7], customer[8]),
                                                     now - timedelta(days=rng.randrange(300)), chinese))
    conn = await asyncpg.connect(owner_url)
    try:
        await conn.copy_records_to_table("customers", schema_name="records", columns=list(CUSTOMER_COLUMNS),
                                         records=customer_rows)
        await conn.copy_records_to_table("interactions", schema_name="records", columns=list(INTERACTION_COLUMNS),
                                         records=interaction_rows)
        customer_ids = [r[1] for r in customer_rows]
        interaction_ids = [r[1] for r in interaction_rows]
        started = time.monotonic()
        async with records_db.tenant_unit(access.scope) as unit:
            cfg = await settings_domain.get(unit)
            for row in await unit.fetch("SELECT * FROM records.customers WHERE tenant_id = $1 AND id = ANY($2)",
                                        tenant_id, customer_ids):
                await history.publish(unit, "customer", "created", customers_domain.record_of(row),
                                      actor=access.actor, settings=cfg, customer_id=row["id"])
            for row in await unit.fetch("SELECT * FROM records.interactions WHERE tenant_id = $1 AND id = ANY($2)",
                                        tenant_id, interaction_ids):
                await history.publish(unit, "interaction", "created", interactions_domain.record_of(row),
                                      actor=access.actor, settings=cfg, customer_id=row["customer_id"])
        write_seconds = time.monotonic() - started
        committed = await conn.fetchval("SELECT clock_timestamp()")
        committed_at = time.monotonic()
        relay_seconds = float("nan")
        print(f"  {count:,} events committed to records' outbox in {write_seconds:.1f} s; indexing ...", flush=True)
        shown = 0.0
        while True:
            indexed = await conn.fetchval(
                "SELECT count(*) FROM search.documents WHERE tenant_id = $1 AND indexed_at >= $2", tenant_id, committed)
            elapsed = time.monotonic() - committed_at
            if relay_seconds != relay_seconds and not await conn.fetchval("SELECT EXISTS (SELECT 1 FROM records.outbox)"):
                relay_seconds = elapsed
            if elapsed - shown > 10:
                shown = elapsed
                print(f"  {indexed:,} / {count:,} indexed after {elapsed:.0f} s", flush=True)
            if indexed >= count or elapsed > timeout:
                break
            await asyncio.sleep(0.25)
        first = await conn.fetchval(
            "SELECT min(indexed_at) - $2 FROM search.documents WHERE tenant_id = $1 AND indexed_at >= $2",
            tenant_id, committed)
    finally:
        await conn.close()
    # Done when a poll (every 0.25 s) saw the last document.
    return EventIndexing(indexed, write_seconds, relay_seconds, elapsed,
                         first.total_seconds() if first else float("nan"))
