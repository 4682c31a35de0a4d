"""What the benchmarks share: the embedded default started as `make run` starts it, and a closed-loop
load generator (a raw-socket HTTP/1.1 client, and the same loop for any awaitable operation) that
reports throughput and p50/p99 latency.

    with EmbeddedStack() as stack:           # `python -m services.cli run` in a temporary data dir
        result = asyncio.run(http_load("GET /healthz", stack.host, stack.port,
                                       lambda: http_request("GET", "/healthz", stack.port), 10, 32))
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    count: int = 0
    # The first failure seen (status line and body, or the exception), to say what went wrong.
    first_error: str = ""


def summarise(name: str, latencies: list[float], errors: int, seconds: float, first_error: str = "") -> Result:
    if len(latencies) < 2:
        return Result(name, len(latencies) / seconds, float("nan"), float("nan"), errors, len(latencies), first_error)
    cuts = statistics.quantiles(latencies, n=100)
    return Result(name, len(latencies) / seconds, cuts[49], cuts[98], errors, len(latencies), first_error)


# --- the embedded stack ---------------------------------------------------------------------------


class EmbeddedStack:
    """`python -m services.cli run` (every service, embedded PostgreSQL and NATS) in a temporary
    data directory, stopped and removed on exit."""

    def __init__(self, *, keep: bool = False, data_dir: Path | None = None, ready_timeout: float = 180,
                 source: Path | None = None, env: dict[str, str] | None = None) -> None:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            self.port = int(sock.getsockname()[1])
        self.host = HOST
        self.base = f"http://{HOST}:{self.port}"
        # An existing data directory (a kept earlier run) is reused and never removed.
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="huike-bench-"))
        self.keep = keep or data_dir is not None
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        # Another checkout of Huike (e.g. main's, to measure old and new side by side): run from
        # there, its packages shadow this checkout's (the working directory comes first on sys.path).
        self.source = source or ROOT
        self.env = env or {}

    def __enter__(self) -> EmbeddedStack:
        env = {**os.environ, "HUIKE_PORT": str(self.port), "HUIKE_DATA_DIR": str(self.data_dir),
               # Benchmarks sign up many workspaces from one address: the per-address limit would refuse them.
               "HUIKE_LOG_LEVEL": "WARNING", "HUIKE_SIGNUP_RATE_LIMIT": "0", **self.env}
        self.proc = subprocess.Popen([sys.executable, "-m", "services.cli", "run"], env=env, cwd=self.source)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while True:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or (self.proc is not None and self.proc.poll() is not None):
                raise SystemExit("the embedded stack did not become ready")
            time.sleep(0.3)

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None
        if not self.keep:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # The embedded PostgreSQL picks a free port at start and keeps its passwords in secrets.json
    # (shared/embedded.py); the port is the fourth line of postmaster.pid.
    def _pg_port(self) -> int:
        return int((self.data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[3])

    def _secrets(self) -> dict[str, str]:
        return json.loads((self.data_dir / "secrets.json").read_text())

    @property
    def owner_url(self) -> str:
        """The role that owns the schemas (HUIKE_DATABASE_OWNER_URL of the embedded default)."""
        from shared.embedded import PG_DATABASE, PG_OWNER

        return f"postgresql://{PG_OWNER}:{self._secrets()['owner_password']}@{HOST}:{self._pg_port()}/{PG_DATABASE}"

    @property
    def nats_url(self) -> str:
        """The embedded NATS (its port is in the nats.conf it was started with)."""
        listen = next(line for line in (self.data_dir / "nats.conf").read_text().splitlines() if line.startswith("listen"))
        return "nats://" + listen.split('"')[1]  # listen: "127.0.0.1:<port>"

    @property
    def app_url(self) -> str:
        """The runtime role the services connect as (no BYPASSRLS)."""
        from shared.embedded import PG_APP_ROLE, PG_DATABASE

        return f"postgresql://{PG_APP_ROLE}:{self._secrets()['app_password']}@{HOST}:{self._pg_port()}/{PG_DATABASE}"


# --- load ------------------------------------------------------------------------------------------


def http_request(method: str, path: str, port: int, headers: dict[str, str] | None = None,
                 body: bytes | None = None) -> bytes:
    """One HTTP/1.1 keep-alive request as bytes."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


@dataclass
class _Tally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""


async def _connection_load(host: str, port: int, next_request: Callable[[], bytes], deadline: float,
                           tally: _Tally) -> None:
    """One keep-alive HTTP/1.1 connection sending requests back to back. A raw socket loop, not an
    HTTP client library: httpx would spend more CPU than the server it measures."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            request = next_request()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length:\s*(\d+)", head)
            body = await reader.readexactly(int(length.group(1)) if length else 0)
            tally.latencies.append((time.perf_counter() - started) * 1000)
            if not head.startswith(b"HTTP/1.1 2"):
                tally.errors += 1
                if not tally.first_error:
                    tally.first_error = (head.split(b"\r\n", 1)[0] + b" " + body[:300]).decode(errors="replace")
    finally:
        writer.close()


async def http_load(name: str, host: str, port: int, next_request: Callable[[], bytes], seconds: float,
                    connections: int) -> Result:
    """``connections`` connections, each sending ``next_request()`` as soon as the last answer came."""
    tally = _Tally()
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(_connection_load(host, port, next_request, deadline, tally) for _ in range(connections)))
    return summarise(name, tally.latencies, tally.errors, seconds, tally.first_error)


async def ops_load(name: str, operation: Callable[[], Awaitable[object]], seconds: float, concurrency: int) -> Result:
    """The same closed loop for any awaitable (e.g. a transaction straight through asyncpg): an
    exception counts as an error."""
    tally = _Tally()
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                await operation()
            except Exception as exc:  # noqa: BLE001 - counted and shown, the run goes on
                tally.errors += 1
                tally.first_error = tally.first_error or f"{type(exc).__name__}: {exc}"
            tally.latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return summarise(name, tally.latencies, tally.errors, seconds, tally.first_error)


def markdown_table(results: list[Result], unit: str = "requests/s") -> str:
    lines = [f"| measure | {unit} | p50 ms | p99 ms | errors |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r.name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.errors} |" for r in results]
    return "\n".join(lines)
