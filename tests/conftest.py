"""The test harness: real PostgreSQL and NATS for the whole session, fresh tenants per test.

Where the servers come from, in order of preference:
1. URLs in the environment: HUIKE_TEST_DATABASE_OWNER_URL, HUIKE_TEST_DATABASE_URL, HUIKE_TEST_NATS_URL;
2. testcontainers, when a Docker engine answers;
3. the embedded default: PostgreSQL and NATS from their wheels, in a temporary directory.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shared.db import Database
from shared.settings import Settings, load_settings


@dataclass(frozen=True)
class Infra:
    owner_url: str
    app_url: str
    nats_url: str
    embedded: bool = False  # the servers are the embedded default's (shared/embedded.py)


def _docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=2).ping()
        return True
    except Exception:  # noqa: BLE001 - no engine is a normal case here
        return False


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    env = os.environ
    if env.get("HUIKE_TEST_DATABASE_OWNER_URL") and env.get("HUIKE_TEST_NATS_URL"):
        yield Infra(env["HUIKE_TEST_DATABASE_OWNER_URL"], env["HUIKE_TEST_DATABASE_URL"], env["HUIKE_TEST_NATS_URL"])
        return
    if _docker_available():
        yield from _containers()
        return
    from shared.embedded import EmbeddedServers

    servers = EmbeddedServers(tmp_path_factory.mktemp("huike-embedded"))
    servers.start()
    try:
        yield Infra(servers.postgres.owner_url, servers.postgres.app_url, servers.nats.url, embedded=True)
    finally:
        servers.stop()


def _containers() -> Iterator[Infra]:
    import asyncio

    import asyncpg
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:17", driver=None) as pg, DockerContainer("nats:2.10").with_command(
        "-js -sd /data"
    ).with_exposed_ports(4222) as nats_container:
        wait_for_logs(nats_container, "Server is ready")
        owner_url = pg.get_connection_url()
        app_password = secrets.token_urlsafe(16)

        async def make_app_role() -> None:
            conn = await asyncpg.connect(owner_url)
            await conn.execute(f"CREATE ROLE huike_app LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '{app_password}'")
            await conn.close()

        asyncio.run(make_app_role())
        host, port = pg.get_container_host_ip(), pg.get_exposed_port(5432)
        app_url = f"postgresql://huike_app:{app_password}@{host}:{port}/{pg.dbname}"
        nats_url = f"nats://{nats_container.get_container_host_ip()}:{nats_container.get_exposed_port(4222)}"
        yield Infra(owner_url, app_url, nats_url)


@pytest.fixture(scope="session")
def settings(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=infra.app_url,
        database_owner_url=infra.owner_url,
        nats_url=infra.nats_url,
        jwt_secret=secrets.token_urlsafe(32),
        operator_token="operator-" + secrets.token_urlsafe(16),
        log_format="text",
        db_pool_max=20,
        # Every test signs up from the same client address; the limit is tested on its own replica
        # (tests/identity/test_lockout.py).
        signup_rate_limit=0,
        # Tests reconcile when they mean to (tests/search/test_reindex.py), not in the middle of others.
        search_reconcile_first_after_seconds=3600,
    )


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> list[str]:
    from services.registry import migrate_all

    return await migrate_all(settings)


@pytest.fixture(scope="session")
async def database(settings: Settings, migrated: list[str]) -> AsyncIterator[Database]:
    db = await Database.connect(settings.database_url, min_size=1, max_size=10)
    yield db
    await db.close()


@pytest.fixture(scope="session")
async def runtime(settings: Settings, migrated: list[str]) -> AsyncIterator[Any]:
    """Every service started in this process, as the embedded default runs them."""
    from services.registry import ALL_SERVICES
    from shared.runtime import Runtime

    rt = Runtime(settings, ALL_SERVICES)
    await rt.start()
    yield rt
    await rt.stop()


@pytest.fixture(scope="session")
def app(runtime: Any) -> Any:
    from shared.http import create_app

    return create_app(runtime, manage_runtime=False)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://huike.test") as c:
        yield c


@dataclass
class Tenant:
    """A fresh tenant and its administrator, made through the public sign-up API."""

    id: str
    slug: str
    admin_id: str
    admin_email: str
    admin_password: str
    access_token: str
    refresh_token: str
    body: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


SignUp = Callable[..., Awaitable[Tenant]]


@pytest.fixture
def signup(client: httpx.AsyncClient) -> SignUp:
    async def make(company_name: str | None = None, **overrides: Any) -> Tenant:
        suffix = uuid.uuid4().hex[:10]
        body = {
            "company_name": company_name or f"Acme {suffix}",
            "admin_email": f"admin-{suffix}@example.com",
            "admin_password": "Correct-Horse-Battery-9",
            "admin_name": "Ada Admin",
            **overrides,
        }
        response = await client.post("/api/v1/signup", json=body)
        assert response.status_code == 201, response.text
        data = response.json()
        return Tenant(
            id=data["tenant"]["id"], slug=data["tenant"]["slug"], admin_id=data["user"]["id"],
            admin_email=body["admin_email"], admin_password=body["admin_password"],
            access_token=data["access_token"], refresh_token=data["refresh_token"], body=data,
        )

    return make
