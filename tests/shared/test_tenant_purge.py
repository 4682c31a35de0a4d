"""Deleting a tenant: every service's data is exported for the operator, then nothing of the tenant
remains anywhere it can be read (any table of any schema, files, the search index, the event
streams), its credentials answer 401, and another tenant is untouched."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from services.records.storage import PostgresFileStore, file_store
from services.records.tenant_purge import records_purger
from shared.errors import TenantGone
from shared.events.envelope import Actor, encode_event, new_event
from shared.tenancy import scope_for_system
from shared.tenant_purge import export_prefix
from tests.identity.conftest import bearer, client_at, random_address
from tests.records.conftest import customer, eventually, records_events  # noqa: F401 - fixtures
from tests.records.test_exports import exported
from tests.records.test_imports import bulk, csv_bytes, finished, upload  # noqa: F401 - the workers fixture

OPERATOR = "/api/v1/operator/tenants"
PARTS = "/api/v1/operator/tenant-exports"


def operator(settings: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.operator_token}"}


async def made(client: httpx.AsyncClient, who: Any, collection: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/v1/{collection}", headers=who.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def searchable(client: httpx.AsyncClient, who: Any, q: str, record_id: str) -> None:
    async def found() -> bool:
        response = await client.get("/api/v1/search", params={"q": q}, headers=who.headers)
        return response.status_code == 200 and record_id in [h["id"] for h in response.json()["hits"]]

    await eventually(found, timeout=10)


async def deleted_for_good(client: httpx.AsyncClient, settings: Any, tenant_id: str) -> dict[str, Any]:
    state: dict[str, Any] = {}

    async def complete() -> bool:
        state.update((await client.get(f"{OPERATOR}/{tenant_id}", headers=operator(settings))).json())
        return state.get("deletion_completed_at") is not None

    await eventually(complete, timeout=60, interval=0.2)
    return state


# What a purge keeps on purpose: every service's part of the deletion export (the operator's copy
# of the tenant), the rows of its file store whose key is under <tenant>/tenant-export/.
FILE_TABLES = ("files", "file_chunks")


async def rows_left(owner_url: str, tenant_id: str) -> dict[str, int]:
    """Rows of the tenant in every table (any schema) with a tenant_id column, read as the owner
    (the export's files aside)."""
    conn = await asyncpg.connect(owner_url)
    try:
        # Forced RLS binds the owner too unless it is a superuser: read as that tenant.
        await conn.execute("SELECT set_config('app.tenant_id', $1, false)", tenant_id)
        tables = await conn.fetch(
            """SELECT c.table_schema, c.table_name FROM information_schema.columns c
               JOIN information_schema.tables t USING (table_schema, table_name)
               WHERE c.column_name = 'tenant_id' AND t.table_type = 'BASE TABLE'
                 AND c.table_schema NOT IN ('pg_catalog', 'information_schema')""")
        assert len(tables) > 30  # every service's tables, not an empty catalogue read
        counts = {}
        for t in tables:
            name = f"{t['table_schema']}.{t['table_name']}"
            kept = " AND NOT starts_with(key, $2)" if t["table_name"] in FILE_TABLES else ""
            args = (uuid.UUID(tenant_id), export_prefix(uuid.UUID(tenant_id))) if kept else (uuid.UUID(tenant_id),)
            counts[name] = await conn.fetchval(f"SELECT count(*) FROM {name} WHERE tenant_id = $1{kept}", *args)
        return counts
    finally:
        await conn.close()


async def export_part(client: httpx.AsyncClient, settings: Any, service: str, tenant_id: str) -> dict[str, bytes]:
    """Every file of a service's part of the tenant's export, read from the service's file store
    through the operator API (path within the part -> bytes)."""
    listed = await client.get(f"{PARTS}/{service}/{tenant_id}", headers=operator(settings))
    assert listed.status_code == 200, listed.text
    files = {}
    for item in listed.json()["files"]:
        got = await client.get(item["url"], headers=operator(settings))
        assert got.status_code == 200, got.text
        assert len(got.content) == item["size"], item
        files[item["path"]] = got.content
    return files


async def stream_messages(runtime: Any, tenant_id: str) -> dict[str, int]:
    """Messages on the tenant's subjects in every event stream."""
    counts = {}
    for info in await runtime.bus.js.streams_info():
        for subject in info.config.subjects or []:
            if subject.startswith("crm.") and subject.endswith(".>"):
                service = subject.split(".")[1]
                held = await runtime.bus.js.stream_info(info.config.name, subjects_filter=f"crm.{service}.{tenant_id}.>")
                counts[info.config.name] = sum((held.state.subjects or {}).values())
    return counts


async def test_deleting_a_tenant_exports_all_its_data_then_leaves_nothing_readable(
    app, client: httpx.AsyncClient, signup, customer, runtime, settings, bulk  # noqa: F811 - fixtures
) -> None:
    doomed, other = await signup(), await signup()
    acme = await customer(doomed, name="宁波瑞鑫物流有限公司", phone="13800138000", tags=["vip"])
    kept = await customer(other, name="温州瑞鑫物流股份有限公司")
    await made(client, doomed, "contacts", customer_id=acme["id"], name="王小明", phone="+86 139 0000 1234")
    note = await made(client, doomed, "interactions", customer_id=acme["id"], channel="phone", summary="电话报价沟通")
    await made(client, doomed, "objections", customer_id=acme["id"], category="price", severity="high",
               description="价格太高")
    await made(client, doomed, "tasks", customer_id=acme["id"], title="回访客户")
    await made(client, doomed, "opportunities", customer_id=acme["id"], name="ERP 二期", amount="12500.50",
               currency="CNY")
    patched = await client.patch(f"/api/v1/customers/{acme['id']}", headers=doomed.headers, json={"tier": "A"})
    assert patched.status_code == 200, patched.text
    # One row fails: its error report stays with the import (the upload itself goes when it ends).
    upload_bytes = csv_bytes([["name", "phone"], ["杭州进口客户有限公司", "13900139000"], ["Imported Two Ltd", ""],
                              ["", "13700137000"]])
    started = await upload(client, doomed, upload_bytes)
    assert started.status_code == 202, started.text
    imported = await finished(client, doomed, started.json()["id"])
    assert (imported["status"], imported["rows_failed"]) == ("succeeded", 1), imported
    export_file = (await exported(client, doomed, {"entity": "customer", "format": "csv"})).content
    recording = b"#!AMR\n" + bytes(range(256)) * 8  # a call recording attached to the customer
    attached = await client.post(f"/api/v1/customers/{acme['id']}/attachments", headers=doomed.headers,
                                 files={"file": ("通话录音.amr", recording, "audio/amr")})
    assert attached.status_code == 201, attached.text
    key = (await client.post("/api/v1/api-keys", headers=doomed.headers, json={"name": "erp", "scopes": ["*"]})).json()
    await searchable(client, doomed, "瑞鑫", acme["id"])
    await searchable(client, doomed, "报价", note["id"])
    await searchable(client, other, "瑞鑫", kept["id"])
    stored = file_store(runtime)
    assert sorted(k.split("/")[1] for k in await stored.keys(f"{doomed.id}/")) == ["attachments", "exports"]
    # (the import's upload went when it ended)

    response = await client.delete(f"{OPERATOR}/{doomed.id}", params={"immediately": "true"},
                                   headers=operator(settings))
    assert response.status_code == 202, response.text
    assert response.json()["tenant"]["status"] == "deleted"
    state = await deleted_for_good(client, settings, doomed.id)
    progress = state["deletion_progress"]
    assert {"identity", "records", "search", "streams"} <= set(progress), progress
    assert progress["records"]["rows_deleted"]["customers"] == 3

    # The export: every service's part, files included, in the service's file store (every replica
    # reads it), not on this pod's disk; the operator lists and downloads each part.
    assert not (Path(settings.data_dir) / "tenant-exports").exists()
    answer = await client.get(f"{OPERATOR}/{doomed.id}/export", headers=operator(settings))
    assert answer.status_code == 200, answer.text
    identity = answer.json()
    assert [u["email"] for u in identity["users"]] == [doomed.admin_email]
    assert identity["tenant"]["status"] == "pending_deletion"  # the final export, written at the purge
    records = await export_part(client, settings, "records", doomed.id)
    manifest = json.loads(records["manifest.json"])
    assert manifest["tables"]["customers"] == 3 and manifest["files"] == 2
    for table in ("contacts", "interactions", "objections", "tasks", "opportunities", "field_history", "audit_log",
                  "imports", "import_errors", "exports", "pipelines", "match_keys", "attachments"):
        assert manifest["tables"][table] >= 1, table
        assert len(records[f"tables/{table}.jsonl"].splitlines()) == manifest["tables"][table], table
    assert "tables/files.jsonl" not in records  # the files are exported as files, not rows
    customers = [json.loads(line) for line in records["tables/customers.jsonl"].splitlines()]
    assert {c["name"] for c in customers} == {"宁波瑞鑫物流有限公司", "杭州进口客户有限公司", "Imported Two Ltd"}
    assert {c["tenant_id"] for c in customers} == {doomed.id}
    files = {p.split("/")[1]: data for p, data in records.items() if p.startswith("files/")}
    assert files == {"exports": export_file, "attachments": recording}
    assert json.loads((await export_part(client, settings, "search", doomed.id))["manifest.json"])["tables"] == {}
    for service in ("workflows", "notifications"):
        part = await export_part(client, settings, service, doomed.id)
        assert json.loads(part["manifest.json"])["tenant_id"] == doomed.id, service
        assert {p for p in part if p.startswith("tables/")} == {
            f"tables/{t}.jsonl" for t in json.loads(part["manifest.json"])["tables"]}, service
    # The operator's credential only, and another tenant has no export.
    assert (await client.get(f"{PARTS}/records/{doomed.id}", headers=other.headers)).status_code == 401
    assert (await client.get(f"{PARTS}/records/{other.id}", headers=operator(settings))).status_code == 404
    assert (await client.get(f"{PARTS}/records/{doomed.id}/../{other.id}/x",
                             headers=operator(settings))).status_code == 404
    # Under the tenant's row-level security: another tenant's unit of work does not see the part.
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(other.id))) as unit:
        assert await unit.fetchval("SELECT count(*) FROM records.files WHERE starts_with(key, $1)",
                                   export_prefix(uuid.UUID(doomed.id))) == 0
    assert not (Path(settings.data_dir) / "tenant-exports").exists()

    # Nothing of it is left: any table with a tenant_id column (so a new one cannot be forgotten),
    # the registries keyed by id, its files, the search index, the event streams.
    async def no_rows() -> bool:
        return not any((await rows_left(settings.database_owner_url, doomed.id)).values())

    await eventually(no_rows, timeout=10)
    async with runtime.db("records").system_unit() as unit:
        assert await unit.fetchval("SELECT count(*) FROM records.tenants WHERE id = $1", uuid.UUID(doomed.id)) == 0
        assert await unit.fetchval("SELECT count(*) FROM search.tenants WHERE id = $1", uuid.UUID(doomed.id)) == 0
        tombstone = await unit.fetchrow("SELECT status, name FROM identity.tenants WHERE id = $1", uuid.UUID(doomed.id))
    assert dict(tombstone) == {"status": "deleted", "name": ""}  # the slug stays taken
    left = await PostgresFileStore(runtime.db("records"), purging=True).keys(f"{doomed.id}/")
    assert left and all(k.startswith(export_prefix(uuid.UUID(doomed.id), "records")) for k in left), left
    assert not any((await stream_messages(runtime, doomed.id)).values())
    assert (await stream_messages(runtime, other.id))["CRM_RECORDS"] > 0  # the filter does find messages

    # Its credentials answer 401.
    assert (await client.get("/api/v1/me", headers=doomed.headers)).status_code == 401
    assert (await client.get("/api/v1/customers", headers=bearer(key["key"]))).status_code == 401
    assert (await client.post("/api/v1/auth/refresh", json={"refresh_token": doomed.refresh_token})).status_code == 401
    async with client_at(app, random_address()) as fresh:
        login = await fresh.post("/api/v1/auth/login", json={
            "tenant": doomed.slug, "email": doomed.admin_email, "password": doomed.admin_password})
    assert login.status_code == 401

    # Another tenant is untouched.
    assert (await client.get(f"/api/v1/customers/{kept['id']}", headers=other.headers)).status_code == 200
    await searchable(client, other, "瑞鑫", kept["id"])
    assert (await rows_left(settings.database_owner_url, other.id))["records.customers"] == 1


