"""Background work gives way to requests, down to the PostgreSQL backends that serve it (shared/priority.py)."""

from __future__ import annotations

import os

import asyncpg
import pytest

from shared.db import Database
from shared.embedded import server_settings
from shared.priority import BACKGROUND_NICENESS


async def test_bulk_work_is_served_by_backends_at_a_lower_cpu_priority(database: Database, infra) -> None:  # noqa: ANN001
    if not infra.embedded:
        pytest.skip("PostgreSQL does not run on this machine: its backends' priority is not ours to set")
    records = database.for_service("records")
    async with records.system_unit() as unit:
        request_backend = await unit.fetchval("SELECT pg_backend_pid()")
    async with records.system_unit(background=True) as unit:
        bulk_backend = await unit.fetchval("SELECT pg_backend_pid()")
    assert bulk_backend != request_backend
    server_niceness = os.getpriority(os.PRIO_PROCESS, request_backend)
    assert os.getpriority(os.PRIO_PROCESS, bulk_backend) == min(19, server_niceness + BACKGROUND_NICENESS)


async def test_the_embedded_postgresql_is_sized_for_the_machine(infra) -> None:  # noqa: ANN001 - conftest.Infra
    if not infra.embedded:
        pytest.skip("the tests run against PostgreSQL given by URL or from a container, not the embedded one")
    conn = await asyncpg.connect(infra.owner_url)
    try:
        wanted = server_settings()
        for name in ("shared_buffers", "max_wal_size"):
            assert await conn.fetchval("SELECT pg_size_bytes(current_setting($1)) = pg_size_bytes($2)",
                                       name, wanted[name]), name
        assert await conn.fetchval("SHOW checkpoint_timeout") == wanted["checkpoint_timeout"]
    finally:
        await conn.close()
    assert wanted["max_wal_size"] == "4GB"
    # Laptop sized unless told otherwise (HUIKE_EMBEDDED_PG_SHARED_BUFFERS_MB).
    assert server_settings(64 * 2**30, 128)["shared_buffers"] == "128MB"
    assert server_settings(64 * 2**30, 1024)["shared_buffers"] == "1024MB"
    # 0: a quarter of the memory, never under PostgreSQL's own 128 MB nor over 4 GB.
    assert server_settings(2 * 2**30, 0)["shared_buffers"] == "512MB"
    assert server_settings(256 * 2**20, 0)["shared_buffers"] == "128MB"
    assert server_settings(64 * 2**30, 0)["shared_buffers"] == "4096MB"
