"""Bulk import: upload, mapping, dry run, progress, error report, duplicates, encodings, XLSX,
bad files, resume after a crash."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from openpyxl import Workbook

from services.records import jobs_bulk
from services.records.domain import imports as imports_domain
from shared.priority import BACKGROUND_NICENESS
from tests.records.conftest import eventually

API = "/api/v1/imports"


@pytest.fixture
async def bulk(runtime: Any) -> AsyncIterator[jobs_bulk.BulkJobs]:
    """The import/export workers, as the records service runs them."""
    jobs = await jobs_bulk.BulkJobs(runtime, poll_seconds=0.1).start()
    yield jobs
    await jobs.stop()


def csv_bytes(rows: list[list[str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


async def upload(client: httpx.AsyncClient, who: Any, content: bytes, filename: str = "customers.csv",
                 **fields: str) -> httpx.Response:
    data = {"entity": "customer", **fields}
    return await client.post(API, headers=who.headers, data=data, files={"file": (filename, content, "text/csv")})


async def finished(client: httpx.AsyncClient, who: Any, import_id: str, timeout: float = 20) -> dict[str, Any]:
    state: dict[str, Any] = {}

    async def done() -> bool:
        state.update((await client.get(f"{API}/{import_id}", headers=who.headers)).json())
        return state["status"] in ("succeeded", "failed")

    await eventually(done, timeout=timeout, interval=0.1)
    return state


async def customers_named(client: httpx.AsyncClient, who: Any) -> list[dict[str, Any]]:
    return (await client.get("/api/v1/customers?limit=200", headers=who.headers)).json()["items"]


async def error_report(client: httpx.AsyncClient, who: Any, import_id: str) -> list[list[str]]:
    response = await client.get(f"{API}/{import_id}/errors", headers=who.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_csv_import_with_mapping_custom_field_and_error_report(client, signup, bulk) -> None:
    tenant = await signup()
    field = await client.post("/api/v1/custom-fields", headers=tenant.headers, json={
        "entity": "customer", "key": "region", "label": "大区", "type": "single_select",
        "options": [{"key": "east", "label": "华东"}, {"key": "north", "label": "华北"}]})
    assert field.status_code == 201, field.text
    content = csv_bytes([
        ["公司", "手机", "Mail", "大区", "标签"],
        ["上海晨光文具有限公司", "13812345678", "li@chenguang.cn", "华东", "vip;文具"],
        ["", "13912345678", "", "", ""],
        ["北京字节跳动科技有限公司", "12345", "not-an-email", "华北", ""],
        ["深圳大疆创新科技有限公司", "+86 755 2654 0000", "", "north", "drone"],
    ])
    mapping = '{"公司": "name", "手机": "phone", "Mail": "email", "大区": "custom_fields.region", "标签": "tags"}'
    response = await upload(client, tenant, content, mapping=mapping)
    assert response.status_code == 202, response.text
    job = await finished(client, tenant, response.json()["id"])
    assert job["status"] == "succeeded"
    assert (job["rows_total"], job["rows_done"], job["rows_failed"], job["rows_created"]) == (4, 4, 2, 2)
    stored = {c["name"]: c for c in await customers_named(client, tenant)}
    assert set(stored) == {"上海晨光文具有限公司", "深圳大疆创新科技有限公司"}
    assert stored["上海晨光文具有限公司"]["phone"] == "+8613812345678"
    assert stored["上海晨光文具有限公司"]["custom_fields"] == {"region": "east"}
    assert stored["上海晨光文具有限公司"]["tags"] == ["vip", "文具"]
    assert stored["上海晨光文具有限公司"]["owner_id"] == tenant.admin_id
    report = await error_report(client, tenant, job["id"])
    assert report[0] == ["row", "公司", "手机", "Mail", "大区", "标签", "reason"]
    assert [r[0] for r in report[1:]] == ["3", "4"]
    assert "name" in report[1][-1]
    assert "phone" in report[2][-1] and "email" in report[2][-1]
    assert report[2][1:6] == ["北京字节跳动科技有限公司", "12345", "not-an-email", "华北", ""]


async def test_imported_customers_emit_one_event_each(client, signup, bulk, records_events) -> None:
    tenant = await signup()
    content = csv_bytes([["name"], ["甲公司"], ["乙公司"], ["丙公司"]])
    response = await upload(client, tenant, content)
    job = await finished(client, tenant, response.json()["id"])
    assert job["rows_created"] == 3

    async def three() -> bool:
        return len([e for e in records_events.of(tenant.id) if e.type == "customer.created"]) == 3

    await eventually(three, timeout=5)
    created = [e for e in records_events.of(tenant.id) if e.type == "customer.created"]
    assert sorted(e.data["record"]["name"] for e in created) == ["丙公司", "乙公司", "甲公司"]
    assert {e.data["import_id"] for e in created} == {job["id"]}  # consumers can tell imported records


async def test_an_import_refreshes_the_planner_statistics_of_what_it_grows(client, signup, bulk, infra) -> None:
    # Without fresh statistics the planner takes a freshly imported tenant for an empty one, and
    # every duplicate check of a create made meanwhile reads all of its name keys (seconds each).
    # The runtime role may ANALYZE them (MAINTAIN, granted by db/grants.sql) and the import does.
    tenant = await signup()
    owner = await asyncpg.connect(infra.owner_url)
    try:
        async def analyses() -> int:
            await owner.execute("SELECT pg_stat_clear_snapshot()")
            return await owner.fetchval(
                "SELECT analyze_count FROM pg_stat_user_tables WHERE schemaname = 'records' AND relname = 'match_keys'")

        before = await analyses()
        rows = [["name", "phone"], *([f"统计刷新测试{i}号有限公司", f"139{i:08d}"] for i in range(1200))]
        job = await finished(client, tenant, (await upload(client, tenant, csv_bytes(rows))).json()["id"], timeout=60)
        assert job["status"] == "succeeded" and job["rows_created"] == 1200

        async def analysed() -> bool:
            return await analyses() > before

        await eventually(analysed, timeout=5)
    finally:
        await owner.close()


async def test_dry_run_reports_failures_and_writes_nothing(client, signup, bulk) -> None:
    tenant = await signup()
    content = csv_bytes([["name", "email"], ["好公司", "ok@example.com"], ["坏公司", "bad@"]])
    response = await upload(client, tenant, content, dry_run="true")
    job = await finished(client, tenant, response.json()["id"])
    assert job["status"] == "succeeded" and job["dry_run"] is True
    assert (job["rows_done"], job["rows_failed"], job["rows_created"]) == (2, 1, 1)
    assert await customers_named(client, tenant) == []
    report = await error_report(client, tenant, job["id"])
    assert report[1][0] == "3" and "email" in report[1][-1]


@pytest.mark.parametrize("mode", ["skip", "update", "create"])
async def test_on_duplicate(client, signup, bulk, customer, mode) -> None:
    tenant = await signup()
    existing = await customer(tenant, name="杭州西湖茶叶有限公司", phone="13800001111")
    content = csv_bytes([
        ["name", "phone", "industry"],
        ["西湖茶叶", "13800001111", "茶叶"],          # same phone as the stored customer
        ["宁波港集团", "13800002222", "物流"],
        ["宁波港集团", "13800002222", "物流"],         # the same as the row above
    ])
    response = await upload(client, tenant, content, on_duplicate=mode)
    job = await finished(client, tenant, response.json()["id"])
    assert job["status"] == "succeeded", job
    stored = await customers_named(client, tenant)
    names = sorted(c["name"] for c in stored)
    if mode == "create":
        assert job["rows_created"] == 3
        assert names == sorted(["杭州西湖茶叶有限公司", "西湖茶叶", "宁波港集团", "宁波港集团"])
    else:
        assert names == sorted([("杭州西湖茶叶有限公司" if mode == "skip" else "西湖茶叶"), "宁波港集团"])
        again = next(c for c in stored if c["id"] == existing["id"])
        if mode == "skip":
            assert (job["rows_created"], job["rows_skipped"], job["rows_updated"]) == (1, 2, 0)
            assert again["industry"] is None
        else:
            assert (job["rows_created"], job["rows_skipped"], job["rows_updated"]) == (1, 1, 1)
            assert again["industry"] == "茶叶" and again["version"] == 2
            assert again["name"] == "西湖茶叶"


async def test_duplicates_across_batches_deleted_records_and_keys_of_imported_rows(client, signup, bulk, customer,
                                                                                   monkeypatch) -> None:
    tenant = await signup()
    monkeypatch.setattr(imports_domain, "BATCH_ROWS", 2)
    live = await customer(tenant, name="杭州西湖茶叶有限公司", email="tea@xihu.cn")
    gone = await customer(tenant, name="旧客户", phone="13800003333")
    assert (await client.delete(f"/api/v1/customers/{gone['id']}", headers=tenant.headers)).status_code == 204
    content = csv_bytes([
        ["name", "phone", "email"],
        ["西湖茶叶", "", ""],                          # batch 1: the stored customer's name key
        ["新客户", "13800003333", ""],                 # batch 1: the phone of a deleted customer only
        ["宁波港集团", "13800004444", ""],             # batch 2
        ["茶叶公司", "", "TEA@xihu.cn"],               # batch 2: the stored customer's e-mail
        ["宁波港 (再次)", "+86 138 0000 4444", ""],     # batch 3: the phone of a row in batch 2
    ])
    job = await finished(client, tenant, (await upload(client, tenant, content)).json()["id"])
    assert (job["status"], job["rows_created"], job["rows_skipped"], job["rows_failed"]) == ("succeeded", 2, 3, 0)
    names = sorted(c["name"] for c in await customers_named(client, tenant))
    assert names == sorted(["杭州西湖茶叶有限公司", "新客户", "宁波港集团"])
    # The imported rows' match keys are stored: a new customer with the same phone is found.
    check = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                              json={"record": {"name": "别的公司", "phone": "138 0000 4444"}})
    assert [(d["name"], d["rules"]) for d in check.json()["duplicates"]] == [("宁波港集团", ["phone"])]
    assert live["id"] not in [d["id"] for d in check.json()["duplicates"]]


async def test_import_goes_on_when_the_validation_process_was_killed(client, signup, bulk) -> None:
    tenant = await signup()
    pool = imports_domain._validation_pool()  # noqa: SLF001 - the process an import validates in
    await asyncio.get_running_loop().run_in_executor(pool, imports_domain._read_batch, iter([]), 1)  # noqa: SLF001
    for process in list(pool._processes.values()):  # noqa: SLF001 - killed as the OOM killer would
        process.kill()
        await asyncio.to_thread(process.join)
    response = await upload(client, tenant, csv_bytes([["name", "phone"], ["Acme", "13812345678"]]))
    job = await finished(client, tenant, response.json()["id"])
    assert (job["status"], job["rows_created"]) == ("succeeded", 1), job
    assert [c["phone"] for c in await customers_named(client, tenant)] == ["+8613812345678"]


async def test_gb18030_and_utf8_bom_files(client, signup, bulk) -> None:
    tenant = await signup()
    gbk = csv_bytes([["客户名称", "行业"], ["广州白云山医药集团股份有限公司", "医药"]], "gb18030")
    bom = b"\xef\xbb\xbf" + csv_bytes([["客户名称", "行业"], ["成都小龙坎餐饮管理有限公司", "餐饮"]])
    for content in (gbk, bom):
        response = await upload(client, tenant, content)
        assert response.status_code == 202, response.text
        job = await finished(client, tenant, response.json()["id"])
        assert job["rows_created"] == 1, job
    stored = {c["name"]: c["industry"] for c in await customers_named(client, tenant)}
    assert stored == {"广州白云山医药集团股份有限公司": "医药", "成都小龙坎餐饮管理有限公司": "餐饮"}
    assert response.json()["encoding"] == "utf-8-sig"


async def test_xlsx_import_keeps_formulas_as_text(client, signup, bulk) -> None:
    tenant = await signup()
    book = Workbook()
    sheet = book.active
    sheet.append(["name", "address", "phone"])
    sheet.append(["苏州科达科技股份有限公司", "=1+1", 13812345678])
    sheet.append(["=HYPERLINK(\"http://evil.example\",\"x\")", "苏州", None])
    buffer = io.BytesIO()
    book.save(buffer)
    response = await client.post(API, headers=tenant.headers, data={"entity": "customer"},
                                 files={"file": ("book.xlsx", buffer.getvalue(), "application/octet-stream")})
    assert response.status_code == 202, response.text
    assert response.json()["file_format"] == "xlsx"
    job = await finished(client, tenant, response.json()["id"])
    assert job["rows_created"] == 2, job
    stored = {c["name"]: c for c in await customers_named(client, tenant)}
    assert stored["苏州科达科技股份有限公司"]["address"] == "=1+1"
    assert stored["苏州科达科技股份有限公司"]["phone"] == "+8613812345678"
    assert '=HYPERLINK("http://evil.example","x")' in stored


async def test_saved_mapping_is_reused(client, signup, bulk) -> None:
    tenant = await signup()
    saved = await client.post(f"{API}/mappings", headers=tenant.headers, json={
        "entity": "customer", "name": "CRM 导出", "mapping": {"Firma": "name", "Branche": "industry"}})
    assert saved.status_code == 201, saved.text
    listed = (await client.get(f"{API}/mappings?entity=customer", headers=tenant.headers)).json()["items"]
    assert [m["name"] for m in listed] == ["CRM 导出"]
    response = await upload(client, tenant, csv_bytes([["Firma", "Branche"], ["Siemens China", "工业"]]),
                            mapping_id=saved.json()["id"])
    job = await finished(client, tenant, response.json()["id"])
    assert job["rows_created"] == 1
    assert (await customers_named(client, tenant))[0]["industry"] == "工业"
    unknown = await client.post(f"{API}/mappings", headers=tenant.headers, json={
        "entity": "customer", "name": "bad", "mapping": {"X": "favourite_colour"}})
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "mapping.X"


async def test_contacts_import(client, signup, bulk, customer) -> None:
    tenant = await signup()
    parent = await customer(tenant, name="华为技术有限公司")
    content = csv_bytes([["customer_id", "姓名", "职务", "手机"],
                         [parent["id"], "张伟", "采购经理", "13700001234"],
                         [str(uuid.uuid4()), "李娜", "", ""]])
    response = await upload(client, tenant, content, entity="contact")
    assert response.status_code == 202, response.text
    job = await finished(client, tenant, response.json()["id"])
    assert (job["rows_created"], job["rows_failed"]) == (1, 1)
    contacts = (await client.get(f"/api/v1/contacts?customer_id={parent['id']}", headers=tenant.headers)).json()
    assert [(c["name"], c["title"], c["phone"]) for c in contacts["items"]] == [("张伟", "采购经理", "+8613700001234")]
    report = await error_report(client, tenant, job["id"])
    assert "customer_id" in report[1][-1]


async def _nothing_imported(client: httpx.AsyncClient, tenant: Any) -> None:
    assert (await client.get(API, headers=tenant.headers)).json()["items"] == []
    assert await customers_named(client, tenant) == []


@pytest.mark.parametrize(("filename", "content", "code"), [
    ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "wrong_encoding"),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "unsupported_format"),
    ("fake.xlsx", b"name\nAcme\n", "unsupported_format"),
    ("empty.csv", b"", "empty"),
    ("blank.csv", b"\xef\xbb\xbf\r\n\r\n", "empty"),
    ("header.csv", b"name,phone\r\n", "no_rows"),
    ("utf16.csv", "name\r\n测试公司\r\n".encode("utf-16"), "wrong_encoding"),
    ("latin.csv", b"name\n\xff\xfe\xff\xfe\x80\x80\n", "wrong_encoding"),
])
async def test_bad_files_answer_422_naming_file_and_write_nothing(client, signup, filename, content, code) -> None:
    tenant = await signup()
    response = await upload(client, tenant, content, filename)
    assert response.status_code == 422, response.text
    error = response.json()["errors"][0]
    assert (error["field"], error["code"]) == ("file", code)
    await _nothing_imported(client, tenant)


async def test_bad_options_and_mappings_answer_4xx(client, signup) -> None:
    tenant = await signup()
    good = csv_bytes([["name", "phone"], ["Acme", "13812345678"]])
    cases = [
        ({"mapping": '{"name": "name", "phone": "fax"}'}, "mapping.phone"),
        ({"mapping": '{"nope": "name"}'}, "mapping.nope"),
        ({"mapping": '{"phone": "phone", "name": null}'}, "mapping"),  # no column left for the required name
        ({"mapping": "[1, 2"}, "mapping"),
        ({"on_duplicate": "merge"}, "on_duplicate"),
        ({"dry_run": "maybe"}, "dry_run"),
        ({"entity": "invoice"}, "entity"),
    ]
    for fields, field in cases:
        response = await upload(client, tenant, good, **fields)
        assert response.status_code == 422, (fields, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], response.text
    missing = await client.post(API, headers=tenant.headers, data={"entity": "customer"})
    assert missing.status_code == 415  # a form without a file part is not multipart
    json_body = await client.post(API, headers=tenant.headers, json={"entity": "customer"})
    assert json_body.status_code == 415
    await _nothing_imported(client, tenant)


async def test_a_200_mb_file_answers_413(client, signup, runtime) -> None:
    tenant = await signup()
    boundary = "huike-boundary"
    size = 200 * 1024 * 1024

    async def body() -> AsyncIterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"entity\"\r\n\r\ncustomer\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n\r\n"
               "name\r\n").encode()
        chunk = b"A" * (1024 * 1024)
        for _ in range(size // len(chunk)):
            yield chunk

    # Announced: refused before reading. Streamed without a length: refused at the limit.
    headers = {**tenant.headers, "Content-Type": f"multipart/form-data; boundary={boundary}",
               "Content-Length": str(size + 500)}
    announced = await client.post(API, headers=headers, content=b"x")
    assert announced.status_code == 413 and announced.json()["errors"][0]["field"] == "file"
    del headers["Content-Length"]
    streamed = await client.post(API, headers=headers, content=body())
    assert streamed.status_code == 413, streamed.text
    assert str(runtime.settings.import_max_bytes // 1_048_576) in streamed.json()["detail"]
    await _nothing_imported(client, tenant)


async def test_member_without_import_permission_is_refused(client, signup, invite, bulk) -> None:
    tenant = await signup()
    member = await invite(tenant, roles=["sales"])  # read, create, update of their own: no import
    response = await upload(client, member, csv_bytes([["name"], ["Acme"]]))
    assert response.status_code == 403
    other = await signup()
    mine = await upload(client, tenant, csv_bytes([["name"], ["Acme"]]), dry_run="true")
    assert (await client.get(f"{API}/{mine.json()['id']}", headers=other.headers)).status_code == 404
    assert (await client.get(f"{API}/{mine.json()['id']}/errors", headers=other.headers)).status_code == 404


@pytest.fixture
async def quiet(runtime: Any) -> AsyncIterator[None]:
    """Pause the workers the records service runs (when app.py starts them), so the crash tests
    drive their own worker alone."""
    running = [b for b in getattr(runtime, "_background", []) if isinstance(b, jobs_bulk.BulkJobs)]
    for jobs in running:
        await jobs.stop()
    yield
    for jobs in running:
        await jobs.start()


async def drain(worker: jobs_bulk.BulkJobs) -> None:
    """Finish jobs other tests left queued, so the next claim is this test's job."""
    while await worker.run_once():
        pass


