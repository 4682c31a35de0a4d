"""The duplicate finder old against new on one kept data set, in one sitting.

    python -m bench.duplicates_ab /tmp/huike-bench-XXXX [--old-ref main] [--seconds 8] [--written 3000]

Starts only the kept directory's PostgreSQL (``make bench-records BENCH_ARGS=--keep`` made it),
applies this checkout's records migrations it lacks, and runs ``find_duplicates_batch`` for one
candidate, as the runtime role in a tenant transaction (row-level security on), the way a create
and ``POST /duplicates/check`` call it: this checkout's finder against the one of ``--old-ref``
(its ``domain/duplicates.py`` and ``db/duplicates.py`` loaded from git under other names), same
data, same candidates, 1 and 16 callers; "create" also writes the candidate's match keys in the
same transaction, as a create does. Old runs with the name-key trigram index as before migration
0018 (GIN ``fastupdate`` on), new as after it (off); before each, ``--written`` name keys are
written one per transaction, as that many creates since the last vacuum would have (with
fastupdate on they wait in the index's pending list, which every lookup reads). It also counts
how often each finds the stored record the candidate was made from (recall must not drop).
Everything written is deleted again.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import random
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg

from bench.load import ROOT, Result, markdown_table, ops_load
from bench.records_bench import _variants, _written
from bench.records_data import RecordsData
from services.records.domain import duplicates as new_domain
from shared.db import Database
from shared.db.migrations import migrate
from shared.embedded import PG_APP_ROLE, EmbeddedPostgres, EmbeddedSecrets
from shared.tenancy import scope_for_system


def _old_modules(ref: str) -> ModuleType:
    """``domain/duplicates.py`` of ``ref`` wired to that ref's ``db/duplicates.py``."""
    folder = Path(tempfile.mkdtemp(prefix="huike-dup-old-"))

    def show(path: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:{path}"], check=True, capture_output=True,
                              text=True).stdout

    (folder / "old_dup_store.py").write_text(show("services/records/db/duplicates.py"))
    domain = show("services/records/domain/duplicates.py").replace(
        "from services.records.db import duplicates as store", "import old_dup_store as store")
    (folder / "old_dup_domain.py").write_text(domain)
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location("old_dup_domain", folder / "old_dup_domain.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_dup_domain"] = module
    spec.loader.exec_module(module)
    return module


async def _sample(owner_url: str) -> tuple[uuid.UUID, list[asyncpg.Record]]:
    conn = await asyncpg.connect(owner_url)
    try:
        tenant = await conn.fetchval(
            "SELECT tenant_id FROM records.customers GROUP BY tenant_id ORDER BY count(*) DESC LIMIT 1")
        rows = await conn.fetch(
            """SELECT id, name, primary_phone FROM records.customers TABLESAMPLE SYSTEM (5) REPEATABLE (3)
               WHERE tenant_id = $1 AND kind = 'company' AND primary_phone IS NOT NULL AND deleted_at IS NULL
               LIMIT 5000""", tenant)
    finally:
        await conn.close()
    return tenant, rows


async def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("HUIKE_EMBEDDED_PG_SHARED_BUFFERS_MB", "0")
    secrets_ = EmbeddedSecrets.load_or_create(args.data)
    pg = EmbeddedPostgres(args.data, secrets_)
    pg.start()
    try:
        applied = await migrate(pg.owner_url, "records", ROOT / "services" / "records" / "db" / "migrations", PG_APP_ROLE)
        print(f"migrations applied: {applied or 'none'}", flush=True)
        await measure(args, pg)
    finally:
        pg.stop()


async def _prepare(owner_url: str, tenant: uuid.UUID, fastupdate: bool, written: int) -> None:
    """The trigram index as old or new has it, its pending list emptied, then ``written`` name
    keys written one create at a time (records that exist only as keys: deleted afterwards)."""
    conn = await asyncpg.connect(owner_url)
    try:
        await conn.execute(f"ALTER INDEX records.match_keys_name_trgm SET (fastupdate = {'on' if fastupdate else 'off'})")
        await conn.execute("SELECT gin_clean_pending_list('records.match_keys_name_trgm'::regclass)")
        data = RecordsData(seed=31)
        for _ in range(written):
            await conn.execute(
                "INSERT INTO records.match_keys (tenant_id, entity, record_id, kind, key) VALUES ($1, 'customer', $2, $3, $4)",
                tenant, uuid.uuid4(), "name", new_domain.name_key(data.customer_body()["name"]))
    finally:
        await conn.close()


