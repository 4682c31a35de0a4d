"""Workflows: event-to-action latency at a steady rate of record changes, timers fired per second
when many come due at once, and records' write throughput with and without workflows running.

    python -m bench.workflows_bench                                  # 100 workflows, 20,000 customers
    python -m bench.workflows_bench --customers 1000000 --timers 100000
    python -m bench.workflows_bench --rate 20 --seconds 20 --timers 2000   # a quick look

On the embedded default (every service in one process, as `make run`), one tenant whose customers
are bulk-loaded by the records benchmark's loader (``bench/records_load.py``). Then:

1. **Write throughput without workflows**: ``PATCH /customers/{id}`` (industry) in a closed loop.
2. ``--workflows`` enabled workflows: one measured (``record.updated`` of ``industry`` →
   ``add_tags``), the others ``record.updated`` customer rules whose condition never holds, so every
   event is matched against all of them (what a tenant with many rules pays).
3. **Event-to-action latency**: ``--rate`` PATCHes a second for ``--seconds``, each on its own
   customer; latency is the PATCH's 2xx to the run's ``finished_at`` (its ``add_tags`` command
   answered by records), read as the database owner afterwards.
4. **Write throughput with workflows**: step 1 again; each write now also runs the measured
   workflow (its ``add_tags`` is another records write).
5. **The engine alone**: ``--engine-runs`` pending runs of the measured workflow written as the
   database owner, queued at once; runs a second is their count over the time until the last one
   finished (each an ``add_tags`` command answered by records).
6. **Timers**: ``--timers`` date timers of a workflow (one ``stop`` step) written as the database
   owner, all due at the same moment 5 s ahead; fired per second is their count over the time from
   that moment to the last run they started (``runs.created_at``), which is also how late the last
   one is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.load import EmbeddedStack, markdown_table, ops_load
from bench.records_load import load, login


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (float("nan"),) * 3
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[98], max(values)


async def _workflow(http: httpx.AsyncClient, headers: dict[str, str], name: str, triggers: list[dict[str, Any]],
                    steps: list[dict[str, Any]]) -> str:
    answer = await http.post("/api/v1/workflows", headers=headers,
                             json={"name": name, "triggers": triggers, "steps": steps})
    if answer.status_code != 201:
        raise SystemExit(f"creating a workflow answered {answer.status_code}: {answer.text}")
    return str(answer.json()["id"])


async def _writes(http: httpx.AsyncClient, headers: dict[str, str], ids: list[uuid.UUID], rate: float,
                  seconds: float) -> tuple[dict[uuid.UUID, float], int]:
    """PATCH one customer after another at ``rate`` a second: each one's 2xx time (epoch seconds)."""
    done: dict[uuid.UUID, float] = {}
    errors = 0

    async def one(customer_id: uuid.UUID, n: int) -> None:
        nonlocal errors
        try:
            answer = await http.patch(f"/api/v1/customers/{customer_id}", headers=headers,
                                      json={"industry": f"bench-{n}"})
        except httpx.HTTPError:   # counted; the steady rate goes on
            errors += 1
            return
        if answer.status_code == 200:
            done[customer_id] = time.time()
        else:
            errors += 1

    tasks = []
    start = time.monotonic()
    for n in range(int(rate * seconds)):
        if (pause := start + n / rate - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(one(ids[n], n)))
    await asyncio.gather(*tasks)
    return done, errors


async def _throughput(name: str, http: httpx.AsyncClient, headers: dict[str, str], ids: list[uuid.UUID],
                      seconds: float, concurrency: int) -> Any:
    counter = iter(range(10**9))

    async def patch() -> None:
        n = next(counter)
        answer = await http.patch(f"/api/v1/customers/{ids[n % len(ids)]}", headers=headers,
                                  json={"website": f"https://t{n}.example.com"})
        if answer.status_code != 200:
            raise RuntimeError(f"{answer.status_code}: {answer.text[:200]}")

    return await ops_load(name, patch, seconds, concurrency)


