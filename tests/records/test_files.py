"""Bulk files live in PostgreSQL (services/records/storage.py): an import uploaded through one
replica is processed by another, an export written by one is downloaded through another; files are
chunked, invisible until complete, and another tenant's are unreachable."""

from __future__ import annotations

import dataclasses
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from services.records.app import service as records
from services.records.storage import PostgresFileStore, file_store, new_key
from shared.tenancy import scope_for_system
from tests.records.conftest import eventually
from tests.records.test_exports import csv_rows
from tests.records.test_imports import bulk, csv_bytes, error_report, finished, upload  # noqa: F401 - fixture


@pytest.fixture
async def replica(settings: Any, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A second records replica on the same database and NATS, with its own (empty) data directory
    and no import/export workers: whatever it is asked to import or export, another replica does."""
    from shared.http import create_app
    from shared.runtime import Runtime

    rt = Runtime(settings.model_copy(update={"data_dir": tmp_path / "replica"}),
                 (dataclasses.replace(records, starters=()),))
    await rt.start()
    transport = httpx.ASGITransport(app=create_app(rt, manage_runtime=False), client=("203.0.113.8", 40000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://replica.test") as client:
            yield client
    finally:
        await rt.stop()


async def test_an_import_uploaded_through_one_replica_is_processed_by_another(client, replica, signup, bulk
                                                                              ) -> None:
    tenant = await signup()
    content = csv_bytes([["name", "phone"], ["跨副本导入有限公司", "13800138000"], ["", "13700137000"]])
    started = await upload(replica, tenant, content)  # stored by the replica, which has no workers
    assert started.status_code == 202, started.text

    state = await finished(replica, tenant, started.json()["id"])  # run by the first replica's workers
    assert (state["status"], state["rows_done"], state["rows_failed"]) == ("succeeded", 2, 1), state
    report = await error_report(replica, tenant, started.json()["id"])
    assert report[1][:3] == ["3", "", "13700137000"] and len(report) == 2
    names = [c["name"] for c in (await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"]]
    assert names == ["跨副本导入有限公司"]


async def test_an_export_written_by_one_replica_is_downloaded_through_another(client, replica, signup, customer,
                                                                             bulk) -> None:
    tenant = await signup()
    await customer(tenant, name="导出到别处有限公司")
    for format_ in ("csv", "xlsx"):
        started = await replica.post("/api/v1/exports", headers=tenant.headers,
                                     json={"entity": "customer", "format": format_})
        assert started.status_code == 202, started.text
        export_id = started.json()["id"]

        async def done(export_id: str = export_id) -> bool:
            state = (await replica.get(f"/api/v1/exports/{export_id}", headers=tenant.headers)).json()
            return state["status"] == "succeeded"

        await eventually(done, timeout=20, interval=0.1)
        response = await replica.get(f"/api/v1/exports/{export_id}/file", headers=tenant.headers)
        assert response.status_code == 200
        assert int(response.headers["content-length"]) == len(response.content)
        if format_ == "csv":
            assert [r["name"] for r in csv_rows(response)] == ["导出到别处有限公司"]
        else:
            sheet = load_workbook(io.BytesIO(response.content), read_only=True).active
            rows = list(sheet.iter_rows(values_only=True))
            assert "导出到别处有限公司" in rows[1]


async def test_files_are_chunked_invisible_until_complete_and_removed_on_failure(runtime) -> None:
    store = PostgresFileStore(runtime.db("records"), chunk_bytes=1000)
    tenant_id = uuid.uuid4()
    key = new_key(tenant_id, "imports", uuid.uuid4(), "upload")
    body = bytes(range(256)) * 20  # 5,120 bytes: six chunks, the last one short
    async with store.create(key) as sink:
        for start in range(0, len(body), 700):
            await sink.write(body[start:start + 700])
        with pytest.raises(FileNotFoundError):  # half-written: no reader sees it
            await store.size(key)
    assert await store.size(key) == len(body)
    chunks = [chunk async for chunk in store.read(key)]
    assert [len(c) for c in chunks] == [1000] * 5 + [120] and b"".join(chunks) == body
    async with store.local_copy(key) as path:
        assert path.read_bytes() == body
    assert not path.exists()  # the local copy goes with its block

    failed = new_key(tenant_id, "exports", uuid.uuid4(), "csv")
    with pytest.raises(RuntimeError):
        async with store.create(failed) as sink:
            await sink.write(b"x" * 2500)
            raise RuntimeError("the writer died")
    assert await store.keys(f"{tenant_id}/") == [key]
    async with runtime.db("records").tenant_unit(scope_for_system(tenant_id)) as unit:
        assert await unit.fetchval("SELECT count(*) FROM records.file_chunks WHERE key = $1", failed) == 0

    assert await store.delete_all(f"{tenant_id}/") == 1
    with pytest.raises(FileNotFoundError):
        [chunk async for chunk in store.read(key)]


async def test_another_tenants_files_are_unreachable(runtime) -> None:
    store = file_store(runtime)
    owner, intruder = uuid.uuid4(), uuid.uuid4()
    key = new_key(owner, "exports", uuid.uuid4(), "csv")
    async with store.create(key) as sink:
        await sink.write("客户名单,机密".encode())
    # The intruder's unit of work, asking for the owner's key without any tenant filter: nothing.
    async with runtime.db("records").tenant_unit(scope_for_system(intruder)) as unit:
        assert await unit.fetchval("SELECT count(*) FROM records.files WHERE key = $1", key) == 0
        assert await unit.fetchval("SELECT count(*) FROM records.file_chunks WHERE key = $1", key) == 0
        refused = await unit.fetchval("SELECT count(*) FROM records.files")
    assert refused == 0
    # A key naming another tenant is read in that tenant's scope only: the intruder's prefix sees nothing.
    assert await store.keys(f"{intruder}/") == []
    assert b"".join([c async for c in store.read(key)]).decode() == "客户名单,机密"
    await store.delete(key)
