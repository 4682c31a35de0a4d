"""Exports: CSV and XLSX of every entity, filters, data scope and hidden fields, CSV injection
escaping, audit."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from services.records.jobs import purge_all
from services.records.storage import file_store
from shared.tenancy import scope_for_system
from tests.records.conftest import eventually
from tests.records.test_imports import bulk, csv_bytes, finished, upload  # noqa: F401 - the workers fixture

API = "/api/v1/exports"


async def exported(client: httpx.AsyncClient, who: Any, body: dict[str, Any]) -> httpx.Response:
    started = await client.post(API, headers=who.headers, json=body)
    assert started.status_code == 202, started.text
    export_id = started.json()["id"]
    state: dict[str, Any] = {}

    async def done() -> bool:
        state.update((await client.get(f"{API}/{export_id}", headers=who.headers)).json())
        return state["status"] in ("succeeded", "failed")

    await eventually(done, timeout=20, interval=0.1)
    assert state["status"] == "succeeded", state
    response = await client.get(f"{API}/{export_id}/file", headers=who.headers)
    assert response.status_code == 200
    response.extensions["export"] = state
    return response


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads Chinese from UTF-8 with a BOM
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_csv_export_with_filters_escapes_formulas_and_is_audited(client, signup, customer, runtime, bulk) -> None:
    tenant = await signup()
    await customer(tenant, name="=HYPERLINK(\"http://evil\")", lifecycle_stage="prospect", phone="13812345678")
    await customer(tenant, name="@SUM(A1)", lifecycle_stage="prospect", tags=["-1", "+vip"])
    await customer(tenant, name="南京银行", lifecycle_stage="customer")
    response = await exported(client, tenant, {"entity": "customer", "format": "csv",
                                               "filters": {"lifecycle_stage": "prospect"}})
    rows = csv_rows(response)
    assert sorted(r["name"] for r in rows) == ["'=HYPERLINK(\"http://evil\")", "'@SUM(A1)"]
    assert {r["phone"] for r in rows} == {"+8613812345678", ""}
    assert next(r for r in rows if r["name"] == "'@SUM(A1)")["tags"] == "'-1; +vip"
    assert response.extensions["export"]["rows_done"] == 2
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        audit = await unit.fetch("SELECT actor_id, action, details FROM records.audit_log WHERE tenant_id = $1 "
                                 "AND action = 'customer.export'", unit.tenant_id)
    assert len(audit) == 1 and audit[0]["actor_id"] == tenant.admin_id
    assert audit[0]["details"]["rows"] == 2 and audit[0]["details"]["filters"] == {"lifecycle_stage": "prospect"}


async def test_xlsx_export_never_holds_a_formula(client, signup, customer, bulk) -> None:
    tenant = await signup()
    await customer(tenant, name="=1+1", industry="银行")
    response = await exported(client, tenant, {"entity": "customer", "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    values = dict(zip(header, rows[1], strict=True))
    assert values["name"] == "'=1+1" and values["industry"] == "银行"
    assert sheet.cell(row=2, column=header.index("name") + 1).data_type == "s"


async def test_export_respects_data_scope_and_hidden_fields(client, signup, invite, customer, in_directory,
                                                            bulk) -> None:
    tenant = await signup()
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Exporter", "key": "exporter",
        "permissions": {"customer": {"actions": ["read", "create", "export"], "scope": "own"}},
        "field_rules": {"customer": {"phone": "hidden"}},
    })
    assert role.status_code == 201, role.text
    member = await invite(tenant, roles=["exporter"])
    await in_directory(tenant.id, member.id)
    await customer(tenant, name="管理员的客户", phone="13800000001")
    await customer(member, name="我的客户")
    rows = csv_rows(await exported(client, member, {"entity": "customer", "format": "csv"}))
    assert [r["name"] for r in rows] == ["我的客户"]
    assert "phone" not in rows[0] and "phones" not in rows[0]
    everything = csv_rows(await exported(client, tenant, {"entity": "customer", "format": "csv"}))
    assert sorted(r["name"] for r in everything) == ["我的客户", "管理员的客户"]
    other = await signup()
    mine = await client.post(API, headers=member.headers, json={"entity": "customer"})
    assert (await client.get(f"{API}/{mine.json()['id']}", headers=other.headers)).status_code == 404
    assert (await client.get(f"{API}/{mine.json()['id']}/file", headers=tenant.headers)).status_code == 404
    denied = await client.post(API, headers=member.headers, json={"entity": "contact"})
    assert denied.status_code == 403


async def test_every_entity_exports_to_both_formats(client, signup, customer, bulk) -> None:
    tenant = await signup()
    parent = await customer(tenant, name="招商银行")
    contact = await client.post("/api/v1/contacts", headers=tenant.headers,
                                json={"customer_id": parent["id"], "name": "王芳"})
    assert contact.status_code == 201, contact.text
    for entity in ("customer", "contact", "interaction", "objection", "task", "opportunity"):
        rows = csv_rows(await exported(client, tenant, {"entity": entity, "format": "csv"}))
        if entity in ("customer", "contact"):
            assert len(rows) == 1 and rows[0]["id"]
        book = await exported(client, tenant, {"entity": entity, "format": "xlsx"})
        header = next(load_workbook(io.BytesIO(book.content)).active.iter_rows(values_only=True))
        assert "id" in header and "created_at" in header, (entity, header)


async def test_bad_export_requests_answer_422(client, signup) -> None:
    tenant = await signup()
    cases = [
        ({"entity": "invoice"}, "entity"),
        ({"entity": "customer", "format": "pdf"}, "format"),
        ({"entity": "customer", "filters": {"colour": "red"}}, "filters.colour"),
        ({"entity": "customer", "filters": {"lifecycle_stage": "dead"}}, "lifecycle_stage"),
        ({"entity": "customer", "filters": {"owner_id": "nobody"}}, "filters.owner_id"),
        ({"entity": "customer", "extra": 1}, "extra"),
    ]
    for body, field in cases:
        response = await client.post(API, headers=tenant.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], response.text


async def test_old_export_files_and_import_error_reports_are_deleted(client, signup, customer, runtime, bulk) -> None:
    tenant = await signup()
    await customer(tenant, name="保留期客户")
    old = (await exported(client, tenant, {"entity": "customer", "format": "csv"})).extensions["export"]
    assert old["file_expires_at"] and old["file_deleted_at"] is None
    failed = await finished(client, tenant, (await upload(
        client, tenant, csv_bytes([["name", "phone"], ["坏号码公司", "12345"]]))).json()["id"])
    assert failed["rows_failed"] == 1
    tenant_id = uuid.UUID(tenant.id)
    async with runtime.db("records").tenant_unit(scope_for_system(tenant_id)) as unit:
        key = await unit.fetchval("SELECT file_key FROM records.exports WHERE tenant_id = $1 AND id = $2",
                                  tenant_id, uuid.UUID(old["id"]))
        # Both jobs finished eight days ago (the retention is seven).
        await unit.execute("UPDATE records.exports SET finished_at = now() - interval '8 days' WHERE id = $1",
                           uuid.UUID(old["id"]))
        await unit.execute("UPDATE records.imports SET finished_at = now() - interval '8 days' WHERE id = $1",
                           uuid.UUID(failed["id"]))
    files = file_store(runtime)
    assert await files.size(key) > 0
    recent = (await exported(client, tenant, {"entity": "customer", "format": "xlsx"})).extensions["export"]

    await purge_all(runtime.db("records"), file_store(runtime), file_retention_days=7)

    with pytest.raises(FileNotFoundError):
        await files.size(key)
    gone = await client.get(f"{API}/{old['id']}/file", headers=tenant.headers)
    assert gone.status_code == 410 and gone.json()["type"].endswith("export-file-deleted")
    state = (await client.get(f"{API}/{old['id']}", headers=tenant.headers)).json()
    assert state["file_deleted_at"] and "file_url" not in state and state["rows_done"] == 1  # the job row stays
    assert (await client.get(f"{API}/{recent['id']}/file", headers=tenant.headers)).status_code == 200
    report = await client.get(f"/api/v1/imports/{failed['id']}/errors", headers=tenant.headers)
    assert report.status_code == 410 and report.json()["type"].endswith("import-errors-deleted")
    assert "errors_url" not in (await client.get(f"/api/v1/imports/{failed['id']}", headers=tenant.headers)).json()