async def _timers(owner: asyncpg.Connection, tenant_id: uuid.UUID, workflow_id: str, ids: list[uuid.UUID],
                  count: int) -> tuple[datetime, int, float]:
    """``count`` date timers due together; answers (when due, how many fired, seconds to the last)."""
    due = datetime.now(UTC) + timedelta(seconds=5)
    wf = uuid.UUID(workflow_id)
    timer_rows, queue_rows = [], []
    for n in range(count):
        timer_id, record_id = uuid.uuid4(), ids[n % len(ids)]
        context = json.dumps({"entity": "customer", "record": {"id": str(record_id)}, "old": None,
                              "actor": {"kind": "system", "id": "bench"}})
        timer_rows.append((tenant_id, timer_id, f"bench:{n}", "date", due, wf, 0, "customer", record_id, context))
        queue_rows.append((timer_id, "timer", tenant_id, due, record_id))   # one record's items in order
    async with owner.transaction():
        await owner.copy_records_to_table("timers", schema_name="workflows", records=timer_rows, columns=(
            "tenant_id", "id", "key", "kind", "due_at", "workflow_id", "trigger_index", "record_type", "record_id",
            "payload"))
        await owner.copy_records_to_table("queue", schema_name="workflows", records=queue_rows,
                                          columns=("id", "kind", "tenant_id", "due_at", "serial_key"))
    deadline = time.monotonic() + max(120, count / 20)
    fired = 0
    while time.monotonic() < deadline:
        fired = await owner.fetchval("SELECT count(*) FROM workflows.runs WHERE tenant_id = $1 AND workflow_id = $2",
                                     tenant_id, wf)
        if fired >= count:
            break
        await asyncio.sleep(0.5)
    last = await owner.fetchval("SELECT max(created_at) FROM workflows.runs WHERE tenant_id = $1 AND workflow_id = $2",
                                tenant_id, wf)
    return due, fired, (last - due).total_seconds() if last else float("nan")


async def _engine_alone(owner: asyncpg.Connection, tenant_id: uuid.UUID, workflow_id: str, ids: list[uuid.UUID],
                        count: int) -> tuple[int, float]:
    """``count`` pending runs of the measured workflow (an ``add_tags`` each: a records round trip)
    queued at once, no trigger consumer involved: (how many finished, seconds until the last did)."""
    wf = uuid.UUID(workflow_id)
    run_rows, queue_rows = [], []
    for n in range(count):
        run_id, record_id = uuid.uuid4(), ids[n % len(ids)]
        context = json.dumps({"entity": "customer", "record": {"id": str(record_id)}, "old": None,
                              "actor": {"kind": "system", "id": "bench"}})
        run_rows.append((tenant_id, run_id, wf, 1, 0, "manual", f"bench-engine:{n}", "customer", record_id, context))
        queue_rows.append((run_id, "run", tenant_id, datetime.now(UTC), record_id))
    async with owner.transaction():
        await owner.copy_records_to_table("runs", schema_name="workflows", records=run_rows, columns=(
            "tenant_id", "id", "workflow_id", "workflow_version", "trigger_index", "trigger_type", "trigger_key",
            "record_type", "record_id", "context"))
        await owner.copy_records_to_table("queue", schema_name="workflows", records=queue_rows,
                                          columns=("id", "kind", "tenant_id", "due_at", "serial_key"))
    started = time.monotonic()
    deadline = started + max(120, count / 5)
    finished = 0
    while time.monotonic() < deadline:
        finished = await owner.fetchval(
            "SELECT count(*) FROM workflows.runs WHERE tenant_id = $1 AND trigger_key LIKE 'bench-engine:%' "
            "AND finished_at IS NOT NULL", tenant_id)
        if finished >= count:
            break
        await asyncio.sleep(0.2)
    return finished, time.monotonic() - started


