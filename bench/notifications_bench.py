"""Notifications: event-to-inbox and event-to-SSE latency at a steady event rate across many open
streams, and the resident memory of the process serving them.

    python -m bench.notifications_bench                      # 200 events/s, 1,000 streams, 20 s
    python -m bench.notifications_bench --rate 50 --streams 200 --users 20 --seconds 10
    python -m bench.notifications_bench --webhooks 2000 --streams 0       # webhook deliveries only

On the embedded default (every service in one process, as `make run`), or with ``--split``
notifications alone in its own process (``huike serve notifications``) beside one serving the
other four services, both on the same embedded PostgreSQL and NATS, so the figures (and the
resident memory) are the notifications service's own: one tenant with ``--users``
users (invited and accepted through the API), ``--streams`` SSE connections spread over them (raw
asyncio sockets, so the client stays light). Events are workflows' ``reminder.due`` envelopes
published straight to JetStream at ``--rate`` per second, each for one user in turn, carrying its
send time; every stream of that user receives it. Event-to-SSE is send time to receipt on a
stream; event-to-inbox is the envelope's ``occurred_at`` to the row's ``created_at`` (read as
the database owner afterwards). Memory: the resident set of the Huike process before the streams
open, with them open, and after the load.

Webhooks (``--webhooks N``, 0 skips): one endpoint of the tenant subscribed to ``customer.*`` at a
local HTTP receiver (keep-alive, raw asyncio) that answers 500 to every tenth request and 200
otherwise; N records ``customer.created`` envelopes are published at once and the deliveries are
timed from the first publish until every event had a first attempt (attempts/s) and until 90 % were
delivered (the failed tenth waits for its retry, minutes later by the schedule). The stack runs
with ``HUIKE_WEBHOOK_ALLOW_PRIVATE=true`` so it may reach the receiver on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import psutil

from bench.load import HOST, ROOT, EmbeddedStack
from shared.events.bus import MSG_ID_HEADER
from shared.events.envelope import Actor, encode_event, new_event

PASSWORD = "Correct-Horse-Battery-9"


def _quantiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (float("nan"),) * 3
    cuts = statistics.quantiles(values, n=100)
    return cuts[49], cuts[98], max(values)


async def _users(base: str, count: int) -> tuple[str, list[tuple[str, str]]]:
    """A tenant, and ``count`` users of it as (user id, access token)."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        suffix = uuid.uuid4().hex[:8]
        made = (await http.post("/api/v1/signup", json={
            "company_name": f"Bench {suffix}", "admin_email": f"admin-{suffix}@example.com",
            "admin_password": PASSWORD, "admin_name": "Bench Admin"})).json()
        admin = {"Authorization": f"Bearer {made['access_token']}"}
        users = [(made["user"]["id"], made["access_token"])]
        while len(users) < count:
            email = f"u{len(users)}-{suffix}@example.com"
            invited = (await http.post("/api/v1/invitations", json={"email": email, "name": f"User {len(users)}"},
                                       headers=admin)).json()
            accepted = (await http.post("/api/v1/invitations/accept",
                                        json={"token": invited["token"], "password": PASSWORD})).json()
            me = (await http.get("/api/v1/me", headers={"Authorization": f"Bearer {accepted['access_token']}"})).json()
            users.append((me["user"]["id"], accepted["access_token"]))
        return made["tenant"]["id"], users


