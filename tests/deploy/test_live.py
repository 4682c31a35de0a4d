"""What the chart runs, run here against the real services: the `helm test` pod's script, and the
search service's builder pool as sized from the settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from services.search.building import builder_of, worker_count
from shared.embedded import free_port
from tests.deploy.chart import MINIMAL, manifests, of_kind


@pytest.fixture
async def server(app: Any) -> AsyncIterator[int]:
    port = free_port()
    served = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None))
    task = asyncio.create_task(served.serve())
    for _ in range(200):
        if served.started:
            break
        await asyncio.sleep(0.05)
    assert served.started
    yield port
    served.should_exit = True
    await task


def _test_pod_script() -> tuple[list[str], dict[str, str]]:
    (pod,) = of_kind(manifests(MINIMAL), "Pod").values()
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (container,) = pod["spec"]["containers"]
    return container["command"], {e["name"]: e["value"] for e in container["env"]}


async def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, *command[1:]]  # the image's `python`, here the test's interpreter
    return await asyncio.to_thread(subprocess.run, argv, env={**os.environ, **env}, capture_output=True,
                                   text=True, timeout=120)


async def test_the_helm_test_pod_checks_readiness_and_signs_a_tenant_up(server: int) -> None:
    command, env = _test_pod_script()
    # In the cluster it reaches each service's Service; here one process serves them all.
    assert env["READY_URLS"].split() == [f"http://huike-{n}:80/readyz" for n in
                                         ("identity", "notifications", "records", "search", "workflows")]
    base = f"http://127.0.0.1:{server}"
    done = await _run(command, {"READY_URLS": f"{base}/readyz {base}/readyz", "API_URL": base})
    assert done.returncode == 0, done.stderr
    assert "ok   sign-up of helm-test-" in done.stdout


async def test_the_helm_test_pod_fails_when_a_service_is_not_there(server: int) -> None:
    command, _ = _test_pod_script()
    base = f"http://127.0.0.1:{server}"
    done = await _run(command, {"READY_URLS": f"{base}/nothing-here", "API_URL": base})
    assert done.returncode == 1
    assert "FAIL" in done.stderr and "/nothing-here answered 404" in done.stderr


async def test_the_search_builder_pool_is_sized_by_the_settings(runtime: Any) -> None:
    builder = builder_of(runtime)
    assert builder.workers == worker_count(runtime.settings.search_workers)
    assert builder.workers <= len(os.sched_getaffinity(0))