async def test_a_late_event_cannot_bring_a_purged_tenant_back(client, signup, customer, runtime, settings) -> None:
    tenant = await signup()
    await customer(tenant, name="Late Event Ltd")
    response = await client.delete(f"{OPERATOR}/{tenant.id}", params={"immediately": "true"}, headers=operator(settings))
    assert response.status_code == 202, response.text
    await deleted_for_good(client, settings, tenant.id)
    # A records event of the tenant arriving now (a redelivery, a straggler): the search indexer
    # and every other consumer acknowledge it without writing anything.
    straggler = new_event(service="records", tenant_id=uuid.UUID(tenant.id), entity="customer", action="created",
                          entity_id=uuid.uuid4(), actor=Actor(kind="system"), data={"name": "Back From The Dead"})
    await runtime.bus.js.publish(straggler.subject, encode_event(straggler), headers={"Nats-Msg-Id": str(straggler.id)})

    async def consumed() -> bool:
        info = await runtime.bus.js.consumer_info("CRM_RECORDS", "search-indexer")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(consumed, timeout=10)
    assert not any((await rows_left(settings.database_owner_url, tenant.id)).values())
    # Nor can any job or request open a unit of work of the tenant in records or search.
    for service in ("records", "search"):
        with pytest.raises(TenantGone):
            async with runtime.db(service).tenant_unit(scope_for_system(uuid.UUID(tenant.id))):
                pass