class Stream:
    """One SSE connection; records the latency of every notification it receives."""

    def __init__(self, port: int, token: str, latencies: list[float]) -> None:
        self.port = port
        self.token = token
        self.latencies = latencies
        self.ready = asyncio.Event()
        self.errors = 0

    async def run(self) -> None:
        for attempt in range(10):  # a busy server may answer 503 (Retry-After): a client tries again
            reader, writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)
            writer.write((f"GET /api/v1/notifications/stream HTTP/1.1\r\nHost: {HOST}\r\n"
                          f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n").encode())
            await writer.drain()
            status = await reader.readline()
            if b" 200 " in status:
                break
            self.errors += 1
            writer.close()
            await asyncio.sleep(1 + attempt)
        else:
            self.ready.set()
            return
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                if line.startswith(b": connected"):
                    self.ready.set()
                elif line.startswith(b"data: {"):
                    received = time.time()
                    item = json.loads(line[6:])
                    sent = float((item.get("link") or {}).get("id") or "nan")
                    self.latencies.append((received - sent) * 1000)
        finally:
            writer.close()


async def _publish(nats_url: str, tenant_id: str, users: list[tuple[str, str]], rate: float, seconds: float
                   ) -> tuple[int, list[str]]:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    sent, ids = 0, []
    start = time.monotonic()
    tenant = uuid.UUID(tenant_id)
    while time.monotonic() - start < seconds:
        due = start + sent / rate
        if (pause := due - time.monotonic()) > 0:
            await asyncio.sleep(pause)
        user_id = users[sent % len(users)][0]
        event = new_event(service="workflows", tenant_id=tenant, entity="reminder", action="due",
                          entity_id=uuid.uuid4(), actor=Actor(kind="system"),
                          data={"user_id": user_id, "title": f"bench {sent}",
                                "record": {"type": "task", "id": repr(time.time())}})
        await js.publish(event.subject, encode_event(event), headers={MSG_ID_HEADER: str(event.id)})
        ids.append(str(event.id))
        sent += 1
    await nc.close()
    return sent, ids


async def _inbox_latencies(owner_url: str, tenant_id: str) -> list[float]:
    conn = await asyncpg.connect(owner_url)
    try:
        rows = await conn.fetch(
            """SELECT extract(epoch FROM n.created_at) * 1000 - (n.link_id::float8 * 1000) AS ms
               FROM notifications.notifications n WHERE n.tenant_id = $1 AND n.type = 'task.reminder_due'""",
            uuid.UUID(tenant_id))
        return [r["ms"] for r in rows]
    finally:
        await conn.close()


class Receiver:
    """A minimal keep-alive HTTP/1.1 server: every tenth request answers 500. Records when each
    webhook-id was first seen and first accepted."""

    def __init__(self) -> None:
        self.requests = 0
        self.first_seen: dict[str, float] = {}
        self.accepted: dict[str, float] = {}
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()

    async def start(self) -> asyncio.AbstractServer:
        server = await asyncio.start_server(self._serve, HOST, 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in head.decode("latin-1").split("\r\n")[1:] if line)}
                await reader.readexactly(int(headers.get("content-length") or 0))
                self.requests += 1
                now = time.time()
                webhook_id = headers.get("webhook-id", "")
                self.first_seen.setdefault(webhook_id, now)
                failing = self.requests % 10 == 0
                if not failing:
                    self.accepted.setdefault(webhook_id, now)
                status = b"500 Internal Server Error" if failing else b"200 OK"
                writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


async def _webhooks(stack: EmbeddedStack | SplitStack, tenant_id: str, admin_token: str, count: int) -> None:
    receiver = Receiver()
    server = await receiver.start()
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{stack.port}", timeout=60) as http:  # notifications'
        made = await http.post("/api/v1/webhooks", json={"url": f"http://{HOST}:{receiver.port}/hook",
                                                         "events": ["customer.*"]},
                               headers={"Authorization": f"Bearer {admin_token}"})
        assert made.status_code == 201, made.text
    nc = await nats.connect(stack.nats_url)
    js = nc.jetstream()
    tenant = uuid.UUID(tenant_id)
    start = time.time()
    for index in range(count):
        event = new_event(service="records", tenant_id=tenant, entity="customer", action="created",
                          entity_id=uuid.uuid4(), actor=Actor(kind="system"),
                          data={"record": {"name": f"Bench customer {index}"}})
        await js.publish(event.subject, encode_event(event), headers={MSG_ID_HEADER: str(event.id)})
    published = time.time() - start
    await nc.close()
    deadline = time.monotonic() + 300
    while len(receiver.first_seen) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    server.close()
    receiver.close()
    await asyncio.sleep(0.2)  # the connections' handlers end
    seen = sorted(receiver.first_seen.values())
    accepted = sorted(receiver.accepted.values())
    all_tried = (seen[-1] - start) if seen else float("nan")
    ninety = (accepted[int(0.9 * count) - 1] - start) if len(accepted) >= int(0.9 * count) else float("nan")
    print()
    print(f"webhooks: {count} customer.created events published in {published:.1f} s to one endpoint, "
          f"10 % of answers 500")
    print(f"| measure | value |\n| --- | --- |\n| every event attempted once | {all_tried:.1f} s "
          f"({len(seen) / all_tried:.0f} deliveries/s) |")
    print(f"| 90 % delivered (2xx) | {ninety:.1f} s ({0.9 * count / ninety:.0f} deliveries/s) |")
    print(f"| requests received (incl. failures) | {receiver.requests} |")


class SplitStack:
    """The embedded PostgreSQL and NATS, ``huike serve identity records search workflows`` on one
    port and ``huike serve notifications`` on another: ``port`` and ``proc`` are notifications',
    ``base`` the other process's (sign-up, invitations, webhooks). Same attributes as
    ``EmbeddedStack`` as far as this benchmark uses them."""

    def __init__(self) -> None:
        from shared.embedded import EmbeddedServers

        self.data_dir = Path(tempfile.mkdtemp(prefix="huike-bench-"))
        self.servers = EmbeddedServers(self.data_dir)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = self.base = self.nats_url = self.owner_url = ""

    @staticmethod
    def _free_port() -> int:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            return int(sock.getsockname()[1])

    def _serve(self, services: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "services.cli", "serve", *services, "--migrate"],
                                env={**env, "HUIKE_PORT": str(port)}, cwd=ROOT)
        self.procs.append(proc)
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://{HOST}:{port}/readyz", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit(f"huike serve {' '.join(services)} did not become ready")
            time.sleep(0.3)

    def __enter__(self) -> SplitStack:
        self.servers.start()
        postgres, secrets = self.servers.postgres, self.servers.secrets
        self.nats_url, self.owner_url = self.servers.nats.url, postgres.owner_url
        env = {**os.environ, "HUIKE_DATABASE_URL": postgres.app_url, "HUIKE_DATABASE_OWNER_URL": postgres.owner_url,
               "HUIKE_NATS_URL": self.nats_url, "HUIKE_JWT_SECRET": secrets.jwt_secret,
               "HUIKE_OPERATOR_TOKEN": secrets.operator_token, "HUIKE_LOG_LEVEL": "WARNING",
               "HUIKE_DATA_DIR": str(self.data_dir)}
        try:
            others = self._free_port()
            self._serve(["identity", "records", "search", "workflows"], others, env)
            self.base = f"http://{HOST}:{others}"
            port = self._free_port()
            self.proc = self._serve(["notifications"], port, env)
            self.port = port
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []
        self.servers.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def _huike_rss(stack: EmbeddedStack | SplitStack) -> float:
    assert stack.proc is not None
    return psutil.Process(stack.proc.pid).memory_info().rss / 2**20


