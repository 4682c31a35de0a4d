"""What a sales team's import showed: distinct companies with the same name core are not
duplicates, every skipped row is reported with what it matched, an update merges onto the stored
record, a partial mapping overrides only its columns, and dates are read as spreadsheets write them."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
from openpyxl import Workbook

from tests.records.test_imports import API, bulk, csv_bytes, customers_named, finished, upload  # noqa: F401


async def skipped_report(client: httpx.AsyncClient, who: Any, import_id: str) -> list[list[str]]:
    response = await client.get(f"{API}/{import_id}/skipped", headers=who.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_same_name_core_in_other_cities_or_with_other_phones_is_not_a_duplicate(
        client: httpx.AsyncClient, signup: Any, bulk: Any, customer: Any) -> None:  # noqa: F811
    tenant = await signup()
    stored = await customer(tenant, name="宁波瑞鑫物流有限公司", phone="13800001111")
    content = csv_bytes([
        ["客户名称", "电话", "统一社会信用代码"],
        ["温州瑞鑫物流股份有限公司", "13800002222", ""],          # another city, another phone: a new company
        ["瑞鑫物流有限公司", "13800003333", ""],                  # no city, but another phone: new
        ["宁波瑞鑫物流有限公司", "", ""],                          # same name, nothing against it: the stored one
        ["广州瑞鑫物流有限公司", "13800004444", ""],              # another province than 宁波 (浙江), phone: new
        ["温州瑞鑫物流有限公司", "", ""],                          # the city of row 2, nothing against it: row 2
        ["杭州瑞鑫物流有限公司", "13800005555", "91330100MA2KC1AB28"],  # its own city, phone, code: new
    ])
    job = await finished(client, tenant, (await upload(client, tenant, content, on_duplicate="skip")).json()["id"])
    assert job["status"] == "succeeded", job
    report = await skipped_report(client, tenant, job["id"])
    assert (job["rows_created"], job["rows_skipped"], job["rows_failed"]) == (4, 2, 0), (job, report)
    names = sorted(c["name"] for c in await customers_named(client, tenant))
    assert names == sorted(["宁波瑞鑫物流有限公司", "温州瑞鑫物流股份有限公司", "瑞鑫物流有限公司", "广州瑞鑫物流有限公司",
                            "杭州瑞鑫物流有限公司"])
    # Every skipped row is in the job's answer and in its report, with what it matched and how.
    assert job["skipped"] == [
        {"row": 4, "rule": "name", "matched_id": stored["id"], "matched_row": None},
        {"row": 6, "rule": "name", "matched_id": None, "matched_row": 2},
    ] and job["skipped_truncated"] is False
    assert report[0] == ["row", "客户名称", "电话", "统一社会信用代码", "matched_rule", "matched_record_id", "matched_row"]
    assert report[1:] == [["4", "宁波瑞鑫物流有限公司", "", "", "name", stored["id"], ""],
                          ["6", "温州瑞鑫物流有限公司", "", "", "name", "", "2"]]


async def test_the_same_weighing_applies_to_the_duplicate_check_and_scans(
        client: httpx.AsyncClient, signup: Any, customer: Any) -> None:
    tenant = await signup()
    ningbo = await customer(tenant, name="宁波瑞鑫物流有限公司", phone="13800001111")
    wenzhou = await customer(tenant, name="温州瑞鑫物流股份有限公司", phone="13800002222")
    assert "duplicates" not in wenzhou  # created without a warning about the Ningbo company
    other_phone = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                                    json={"record": {"name": "宁波瑞鑫物流有限公司", "phone": "13900009999"}})
    assert other_phone.json()["duplicates"] == []
    other_code = await client.post("/api/v1/duplicates/check", headers=tenant.headers, json={"record": {
        "name": "瑞鑫物流", "uscc": "91330100MA2KC1AB28"}})
    names = [d["name"] for d in other_code.json()["duplicates"]]
    assert sorted(names) == sorted([ningbo["name"], wenzhou["name"]])  # neither has a credit code to differ
    await client.patch(f"/api/v1/customers/{ningbo['id']}", headers=tenant.headers,
                       json={"uscc": "91330200MA2KC1AB3G"})
    same = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                             json={"record": {"name": "宁波瑞鑫物流有限公司"}})
    assert [(d["id"], d["rules"]) for d in same.json()["duplicates"]] == [(ningbo["id"], ["name"])]
    # A scan groups neither pair: the Ningbo and Wenzhou companies are two.
    scan = await client.post("/api/v1/duplicate-scans", headers=tenant.headers)
    assert scan.status_code == 202, scan.text
    from tests.records.conftest import eventually

    state: dict[str, Any] = {}

    async def done() -> bool:
        state.update((await client.get(f"/api/v1/duplicate-scans/{scan.json()['id']}", headers=tenant.headers)).json())
        return state["status"] in ("succeeded", "failed")

    await eventually(done, timeout=20, interval=0.1)
    assert state["status"] == "succeeded" and state["groups"] == []


async def test_update_merges_onto_the_stored_record_when_the_file_lacks_a_required_field(
        client: httpx.AsyncClient, signup: Any, bulk: Any, customer: Any) -> None:  # noqa: F811
    tenant = await signup()
    required = await client.patch("/api/v1/settings/records", headers=tenant.headers,
                                  json={"required_fields": {"customer": ["industry"]}})
    assert required.status_code == 200, required.text
    stored = await customer(tenant, name="杭州西湖茶叶有限公司", phone="13800001111", industry="茶叶")
    content = csv_bytes([
        ["name", "phone", "address"],
        ["西湖茶叶", "13800001111", "杭州市西湖区龙井路 1 号"],   # the stored customer: updated
        ["宁波港集团", "13800002222", "宁波"],                    # new, but has no industry: fails
    ])
    job = await finished(client, tenant, (await upload(client, tenant, content, on_duplicate="update")).json()["id"])
    assert (job["rows_updated"], job["rows_created"], job["rows_failed"]) == (1, 0, 1), job
    after = (await client.get(f"/api/v1/customers/{stored['id']}", headers=tenant.headers)).json()
    assert (after["address"], after["industry"], after["version"]) == ("杭州市西湖区龙井路 1 号", "茶叶", 2)
    errors = (await client.get(f"{API}/{job['id']}/errors", headers=tenant.headers)).content.decode("utf-8-sig")
    assert "宁波港集团" in errors and "industry" in errors
    assert [c["name"] for c in await customers_named(client, tenant)] == ["西湖茶叶"]


async def test_a_partial_mapping_overrides_only_its_columns(client: httpx.AsyncClient, signup: Any,
                                                             bulk: Any) -> None:  # noqa: F811
    tenant = await signup()
    content = csv_bytes([["客户名称", "电话", "邮箱", "备注", "行业"],
                         ["上海晨光文具有限公司", "13812345678", "li@chenguang.cn", "文具", "零售"]])
    # 备注 is no usual header: the mapping names it; 行业 is ignored on purpose; the rest map themselves.
    response = await upload(client, tenant, content, mapping='{"备注": "industry", "行业": null}')
    assert response.status_code == 202, response.text
    assert response.json()["mapping"] == {"客户名称": "name", "电话": "phone", "邮箱": "email", "备注": "industry"}
    assert response.json()["ignored_columns"] == ["行业"]
    job = await finished(client, tenant, response.json()["id"])
    assert job["rows_created"] == 1, job
    (made,) = await customers_named(client, tenant)
    assert (made["name"], made["phone"], made["email"], made["industry"]) == (
        "上海晨光文具有限公司", "+8613812345678", "li@chenguang.cn", "文具")


async def test_dates_as_excel_and_wps_write_them(client: httpx.AsyncClient, signup: Any, bulk: Any) -> None:  # noqa: F811
    tenant = await signup()
    field = await client.post("/api/v1/custom-fields", headers=tenant.headers, json={
        "entity": "customer", "key": "signed_on", "label": "签约日期", "type": "date"})
    assert field.status_code == 201, field.text
    content = csv_bytes([["name", "下次跟进", "签约日期"],
                         ["甲公司", "2027/3/31", "2027/3/31"],
                         ["乙公司", "2027.3.31", "2027年3月31日"],
                         ["丙公司", "2027年3月31日 9:30", "2027.3.1"],
                         ["丁公司", "2027/2/30", ""]])
    job = await finished(client, tenant, (await upload(client, tenant, content)).json()["id"])
    assert (job["rows_created"], job["rows_failed"]) == (3, 1), job
    made = {c["name"]: c for c in await customers_named(client, tenant)}
    assert made["甲公司"]["next_follow_up_at"].startswith("2027-03-30T16:00:00")  # midnight in Shanghai, in UTC
    assert made["甲公司"]["custom_fields"]["signed_on"] == "2027-03-31"
    assert made["乙公司"]["custom_fields"]["signed_on"] == "2027-03-31"
    assert made["丙公司"]["next_follow_up_at"].startswith("2027-03-31T01:30:00")
    assert made["丙公司"]["custom_fields"]["signed_on"] == "2027-03-01"

    # XLSX: a number in a date column is an Excel serial date; a real date cell is read too.
    from datetime import datetime

    book = Workbook()
    sheet = book.active
    sheet.append(["name", "下次跟进", "签约日期"])
    sheet.append(["戊公司", 46477, 46477])
    sheet.append(["己公司", datetime(2027, 3, 31, 9, 0), datetime(2027, 3, 31)])
    buffer = io.BytesIO()
    book.save(buffer)
    response = await client.post(API, headers=tenant.headers, data={"entity": "customer"}, files={
        "file": ("dates.xlsx", buffer.getvalue(),
                 "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    job = await finished(client, tenant, response.json()["id"])
    assert (job["rows_created"], job["rows_failed"]) == (2, 0), job
    made = {c["name"]: c for c in await customers_named(client, tenant)}
    assert made["戊公司"]["custom_fields"]["signed_on"] == "2027-03-31"
    assert made["戊公司"]["next_follow_up_at"].startswith("2027-03-30T16:00:00")
    assert made["己公司"]["next_follow_up_at"].startswith("2027-03-31T01:00:00")
    assert made["己公司"]["custom_fields"]["signed_on"] == "2027-03-31"
    assert uuid.UUID(made["己公司"]["id"])
