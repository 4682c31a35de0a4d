"""`huike run` (what `make run` starts), driven from outside as an operator would."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
import pytest

from shared.embedded import free_port

pytestmark = pytest.mark.slow


def _start(data_dir: Path, port: int, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "HUIKE_PORT": str(port), "HUIKE_DATA_DIR": str(data_dir), "HUIKE_LOG_LEVEL": "WARNING",
           **(extra_env or {})}
    for name in ("HUIKE_DATABASE_URL", "HUIKE_NATS_URL", "HUIKE_DATABASE_OWNER_URL"):
        env.pop(name, None)
    # Output goes to files, not pipes: a pipe nobody reads fills up during an outage's logging and
    # would block the server's own logging calls (and its event loop with them).
    stderr = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "run"], env=env, stdout=subprocess.DEVNULL, stderr=stderr,
        text=True, cwd=Path(__file__).parents[1],
    )
    proc.said = stderr  # type: ignore[attr-defined]
    return proc


def _said(proc: subprocess.Popen[str]) -> str:
    """What ``huike run`` wrote to stderr so far."""
    proc.said.seek(0)  # type: ignore[attr-defined]
    return proc.said.read()  # type: ignore[attr-defined]


def _wait_ready(proc: subprocess.Popen[str], base: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"huike run exited early ({proc.returncode}): {_said(proc)}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    try:
        readiness = httpx.get(f"{base}/readyz", timeout=5).text
    except httpx.HTTPError as exc:
        readiness = repr(exc)
    raise AssertionError(f"huike run did not become ready: {readiness}; it said:\n{_said(proc)[-3000:]}")


def _servers_using(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(data_dir) in cmdline and ("postgres" in cmdline or "nats-server" in cmdline):
            found.append(proc)
    return found


def _huike(data_dir: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HUIKE_DATA_DIR": str(data_dir), "HUIKE_PORT": str(port)}
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60)


def _stop(proc: subprocess.Popen[str], sig: int) -> int:
    proc.send_signal(sig)
    return proc.wait(60)


def test_run_serves_stops_cleanly_and_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port, {"HUIKE_HTTP_PROCESSES": "2"})
    try:
        _wait_ready(proc, base)
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/schema/openapi.json").json()["paths"]["/api/v1/signup"]
        signup = httpx.post(f"{base}/api/v1/signup", json={
            "company_name": "持久化测试有限公司", "admin_email": "ops@example.com",
            "admin_password": "Correct-Horse-Battery-9", "admin_name": "运维",
        })
        assert signup.status_code == 201, signup.text
        slug, tenant_id = signup.json()["tenant"]["slug"], signup.json()["tenant"]["id"]
        # The operator commands talk to the running system with the embedded operator token.
        listed = _huike(data_dir, port, "tenants", "list")
        assert listed.returncode == 0 and slug in listed.stdout, listed.stderr
        reindex = _huike(data_dir, port, "search", "reindex", tenant_id)
        assert reindex.returncode == 0, reindex.stdout + reindex.stderr
        letters = _huike(data_dir, port, "dead-letters", "list")
        assert letters.returncode == 0 and json.loads(letters.stdout) == [], letters.stdout + letters.stderr
        vague = _huike(data_dir, port, "dead-letters", "replay")
        assert vague.returncode == 2 and "--all" in vague.stderr
        assert _stop(proc, signal.SIGTERM) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _servers_using(data_dir) == []

    proc = _start(data_dir, port, {"HUIKE_HTTP_PROCESSES": "1"})  # today's one process, on the same data
    try:
        _wait_ready(proc, base)
        assert _http_processes(proc) == []
        login = httpx.post(f"{base}/api/v1/auth/login", json={
            "tenant": slug, "email": "ops@example.com", "password": "Correct-Horse-Battery-9"})
        assert login.status_code == 200, login.text
        me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
        assert me.json()["tenant"]["slug"] == slug
        assert _stop(proc, signal.SIGINT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _servers_using(data_dir) == []


def test_port_in_use_is_one_clear_line_and_no_orphans(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _start(tmp_path / "data", port)
        proc.wait(timeout=60)
        err = _said(proc)
    assert proc.returncode != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"port {port}" in lines[0], err
    assert _servers_using(tmp_path / "data") == []


def test_unwritable_data_dir_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = _start(blocker / "data", free_port())
    proc.wait(timeout=60)
    err = _said(proc)
    assert proc.returncode != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "HUIKE_DATA_DIR" in lines[0] and "writable" in lines[0] and "Traceback" not in err


# --- crashes and outages of the embedded default ------------------------------------------------------


def _signup(base: str) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    response = httpx.post(f"{base}/api/v1/signup", json={
        "company_name": f"守护测试 {suffix}", "admin_email": f"ops-{suffix}@example.com",
        "admin_password": "Correct-Horse-Battery-9", "admin_name": "运维"}, timeout=30)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            result = check()
            if result:
                return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _embedded_child(proc: subprocess.Popen[str], name: str) -> psutil.Process:
    """The embedded server (postmaster or nats-server) that ``huike run`` started."""
    for child in psutil.Process(proc.pid).children():
        try:
            if name in " ".join(child.cmdline()):
                return child
        except (psutil.ZombieProcess, psutil.NoSuchProcess):  # a killed one not reaped yet, or gone
            continue
    raise AssertionError(f"no embedded {name} under huike run")


def _written_and_found(base: str, headers: dict[str, str], name: str) -> None:
    """A write succeeds, and the search index receives it (relayed over NATS, indexed)."""
    made = _until(lambda: (r := httpx.post(f"{base}/api/v1/customers", json={"name": name}, headers=headers,
                                           timeout=10)).status_code == 201 and r, 60, f"creating {name}")
    customer_id = made.json()["id"]

    def found() -> bool:
        response = httpx.get(f"{base}/api/v1/search", params={"q": name}, headers=headers, timeout=10)
        return response.status_code == 200 and any(h["id"] == customer_id for h in response.json()["hits"])

    _until(found, 60, f"{name} found by search")


@pytest.mark.parametrize("server", ["postgres", "nats-server"])
def test_a_killed_embedded_server_is_restarted_and_the_system_recovers(tmp_path: Path, server: str) -> None:
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port)
    try:
        _wait_ready(proc, base)
        headers = _signup(base)
        _written_and_found(base, headers, "Before Crash Trading")
        victim = _embedded_child(proc, server)
        victim.kill()  # kill -9
        _until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 503, 30, "/readyz to say 503")
        def restarted() -> bool:
            # Restarted by huike (not by hand), and ready. Each HTTP process caches its readiness
            # for a second, so a 200 from the other process alone can predate the kill.
            try:
                if _embedded_child(proc, server).pid == victim.pid:
                    return False
            except AssertionError:  # not started again yet
                return False
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200

        try:
            _until(restarted, 90, f"{server} restarted and /readyz back to 200")
        except AssertionError as stuck:
            raise AssertionError(f"{stuck}; huike run said:\n{_said(proc)[-4000:]}") from None
        assert proc.poll() is None  # and huike itself never stopped
        _written_and_found(base, headers, "After Crash Trading")
        assert _stop(proc, signal.SIGTERM) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _servers_using(data_dir) == []


def _customers_in_database(data_dir: Path, postgres_port: int, tenant_id: str) -> tuple[int, int]:
    """(customers, distinct names) of a tenant, read with the owner's credentials."""
    password = json.loads((data_dir / "secrets.json").read_text())["owner_password"]

    async def count() -> tuple[int, int]:
        conn = await asyncpg.connect(host="127.0.0.1", port=postgres_port, user="huike_owner", password=password,
                                     database="huike")
        try:
            async with conn.transaction():
                await conn.execute("SELECT set_config('app.tenant_id', $1, true)", tenant_id)
                row = await conn.fetchrow("SELECT count(*) AS n, count(DISTINCT name) AS names FROM records.customers"
                                          " WHERE tenant_id = $1 AND deleted_at IS NULL", uuid.UUID(tenant_id))
            return int(row["n"]), int(row["names"])
        finally:
            await conn.close()

    return asyncio.run(count())


