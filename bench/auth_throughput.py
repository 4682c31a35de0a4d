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
import re
import shutil
import subprocess
import sys
import threading
import time

import httpx
import psutil

from bench.load import EmbeddedStack, Result, http_load, http_request


def stack_rss_mib(pid: int) -> float:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


class PeakSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self._done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, stack_rss_mib(self.pid))
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with EmbeddedStack() as stack:
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
        time.sleep(2)
        at_rest = stack_rss_mib(stack.proc.pid)

        load = run_wrk if shutil.which("wrk") else run_python
        generator = "wrk" if shutil.which("wrk") else "a raw-socket asyncio client (on the same 2 cores as the server)"
        sampler = PeakSampler(stack.proc.pid)
        sampler.start()
        results = []
        for name, path, headers in (
            ("GET /healthz", "/healthz", {}),
            ("GET /api/v1/me (JWT)", "/api/v1/me", jwt_headers),
            ("GET /api/v1/me (API key)", "/api/v1/me", key_headers),
        ):
            load(name, f"{base}{path}", headers, 2, args.connections)  # warm-up
            results.append(load(name, f"{base}{path}", headers, args.seconds, args.connections))
        peak = sampler.stop()

    print(f"\nHuike embedded default, {psutil.cpu_count()} cores, load by {generator}, "
          f"{args.connections} connections, {args.seconds} s per endpoint\n")
    print("| endpoint | requests/s | p50 ms | p99 ms | errors |\n| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        print(f"| {r.name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |")
    health = results[0].rps
    print(f"\nauthenticated / unauthenticated rate: JWT {results[1].rps / health:.2f}, API key {results[2].rps / health:.2f}")
    print(f"resident memory of the whole stack: {at_rest:.0f} MiB at rest, {peak:.0f} MiB peak under load")
    return 0


if __name__ == "__main__":
    sys.exit(main())
