"""HUIKE_FILE_STORE=s3: bulk files and attachments in an S3-compatible object store, tested against
a real S3 server (moto's, started as a subprocess: a separate S3 implementation, nothing of Huike
is replaced) through the same FileStore protocol PostgreSQL implements."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.records.storage import S3FileStore, file_store
from services.records.tenant_purge import records_purger
from shared.tenancy import scope_for_system
from shared.tenant_purge import export_prefix
from tests.records.conftest import eventually
from tests.records.test_exports import exported
from tests.records.test_imports import bulk, csv_bytes, finished, upload  # noqa: F401 - the workers fixture

BUCKET = "huike-files"
CREDENTIALS = {"access_key_id": "huike-test", "secret_access_key": "huike-test-secret"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free port, with the bucket made; stopped after the module."""
    pytest.importorskip("moto.server", reason="moto[server] (the test extra) runs the S3 server")
    import boto3  # moto's own dependency: makes the bucket, as an operator would

    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(endpoint, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.2)
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                     aws_access_key_id=CREDENTIALS["access_key_id"],
                     aws_secret_access_key=CREDENTIALS["secret_access_key"]).create_bucket(Bucket=BUCKET)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def s3(s3_endpoint: str) -> S3FileStore:
    return S3FileStore(bucket=BUCKET, endpoint=s3_endpoint, region="us-east-1", **CREDENTIALS)


async def _read(store: Any, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key)])


async def test_the_s3_store_streams_files_and_shows_only_complete_ones(s3: S3FileStore) -> None:
    tenant = uuid.uuid4()
    key = f"{tenant}/exports/{uuid.uuid4()}.csv"
    block = bytes(range(256)) * 4096  # 1 MiB
    async with s3.create(key) as sink:
        for n in range(12):  # 12 MiB: several multipart parts of 5 MiB
            await sink.write(block[n:] + block[:n])
    data = await _read(s3, key)
    assert len(data) == 12 * len(block) == await s3.size(key)
    assert data[len(block) * 5: len(block) * 5 + 10] == (block[5:] + block[:5])[:10]
    async with s3.local_copy(key) as path:
        assert path.stat().st_size == len(data)

    # A writer that fails midway (after a part went up) leaves nothing a reader could see.
    broken = f"{tenant}/imports/{uuid.uuid4()}.upload"
    with pytest.raises(RuntimeError):
        async with s3.create(broken) as sink:
            await sink.write(block * 6)
            raise RuntimeError("the client went away")
    with pytest.raises(FileNotFoundError):
        await _read(s3, broken)
    with pytest.raises(FileNotFoundError):
        await s3.size(broken)

    other = uuid.uuid4()
    async with s3.create(f"{other}/attachments/x.bin") as sink:
        await sink.write(b"other tenant")
    assert await s3.keys(f"{tenant}/") == [key]
    await s3.delete(key)
    await s3.delete(key)  # deleting what is gone is no error
    assert await s3.keys(f"{tenant}/") == []
    assert await s3.delete_all(f"{other}/") == 1 and await s3.keys(f"{other}/") == []
    with pytest.raises(ValueError):
        await s3.delete_all("/")


@pytest.fixture
def use_s3(runtime: Any, monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> None:
    """The running service configured with HUIKE_FILE_STORE=s3 for this test."""
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={
        "file_store": "s3", "s3_bucket": BUCKET, "s3_endpoint": s3_endpoint, "s3_region": "us-east-1",
        "s3_access_key_id": CREDENTIALS["access_key_id"], "s3_secret_access_key": CREDENTIALS["secret_access_key"]}))
    assert isinstance(file_store(runtime), S3FileStore)


async def _files_in_postgres(runtime: Any, tenant_id: str) -> int:
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant_id))) as unit:
        return await unit.fetchval("SELECT count(*) FROM records.files WHERE tenant_id = $1", unit.tenant_id)


async def test_imports_and_exports_go_through_s3(client, signup, runtime, use_s3, bulk, s3: S3FileStore) -> None:
    tenant = await signup()
    started = await upload(client, tenant, csv_bytes([["name", "phone"], ["宁波对象存储有限公司", "13900139000"]]))
    assert started.status_code == 202, started.text
    job = await finished(client, tenant, started.json()["id"])
    assert (job["status"], job["rows_created"]) == ("succeeded", 1), job
    export = await exported(client, tenant, {"entity": "customer", "format": "csv"})
    assert "宁波对象存储有限公司" in export.content.decode("utf-8-sig")
    # The export file is an object of the bucket (the upload went when its import ended); none in PostgreSQL.
    assert [k.split("/")[1] for k in await s3.keys(f"{tenant.id}/")] == ["exports"]
    assert await _files_in_postgres(runtime, tenant.id) == 0


