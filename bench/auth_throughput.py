"""Throughput and latency of health and authenticated requests on the embedded default.

Starts `huike run` in a temporary data directory (PostgreSQL and NATS from their wheels, every
service in one process), signs up a tenant, makes an API key, then loads:

* GET /healthz                      (no authentication)
* GET /api/v1/me with a JWT         (token verified locally, principal from the per-process cache)
* GET /api/v1/me with an API key    (checksum checked offline, principal from the cache)

and samples the resident memory of the whole process tree (Huike, PostgreSQL, NATS).

    python -m bench.auth_throughput [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil

from bench.load import EmbeddedStack, Result, http_load, http_request


def stack_memory_mib(pid: int) -> tuple[float, float]:
    """Resident memory of the process tree: the sum of RSS (what the issue's table counts: every
    PostgreSQL backend's RSS includes the shared buffers it touched, so shared pages count many
    times) and the sum of PSS (each shared page divided among the processes sharing it: what the
    stack really takes)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0, 0.0
    rss = pss = 0
    for proc in procs:
        try:
            info = proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / 2**20, pss / 2**20


def _role(proc: psutil.Process) -> str:
    """What a process of the stack is, by the name Huike gives it (shared/workers.py: name_process)
    or, for older code, by its command line."""
    name, cmdline = proc.name(), " ".join(proc.cmdline())
    if name.startswith("postgres") or name.startswith("nats"):
        return name.split()[0].removesuffix(":").removesuffix("-server")
    if name.startswith("huike-"):
        return name.rstrip("0123456789").rstrip("-")
    if "http-process" in cmdline:
        return "huike-http"
    if "resource_tracker" in cmdline:
        return "resource tracker"
    if "spawn_main" in cmdline:
        return "spawned worker"
    return "huike run"


def memory_by_role(pid: int) -> dict[str, tuple[int, float, float]]:
    """role -> (processes, sum of PSS, sum of USS) in MiB: what each part of the stack holds (USS:
    the pages only that process has; PSS adds its share of the pages it shares)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    roles: dict[str, tuple[int, float, float]] = {}
    for proc in procs:
        try:
            role, info = _role(proc), proc.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        count, pss, uss = roles.get(role, (0, 0.0, 0.0))
        roles[role] = (count + 1, pss + getattr(info, "pss", info.rss) / 2**20, uss + info.uss / 2**20)
    return roles


def print_memory_by_role(title: str, roles: dict[str, tuple[int, float, float]]) -> None:
    print(f"\n{title}\n\n| process | count | PSS MiB | USS MiB |\n| --- | ---: | ---: | ---: |")
    for role, (count, pss, uss) in sorted(roles.items(), key=lambda item: -item[1][1]):
        print(f"| {role} | {count} | {pss:.0f} | {uss:.0f} |")
    print(f"| all | {sum(c for c, _, _ in roles.values())} | {sum(p for _, p, _ in roles.values()):.0f} "
          f"| {sum(u for _, _, u in roles.values()):.0f} |")


def _kind(proc: psutil.Process) -> str:
    try:
        name = proc.name()
    except psutil.NoSuchProcess:
        return "gone"
    return "postgres" if name.startswith("postgres") else "nats" if name.startswith("nats") else "huike"


def stack_cpu_seconds(pid: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) so far of every process of the stack: pid -> (kind, seconds)."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    seen: dict[int, tuple[str, float]] = {}
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seen[proc.pid] = (_kind(proc), times.user + times.system)
    return seen


class CpuUse:
    """Cores used by Huike's processes, PostgreSQL and NATS, and each core's busy share, over a run."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.started = time.monotonic()
        self.before = stack_cpu_seconds(pid)
        psutil.cpu_percent(percpu=True)  # starts the per-core counters

    def done(self) -> tuple[str, dict[str, float]]:
        """The table's cells, and the CPU seconds each kind of process used."""
        per_core = psutil.cpu_percent(percpu=True)
        elapsed = time.monotonic() - self.started
        used: dict[str, float] = {"huike": 0.0, "postgres": 0.0, "nats": 0.0}
        for pid, (kind, seconds) in stack_cpu_seconds(self.pid).items():
            if kind in used:
                used[kind] += seconds - self.before.get(pid, (kind, 0.0))[1]
        cores = " / ".join(f"{used[k] / elapsed:.2f}" for k in ("huike", "postgres", "nats"))
        return f"{cores} | {' '.join(f'{c:.0f}' for c in per_core)}", used


