"""Duplicates (客户查重): rules on create and update, the check endpoint, the batch finder, scans."""

from __future__ import annotations

import uuid

import pytest

from services.records.domain import duplicates
from services.records.domain.duplicates import name_key
from shared.tenancy import scope_for_system
from tests.records.conftest import eventually
from tests.records.data_quality_fixtures import data_quality_jobs  # noqa: F401 - fixture


def test_name_key_ignores_legal_forms_cities_width_case_and_spacing() -> None:
    assert name_key("深圳市腾讯计算机系统有限公司") == name_key("腾讯计算机系统 有限公司") == "腾讯计算机系统"
    assert name_key("广东省深圳市华为技术有限公司") == name_key("华为技术股份有限公司")
    assert name_key("腾讯科技（深圳）有限公司") == "腾讯科技"
    assert name_key("ＴＥＮＣＥＮＴ　Ｃｏ．，Ｌｔｄ．") == name_key("Tencent Co., Ltd.") == name_key("tencent inc") == "tencent"
    assert name_key("北京大学") == "北京大学"  # a city is kept when little would be left


async def test_a_check_answers_the_best_matches_first_and_at_most_twenty(client, signup, customer) -> None:
    tenant = await signup()
    exact = await customer(tenant, name="华星光电技术有限公司", phone="13900001111")
    for i in range(24):  # a common name core: two dozen near misses
        await customer(tenant, name=f"华星光电技术{i:02d}有限公司")
    check = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                              json={"record": {"name": "深圳市华星光电技术有限公司", "phone": "139 0000 1111"}})
    assert check.status_code == 200, check.text
    found = check.json()["duplicates"]
    assert len(found) == duplicates.MAX_REPORTED
    assert found[0]["id"] == exact["id"] and sorted(found[0]["rules"]) == ["name", "phone"]
    assert [d["score"] for d in found[1:]] == sorted((d["score"] for d in found[1:]), reverse=True)


