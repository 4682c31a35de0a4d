"""Bulk import and export benchmark of the records service.

Starts the embedded PostgreSQL and NATS in a temporary directory and every service in this
process (as the embedded default runs them), then for each size (default 100,000 and 1,000,000):

1. writes a CSV of generated customers (Chinese and English names, phones, e-mails, tags), of
   which 5 % repeat an earlier row's phone (duplicates, skipped) and 2 % have an invalid phone or
   e-mail (failed rows);
2. imports it through the API (multipart upload, background job, ``on_duplicate=skip``):
   rows per second, the peak resident memory while the import runs (of this process, of the
   import's validation process, and of all child processes: search's document builders too) and
   the latency of the job's status polls meanwhile (the API shares the process with the import);
3. loads the same rows with a bare ``COPY`` into a plain table of the same columns (no validation,
   no events, no duplicate keys): the floor the import compares with;

4. waits until every consumer of records' events has caught up (records' outbox empty, no
   message pending or unacknowledged on any durable consumer of ``CRM_RECORDS``): what each
   imported record costs after the import wrote it (relay, JetStream, search's documents,
   workflows, notifications), which the job's own rate does not show; reports when each consumer
   caught up and the CPU seconds per imported row of each process (this server process, the
   import's validation process, search's document builders, PostgreSQL, NATS) from the upload
   until then;

and finally exports every customer of the tenant to CSV and reports the time. Each figure comes
with the 1-minute load average: on a shared machine the rates follow it.

    python -m bench.records_import [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from services.records import jobs_bulk
from services.records.domain import imports

CATCH_UP_TIMEOUT = 3600.0
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
CITIES = ["北京", "上海", "深圳", "杭州", "成都", "南京", "苏州", "武汉"]
TRADES = ["科技", "贸易", "医药", "餐饮", "物流", "教育", "文化传媒", "电子"]
LATIN = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell"]
TAGS = ["vip", "渠道", "华东", "新客户", "展会"]


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Write the CSV (only phones stay in memory, for the duplicates)."""
    rng = random.Random(seed)
    phones: list[str] = []
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["客户名称", "手机", "邮箱", "标签"])
        for i in range(rows):
            if rng.random() < 0.5:
                name = f"{rng.choice(CITIES)}{rng.choice(SURNAMES)}氏{rng.choice(TRADES)}有限公司{i}"
            else:
                name = f"{rng.choice(LATIN)} {rng.choice(TRADES)} Co., Ltd. {i}"
            phone = f"13{i % 10}{i:08d}"[:11]
            email = f"c{i}@example.com"
            roll = rng.random()
            if roll < 0.05 and i > 10:  # a duplicate: an earlier row's phone
                phone = phones[rng.randrange(len(phones) // 2)]
            elif roll < 0.07:  # invalid
                phone, email = ("12345", email) if rng.random() < 0.5 else (phone, "not-an-email")
            tags = ";".join(rng.sample(TAGS, rng.randint(0, 2)))
            writer.writerow([name, phone, email, tags])
            phones.append(phone)


def read_back(path: Path, tenant: uuid.UUID) -> Any:
    """The CSV's rows as COPY records, streamed (the baseline parses the same file)."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        for name, phone, email, tags in reader:
            yield (tenant, uuid.uuid4(), name, phone, email, tags.split(";") if tags else [])


class PeakMemory:
    """Samples the resident memory of this process and, apart, of its child processes (the import's
    validation process, search's document builders) every 250 ms."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self.peak = self.process.memory_info().rss
        self.children_peak = self.validation_peak = 0
        self._task: asyncio.Task[None] | None = None

    def _measure(self, children: list[psutil.Process]) -> None:
        self.peak = max(self.peak, self.process.memory_info().rss)
        # The import's validation process apart from the others (search's document builders).
        pool = imports._pool  # noqa: SLF001 - the bench reads which processes are the import's
        mine = {p.pid for p in (pool._processes or {}).values()} if pool is not None else set()  # noqa: SLF001
        total = validation = 0
        for child in children:
            with contextlib.suppress(psutil.Error):
                rss = child.memory_info().rss
                total += rss
                validation += rss if child.pid in mine else 0
        self.children_peak = max(self.children_peak, total)
        self.validation_peak = max(self.validation_peak, validation)

    async def _sample(self) -> None:
        # In a thread, and the children looked up once a second: finding them walks every process
        # of the machine (psutil reads /proc), and in the event loop the import runs on that took a
        # tenth of its samples on a busy machine.
        children: list[psutil.Process] = []
        ticks = 0
        while True:
            if ticks % 4 == 0:
                children = await asyncio.to_thread(self.process.children, recursive=True)
            await asyncio.to_thread(self._measure, children)
            ticks += 1
            await asyncio.sleep(0.25)

    def __enter__(self) -> PeakMemory:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._task is not None:
            self._task.cancel()


def cpu_by_process() -> dict[str, float]:
    """CPU seconds (user + system) so far of this process and of its descendants, by kind."""
    me = psutil.Process()
    pool = imports._pool  # noqa: SLF001 - the bench reads which processes are the import's
    validation = {p.pid for p in (pool._processes or {}).values()} if pool is not None else set()  # noqa: SLF001
    out: dict[str, float] = {}
    for proc in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            times, name = proc.cpu_times(), proc.name()
            kind = ("server" if proc.pid == me.pid else "validation" if proc.pid in validation
                    else "postgres" if "postgres" in name else "nats" if "nats" in name else "search builders")
            # A finished child's time stays in children_*: only its own, not its reaped children's.
            out[kind] = out.get(kind, 0.0) + times.user + times.system
    return out


async def caught_up(runtime: Any, owner: asyncpg.Connection, started: float,
                    timeout: float = 3600) -> tuple[dict[str, float], dict[str, int]]:
    """Wait until records' outbox is empty and every durable consumer of its stream has nothing
    pending or unacknowledged; answers, per consumer, the seconds since ``started`` when it first
    had nothing left (the outbox's under ``relay``), and after ``timeout`` seconds the messages
    each consumer still had (the outbox's rows under ``relay``)."""
    js = runtime.bus.js
    done: dict[str, float] = {}
    while True:
        if time.perf_counter() - started >= timeout:
            left = {"relay": int(await owner.fetchval("SELECT count(*) FROM records.outbox"))}
            for info in await js.consumers_info("CRM_RECORDS"):
                if info.name not in done:
                    left[info.name] = info.num_pending + info.num_ack_pending
            return done, left
        now = time.perf_counter() - started
        if "relay" not in done and not await owner.fetchval("SELECT count(*) FROM records.outbox"):
            done["relay"] = now
        if "relay" in done:
            consumers = await js.consumers_info("CRM_RECORDS")
            for info in consumers:
                if info.name not in done and not info.num_pending and not info.num_ack_pending:
                    done[info.name] = now
            if all(info.name in done for info in consumers):
                return done, {}
        await asyncio.sleep(0.25)


class Session:
    """The bench's administrator: the bearer header, renewed when the access token runs out (an
    import of 1,000,000 rows outlasts it)."""

    def __init__(self, signed: dict[str, Any]) -> None:
        self.headers = {"Authorization": f"Bearer {signed['access_token']}"}
        self.refresh_token: str = signed["refresh_token"]

    async def renew(self, client: httpx.AsyncClient) -> None:
        answer = await client.post("/api/v1/auth/refresh", json={"refresh_token": self.refresh_token})
        answer.raise_for_status()
        self.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        self.refresh_token = answer.json()["refresh_token"]


async def _wait(client: httpx.AsyncClient, session: Session, url: str,
                latencies: list[float] | None = None) -> dict[str, Any]:
    """Poll the job every 0.5 s until it ends; ``latencies`` collects each poll's seconds (the API
    answering while the job runs in the same process)."""
    last = 0.0
    while True:
        asked = time.perf_counter()
        answer = await client.get(url, headers=session.headers)
        if answer.status_code == 401:
            await session.renew(client)
            continue
        state = answer.json()
        if latencies is not None:
            latencies.append(time.perf_counter() - asked)
        if state.get("status") in ("succeeded", "failed"):
            return state
        if time.monotonic() - last > 10:  # progress, as a user would read it
            last = time.monotonic()
            print(f"  {url}: {state.get('status')} rows_done={state.get('rows_done')} of {state.get('rows_total')}",
                  file=sys.stderr, flush=True)
        await asyncio.sleep(0.5)


async def bench(sizes: list[int], on_duplicate: str = "skip") -> list[dict[str, Any]]:
    from services.registry import ALL_SERVICES, migrate_all
    from shared.embedded import EmbeddedServers
    from shared.http import create_app
    from shared.runtime import Runtime
    from shared.settings import load_settings

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="huike-import-bench-") as tmp:
        root = Path(tmp)
        servers = EmbeddedServers(root / "embedded")
        servers.start()
        try:
            settings = load_settings(
                data_dir=root / "data", database_url=servers.postgres.app_url,
                database_owner_url=servers.postgres.owner_url, nats_url=servers.nats.url,
                jwt_secret="bench-" + uuid.uuid4().hex, operator_token="operator-" + uuid.uuid4().hex,
                log_format="text", log_level="WARNING", db_pool_max=20, import_max_bytes=1024 * 1_048_576,
                # Search's first reconciliation (30 s after start-up) would land in the middle of the
                # import, see the index behind records and reindex the whole tenant: not the import's
                # cost (an hourly pass can meet an import the same way: see the records README).
                search_reconcile_first_after_seconds=86_400,
            )
            await migrate_all(settings)
            runtime = Runtime(settings, ALL_SERVICES)
            await runtime.start()
            workers = await jobs_bulk.BulkJobs(runtime, workers=1).start()
            app = create_app(runtime, manage_runtime=False)
            transport = httpx.ASGITransport(app=app)
            owner = await asyncpg.connect(servers.postgres.owner_url)
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=3600) as client:
                    signed = (await client.post("/api/v1/signup", json={
                        "company_name": "Bench Co", "admin_email": "bench@example.com",
                        "admin_password": "Correct-Horse-Battery-9", "admin_name": "Bench"})).json()
                    session = Session(signed)
                    for size in sizes:
                        results.append(await _one(client, session, owner, root, size, on_duplicate, runtime))
                        print(f"  done: {results[-1]}", file=sys.stderr, flush=True)
                    started = time.perf_counter()
                    export = (await client.post("/api/v1/exports", headers=session.headers,
                                                json={"entity": "customer", "format": "csv"})).json()
                    done = await _wait(client, session, f"/api/v1/exports/{export['id']}")
                    results.append({"export_rows": done["rows_done"], "export_seconds": time.perf_counter() - started,
                                    "export_mb": (done["file_bytes"] or 0) / 1_048_576, "load": _load()})
            finally:
                await owner.close()
                await workers.stop()
                await runtime.stop()
        finally:
            servers.stop()
    return results


async def _one(client: httpx.AsyncClient, session: Session, owner: asyncpg.Connection, root: Path,
               size: int, on_duplicate: str, runtime: Any) -> dict[str, Any]:
    path = root / f"customers-{size}.csv"
    generate(path, size)
    load_before = _load()
    cpu_before = cpu_by_process()
    with PeakMemory() as memory:
        started = time.perf_counter()
        print(f"importing {size:,} rows ...", file=sys.stderr, flush=True)
        with open(path, "rb") as handle:
            answer = await client.post("/api/v1/imports", headers=session.headers,
                                       data={"entity": "customer", "on_duplicate": on_duplicate},
                                       files={"file": (path.name, handle, "text/csv")})
        assert answer.status_code == 202, answer.text
        polls: list[float] = []
        state = await _wait(client, session, f"/api/v1/imports/{answer.json()['id']}", polls)
        seconds = time.perf_counter() - started
        load_after = _load()
        print("  waiting for every consumer of records' events to catch up ...", file=sys.stderr, flush=True)
        consumers, left = await caught_up(runtime, owner, started, timeout=CATCH_UP_TIMEOUT)
    cpu_after = cpu_by_process()
    cpu_us = {kind: 1e6 * (cpu_after.get(kind, 0.0) - cpu_before.get(kind, 0.0)) / size for kind in cpu_after}
    await owner.execute("DROP TABLE IF EXISTS public.bench_copy")
    await owner.execute("CREATE TABLE public.bench_copy (tenant_id uuid, id uuid, name text, primary_phone text, "
                        "primary_email text, tags text[])")
    tenant = uuid.uuid4()
    copy_started = time.perf_counter()
    await owner.copy_records_to_table("bench_copy", records=read_back(path, tenant))
    copy_seconds = time.perf_counter() - copy_started
    await owner.execute("DROP TABLE public.bench_copy")
    return {
        "rows": size, "status": state["status"], "created": state["rows_created"], "skipped": state["rows_skipped"],
        "failed": state["rows_failed"], "seconds": seconds, "rows_per_second": size / seconds,
        "peak_rss_mb": memory.peak / 1_048_576, "rss_growth_mb": (memory.peak - memory.start) / 1_048_576,
        "children_peak_rss_mb": memory.children_peak / 1_048_576,
        "validation_peak_rss_mb": memory.validation_peak / 1_048_576,
        "copy_seconds": copy_seconds, "copy_rows_per_second": size / copy_seconds,
        "load": f"{load_before} → {load_after} (copy {_load()})",
        "poll_p50_ms": 1000 * statistics.median(polls), "poll_p99_ms": 1000 * _p99(polls),
        "caught_up_seconds": None if left else max(consumers.values()), "consumers": consumers, "left": left,
        "waited_seconds": time.perf_counter() - started, "cpu_us_per_row": cpu_us,
        "load_caught_up": _load(),
    }


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def _load() -> str:
    """The 1-minute load average: the machine's two cores may be shared with other work."""
    return f"{os.getloadavg()[0]:.1f}"


def main() -> None:
    # A database of a million customers: the buffer cache a server of this size would have
    # (a quarter of the memory), not the embedded default's laptop-sized 128 MB.
    os.environ.setdefault("HUIKE_EMBEDDED_PG_SHARED_BUFFERS_MB", "0")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--on-duplicate", choices=["skip", "update", "create"], default="skip",
                        help="create skips the duplicate look-up (shows its cost)")
    parser.add_argument("--catch-up-timeout", type=float, default=3600,
                        help="seconds after the upload to stop waiting for the consumers (CPU is counted until then)")
    parser.add_argument("--batch-rows", type=int, default=imports.BATCH_ROWS,
                        help="rows the import validates and writes per batch (its BATCH_ROWS)")
    args = parser.parse_args()
    imports.BATCH_ROWS = args.batch_rows
    global CATCH_UP_TIMEOUT  # noqa: PLW0603 - a bench knob, read by _one
    CATCH_UP_TIMEOUT = args.catch_up_timeout
    results = asyncio.run(bench(args.sizes, args.on_duplicate))
    print(f"on_duplicate={args.on_duplicate}, batch_rows={imports.BATCH_ROWS}")
    print("| rows | import rows/s | import s | created | skipped (dup) | failed | peak RSS MB | RSS growth MB "
          "| validation process peak RSS MB | all child processes peak RSS MB | bare COPY rows/s | COPY s "
          "| GET /imports/{id} p50 / p99 ms meanwhile | load average |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        if "rows" in r:
            print(f"| {r['rows']:,} | {r['rows_per_second']:,.0f} | {r['seconds']:.1f} | {r['created']:,} "
                  f"| {r['skipped']:,} | {r['failed']:,} | {r['peak_rss_mb']:.0f} | {r['rss_growth_mb']:.0f} "
                  f"| {r['validation_peak_rss_mb']:.0f} | {r['children_peak_rss_mb']:.0f} "
                  f"| {r['copy_rows_per_second']:,.0f} | {r['copy_seconds']:.1f} "
                  f"| {r['poll_p50_ms']:.0f} / {r['poll_p99_ms']:.0f} | {r['load']} |")
    print("\n| rows | all consumers caught up s | rows/s to caught up | CPU µs per row: server | validation "
          "| search builders | PostgreSQL | NATS | all | load average then |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        if "rows" in r:
            cpu = r["cpu_us_per_row"]
            kinds = ("server", "validation", "search builders", "postgres", "nats")
            until = r["caught_up_seconds"]
            caught = f"{until:.1f}" if until else f"not after {r['waited_seconds']:.0f}"
            rate = f"{r['rows'] / until:,.0f}" if until else "-"
            print(f"| {r['rows']:,} | {caught} | {rate} "
                  + "".join(f"| {cpu.get(k, 0.0):,.0f} " for k in kinds)
                  + f"| {sum(cpu.values()):,.0f} | {r['load_caught_up']} |")
            slowest = sorted(r["consumers"].items(), key=lambda kv: -kv[1])
            print("  caught up (s after the upload): " + ", ".join(f"{name} {at:.1f}" for name, at in slowest))
            if r["left"]:
                print("  still to do then (messages; outbox rows for the relay): "
                      + ", ".join(f"{name} {n:,}" for name, n in r["left"].items()))
    for r in results:
        if "export_rows" in r:
            print(f"\nExport of {r['export_rows']:,} customers to CSV: {r['export_seconds']:.1f} s "
                  f"({r['export_mb']:.0f} MB), load average {r['load']}")


if __name__ == "__main__":
    main()