async def run(args: argparse.Namespace) -> None:
    with EmbeddedStack() as stack:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=stack.base, timeout=120, limits=limits) as http:
            print(f"loading {args.customers:,} customers ...", flush=True)
            loaded = await load(http, stack.owner_url, customers=args.customers, interactions=args.customers,
                                tenants=1, other_customers=0, users=5)
            tenant = loaded.big
            headers = await login(http, tenant)
            owner = await asyncpg.connect(stack.owner_url)
            try:
                ids = [r["id"] for r in await owner.fetch(
                    "SELECT id FROM records.customers WHERE tenant_id = $1 ORDER BY random()", tenant.id)]
                writes = int(args.rate * args.seconds)
                if writes > len(ids):
                    raise SystemExit(f"{writes} writes need as many customers; give --customers {writes} or more")
                print("write throughput without workflows ...", flush=True)
                without = await _throughput("PATCH /customers/{id}, no workflow", http, headers, ids[writes:],
                                            args.throughput_seconds, args.concurrency)
                measured = await _workflow(http, headers, "bench: industry → tag", [
                    {"type": "record.updated", "entity": "customer", "fields": ["industry"]}],
                    [{"type": "add_tags", "tags": ["bench"]}])
                for n in range(args.workflows - 1):
                    await _workflow(http, headers, f"bench: idle rule {n}", [
                        {"type": "record.updated", "entity": "customer",
                         "condition": f'record.tier == "never-{n}"'}], [{"type": "add_tags", "tags": [f"n{n}"]}])
                print(f"{args.workflows} workflows enabled; {args.rate:.0f} writes/s for {args.seconds:.0f} s ...",
                      flush=True)
                done, write_errors = await _writes(http, headers, ids[:writes], args.rate, args.seconds)
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline:
                    finished = await owner.fetchval(
                        "SELECT count(*) FROM workflows.runs WHERE tenant_id = $1 AND workflow_id = $2 "
                        "AND finished_at IS NOT NULL", tenant.id, uuid.UUID(measured))
                    if finished >= len(done):
                        break
                    await asyncio.sleep(0.5)
                rows = await owner.fetch(
                    "SELECT record_id, status, extract(epoch FROM finished_at)::float8 AS at FROM workflows.runs "
                    "WHERE tenant_id = $1 AND workflow_id = $2", tenant.id, uuid.UUID(measured))
                latencies = [(r["at"] - done[r["record_id"]]) * 1000 for r in rows
                             if r["status"] == "succeeded" and r["record_id"] in done and r["at"] is not None]
                failed = sum(1 for r in rows if r["status"] != "succeeded")
                print("write throughput with workflows ...", flush=True)
                with_wf = await _throughput(f"PATCH /customers/{{id}}, {args.workflows} workflows (1 acting)", http,
                                            headers, ids[writes:], args.throughput_seconds, args.concurrency)
                print(f"{args.engine_runs:,} runs queued at once (the engine alone) ...", flush=True)
                alone, alone_seconds = await _engine_alone(owner, tenant.id, measured, ids[writes:], args.engine_runs)
                timer_wf = await _workflow(http, headers, "bench: timers", [
                    {"type": "date", "entity": "customer", "field": "next_follow_up_at"}], [{"type": "stop"}])
                print(f"{args.timers:,} timers due at once ...", flush=True)
                _, fired, last_late = await _timers(owner, tenant.id, timer_wf, ids, args.timers)
            finally:
                await owner.close()
        p50, p99, worst = _quantiles(latencies)
        print()
        print(f"| event → action ({len(latencies)} of {int(args.rate * args.seconds)} writes at {args.rate:.0f}/s, "
              f"{args.workflows} workflows, {args.customers:,} customers) | p50 | p99 | max |")
        print("| --- | --- | --- | --- |")
        print(f"| PATCH 2xx → run finished (add_tags done) | {p50:.0f} ms | {p99:.0f} ms | {worst:.0f} ms |")
        print(f"\nwrite errors: {write_errors}; runs not succeeded: {failed}")
        print(f"\nthe engine alone: {alone:,} of {args.engine_runs:,} queued runs (add_tags) finished in "
              f"{alone_seconds:.1f} s ({alone / alone_seconds if alone_seconds > 0 else float('nan'):,.0f} runs/s)")
        print(f"\ntimers: {fired:,} of {args.timers:,} fired; the last {last_late:.1f} s after their due time "
              f"({fired / last_late if last_late > 0 else float('nan'):,.0f} timers/s)")
        print()
        print(markdown_table([without, with_wf]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workflows", type=int, default=100, help="enabled workflows in the tenant")
    parser.add_argument("--customers", type=int, default=20_000, help="customers of the tenant (1000000 for large)")
    parser.add_argument("--rate", type=float, default=50.0, help="record changes per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the steady rate lasts")
    parser.add_argument("--timers", type=int, default=10_000, help="timers coming due at once (100000 for large)")
    parser.add_argument("--engine-runs", type=int, default=2_000, help="runs queued at once for the engine alone")
    parser.add_argument("--throughput-seconds", type=float, default=15.0, help="each write-throughput measure")
    parser.add_argument("--concurrency", type=int, default=8, help="clients of the write-throughput measures")
    args: Any = parser.parse_args(argv)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
