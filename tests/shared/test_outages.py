"""Outages of PostgreSQL and NATS, for real: servers of this module's own (so stopping them leaves
the session's alone) are stopped, killed and started again under a running service.

- a consumer keeps events through a database outage: all applied after it, none dead-lettered,
  no delivery spent;
- the API answers 503 problem+json with Retry-After while the database is down, /readyz too, and
  both recover on their own when it is back;
- while NATS is down, recently resolved credentials still work (at once, no 2 s wait), unknown
  ones get a 503 at once, and a session ended during the outage is refused once NATS is back;
- shutdown completes, pool closed, with NATS already gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from shared.db import Database, Unit
from shared.db.migrations import migrate
from shared.embedded import EmbeddedServers
from shared.events import Bus, EventConsumer, service_stream_name
from shared.events.bus import MSG_ID_HEADER
from shared.events.envelope import Actor, Event, encode_event, new_event
from shared.settings import Settings, load_settings
from shared.tenancy import scope_for_system
from shared.unavailable import is_unavailable

pytestmark = pytest.mark.slow

SCHEMA = "outage"
MIGRATION = """
CREATE TABLE outage.items (
  tenant_id uuid NOT NULL,
  id        uuid NOT NULL,
  name      text NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
SELECT huike.enable_tenant_rls('outage.items');
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServers]:
    """A PostgreSQL and a NATS of this module only."""
    own = EmbeddedServers(tmp_path_factory.mktemp("outage-servers"))
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def postgres_up(servers: EmbeddedServers) -> Iterator[None]:
    """Whatever a test did to them, the next test finds both servers running."""
    yield
    if servers.postgres.proc is None or servers.postgres.proc.poll() is not None:
        servers.postgres.start()
    if servers.nats.proc is None or servers.nats.proc.poll() is not None:
        servers.nats.start()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


def kill(server: Any) -> None:
    """kill -9, as the out-of-memory killer or a crash would."""
    server.proc.kill()
    server.proc.wait(10)


# --- the classification ----------------------------------------------------------------------------


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "Connection refused"),
    OSError(28, "No space left on device"),
    asyncio.TimeoutError(),
    asyncpg.exceptions.DiskFullError("could not extend file"),
    asyncpg.exceptions.TooManyConnectionsError("too many clients"),
    asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
])
def test_infrastructure_failures_are_recognised(exc: BaseException) -> None:
    assert is_unavailable(exc)
    wrapped = RuntimeError("while doing the work")
    wrapped.__cause__ = exc
    assert is_unavailable(wrapped)