async def _clean(owner_url: str, tenant: uuid.UUID) -> None:
    """Delete the keys the runs wrote (customer keys of no customer: the loader writes none)."""
    conn = await asyncpg.connect(owner_url)
    try:
        await conn.execute(
            """DELETE FROM records.match_keys m WHERE m.tenant_id = $1 AND m.entity = 'customer'
               AND NOT EXISTS (SELECT 1 FROM records.customers c WHERE c.tenant_id = m.tenant_id AND c.id = m.record_id)""",
            tenant)
    finally:
        await conn.close()


async def measure(args: argparse.Namespace, pg: EmbeddedPostgres) -> None:
    old_domain = _old_modules(args.old_ref)
    tenant, stored = await _sample(pg.owner_url)
    scope = scope_for_system(tenant)
    db = await Database.connect(pg.app_url, min_size=16, max_size=16)
    service = db.for_service("records")
    data = RecordsData(seed=123)
    kinds: list[tuple[str, Any]] = [
        ("name under another legal form", lambda r: {"name": _variants(r["name"])[0]}),
        ("name with one character missing", lambda r: {"name": _variants(r["name"])[1]}),
        ("phone written with spaces", lambda r: {"name": data.customer_body()["name"], "phone": _written(r["primary_phone"])}),
        ("a new candidate", lambda r: {k: v for k, v in data.customer_body().items()
                                       if k in ("name", "aliases", "phone", "email", "uscc")}),
    ]
    results: list[Result] = []
    recall: list[str] = []
    try:
        versions = [("old", old_domain), ("new", new_domain)]
        for version, module in versions[::-1] if args.new_first else versions:
            await _clean(pg.owner_url, tenant)
            await _prepare(pg.owner_url, tenant, fastupdate=version == "old", written=args.written)
            rule_set = module.DuplicateRules(phone="warn", email="warn", uscc="warn")
            for label, make in [*kinds, ("create (a new candidate, keys written)", kinds[3][1])]:
                write = label.startswith("create")

                async def find(candidate: dict[str, Any], module: Any = module, rule_set: Any = rule_set,
                               write: bool = write) -> list[Any]:
                    async with service.tenant_unit(scope, read_only=not write) as unit:
                        found = (await module.find_duplicates_batch(unit, "customer", [candidate], region="CN",
                                                                    rule_set=rule_set))[0]
                        if write:
                            await module.store_keys(unit, "customer", {**candidate, "id": uuid.uuid4()}, "CN")
                        return found

                if not write:
                    rng = random.Random(11)
                    found = 0
                    for row in rng.sample(list(stored), 200):
                        found += any(d.id == row["id"] for d in await find(make(row)))
                    recall.append(f"| {label} | {version} | {found}/200 |")
                for callers in (1, 16):
                    rng = random.Random(7)

                    async def one(make: Any = make, rng: random.Random = rng, find: Any = find) -> None:
                        await find(make(rng.choice(stored)))

                    await ops_load("warm-up", one, 1, callers)
                    result = await ops_load(f"{label}, {version}, {callers} caller(s)", one, args.seconds, callers)
                    print(f"  {result.name}: {result.rps:.0f}/s p50 {result.p50_ms:.2f} p99 {result.p99_ms:.2f} "
                          f"errors {result.errors} {result.first_error} (load {os.getloadavg()[0]:.1f})", flush=True)
                    results.append(result)
        await _clean(pg.owner_url, tenant)
    finally:
        await db.close()
    print("\n" + markdown_table(results, "checks/s"))
    print("\n| candidate | finder | source found |\n| --- | --- | ---: |\n" + "\n".join(recall))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="a data directory kept by bench-records --keep")
    parser.add_argument("--old-ref", default="main", help="the git ref whose finder is 'old'")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--new-first", action="store_true", help="measure the new finder first (the machine's "
                        "load drifts: run both orders)")
    parser.add_argument("--written", type=int, default=3000, help="name keys written before each finder's runs")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