async def run(args: argparse.Namespace) -> None:
    if args.webhooks:
        os.environ["HUIKE_WEBHOOK_ALLOW_PRIVATE"] = "true"  # the receiver is on loopback
    stack: EmbeddedStack | SplitStack = SplitStack() if args.split else EmbeddedStack()
    with stack:
        if args.split:
            assert stack.proc is not None
            print(f"notifications alone: pid {stack.proc.pid}, port {stack.port}", flush=True)
        print(f"setting up {args.users} users ...", flush=True)
        tenant_id, users = await _users(stack.base, args.users)
        if args.webhooks:
            await _webhooks(stack, tenant_id, users[0][1], args.webhooks)
        if not args.streams:
            return
        rss_idle = _huike_rss(stack)
        latencies: list[float] = []
        streams = [Stream(stack.port, users[i % len(users)][1], latencies) for i in range(args.streams)]
        tasks = []
        for index, stream in enumerate(streams):  # opened 50 at a time, as users arrive over a while
            tasks.append(asyncio.create_task(stream.run()))
            if index % 50 == 49:
                await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in streams[index - 49:index + 1])), 120)
        await asyncio.wait_for(asyncio.gather(*(s.ready.wait() for s in streams)), 120)
        await asyncio.sleep(2)
        rss_open = _huike_rss(stack)
        print(f"{args.streams} streams open; publishing {args.rate:.0f} events/s for {args.seconds:.0f} s ...", flush=True)
        sent, _ = await _publish(stack.nats_url, tenant_id, users, args.rate, args.seconds)
        per_user = args.streams / len(users)
        expected = sent * per_user
        deadline = time.monotonic() + 60
        while len(latencies) < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        rss_after = _huike_rss(stack)
        for task in tasks:
            task.cancel()
        inbox = await _inbox_latencies(stack.owner_url, tenant_id)
        sse50, sse99, sse_max = _quantiles(latencies)
        in50, in99, in_max = _quantiles(inbox)
        print()
        print(f"| measure ({sent} events at {args.rate:.0f}/s, {args.streams} streams, {len(users)} users) | p50 | p99 | max |")
        print("| --- | --- | --- | --- |")
        print(f"| event → inbox row ({len(inbox)} rows) | {in50:.0f} ms | {in99:.0f} ms | {in_max:.0f} ms |")
        print(f"| event → SSE ({len(latencies)} of {expected:.0f} deliveries) | {sse50:.0f} ms | {sse99:.0f} ms | {sse_max:.0f} ms |")
        print()
        print(f"Huike process RSS: {rss_idle:.0f} MiB idle, {rss_open:.0f} MiB with {args.streams} streams open "
              f"({(rss_open - rss_idle) * 1024 / max(1, args.streams):.0f} KiB per stream), {rss_after:.0f} MiB after the load")
        print(f"stream answers other than 200 (retried): {sum(s.errors for s in streams)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--streams", type=int, default=1000, help="open SSE connections")
    parser.add_argument("--users", type=int, default=50, help="users the streams and events are spread over")
    parser.add_argument("--webhooks", type=int, default=0, help="webhook deliveries to time (0: none)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long events are published")
    parser.add_argument("--split", action="store_true",
                        help="notifications in its own process (huike serve notifications), the rest in another")
    args: Any = parser.parse_args(argv)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