@pytest.mark.parametrize("exc", [
    ValueError("bad"), KeyError("x"), FileNotFoundError(2, "No such file"),
    asyncpg.exceptions.UniqueViolationError("duplicate key"), asyncpg.exceptions.DataError("bad value"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
])
def test_failures_of_the_work_itself_are_not(exc: BaseException) -> None:
    assert not is_unavailable(exc)


# --- a consumer through a database outage ---------------------------------------------------------


@pytest.fixture(scope="module")
async def outage_db(servers: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    migrations = tmp_path_factory.mktemp("outage-migrations")
    (migrations / "0001_items.sql").write_text(MIGRATION)
    await migrate(servers.postgres.owner_url, SCHEMA, migrations, "huike_app")
    db = await Database.connect(servers.postgres.app_url, min_size=1, max_size=4)
    yield db
    await db.close()


async def test_events_published_during_a_database_outage_are_all_applied_after_it(
    servers: EmbeddedServers, outage_db: Database, postgres_up: None, caplog: pytest.LogCaptureFixture
) -> None:
    bus = await Bus.connect(servers.nats.url, name="huike-test-outage", reconnect_time_wait=0.2)
    await bus.ensure_dead_letter_stream()
    name = f"out{uuid.uuid4().hex[:8]}"
    await bus.ensure_service_stream(name, duplicate_window_seconds=600)
    db = outage_db.for_service("outconsumer", schema=SCHEMA)
    tenant = uuid.uuid4()
    handled: list[str] = []

    async def handler(unit: Unit, event: Event) -> None:
        await unit.execute(f"INSERT INTO {SCHEMA}.items (tenant_id, id, name) VALUES ($1, $2, $3)",
                           event.tenant_id, uuid.UUID(event.entity_id), event.data["name"])
        handled.append(event.data["name"])

    # Two deliveries at most and no wait between them: before, the outage dead-lettered at once.
    consumer = EventConsumer(bus, db, name=f"c{name}", stream=service_stream_name(name), subjects=[f"crm.{name}.>"],
                             handler=handler, max_deliveries=2, backoff=[0.05], fetch_timeout=0.5, batch_size=5,
                             ack_wait=2.0)
    await consumer.start()
    try:
        servers.postgres.stop()
        names = [f"item-{i:02d}" for i in range(12)]
        for item in names:
            event = new_event(service=name, tenant_id=tenant, entity="item", action="created",
                              entity_id=uuid.uuid4(), actor=Actor(kind="system"), data={"name": item})
            await bus.js.publish(event.subject, encode_event(event), headers={MSG_ID_HEADER: str(event.id)})
        await asyncio.sleep(6)  # three times ack_wait: the waiting batch must be kept alive meanwhile
        assert handled == []
        servers.postgres.start()

        async def all_applied() -> bool:
            async with db.tenant_unit(scope_for_system(tenant)) as unit:
                rows = await unit.fetch(f"SELECT name FROM {SCHEMA}.items WHERE tenant_id = $1 ORDER BY name", tenant)
            return [r["name"] for r in rows] == names

        await eventually(all_applied, what="every event applied after the outage")
        info = await bus.js.consumer_info(consumer.stream, consumer.name)
        assert info.num_ack_pending == 0 and info.num_pending == 0
        assert info.num_redelivered == 0  # the outage spent no delivery
        dead = await bus.js.stream_info("CRM_DEAD_LETTERS", subjects_filter=consumer.dead_letter_subject)
        assert (dead.state.subjects or {}).get(consumer.dead_letter_subject, 0) == 0
        assert "waits for the infrastructure" in caplog.text
    finally:
        await consumer.stop()
        await bus.close()


# --- the API through outages ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def outage_settings(servers: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        data_dir=tmp_path_factory.mktemp("outage-data"),
        database_url=servers.postgres.app_url, database_owner_url=servers.postgres.owner_url,
        nats_url=servers.nats.url, jwt_secret=secrets.token_urlsafe(32), log_format="text",
        principal_cache_ttl_seconds=1.0, db_pool_min=1, db_pool_max=4,
    )


@contextlib.asynccontextmanager
async def identity_runtime(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The identity service alone (sign-up, login, /me), on this module's servers."""
    from services.registry import BY_NAME, migrate_all
    from shared.http import create_app
    from shared.runtime import Runtime

    specs = (BY_NAME["identity"],)
    await migrate_all(settings, specs)
    runtime = Runtime(settings, specs)
    await runtime.start()
    transport = httpx.ASGITransport(app=create_app(runtime, manage_runtime=False), client=("203.0.113.9", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://huike.test") as client:
            yield runtime, client
    finally:
        await runtime.stop()


async def _signup(client: httpx.AsyncClient) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    response = await client.post("/api/v1/signup", json={
        "company_name": f"停电测试 {suffix}", "admin_email": f"ops-{suffix}@example.com",
        "admin_password": "Correct-Horse-Battery-9", "admin_name": "运维"})
    assert response.status_code == 201, response.text
    return response.json()


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["status"] == 503


async def test_database_down_answers_503_with_retry_after_and_recovers_without_a_restart(
    servers: EmbeddedServers, outage_settings: Settings, postgres_up: None
) -> None:
    async with identity_runtime(outage_settings) as (runtime, client):
        before = await _signup(client)
        assert (await client.get("/readyz")).status_code == 200
        kill(servers.postgres)
        await asyncio.sleep(1.1)  # past the readiness cache
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["database"] is False
        assert ready.headers["retry-after"]
        for _ in range(3):  # every pooled connection is dead: each attempt answers 503, never 500
            suffix = uuid.uuid4().hex[:8]
            _assert_unavailable(await client.post("/api/v1/signup", json={
                "company_name": f"失败 {suffix}", "admin_email": f"no-{suffix}@example.com",
                "admin_password": "Correct-Horse-Battery-9", "admin_name": "无"}))
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {before['access_token']}"})
        _assert_unavailable(me)
        servers.postgres.start()

        async def ready_again() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready_again, what="/readyz back to 200")
        after = await _signup(client)  # the pool reconnected by itself
        me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {after['access_token']}"})
        assert me.status_code == 200 and me.json()["tenant"]["id"] == after["tenant"]["id"]


async def test_readiness_reports_a_volume_without_room(outage_settings: Settings) -> None:
    from shared.runtime import Runtime

    async with identity_runtime(outage_settings) as (runtime, _):
        assert (await runtime.readiness())["database"] is True
        full = outage_settings.model_copy(update={"readiness_disk_path": outage_settings.data_dir,
                                                  "readiness_min_free_mb": 1 << 40})
        checks = await Runtime(full, (), database=runtime.database, bus=runtime.bus).readiness()
        assert checks["disk"] is False and checks["database"] is True


async def test_nats_down_keeps_recent_sessions_working_refuses_others_at_once_and_catches_up_revocations(
    servers: EmbeddedServers, outage_settings: Settings, postgres_up: None
) -> None:
    async with identity_runtime(outage_settings) as (runtime, client):
        tenant = await _signup(client)
        known = {"Authorization": f"Bearer {tenant['access_token']}"}
        login = await client.post("/api/v1/auth/login", json={
            "tenant": tenant["tenant"]["slug"], "email": tenant["user"]["email"],
            "password": "Correct-Horse-Battery-9"})
        assert login.status_code == 200, login.text
        unseen = {"Authorization": f"Bearer {login.json()['access_token']}"}

        async def resolved() -> bool:  # the login's identity event empties the tenant's cache: after it
            return (await client.get("/api/v1/me", headers=known)).status_code == 200

        await eventually(resolved, what="the session resolved")
        await asyncio.sleep(0.5)  # any identity event still on its way has arrived
        assert (await client.get("/api/v1/me", headers=known)).status_code == 200

        kill(servers.nats)
        await asyncio.sleep(1.2)  # past the cache's freshness (1 s here)
        assert not runtime.bus.is_connected
        started = time.monotonic()
        me = await client.get("/api/v1/me", headers=known)
        assert me.status_code == 200 and me.json()["user"]["id"] == tenant["user"]["id"]
        refused = await client.get("/api/v1/me", headers=unseen)
        _assert_unavailable(refused)
        assert time.monotonic() - started < 1.0  # no 2 s wait for a NATS known to be down
        # Ended during the outage: identity's event cannot reach the cache now...
        assert (await client.post("/api/v1/auth/logout", headers=known)).status_code == 204

        servers.nats.start()

        async def reconnected() -> bool:
            return runtime.bus.is_connected

        await eventually(reconnected, what="NATS reconnected")
        # ...so on reconnection nothing cached is trusted before identity confirms it again.
        gone = await client.get("/api/v1/me", headers=known)
        assert gone.status_code == 401, gone.text
        assert (await client.get("/api/v1/me", headers=unseen)).status_code == 200


async def test_shutdown_with_nats_already_gone_completes_and_closes_the_pool(
    servers: EmbeddedServers, outage_settings: Settings, postgres_up: None, caplog: pytest.LogCaptureFixture
) -> None:
    from services.registry import ALL_SERVICES, migrate_all
    from shared.runtime import Runtime

    await migrate_all(outage_settings, ALL_SERVICES)
    runtime = Runtime(outage_settings, ALL_SERVICES)  # every service: relays, consumers, workers
    await runtime.start()
    kill(servers.nats)
    await asyncio.sleep(1)
    await asyncio.wait_for(runtime.stop(), 60)
    assert runtime.database is not None and runtime.database.pool.is_closing()
    assert runtime.database.background_pool.is_closing()
    assert "Traceback" not in caplog.text


def test_module_servers_are_this_modules_own(servers: EmbeddedServers, infra: Any) -> None:
    # What this module kills must never be the session's servers.
    assert str(servers.postgres.port) not in infra.owner_url and servers.nats.url != infra.nats_url
    assert Path(servers.data_dir).exists()
