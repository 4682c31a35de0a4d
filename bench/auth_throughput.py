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
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


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
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(name: str, url: str, headers: dict[str, str], seconds: int, connections: int) -> Result:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = int(bad.group(1)) if bad else 0
    return Result(name, rps, p50, p99, errors)


async def _connection_load(
    host: str, port: int, request: bytes, deadline: float, latencies: list[float]
) -> int:
    """One keep-alive HTTP/1.1 connection sending requests back to back. A raw socket loop, not an
    HTTP client library: httpx would spend more CPU than the server it measures."""
    reader, writer = await asyncio.open_connection(host, port)
    errors = 0
    try:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not head.startswith(b"HTTP/1.1 2")
    finally:
        writer.close()
    return errors


async def _python_load(url: str, headers: dict[str, str], seconds: int, connections: int) -> tuple[list[float], int]:
    parts = httpx.URL(url)
    lines = [f"GET {parts.raw_path.decode()} HTTP/1.1", f"Host: {parts.host}:{parts.port}",
             *(f"{k}: {v}" for k, v in headers.items())]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    errors = await asyncio.gather(
        *(_connection_load(parts.host, parts.port or 80, request, deadline, latencies) for _ in range(connections))
    )
    return latencies, sum(errors)


def run_python(name: str, url: str, headers: dict[str, str], seconds: int, connections: int) -> Result:
    latencies, errors = asyncio.run(_python_load(url, headers, seconds, connections))
    cuts = statistics.quantiles(latencies, n=100)
    return Result(name, len(latencies) / seconds, cuts[49], cuts[98], errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    sock = __import__("socket").socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    base = f"http://127.0.0.1:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix="huike-bench-"))
    env = {**os.environ, "HUIKE_PORT": str(port), "HUIKE_DATA_DIR": str(data_dir), "HUIKE_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "run"], env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the embedded stack did not become ready")
            time.sleep(0.3)
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
        at_rest = stack_rss_mib(proc.pid)

        load = run_wrk if shutil.which("wrk") else run_python
        generator = "wrk" if shutil.which("wrk") else "a raw-socket asyncio client (on the same 2 cores as the server)"
        sampler = PeakSampler(proc.pid)
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
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)

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