async def test_same_phone_warns_by_default_and_blocks_when_the_rule_says_so(client, signup, customer) -> None:
    tenant = await signup()
    first = await customer(tenant, name="星河贸易", phone="13812345678")
    again = await client.post("/api/v1/customers", headers=tenant.headers,
                              json={"name": "完全不同的名字", "phone": "+86 138 1234 5678"})
    assert again.status_code == 201, again.text
    assert [d["id"] for d in again.json()["duplicates"]] == [first["id"]]
    assert again.json()["duplicates"][0]["rules"] == ["phone"]
    ok = await client.patch("/api/v1/settings/records", headers=tenant.headers, json={"duplicate_rule": "block"})
    assert ok.status_code == 200
    blocked = await client.post("/api/v1/customers", headers=tenant.headers,
                                json={"name": "又一个名字", "email": "x@example.com", "phone": "138-1234-5678"})
    assert blocked.status_code == 409
    assert blocked.headers["content-type"].startswith("application/problem+json")
    assert {d["id"] for d in blocked.json()["duplicates"]} == {first["id"], again.json()["id"]}
    listed = await client.get("/api/v1/customers", headers=tenant.headers)
    assert len(listed.json()["items"]) == 2  # nothing written
    # Per-rule choice: phone warns again while e-mail blocks.
    rules = await client.patch("/api/v1/duplicate-rules", headers=tenant.headers, json={"phone": "warn"})
    assert rules.status_code == 200 and rules.json()["phone"] == "warn" and rules.json()["email"] == "block"
    assert rules.headers["etag"] == '"1"'
    warned = await client.post("/api/v1/customers", headers=tenant.headers,
                               json={"name": "第三个", "phone": "13812345678", "email": "bo@example.com"})
    assert warned.status_code == 201 and len(warned.json()["duplicates"]) == 2
    email_dup = await client.post("/api/v1/customers", headers=tenant.headers,
                                  json={"name": "第四个", "email": "BO@example.com"})
    assert email_dup.status_code == 409
    assert [d["id"] for d in email_dup.json()["duplicates"]] == [warned.json()["id"]]
    names = [c["name"] for c in (await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"]]
    assert "第四个" not in names and len(names) == 3  # the blocked create wrote nothing


async def test_a_blocked_create_names_the_records_its_exact_keys_match(client, signup, customer) -> None:
    # Exact keys first: the phone rule blocks, so the 409 is answered from the btree lookups and
    # lists the record holding the phone, not the lookalike names a trigram search would add.
    tenant = await signup()
    holder = await customer(tenant, name="远东仓储物流有限公司", phone="13711112222")
    lookalike = await customer(tenant, name="锦程信息技术有限公司")
    await client.patch("/api/v1/duplicate-rules", headers=tenant.headers, json={"phone": "block"})
    record = {"name": "锦程信息技术服务有限公司", "phone": "137 1111 2222"}
    check = await client.post("/api/v1/duplicates/check", headers=tenant.headers, json={"record": record})
    assert {d["id"] for d in check.json()["duplicates"]} == {holder["id"], lookalike["id"]}
    assert check.json()["blocked"] is True
    blocked = await client.post("/api/v1/customers", headers=tenant.headers, json=record)
    assert blocked.status_code == 409, blocked.text
    assert [(d["id"], d["rules"]) for d in blocked.json()["duplicates"]] == [(holder["id"], ["phone"])]
    # The same name core blocks from the exact lookup too when the name rule blocks.
    await client.patch("/api/v1/duplicate-rules", headers=tenant.headers, json={"phone": "warn", "name": "block"})
    same_core = await client.post("/api/v1/customers", headers=tenant.headers,
                                  json={"name": "深圳市锦程信息技术股份有限公司"})
    assert same_core.status_code == 409
    assert [(d["id"], d["score"]) for d in same_core.json()["duplicates"]] == [(lookalike["id"], 1.0)]
    # No exact key matches: the trigram search still runs and its lookalike blocks.
    similar = await client.post("/api/v1/customers", headers=tenant.headers, json={"name": "锦程信息技术服务"})
    assert similar.status_code == 409
    assert [(d["id"], d["rules"]) for d in similar.json()["duplicates"]] == [(lookalike["id"], ["name"])]
    assert similar.json()["duplicates"][0]["score"] < 1.0
    listed = (await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"]
    assert len(listed) == 2  # nothing written
    # Another workspace blocking on phones is not blocked, nor warned, by this one's record.
    other = await signup()
    await client.patch("/api/v1/duplicate-rules", headers=other.headers, json={"phone": "block", "name": "block"})
    elsewhere = await client.post("/api/v1/customers", headers=other.headers,
                                  json={"name": "远东仓储物流有限公司", "phone": "13711112222"})
    assert elsewhere.status_code == 201, elsewhere.text
    assert "duplicates" not in elsewhere.json()


async def test_fuzzy_names_and_aliases_find_the_same_company(client, signup, customer) -> None:
    tenant = await signup()
    tencent = await customer(tenant, name="深圳市腾讯计算机系统有限公司", aliases=["Tencent Co., Ltd."])
    await customer(tenant, name="阿里巴巴（中国）有限公司")
    similar = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                                json={"record": {"name": "腾讯计算机系统股份有限公司"}})
    assert similar.status_code == 200, similar.text
    assert [d["id"] for d in similar.json()["duplicates"]] == [tencent["id"]]
    assert similar.json()["duplicates"][0]["rules"] == ["name"] and similar.json()["blocked"] is False
    latin = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                              json={"record": {"name": "ＴＥＮＣＥＮＴ INC"}})
    assert [d["id"] for d in latin.json()["duplicates"]] == [tencent["id"]]
    unrelated = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                                  json={"record": {"name": "上海汽车集团股份有限公司"}})
    assert unrelated.json()["duplicates"] == []
    # The check saves nothing.
    assert len((await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"]) == 2
    # A stricter threshold drops a looser match.
    await client.patch("/api/v1/duplicate-rules", headers=tenant.headers, json={"name_threshold": 1.0})
    loose = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                              json={"record": {"name": "腾讯计算机系统软件"}})
    assert loose.json()["duplicates"] == []
    # Name rule set to block: creating a lookalike answers 409.
    await client.patch("/api/v1/duplicate-rules", headers=tenant.headers, json={"name": "block", "name_threshold": 0.5})
    blocked = await client.post("/api/v1/customers", headers=tenant.headers, json={"name": "腾讯计算机系统有限公司"})
    assert blocked.status_code == 409 and blocked.json()["duplicates"][0]["id"] == tencent["id"]


async def test_soft_deleted_customer_is_recognised_and_update_is_checked(client, signup, customer) -> None:
    tenant = await signup()
    gone = await customer(tenant, name="回头客有限公司", uscc="91350100M000100Y43")
    assert (await client.delete(f"/api/v1/customers/{gone['id']}", headers=tenant.headers)).status_code == 204
    back = await client.post("/api/v1/customers", headers=tenant.headers,
                             json={"name": "另一家", "uscc": "91350100m000100y43"})
    assert back.status_code == 201
    assert back.json()["duplicates"] == [
        {"id": gone["id"], "entity": "customer", "rules": ["uscc"], "score": 1.0, "status": "deleted", "visible": True,
         "name": "回头客有限公司", "owner_id": tenant.admin_id}]
    other = await customer(tenant, name="无关公司", email="a@b.cn")
    await client.patch("/api/v1/settings/records", headers=tenant.headers, json={"duplicate_rule": "block"})
    stale = await client.patch(f"/api/v1/customers/{other['id']}", headers=tenant.headers,
                               json={"uscc": "91350100M000100Y43"})
    assert stale.status_code == 409
    assert (await client.get(f"/api/v1/customers/{other['id']}", headers=tenant.headers)).json()["uscc"] is None
    # Changing a record's own matched field does not find the record itself.
    same = await client.patch(f"/api/v1/customers/{other['id']}", headers=tenant.headers, json={"email": "A@b.cn"})
    assert same.status_code == 200 and "duplicates" not in same.json()


async def test_contacts_match_on_phone_and_email(client, signup, customer) -> None:
    tenant = await signup()
    owner = await customer(tenant)
    first = await client.post("/api/v1/contacts", headers=tenant.headers,
                              json={"customer_id": owner["id"], "name": "张伟", "phone": "13900001111"})
    assert first.status_code == 201
    second = await client.post("/api/v1/contacts", headers=tenant.headers,
                               json={"customer_id": owner["id"], "name": "Zhang Wei", "phone": "+8613900001111"})
    assert second.status_code == 201 and second.json()["duplicates"][0]["id"] == first.json()["id"]
    check = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                              json={"entity": "contact", "record": {"phones": [{"value": "139 0000 1111"}]}})
    assert {d["id"] for d in check.json()["duplicates"]} == {first.json()["id"], second.json()["id"]}
    bad = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                            json={"entity": "robot", "record": {}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "entity"


async def test_other_tenants_and_out_of_scope_records(client, signup, customer, invite, in_directory) -> None:
    tenant, other = await signup(), await signup()
    theirs = await customer(other, name="隔壁公司", phone="13700001111")
    mine = await client.post("/api/v1/customers", headers=tenant.headers,
                             json={"name": "隔壁公司", "phone": "13700001111"})
    assert mine.status_code == 201 and "duplicates" not in mine.json()
    sales = await invite(tenant, roles=["sales"])
    await in_directory(tenant.id, sales.id)
    seen = await client.post("/api/v1/customers", headers=sales.headers, json={"name": "某某", "phone": "13700001111"})
    assert seen.status_code == 201
    (hidden,) = seen.json()["duplicates"]
    assert hidden["id"] == mine.json()["id"] and hidden["visible"] is False and "name" not in hidden
    assert theirs["id"] not in {d["id"] for d in seen.json()["duplicates"]}


async def test_rules_validation_and_permissions(client, signup, invite) -> None:
    tenant = await signup()
    bad = await client.patch("/api/v1/duplicate-rules", headers=tenant.headers,
                             json={"phone": "explode", "name_threshold": 3, "colour": 1})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"colour"}
    bad = await client.patch("/api/v1/duplicate-rules", headers=tenant.headers,
                             json={"phone": "explode", "name_threshold": 3})
    assert {e["field"] for e in bad.json()["errors"]} == {"phone", "name_threshold"}
    stale = await client.patch("/api/v1/duplicate-rules", headers={**tenant.headers, "If-Match": '"7"'},
                               json={"phone": "off"})
    assert stale.status_code == 412
    sales = await invite(tenant, roles=["sales"])
    denied = await client.patch("/api/v1/duplicate-rules", headers=sales.headers, json={"phone": "off"})
    assert denied.status_code == 403
    got = await client.get("/api/v1/duplicate-rules", headers=sales.headers)
    assert got.json() == {"version": 0, "phone": "warn", "email": "warn", "uscc": "warn", "name": "warn",
                          "name_threshold": 0.5, "follows_settings": ["phone", "email", "uscc"]}