def test_kill_9_mid_import_leaves_no_process_behind_and_the_import_resumes_without_duplicates(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    lease = {"HUIKE_BULK_JOB_LEASE_SECONDS": "4"}  # the restarted server takes the dead one's import over soon
    total = 12_000  # 12 batches of 1,000
    proc = _start(data_dir, port, lease)
    try:
        _wait_ready(proc, base)
        signup = httpx.post(f"{base}/api/v1/signup", json={
            "company_name": f"断电导入 {uuid.uuid4().hex[:6]}", "admin_email": "ops@example.com",
            "admin_password": "Correct-Horse-Battery-9", "admin_name": "运维"}, timeout=30)
        assert signup.status_code == 201, signup.text
        tenant_id = signup.json()["tenant"]["id"]
        headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
        bad = {5, total - 5}  # a bad phone in the first batch (committed before the kill) and in the last
        rows = "name,phone\n" + "".join(
            f"导入公司 {i:05d},{'bad phone' if i in bad else f'139{i:08d}'}\n" for i in range(total))
        started = httpx.post(f"{base}/api/v1/imports", headers=headers, data={"entity": "customer"},
                             files={"file": ("customers.csv", rows.encode(), "text/csv")}, timeout=30)
        assert started.status_code in (201, 202), started.text
        job_url = f"{base}/api/v1/imports/{started.json()['id']}"

        def part_done() -> dict[str, Any] | None:  # a batch or more committed, not all of them
            job = httpx.get(job_url, headers=headers, timeout=5).json()
            assert job["status"] not in ("succeeded", "failed"), f"the import ended before the kill: {job}"
            return job if job["rows_done"] >= 1000 else None

        at_kill = _until(part_done, 120, "the import's first batches")
        everything = psutil.Process(proc.pid).children(recursive=True)
        names = [" ".join(p.cmdline()) for p in everything]
        assert any("spawn_main" in n for n in names) and any("resource_tracker" in n for n in names), names
        proc.kill()  # kill -9 of the server in the middle of the import
        proc.wait(10)
        # A worker being spawned at the kill exits at its initializer's parent check: that takes
        # its imports, which on a loaded machine is seconds (the kernel's death signal is set there).
        gone, alive = psutil.wait_procs(everything, timeout=60)
        assert alive == [], [" ".join(p.cmdline())[:120] for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _servers_using(data_dir) == []

    proc = _start(data_dir, port, lease)
    try:
        _wait_ready(proc, base)
        login = httpx.post(f"{base}/api/v1/auth/login", json={
            "tenant": signup.json()["tenant"]["slug"], "email": "ops@example.com",
            "password": "Correct-Horse-Battery-9"}, timeout=30)
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

        def finished() -> dict[str, Any] | None:
            job = httpx.get(job_url, headers=headers, timeout=5).json()
            return job if job["status"] in ("succeeded", "failed") else None

        job = _until(finished, 180, "the import to be resumed and finished")
        assert (job["status"], job["rows_done"], job["rows_created"], job["rows_failed"]) == \
            ("succeeded", total, total - 2, 2), (at_kill, job)
        postgres = _embedded_child(proc, "postgres")
        postgres_port = int(postgres.cmdline()[postgres.cmdline().index("-p") + 1])
        assert _customers_in_database(data_dir, postgres_port, tenant_id) == (total - 2, total - 2)  # none twice
        report = httpx.get(f"{job_url}/errors", headers=headers, timeout=10)
        lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
        assert [line[0] for line in lines[1:]] == [str(i + 2) for i in sorted(bad)]  # each once (file lines)
        assert _stop(proc, signal.SIGTERM) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _servers_using(data_dir) == []


# --- several HTTP processes (HUIKE_HTTP_PROCESSES) ---------------------------------------------------------


def _http_processes(proc: subprocess.Popen[str]) -> list[psutil.Process]:
    """huike run's HTTP processes: forked from it, named by it (shared/workers.py: name_process)."""
    found = []
    for child in psutil.Process(proc.pid).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.name().startswith("huike-http-"):
                found.append(child)
    return found


def _builders_of(http: psutil.Process) -> list[psutil.Process]:
    """The live search document builders an HTTP process runs (services/search/building.py)."""
    found = []
    for child in http.children():
        with contextlib.suppress(psutil.NoSuchProcess):
            if child.name() == "huike-search":
                found.append(child)
    return found


def _answering_processes(proc: subprocess.Popen[str], base: str, port: int, headers: dict[str, str]) -> set[int]:
    """Sixteen keep-alive connections each ask for the caller's profile; answers the pids of the
    HTTP processes that hold those connections (read from the OS while they are still open)."""
    clients = [httpx.Client(base_url=base, headers=headers, timeout=30) for _ in range(16)]
    try:
        for client in clients:
            response = client.get("/api/v1/me")
            assert response.status_code == 200, response.text
        holders = set()
        for child in _http_processes(proc):
            if any(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port
                   for c in child.net_connections(kind="tcp")):
                holders.add(child.pid)
        return holders
    finally:
        for client in clients:
            client.close()


def test_two_http_processes_share_the_port_a_killed_one_comes_back_and_all_die_with_the_parent(
        tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(data_dir, port, {"HUIKE_HTTP_PROCESSES": "2"})
    try:
        _wait_ready(proc, base)
        first = {p.pid for p in _http_processes(proc)}
        assert len(first) == 2, _said(proc)
        headers = _signup(base)
        # Both processes answer (the kernel spreads the connections over their sockets), and a token
        # one process issued is good in the other.
        assert _answering_processes(proc, base, port, headers) == first

        victim = psutil.Process(min(first))
        victim.kill()  # kill -9 of one HTTP process
        victim.wait(10)
        replaced = _until(lambda: len(now := {p.pid for p in _http_processes(proc)} - {victim.pid}) == 2 and now,
                          60, "the killed HTTP process to be restarted")
        try:  # a whole process's start-up: seconds on an idle machine, minutes on a loaded one
            _until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, 240, "/readyz back to 200")
        except AssertionError as stuck:
            raise AssertionError(f"{stuck}; huike run said:\n{_said(proc)[-4000:]}") from None
        assert proc.poll() is None  # huike run itself went on
        assert _answering_processes(proc, base, port, headers) == replaced  # the new one serves too
        # Every process, the restarted one too, forked its search document builder from itself
        # after huike run had loaded the dictionaries: the builder's own pages are a few MiB, where
        # a spawned builder loads jieba and pypinyin again (~150 MiB of its own).
        builders = {http.pid: _builders_of(http) for http in _http_processes(proc)}
        assert all(builders.values()), builders
        own_mib = [b.memory_full_info().uss / 2**20 for found in builders.values() for b in found]
        assert max(own_mib) < 64, own_mib
        _written_and_found(base, headers, "Shared Builders Trading")  # events, relays and indexing still work
        for found in builders.values():  # kill -9 of every builder: the next batch gets a new one
            for builder in found:
                builder.kill()
        _written_and_found(base, headers, "Two Processes Trading")

        everything = psutil.Process(proc.pid).children(recursive=True)
        proc.kill()  # kill -9 of huike run: every HTTP process, worker and server goes with it
        proc.wait(10)
        gone, alive = psutil.wait_procs(everything, timeout=60)  # as in the import's kill -9 above
        assert alive == [], [" ".join(p.cmdline())[:120] for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _servers_using(data_dir) == []