def stack_rss_mib(pid: int) -> float:
    return stack_memory_mib(pid)[0]


class PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.peak_pss, self._done = pid, 0.0, 0.0, threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            rss, pss = stack_memory_mib(self.pid)
            self.peak, self.peak_pss = max(self.peak, rss), max(self.peak_pss, pss)
            time.sleep(0.2)

    def stop(self) -> float:
        self._done.set()
        self.join()
        return self.peak


def _ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(name: str, out: str) -> Result:
    """The rate, p50/p99 and non-2xx count of ``wrk --latency`` output."""
    rps = float(re.search(r"^Requests/sec:\s+([\d.]+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    # Anchored to the line start: "Stdev ... 75.50%" in the thread statistics also contains "50%".
    p50 = _ms(re.search(r"^\s*50%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s*99%\s+(\S+)", out, re.MULTILINE).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    return Result(name, rps, p50, p99, errors)


def run_wrk(name: str, url: str, headers: dict[str, str], seconds: int, connections: int) -> Result:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    return parse_wrk(name, subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout)


def run_python(name: str, url: str, headers: dict[str, str], seconds: int, connections: int) -> Result:
    parts = httpx.URL(url)
    request = http_request("GET", parts.raw_path.decode(), parts.port or 80, headers)
    return asyncio.run(http_load(name, parts.host, parts.port or 80, lambda: request, seconds, connections))


CUSTOMERS = 60
TAG = "重点客户"


def make_customers(base: str, headers: dict[str, str]) -> str:
    """``CUSTOMERS`` customers, every one tagged ``TAG``; returns the id of the first."""
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        ids = []
        for n in range(CUSTOMERS):
            answer = client.post("/api/v1/customers", json={
                "name": f"深圳信诚致远{n:03d}科技有限公司", "kind": "company", "phone": f"+86 138 0013 {n:04d}",
                "lifecycle_stage": "customer", "tags": [TAG]})
            if answer.status_code != 201:
                raise SystemExit(f"creating a customer failed: {answer.status_code} {answer.text}")
            ids.append(answer.json()["id"])
    return ids[0]


def xacts(stack: EmbeddedStack) -> int:
    """Transactions committed in the database so far (pg_stat_database, updated with a small lag)."""
    import asyncpg

    async def read() -> int:
        conn = await asyncpg.connect(stack.owner_url)
        try:
            return int(await conn.fetchval("SELECT xact_commit + xact_rollback FROM pg_stat_database"
                                           " WHERE datname = current_database()"))
        finally:
            await conn.close()
    return asyncio.run(read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--source", type=Path, default=None,
                        help="run the server from another checkout (e.g. /work/main) to compare old and new")
    parser.add_argument("--profile", type=Path, default=None,
                        help="record each measured endpoint with py-spy (collapsed stacks) into this directory")
    parser.add_argument("--only", default="", help="comma-separated endpoint names (healthz,me-jwt,me-key,customer,list)")
    parser.add_argument("--processes", type=int, default=None,
                        help="HUIKE_HTTP_PROCESSES of the server (default: its own)")
    args = parser.parse_args()

    env = {"HUIKE_HTTP_PROCESSES": str(args.processes)} if args.processes is not None else {}
    with EmbeddedStack(source=args.source, env=env) as stack:
        base = stack.base
        answer = httpx.post(f"{base}/api/v1/signup", json={
            "company_name": "基准测试有限公司", "admin_email": "bench@example.com",
            "admin_password": "Orchid-Lantern-Quartz-58", "admin_name": "Bench"})
        if answer.status_code != 201:
            raise SystemExit(f"sign-up failed: {answer.status_code} {answer.text}")
        signup = answer.json()
        jwt_headers = {"Authorization": f"Bearer {signup['access_token']}"}
        key = httpx.post(f"{base}/api/v1/api-keys", headers=jwt_headers,
                         json={"name": "bench", "scopes": ["*"]}).json()["key"]
        key_headers = {"Authorization": f"Bearer {key}"}
        customer_id = make_customers(base, jwt_headers)
        time.sleep(5)  # the search index and the relay catch up with the customers' events
        at_rest, at_rest_pss = stack_memory_mib(stack.proc.pid)
        rest_roles = memory_by_role(stack.proc.pid)

        load = run_wrk if shutil.which("wrk") else run_python
        generator = "wrk" if shutil.which("wrk") else "a raw-socket asyncio client (on the same 2 cores as the server)"
        sampler = PeakSampler(stack.proc.pid)
        sampler.start()
        results, per_request, cpu = [], [], []
        endpoints = (
            ("healthz", "GET /healthz", "/healthz", {}),
            ("me-jwt", "GET /api/v1/me (JWT)", "/api/v1/me", jwt_headers),
            ("me-key", "GET /api/v1/me (API key)", "/api/v1/me", key_headers),
            ("customer", "GET /api/v1/customers/{id} (JWT)", f"/api/v1/customers/{customer_id}", jwt_headers),
            ("list", "GET /api/v1/customers?tag=…&sort=-last_interaction_at&limit=50 (JWT)",
             f"/api/v1/customers?tag={quote(TAG)}&sort=-last_interaction_at&limit=50", jwt_headers),
        )
        wanted = {n for n in args.only.split(",") if n}
        for short, name, path, headers in endpoints:
            if wanted and short not in wanted:
                continue
            load(name, f"{base}{path}", headers, 2, args.connections)  # warm-up
            spy = None
            if args.profile is not None:
                args.profile.mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen(
                    [str(Path(sys.executable).with_name("py-spy")), "record", "--format", "raw", "--subprocesses",
                     "-r", "100", "-d", str(args.seconds), "-p", str(stack.proc.pid),
                     "-o", str(args.profile / f"{short}.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            before = xacts(stack)
            use = CpuUse(stack.proc.pid)
            result = load(name, f"{base}{path}", headers, args.seconds, args.connections)
            cpu.append(use.done())
            time.sleep(0.6)  # pg_stat_database is flushed about every 0.5 s
            per_request.append((xacts(stack) - before) / max(1, result.rps * args.seconds))
            results.append(result)
            if spy is not None:
                spy.wait()
        peak = sampler.stop()
        loaded_roles = memory_by_role(stack.proc.pid)

    print(f"\nHuike embedded default ({args.source or 'this checkout'}), {psutil.cpu_count()} cores, load by "
          f"{generator}, {args.connections} connections, {args.seconds} s per endpoint, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(f"HTTP processes: {args.processes if args.processes is not None else 'the default'}; "
          "cores used: CPU seconds per second of Huike's processes / PostgreSQL / NATS; "
          "busy %: each core's, load generator included\n")
    print("CPU ms per request: CPU time of Huike's processes / PostgreSQL over the run, divided by the requests "
          "answered (steadier than rates on a busy machine)\n")
    print("| endpoint | requests/s | ÷ /healthz | p50 ms | p99 ms | errors | transactions/request "
          "| CPU ms per request (Huike / PG) | cores used (Huike / PG / NATS) | busy % per core |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    health = results[0].rps if results and results[0].name == "GET /healthz" else float("nan")
    for r, x, (cells, used) in zip(results, per_request, cpu, strict=True):
        answered = max(1.0, r.rps * args.seconds)
        per = f"{1000 * used['huike'] / answered:.2f} / {1000 * used['postgres'] / answered:.2f}"
        print(f"| {r.name} | {r.rps:,.0f} | {r.rps / health:.2f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} "
              f"| {x:.2f} | {per} | {cells} |")
    print(f"\nresident memory of the whole stack (sum of RSS): {at_rest:.0f} MiB at rest, {peak:.0f} MiB peak under load;"
          f" sum of PSS (shared pages once): {at_rest_pss:.0f} MiB at rest, {sampler.peak_pss:.0f} MiB peak")
    print_memory_by_role("memory by process, at rest", rest_roles)
    print_memory_by_role("memory by process, after the load", loaded_roles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