async def test_batch_finder_answers_each_candidate_in_one_call(runtime, signup, customer) -> None:
    tenant = await signup()
    a = await customer(tenant, name="甲公司", phone="13800000001")
    b = await customer(tenant, name="乙公司", email="b@example.com")
    db = runtime.db("records")
    async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        found = await duplicates.find_duplicates_batch(unit, "customer", [
            {"name": "无关", "phone": "138 0000 0001"}, {"name": "x", "email": "B@EXAMPLE.COM"},
            {"name": "nothing"}, {"phone": "not a phone"},
        ])
        one = await duplicates.find_duplicates(unit, "customer", {"phones": ["+8613800000001"]})
    assert [[str(d.id) for d in f] for f in found] == [[a["id"]], [b["id"]], [], []]
    assert [str(d.id) for d in one] == [a["id"]]


@pytest.mark.usefixtures("data_quality_jobs")
async def test_scan_finds_groups_in_the_background(client, signup, customer) -> None:
    tenant = await signup()
    a = await customer(tenant, name="深圳市星辰科技有限公司")
    b = await customer(tenant, name="星辰科技股份有限公司", phone="13511112222")
    c = await customer(tenant, name="完全无关", phone="+8613511112222")
    await customer(tenant, name="孤单的公司")
    started = await client.post("/api/v1/duplicate-scans", headers=tenant.headers)
    assert started.status_code == 202 and started.json()["status"] == "queued"
    url = f"/api/v1/duplicate-scans/{started.json()['id']}"

    async def finished() -> bool:
        return (await client.get(url, headers=tenant.headers)).json()["status"] == "succeeded"

    await eventually(finished, timeout=10)
    scan = (await client.get(url, headers=tenant.headers)).json()
    assert scan["total"] == 4 and scan["done"] == 4
    assert scan["groups"] == [{"ids": sorted([a["id"], b["id"], c["id"]]), "rules": ["name", "phone"]}]
    other = await signup()
    assert (await client.get(url, headers=other.headers)).status_code == 404


async def test_the_runtime_role_merges_the_name_keys_waiting_in_the_index(runtime, signup, customer) -> None:
    # The lookup reads every name key waiting in the GIN pending list; records merges it every
    # second as the runtime role (migration 0018's SECURITY DEFINER function and its grant).
    from services.records.jobs import merge_pending_index_entries

    tenant = await signup()
    await customer(tenant, name="深圳市远泽科技有限公司")
    assert await merge_pending_index_entries(runtime) >= 0
    async with runtime.db("records").system_unit() as unit:
        definers = await unit.fetchval(
            "SELECT count(*) FROM pg_proc WHERE proname = 'merge_pending_index_entries' AND prosecdef")
    assert definers >= 2  # records and search each have one