async def test_attachments_go_to_s3_when_configured(client, signup, customer, runtime, use_s3,
                                                    s3: S3FileStore) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    content = "通话录音转写：客户同意下周签约。\n".encode() * 40_000  # ~1.8 MB
    added = await client.post(f"/api/v1/customers/{acme['id']}/attachments", headers=tenant.headers,
                              files={"file": ("转写.txt", content, "text/plain")})
    assert added.status_code == 201, added.text
    download = await client.get(f"/api/v1/attachments/{added.json()['id']}", headers=tenant.headers)
    assert download.status_code == 200 and download.content == content
    # The bytes are in the bucket under the tenant's prefix, not in PostgreSQL.
    keys = await s3.keys(f"{tenant.id}/attachments/")
    assert len(keys) == 1 and await s3.size(keys[0]) == len(content)
    assert await _files_in_postgres(runtime, tenant.id) == 0
    # A refused upload leaves nothing in the bucket either.
    refused = await client.post(f"/api/v1/customers/{acme['id']}/attachments", headers=tenant.headers,
                                files={"file": ("photo.jpg", b"MZ" + b"\0" * 200, "image/jpeg")})
    assert refused.status_code == 422
    assert await s3.keys(f"{tenant.id}/attachments/") == keys


async def test_identitys_deletion_export_is_in_its_own_part_of_the_bucket(client, signup, runtime, use_s3,
                                                                          s3: S3FileStore) -> None:
    tenant = await signup()
    operator = {"Authorization": f"Bearer {runtime.settings.operator_token}"}
    scheduled = await client.delete(f"/api/v1/operator/tenants/{tenant.id}", headers=operator)
    assert scheduled.status_code == 202, scheduled.text
    key = scheduled.json()["export_file"]
    # Under identity/ in the shared bucket: records' deletion of the tenant's files leaves it.
    assert await s3.keys(f"identity/{tenant.id}/") == [f"identity/{key}"]
    assert await s3.delete_all(f"{tenant.id}/") == 0
    answer = await client.get(scheduled.json()["export_url"], headers=operator)
    assert answer.status_code == 200 and answer.json()["tenant"]["id"] == tenant.id, answer.text
    async with runtime.db("identity").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        assert await unit.fetchval("SELECT count(*) FROM identity.files") == 0  # none in PostgreSQL


async def test_a_deleted_tenants_records_export_stays_in_the_bucket_and_its_other_files_go(
        client, signup, customer, runtime, use_s3, s3: S3FileStore) -> None:
    tenant = await signup()
    tenant_id = uuid.UUID(tenant.id)
    acme = await customer(tenant, name="对象存储导出有限公司")
    recording = b"#!AMR\n" + bytes(range(256)) * 4000  # ~1 MB: more than one chunk of a download
    added = await client.post(f"/api/v1/customers/{acme['id']}/attachments", headers=tenant.headers,
                              files={"file": ("通话.amr", recording, "audio/amr")})
    assert added.status_code == 201, added.text
    async with runtime.db("records").system_unit() as unit:  # as records' consumer records tenant.deleted
        await unit.execute("INSERT INTO records.purged_tenants (id) VALUES ($1)", tenant_id)
    purger = records_purger(runtime)

    async def reported() -> bool:
        await purger.run_once()  # (or the running service's purger, whichever takes the lock first)
        async with runtime.db("records").system_unit() as unit:
            return await unit.fetchval("SELECT reported_at IS NOT NULL FROM records.purged_tenants WHERE id = $1",
                                       tenant_id)

    await eventually(reported, timeout=20)
    # Only the export is left of the tenant in the bucket: the attachment's own object went.
    keys = await s3.keys(f"{tenant.id}/")
    part = export_prefix(tenant_id, "records")
    assert keys and all(k.startswith(part) for k in keys), keys
    assert {f"{part}manifest.json", f"{part}tables/customers.jsonl"} <= set(keys)
    operator = {"Authorization": f"Bearer {runtime.settings.operator_token}"}
    listed = await client.get(f"/api/v1/operator/tenant-exports/records/{tenant.id}", headers=operator)
    assert listed.status_code == 200, listed.text
    [attachment] = [f for f in listed.json()["files"] if f["path"].startswith("files/attachments/")]
    download = await client.get(attachment["url"], headers=operator)
    assert download.status_code == 200 and download.content == recording
    customers = await client.get(f"/api/v1/operator/tenant-exports/records/{tenant.id}/tables/customers.jsonl",
                                 headers=operator)
    assert "对象存储导出有限公司" in customers.text
