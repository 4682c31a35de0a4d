"""Fixtures for search tests: the contract suite runs against every engine.

* ``engine_client``: an HTTP client of an app whose search engine is PostgreSQL (always) or
  Meilisearch (when ``HUIKE_TEST_MEILISEARCH_URL`` answers or a Docker engine can run one; otherwise
  those tests skip with that reason). Records are written through the default app either way:
  both apps share the database and NATS, like two replicas.

* ``search``: ``await search(who, q, **params)`` → the HTTP response of ``GET /api/v1/search``.
* ``found``: ``await found(who, q, record_id, **params)`` waits (up to 2 s, the contract) until the
  record is among the hits and answers that hit; ``await gone(who, q, record_id)`` the opposite.
* re-exports ``customer``, ``invite``, ``eventually``, ``in_directory``, ``records_events``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.identity.conftest import eventually, invite  # noqa: F401 - fixture and helper
from tests.records.conftest import customer, in_directory, records_events  # noqa: F401 - fixtures

INDEX_SECONDS = 2.0

Search = Callable[..., Awaitable[httpx.Response]]
MEILISEARCH_IMAGE = "getmeili/meilisearch:v1.11"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url.rstrip("/") + "/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def meilisearch_url() -> Iterator[str]:
    """A reachable Meilisearch (``HUIKE_TEST_MEILISEARCH_URL``, or a container), or skip."""
    url = os.environ.get("HUIKE_TEST_MEILISEARCH_URL", "")
    if url and _answers(url):
        yield url
        return
    from tests.conftest import _docker_available

    if not _docker_available():
        pytest.skip("Meilisearch engine not tested: HUIKE_TEST_MEILISEARCH_URL is not set or does not answer, "
                    "and no Docker engine answers to start one")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    with DockerContainer(MEILISEARCH_IMAGE).with_env("MEILI_NO_ANALYTICS", "true").with_exposed_ports(7700) as meili:
        wait_for_logs(meili, "Server listening|Actix runtime found", timeout=60)
        yield f"http://{meili.get_container_host_ip()}:{meili.get_exposed_port(7700)}"


@pytest.fixture(scope="session")
async def meilisearch_app(settings: Any, runtime: Any, meilisearch_url: str) -> AsyncIterator[Any]:
    """A second runtime (like another replica) whose search service uses Meilisearch."""
    from services.registry import ALL_SERVICES
    from shared.http import create_app
    from shared.runtime import Runtime

    rt = Runtime(settings.model_copy(update={"search_engine": "meilisearch", "meilisearch_url": meilisearch_url}),
                 ALL_SERVICES)
    await rt.start()
    yield create_app(rt, manage_runtime=False)
    await rt.stop()


@pytest.fixture(params=["postgres", "meilisearch"])
async def engine_client(request: pytest.FixtureRequest, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    if request.param == "postgres":
        yield client
        return
    app = request.getfixturevalue("meilisearch_app")
    transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://huike.test") as other:
        yield other


@pytest.fixture
def search(engine_client: httpx.AsyncClient) -> Search:
    async def run(who: Any, q: str | None = None, **params: Any) -> httpx.Response:
        if q is not None:
            params["q"] = q
        return await engine_client.get("/api/v1/search", params=params, headers=who.headers)

    return run


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [h["id"] for h in response.json()["hits"]]


@pytest.fixture
def found(search: Search) -> Callable[..., Awaitable[dict[str, Any]]]:
    async def wait(who: Any, q: str, record_id: str, timeout: float = INDEX_SECONDS, **params: Any) -> dict[str, Any]:
        hits: list[dict[str, Any]] = []

        async def check() -> bool:
            nonlocal hits
            response = await search(who, q, **params)
            assert response.status_code == 200, response.text
            hits = response.json()["hits"]
            return any(h["id"] == record_id for h in hits)

        try:
            await eventually(check, timeout=timeout)
        except AssertionError:
            raise AssertionError(f"{q!r} did not find {record_id} within {timeout} s; hits: {hits}") from None
        return next(h for h in hits if h["id"] == record_id)

    return wait


@pytest.fixture
def gone(search: Search) -> Callable[..., Awaitable[None]]:
    async def wait(who: Any, q: str, record_id: str, timeout: float = INDEX_SECONDS, **params: Any) -> None:
        async def check() -> bool:
            return record_id not in ids(await search(who, q, **params))

        await eventually(check, timeout=timeout)

    return wait
