"""The export of a tenant's identity data, written when its deletion is scheduled, lives in the file
store every replica sees (identity.files, migration 0005; shared/files.py), not on the pod's disk:
another instance with an empty data directory serves it, before and after the purge."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.identity.domain.tenants import export_key
from shared.tenancy import scope_for_system
from tests.identity.conftest import EventLog

OPERATOR = "/api/v1/operator/tenants"


def operator(settings: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.operator_token}"}


@pytest.fixture
async def other_replica(settings: Any, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """Another identity instance (same database and NATS) whose data directory is empty."""
    from services.registry import BY_NAME
    from shared.http import create_app
    from shared.runtime import Runtime

    rt = Runtime(settings.model_copy(update={"data_dir": tmp_path / "elsewhere"}), (BY_NAME["identity"],))
    await rt.start()
    app = create_app(rt, manage_runtime=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.9", 40000)),
                                     base_url="http://huike.test") as client:
            yield client
    finally:
        await rt.stop()


async def test_the_export_is_read_from_another_replica_before_and_after_the_purge(
        client: httpx.AsyncClient, other_replica: httpx.AsyncClient, signup, invite, settings, runtime,
        events: EventLog) -> None:
    tenant = await signup()
    await invite(tenant)
    bystander = await signup()
    scheduled = await client.delete(f"{OPERATOR}/{tenant.id}", headers=operator(settings))
    assert scheduled.status_code == 202, scheduled.text
    body = scheduled.json()
    assert body["export_file"] == export_key(uuid.UUID(tenant.id))
    assert body["export_url"] == f"{OPERATOR}/{tenant.id}/export"
    # Nothing of it on this pod's disk.
    assert not (Path(settings.data_dir) / "tenant-exports" / tenant.id / "identity").exists()

    answer = await other_replica.get(body["export_url"], headers=operator(settings))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    data = answer.json()
    assert data["tenant"]["id"] == tenant.id and len(data["users"]) == 2
    assert "password_hash" not in answer.text and "key_hash" not in answer.text
    # The operator's credential only: a tenant's token gets nothing, nor does another tenant's export exist.
    assert (await other_replica.get(body["export_url"], headers=tenant.headers)).status_code == 401
    missing = await other_replica.get(f"{OPERATOR}/{bystander.id}/export", headers=operator(settings))
    assert missing.status_code == 404, missing.text
    # Under the tenant's row-level security: another tenant's unit of work does not see the file.
    async with runtime.db("identity").tenant_unit(scope_for_system(uuid.UUID(bystander.id))) as unit:
        assert await unit.fetchval("SELECT count(*) FROM identity.files WHERE key = $1", body["export_file"]) == 0

    # The purge writes the final export and keeps it; any replica still serves it.
    purged = await client.delete(f"{OPERATOR}/{tenant.id}", params={"immediately": "true"}, headers=operator(settings))
    assert purged.status_code == 202, purged.text
    await events.wait_for(tenant.id, "tenant.deleted")
    final = await other_replica.get(body["export_url"], headers=operator(settings))
    assert final.status_code == 200, final.text
    assert final.json()["tenant"]["status"] == "pending_deletion" and len(final.json()["users"]) == 2
    assert final.json()["exported_at"] > data["exported_at"]