async def test_an_interrupted_purge_resumes_where_it_stopped_and_reports_once(
    client, signup, customer, runtime, settings, records_events  # noqa: F811 - fixtures
) -> None:
    tenant = await signup()
    tenant_id = uuid.UUID(tenant.id)
    acme = await customer(tenant, name="Half Purged Ltd")
    await made(client, tenant, "contacts", customer_id=acme["id"], name="Contact")
    await made(client, tenant, "tasks", customer_id=acme["id"], title="Call back")
    # As records left it when its process died mid-purge: the request recorded, the export done,
    # the children of the customers deleted (each table commits on its own), the rest not yet.
    async with runtime.db("records").system_unit() as unit:
        await unit.execute("INSERT INTO records.purged_tenants (id, exported_at) VALUES ($1, now())", tenant_id)
    owner = await asyncpg.connect(settings.database_owner_url)
    try:
        await owner.execute("SELECT set_config('app.tenant_id', $1, false)", tenant.id)
        for table in ("contacts", "tasks"):
            await owner.execute(f"DELETE FROM records.{table} WHERE tenant_id = $1", tenant_id)
    finally:
        await owner.close()

    purger = records_purger(runtime)
    await purger.run_once()  # (or the running service's purger, whichever takes the lock first)

    async def reported() -> bool:
        return "tenant.purged" in records_events.types(tenant.id)

    await eventually(reported, timeout=10)
    left = await rows_left(settings.database_owner_url, tenant.id)
    assert not any(v for k, v in left.items() if k.startswith("records.")), left
    # The export step was done before the crash: it is not written again over what is left.
    assert await PostgresFileStore(runtime.db("records"), purging=True).keys(export_prefix(tenant_id)) == []
    assert await purger.run_once() == []  # done: nothing runs twice
    await asyncio.sleep(0.5)
    assert records_events.types(tenant.id).count("tenant.purged") == 1