# A crash in the middle of an import, resumed without importing a row twice, is proved with a real
# kill -9 of `huike run`: tests/test_embedded_run.py::test_kill_9_mid_import_leaves_no_process_behind...


async def test_job_that_keeps_crashing_fails_cleanly(client, signup, runtime, monkeypatch, quiet) -> None:
    tenant = await signup()
    worker = jobs_bulk.BulkJobs(runtime, workers=1)
    await drain(worker)

    async def always_dies(*args: Any, **kwargs: Any) -> Any:
        raise asyncio.CancelledError

    monkeypatch.setattr(imports_domain, "process_batch", always_dies)
    response = await upload(client, tenant, csv_bytes([["name"], ["Acme"]]))
    for _ in range(imports_domain.MAX_ATTEMPTS):
        with pytest.raises(asyncio.CancelledError):
            while not await worker.run_once():
                await asyncio.sleep(0.05)
    while not await worker.run_once():
        await asyncio.sleep(0.05)
    job = (await client.get(f"{API}/{response.json()['id']}", headers=tenant.headers)).json()
    assert job["status"] == "failed" and "attempts" in job["error"]
    assert job["rows_done"] == 0 and await customers_named(client, tenant) == []


async def test_a_worker_that_lost_its_lease_leaves_the_job_to_the_one_that_took_over(client, signup, runtime,
                                                                                     monkeypatch, quiet) -> None:
    tenant = await signup()
    stalled = jobs_bulk.BulkJobs(runtime, workers=1, lease_seconds=2, poll_seconds=0.1)
    await drain(stalled)

    async def no_heartbeat(*args: Any) -> None:  # a worker stuck so long that its lease runs out
        await asyncio.Event().wait()

    monkeypatch.setattr(stalled, "_heartbeat", no_heartbeat)
    monkeypatch.setattr(imports_domain, "BATCH_ROWS", 10)
    real = imports_domain.process_batch
    calls = {"n": 0}

    async def slow(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        await asyncio.sleep(5 if calls["n"] == 2 else 0.4)
        return await real(*args, **kwargs)

    monkeypatch.setattr(imports_domain, "process_batch", slow)
    rows = [["name"]] + [[f"公司 {i:03d}"] for i in range(200)]
    response = await upload(client, tenant, csv_bytes(rows), on_duplicate="create")
    import_id = response.json()["id"]
    first = asyncio.create_task(stalled.run_once())  # claims the job, then stalls in its second batch

    async def first_batch_done() -> bool:
        return (await client.get(f"{API}/{import_id}", headers=tenant.headers)).json()["rows_done"] >= 10

    await eventually(first_batch_done, timeout=20, interval=0.05)
    # Meanwhile two other workers: one takes the job over; the other must not get it as well.
    others = [await jobs_bulk.BulkJobs(runtime, workers=1, lease_seconds=2, poll_seconds=0.1).start()
              for _ in range(2)]
    try:
        assert await first
        job = await finished(client, tenant, import_id, timeout=60)
    finally:
        for worker in others:
            await worker.stop()
    assert (job["status"], job["rows_done"], job["rows_created"]) == ("succeeded", 200, 200), job
    names = [c["name"] for c in await customers_named(client, tenant)]
    assert len(names) == len(set(names)) == 200


async def test_a_row_whose_name_many_customers_share_updates_the_oldest(client, signup, bulk, customer) -> None:
    tenant = await signup()
    oldest = await customer(tenant, name="杭州西湖茶叶有限公司")
    for name in ("西湖茶叶有限公司", "杭州西湖茶叶股份有限公司"):  # the same name key, stored later (a warning)
        await customer(tenant, name=name)
    content = csv_bytes([["name", "industry"], ["西湖茶叶", "茶叶"]])
    job = await finished(client, tenant, (await upload(client, tenant, content, on_duplicate="update")).json()["id"])
    assert (job["status"], job["rows_created"], job["rows_updated"]) == ("succeeded", 0, 1), job
    industries = {c["id"]: c.get("industry") for c in await customers_named(client, tenant)}
    assert industries.pop(oldest["id"]) == "茶叶" and set(industries.values()) == {None}


async def test_rows_are_validated_in_a_process_of_lower_priority() -> None:
    # Validation keeps a core busy for a whole import: it must give way to the service process.
    pool = imports_domain._validation_pool()  # noqa: SLF001 - the process an import validates in
    niceness = await asyncio.get_running_loop().run_in_executor(pool, os.nice, 0)
    assert niceness == min(19, os.nice(0) + BACKGROUND_NICENESS)
