"""Attachments on customers, interactions, objections and opportunities: upload (streamed, sniffed,
size-capped), list, download with the record's permissions, delete, and what happens with the
record's own deletion and purge."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from services.records.jobs import purge_all
from services.records.storage import file_store
from shared.tenancy import scope_for_system
from tests.records.conftest import eventually

# A real 1x1 PNG, and bytes that look like what they are named after.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f1c1e40000000049454e44ae426082")
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run in DOS mode"


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inside.txt", "hello")
    return buffer.getvalue()


async def _attach(client: Any, who: Any, collection: str, record_id: str, name: str, content: bytes,
                  content_type: str = "application/octet-stream") -> Any:
    return await client.post(f"/api/v1/{collection}/{record_id}/attachments", headers=who.headers,
                             files={"file": (name, content, content_type)})


async def _stored_files(runtime: Any, tenant_id: str) -> int:
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant_id))) as unit:
        return await unit.fetchval("SELECT count(*) FROM records.files WHERE tenant_id = $1 AND key LIKE '%/attachments/%'",
                                   unit.tenant_id)


async def test_upload_list_download_and_timeline(client, signup, customer, records_events) -> None:
    tenant = await signup()
    acme = await customer(tenant, name="上海汇客科技有限公司")
    added = await _attach(client, tenant, "customers", acme["id"], "合同 扫描件.png", PNG, "text/html")
    assert added.status_code == 201, added.text
    body = added.json()
    assert set(body) == {"id", "name", "size", "content_type", "created_at", "created_by"}
    # The type comes from the bytes, not from what the client claimed.
    assert (body["name"], body["size"], body["content_type"], body["created_by"]) == (
        "合同 扫描件.png", len(PNG), "image/png", tenant.admin_id)

    listed = await client.get(f"/api/v1/customers/{acme['id']}/attachments", headers=tenant.headers)
    assert listed.status_code == 200 and [a["id"] for a in listed.json()["items"]] == [body["id"]]

    download = await client.get(f"/api/v1/attachments/{body['id']}", headers=tenant.headers)
    assert download.status_code == 200 and download.content == PNG
    assert download.headers["content-type"] == "image/png"
    assert download.headers["x-content-type-options"] == "nosniff"
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;") and f"filename*=UTF-8''{quote('合同 扫描件.png')}" in disposition

    # On an interaction too: a call recording in plain text bytes is still a text file.
    call = await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": acme["id"], "channel": "phone", "summary": "首次电话沟通"})
    assert call.status_code == 201, call.text
    note = await _attach(client, tenant, "interactions", call.json()["id"], "纪要.txt", "通话纪要：客户关心价格".encode())
    assert note.status_code == 201 and note.json()["content_type"] == "text/plain; charset=utf-8", note.text

    # And on objections and opportunities (an AMR call recording, a contract PDF).
    objection = await client.post("/api/v1/objections", headers=tenant.headers, json={
        "customer_id": acme["id"], "category": "price", "severity": "high", "description": "太贵了"})
    deal = await client.post("/api/v1/opportunities", headers=tenant.headers, json={
        "customer_id": acme["id"], "name": "产线升级", "amount": "88000", "currency": "CNY"})
    assert objection.status_code == 201 and deal.status_code == 201, (objection.text, deal.text)
    recording = await _attach(client, tenant, "objections", objection.json()["id"], "录音.amr",
                              b"#!AMR\n" + b"\x3c" * 64)
    contract = await _attach(client, tenant, "opportunities", deal.json()["id"], "合同.pdf", b"%PDF-1.7\n%...")
    assert (recording.status_code, recording.json()["content_type"]) == (201, "audio/amr"), recording.text
    assert (contract.status_code, contract.json()["content_type"]) == (201, "application/pdf"), contract.text
    listed = await client.get(f"/api/v1/opportunities/{deal.json()['id']}/attachments", headers=tenant.headers)
    assert [a["name"] for a in listed.json()["items"]] == ["合同.pdf"]

    event = await records_events.wait_for(tenant.id, "attachment.added")
    assert event.data["customer_id"] == acme["id"] and event.data["record"]["name"] in ("合同 扫描件.png", "纪要.txt")
    timeline = (await client.get(f"/api/v1/customers/{acme['id']}/timeline", headers=tenant.headers)).json()["items"]
    attached = [i for i in timeline if i["kind"] == "attachment_added"]
    assert sorted(i["data"]["name"] for i in attached) == sorted(["合同 扫描件.png", "纪要.txt", "录音.amr", "合同.pdf"])
    assert {i["data"]["record_entity"] for i in attached} == {"customer", "interaction", "objection", "opportunity"}


async def test_bytes_decide_the_type_and_executables_are_refused(client, signup, customer, runtime) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    for name, content in (("photo.jpg", _zip()), ("photo.jpg", EXE), ("report.pdf", b"just some text"),
                          ("setup.exe", b"hello"), ("notes.txt", EXE), ("run.sh", b"#!/bin/sh\nrm -rf /\n"),
                          ("invoice.txt", PNG)):
        refused = await _attach(client, tenant, "customers", acme["id"], name, content)
        assert refused.status_code == 422, (name, refused.text)
        assert refused.json()["errors"][0]["field"] == "file", refused.text
    listed = await client.get(f"/api/v1/customers/{acme['id']}/attachments", headers=tenant.headers)
    assert listed.json()["items"] == []
    assert await _stored_files(runtime, tenant.id) == 0  # nothing left behind

    # What is allowed: a zip named .zip, an unknown binary without a claim, a cleaned-up name.
    archive = await _attach(client, tenant, "customers", acme["id"], "资料.zip", _zip())
    assert archive.status_code == 201 and archive.json()["content_type"] == "application/zip", archive.text
    odd = await _attach(client, tenant, "customers", acme["id"], "..\\..\\C:\\temp\\data\u202e.dat",
                        bytes(range(256)))
    assert odd.status_code == 201, odd.text
    assert (odd.json()["name"], odd.json()["content_type"]) == ("data.dat", "application/octet-stream")
    long = await _attach(client, tenant, "customers", acme["id"], "长" * 300 + ".png", PNG)
    assert long.status_code == 201 and len(long.json()["name"]) == 255 and long.json()["name"].endswith(".png")
    raw = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.png"\r\n\r\n' + PNG
           + b"\r\n--b--\r\n")
    nul = await client.post(f"/api/v1/customers/{acme['id']}/attachments", content=raw,
                            headers={**tenant.headers, "Content-Type": "multipart/form-data; boundary=b"})
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "file", nul.text


async def test_a_file_over_the_cap_answers_413_and_leaves_nothing(client, signup, customer, runtime,
                                                                   monkeypatch) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"attachment_max_bytes": 256 * 1024}))
    tenant = await signup()
    acme = await customer(tenant)
    url = f"/api/v1/customers/{acme['id']}/attachments"
    boundary = "huike-boundary"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\r\n").encode()
        for _ in range(64):  # 4 MB, far past the cap
            sent += 1
            yield b"\x01" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**tenant.headers, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    streamed = await client.post(url, headers=headers, content=body())
    assert streamed.status_code == 413, streamed.text
    assert streamed.json()["errors"][0]["field"] == "file"
    assert sent < 64  # it stopped reading at the cap
    announced = await client.post(url, headers={**headers, "Content-Length": str(10 * 1024 * 1024)}, content=b"x")
    assert announced.status_code == 413
    fits = await _attach(client, tenant, "customers", acme["id"], "ok.bin", b"\x01" * (256 * 1024))
    assert fits.status_code == 201, fits.text
    assert await _stored_files(runtime, tenant.id) == 1


async def test_the_records_permissions_decide(client, signup, invite, customer, in_directory) -> None:
    tenant = await signup()
    ann = await invite(tenant, roles=["sales"])
    bob = await invite(tenant, roles=["sales"])
    reader = await invite(tenant, roles=["read_only"])
    for member in (ann, bob, reader):
        await in_directory(tenant.id, member.id)
    anns = await customer(ann, name="Ann's")
    made = await _attach(client, ann, "customers", anns["id"], "报价.pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    assert made.status_code == 201, made.text
    attachment = made.json()["id"]

    # Bob, a rep who cannot see Ann's customer: 404 everywhere, as for a missing one.
    assert (await client.get(f"/api/v1/attachments/{attachment}", headers=bob.headers)).status_code == 404
    assert (await client.get(f"/api/v1/customers/{anns['id']}/attachments", headers=bob.headers)).status_code == 404
    assert (await _attach(client, bob, "customers", anns["id"], "x.txt", b"x")).status_code == 404
    assert (await client.delete(f"/api/v1/attachments/{attachment}", headers=bob.headers)).status_code == 404
    # A reader downloads but may neither add nor delete.
    assert (await client.get(f"/api/v1/attachments/{attachment}", headers=reader.headers)).status_code == 200
    assert (await _attach(client, reader, "customers", anns["id"], "x.txt", b"x")).status_code == 403
    assert (await client.delete(f"/api/v1/attachments/{attachment}", headers=reader.headers)).status_code == 403
    # Another tenant's admin: 404.
    other = await signup()
    assert (await client.get(f"/api/v1/attachments/{attachment}", headers=other.headers)).status_code == 404
    assert (await client.delete(f"/api/v1/attachments/{attachment}", headers=other.headers)).status_code == 404
    assert (await _attach(client, other, "customers", anns["id"], "x.txt", b"x")).status_code == 404
    assert (await client.get(f"/api/v1/attachments/{attachment}", headers=ann.headers)).content.startswith(b"%PDF")


async def test_delete_and_the_records_deletion_and_purge(client, signup, customer, runtime, records_events) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    first = (await _attach(client, tenant, "customers", acme["id"], "a.png", PNG)).json()
    second = (await _attach(client, tenant, "customers", acme["id"], "b.txt", b"hello")).json()

    assert (await client.delete(f"/api/v1/attachments/{first['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"/api/v1/attachments/{first['id']}", headers=tenant.headers)).status_code == 404
    listed = (await client.get(f"/api/v1/customers/{acme['id']}/attachments", headers=tenant.headers)).json()
    assert [a["id"] for a in listed["items"]] == [second["id"]]
    removed = await records_events.wait_for(tenant.id, "attachment.removed")
    assert removed.entity_id == first["id"] and removed.data["record"]["name"] == "a.png"
    timeline = (await client.get(f"/api/v1/customers/{acme['id']}/timeline", headers=tenant.headers)).json()["items"]
    assert [i["data"]["name"] for i in timeline if i["kind"] == "attachment_removed"] == ["a.png"]

    # The customer's deletion hides its attachments; the restore brings them back.
    assert (await client.delete(f"/api/v1/customers/{acme['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"/api/v1/attachments/{second['id']}", headers=tenant.headers)).status_code == 404
    assert (await client.get(f"/api/v1/customers/{acme['id']}/attachments",
                             headers=tenant.headers)).status_code == 404
    restored = await client.post(f"/api/v1/customers/{acme['id']}/restore", headers=tenant.headers)
    assert restored.status_code == 200, restored.text
    assert (await client.get(f"/api/v1/attachments/{second['id']}", headers=tenant.headers)).content == b"hello"

    # Purged for good (the customer 31 days after its deletion): the rows and the bytes go.
    assert (await client.delete(f"/api/v1/customers/{acme['id']}", headers=tenant.headers)).status_code == 204
    db = runtime.db("records")
    async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        await unit.execute("UPDATE records.customers SET deleted_at = now() - interval '31 days' "
                           "WHERE tenant_id = $1 AND id = $2", unit.tenant_id, uuid.UUID(acme["id"]))
        await unit.execute("UPDATE records.attachments SET deleted_at = now() - interval '31 days' "
                           "WHERE tenant_id = $1 AND id = $2", unit.tenant_id, uuid.UUID(first["id"]))
    assert await _stored_files(runtime, tenant.id) == 2
    await purge_all(db, file_store(runtime))

    async def gone() -> bool:
        return await _stored_files(runtime, tenant.id) == 0

    await eventually(gone, timeout=5)
    async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        assert await unit.fetchval("SELECT count(*) FROM records.attachments WHERE tenant_id = $1", unit.tenant_id) == 0


async def test_a_merge_takes_the_childrens_attachments_to_the_survivors_timeline(client, signup, customer) -> None:
    tenant = await signup()
    keep, gone = await customer(tenant, name="星河科技有限公司"), await customer(tenant, name="星河科技（深圳）有限公司")
    call = await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": gone["id"], "channel": "phone", "summary": "回访"})
    assert call.status_code == 201, call.text
    assert (await _attach(client, tenant, "interactions", call.json()["id"], "录音.amr",
                          b"#!AMR\n" + b"\x3c" * 64)).status_code == 201

    async def attached(customer_id: str) -> list[str]:
        items = (await client.get(f"/api/v1/customers/{customer_id}/timeline", headers=tenant.headers)).json()["items"]
        return [i["data"]["name"] for i in items if i["kind"] == "attachment_added"]

    merged = await client.post(f"/api/v1/customers/{keep['id']}/merge", headers=tenant.headers,
                               json={"merge_ids": [gone["id"]]})
    assert merged.status_code == 200, merged.text
    assert await attached(keep["id"]) == ["录音.amr"]
    undone = await client.post(f"/api/v1/merges/{merged.json()['merge_id']}/undo", headers=tenant.headers)
    assert undone.status_code == 200, undone.text
    assert await attached(keep["id"]) == [] and await attached(gone["id"]) == ["录音.amr"]


async def test_a_caller_who_may_not_read_interactions_sees_none_of_their_files(client, signup, invite,
                                                                                customer) -> None:
    tenant = await signup()
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Customers only", "key": "customers_only",
        "permissions": {"customer": {"actions": ["read", "update"], "scope": "all"}}})
    assert role.status_code == 201, role.text
    member = await invite(tenant, roles=["customers_only"])
    acme = await customer(tenant)
    call = await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": acme["id"], "channel": "phone", "summary": "报价沟通"})
    secret = (await _attach(client, tenant, "interactions", call.json()["id"], "内部报价.txt", b"price: 88000")).json()
    public = (await _attach(client, tenant, "customers", acme["id"], "名片.png", PNG)).json()

    assert (await client.get(f"/api/v1/attachments/{secret['id']}", headers=member.headers)).status_code == 404
    assert (await client.get(f"/api/v1/interactions/{call.json()['id']}/attachments",
                             headers=member.headers)).status_code == 404
    assert (await client.get(f"/api/v1/attachments/{public['id']}", headers=member.headers)).content == PNG
    timeline = (await client.get(f"/api/v1/customers/{acme['id']}/timeline", headers=member.headers)).json()["items"]
    assert [i["data"]["name"] for i in timeline if i["kind"] == "attachment_added"] == ["名片.png"]


async def test_a_workspace_sets_its_own_cap_below_the_servers(client, signup, customer, runtime) -> None:
    tenant, other = await signup(), await signup()
    acme, others = await customer(tenant), await customer(other)
    above = await client.patch("/api/v1/settings/records", headers=tenant.headers,
                               json={"attachment_max_bytes": runtime.settings.attachment_max_bytes + 1})
    assert above.status_code == 422 and above.json()["errors"][0]["field"] == "attachment_max_bytes", above.text
    capped = await client.patch("/api/v1/settings/records", headers=tenant.headers, json={"attachment_max_bytes": 2048})
    assert capped.status_code == 200 and capped.json()["attachment_max_bytes"] == 2048, capped.text

    refused = await _attach(client, tenant, "customers", acme["id"], "notes.bin", b"\x01" * 4096)
    assert refused.status_code == 413 and "2 KB" in refused.json()["detail"], refused.text
    assert (await _attach(client, tenant, "customers", acme["id"], "small.bin", b"\x01" * 2048)).status_code == 201
    # The other workspace keeps the server's cap.
    assert (await _attach(client, other, "customers", others["id"], "notes.bin", b"\x01" * 4096)).status_code == 201

    lifted = await client.patch("/api/v1/settings/records", headers=tenant.headers, json={"attachment_max_bytes": None})
    assert lifted.status_code == 200 and lifted.json()["attachment_max_bytes"] is None
    assert (await _attach(client, tenant, "customers", acme["id"], "notes.bin", b"\x01" * 4096)).status_code == 201
