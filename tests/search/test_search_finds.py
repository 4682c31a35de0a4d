"""What a query finds, through the public API (contract suite: every engine)."""

from __future__ import annotations

from tests.search.conftest import ids


async def _child(client, who, collection: str, **body) -> dict:
    made = await client.post(f"/api/v1/{collection}", json=body, headers=who.headers)
    assert made.status_code == 201, made.text
    return made.json()


async def test_chinese_words_find_longer_names_and_notes(client, signup, customer, found, search) -> None:
    tenant = await signup()
    tencent = await customer(tenant, name="深圳市腾讯计算机系统有限公司")
    huawei = await customer(tenant, name="华为技术有限公司")
    bank = await customer(tenant, name="中国农业发展银行")
    task = await _child(client, tenant, "tasks", customer_id=bank["id"], title="待处理的续约合同")
    note = await _child(client, tenant, "interactions", customer_id=huawei["id"], channel="visit",
                        summary="上门拜访", details="客户说价格太高，需要再考虑一下")
    assert (await found(tenant, "腾讯", tencent["id"]))["highlight"]["name"] == "深圳市<em>腾讯</em>计算机系统有限公司"
    await found(tenant, "华为", huawei["id"])
    await found(tenant, "农业", bank["id"])
    hit = await found(tenant, "处理", task["id"])
    assert hit["type"] == "task" and hit["customer"] == {"id": bank["id"], "title": "中国农业发展银行"}
    hit = await found(tenant, "价格", note["id"])
    assert hit["type"] == "interaction" and "<em>价格</em>" in hit["highlight"]["details"]
    assert hit["customer_id"] == huawei["id"] and hit["customer"]["title"] == "华为技术有限公司"
    # Words match as words: 腾讯 does not find the others.
    assert set(ids(await search(tenant, "腾讯"))) == {tencent["id"]}


async def test_pinyin_full_spaced_initials_and_mixed(signup, customer, found, search) -> None:
    tenant = await signup()
    tencent = await customer(tenant, name="深圳市腾讯计算机系统有限公司")
    other = await customer(tenant, name="阿里巴巴网络技术有限公司")
    for q in ("tengxun", "teng xun", "tx", "腾xun", "TengXun", "ｔｅｎｇｘｕｎ"):
        hit = await found(tenant, q, tencent["id"])
        assert "<em>腾讯</em>" in hit["highlight"]["name"], (q, hit)
        assert other["id"] not in ids(await search(tenant, q)), q
    await found(tenant, "alibaba", other["id"])


async def test_phone_numbers_in_any_written_form_emails_and_domains(client, signup, customer, found, search) -> None:
    tenant = await signup()
    made = await customer(tenant, name="Acme Trading", phone="13800138000", email="Sales@Acme-Trading.com")
    contact = await _child(client, tenant, "contacts", customer_id=made["id"], name="王小明",
                           phone="+86 139 0000 1234", email="wang@example.cn")
    for q in ("138 0013 8000", "+86 13800138000", "13800138000", "+8613800138000", "138-0013-8000", "phone:8000"):
        hit = await found(tenant, q, made["id"])
        assert hit["highlight"]["phones"] == "<em>+8613800138000</em>", q
    await found(tenant, "phone:1234", contact["id"])
    # Four digits alone are a phone tail (尾号) as well: the customer's and the contact's numbers end so.
    await found(tenant, "8000", made["id"])
    await found(tenant, "1234", contact["id"])
    assert made["id"] not in ids(await search(tenant, "0013"))  # the middle of a number is no tail
    for q in ("sales@acme-trading.com", "acme-trading.com", "SALES@ACME-TRADING.COM"):
        await found(tenant, q, made["id"])
    await found(tenant, "wang@example.cn", contact["id"])
    await found(tenant, "example.cn", contact["id"])
    assert made["id"] not in ids(await search(tenant, "example.cn"))


async def test_latin_typos_and_prefixes(signup, customer, found, search) -> None:
    tenant = await signup()
    acme = await customer(tenant, name="Acme Corporation")
    other = await customer(tenant, name="Apex Holdings")
    hit = await found(tenant, "acme corporatoin", acme["id"])
    assert hit["highlight"]["name"] == "<em>Acme</em> <em>Corporation</em>"
    await found(tenant, "acme corporaton", acme["id"])  # one letter missing
    await found(tenant, "acm", acme["id"])  # as you type
    await found(tenant, "acme corp", acme["id"])
    assert other["id"] not in ids(await search(tenant, "acm"))
    # Short words get no typo allowance: "acne" is not "acme".
    assert acme["id"] not in ids(await search(tenant, "acne holdings"))


async def test_filters_facets_and_sorting(client, signup, customer, found, search) -> None:
    tenant = await signup()
    lead = await customer(tenant, name="星光贸易 A", lifecycle_stage="lead", tier="gold", tags=["vip", "east"])
    loyal = await customer(tenant, name="星光贸易 B", lifecycle_stage="loyal", tier="silver", tags=["east"])
    objection = await _child(client, tenant, "objections", customer_id=lead["id"], category="price",
                             severity="high", description="星光贸易 觉得报价太高")
    await found(tenant, "星光", objection["id"])
    await found(tenant, "星光", loyal["id"])
    assert set(ids(await search(tenant, "星光", lifecycle_stage="loyal"))) == {loyal["id"]}
    assert set(ids(await search(tenant, "星光", tier="gold"))) == {lead["id"]}
    assert set(ids(await search(tenant, "星光", tag="east"))) == {lead["id"], loyal["id"]}
    assert set(ids(await search(tenant, "星光", status="open"))) == {objection["id"]}
    assert set(ids(await search(tenant, "星光", types="objection"))) == {objection["id"]}
    assert set(ids(await search(tenant, "星光", owner_id=tenant.admin_id))) == {lead["id"], loyal["id"], objection["id"]}
    body = (await search(tenant, "星光", facets="type,lifecycle_stage,tier,tag,status,owner_id")).json()
    assert body["total_estimate"] == 3
    assert body["facets"]["type"] == {"customer": 2, "objection": 1}
    assert body["facets"]["lifecycle_stage"] == {"lead": 1, "loyal": 1}
    assert body["facets"]["tag"] == {"vip": 1, "east": 2}
    assert body["facets"]["status"] == {"open": 1}
    assert body["facets"]["owner_id"] == {tenant.admin_id: 3}
    # recent: the last written first.
    await client.patch(f"/api/v1/customers/{lead['id']}", json={"tier": "platinum"}, headers=tenant.headers)
    await found(tenant, "星光", lead["id"], tier="platinum")
    assert ids(await search(tenant, "星光", sort="recent", types="customer")) == [lead["id"], loyal["id"]]
    assert len(ids(await search(tenant, "星光", limit=1))) == 1
