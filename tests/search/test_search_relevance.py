"""What Chinese users type (issue 19), through the public API (contract suite: every engine):
words cut otherwise than the record's segments, homophone typos, traditional and simplified
characters, phone tails, derived short names; and an exact name stays first."""

from __future__ import annotations

from tests.search.conftest import ids


async def _contact(client, who, **body) -> dict:
    made = await client.post("/api/v1/contacts", json=body, headers=who.headers)
    assert made.status_code == 201, made.text
    return made.json()


async def test_a_word_across_the_records_segments(signup, customer, found, search) -> None:
    tenant = await signup()
    bank = await customer(tenant, name="中国光大银行股份有限公司")
    maker = await customer(tenant, name="深圳市博远电子科技有限公司")
    other = await customer(tenant, name="光明乳业股份有限公司")
    hit = await found(tenant, "光大银行", bank["id"])
    assert "<em>光大银行</em>" in hit["highlight"]["name"]
    await found(tenant, "远电子", maker["id"])  # the brand's last character with the industry
    await found(tenant, "博远电子科技", maker["id"])
    # The characters must stand together: 光 … 银行 elsewhere in a name is no match.
    assert other["id"] not in ids(await search(tenant, "光大银行"))
    assert bank["id"] not in ids(await search(tenant, "大银光"))


async def test_homophone_typos_rank_below_the_right_characters(signup, customer, found, search) -> None:
    tenant = await signup()
    right = await customer(tenant, name="平安保险集团")
    sounds_alike = await customer(tenant, name="平按保险代理有限公司")  # a real name, spelled so
    hit = await found(tenant, "平按保险", right["id"])  # 按 for 安: same sound
    assert hit["highlight"]["name"].startswith("<em>平安保险</em>")
    await found(tenant, "平按保险", sounds_alike["id"])
    # The exact characters first, the homophone after.
    assert ids(await search(tenant, "平按保险"))[0] == sounds_alike["id"]
    assert ids(await search(tenant, "平安保险"))[0] == right["id"]
    unrelated = await customer(tenant, name="宝鸡安平机械厂")
    assert unrelated["id"] not in ids(await search(tenant, "平按保险"))


async def test_traditional_and_simplified_find_each_other(signup, customer, found, search) -> None:
    tenant = await signup()
    simplified = await customer(tenant, name="中国农业银行")
    traditional = await customer(tenant, name="香港東亞銀行有限公司")
    hit = await found(tenant, "農業銀行", simplified["id"])
    assert hit["highlight"]["name"] == "中国<em>农业银行</em>"
    hit = await found(tenant, "东亚银行", traditional["id"])
    assert hit["highlight"]["name"] == "香港<em>東亞銀行</em>有限公司"  # in the record's own script
    assert traditional["id"] not in ids(await search(tenant, "農業銀行"))


async def test_phone_tails_rank_by_how_much_matched(client, signup, customer, found, search) -> None:
    tenant = await signup()
    company = await customer(tenant, name="Harbor Logistics", phone="0755-86013388")
    person = await _contact(client, tenant, customer_id=company["id"], name="周晓东", phone="13912345678")
    near = await _contact(client, tenant, customer_id=company["id"], name="吴敏", phone="13800005678")
    for q in ("5678", "45678", "2345678", "912345678", "13912345678"):
        hit = await found(tenant, q, person["id"])
        assert hit["highlight"]["phones"] == "<em>+8613912345678</em>", q
    await found(tenant, "5678", near["id"])
    assert near["id"] not in ids(await search(tenant, "45678"))
    assert ids(await search(tenant, "13912345678"))[0] == person["id"]
    await found(tenant, "3388", company["id"])
    await found(tenant, "86013388", company["id"])
    await found(tenant, "75586013388", company["id"])  # the whole national number
    assert company["id"] not in ids(await search(tenant, "8601"))


async def test_derived_short_names(signup, customer, found, search) -> None:
    tenant = await signup()
    bank = await customer(tenant, name="中国建设银行股份有限公司")
    cars = await customer(tenant, name="上海汽车集团股份有限公司")
    oil = await customer(tenant, name="中国石油化工集团有限公司")
    maker = await customer(tenant, name="杭州恒瑞电子科技有限公司")
    for q, record in (("建行", bank), ("建设银行", bank), ("上汽", cars), ("中石化", oil), ("恒瑞电子科技", maker)):
        await found(tenant, q, record["id"])
    assert set(ids(await search(tenant, "建行"))) == {bank["id"]}
    assert set(ids(await search(tenant, "上汽"))) == {cars["id"]}


async def test_an_exact_name_stays_first_whatever_else_matches(client, signup, customer, found, search) -> None:
    tenant = await signup()
    exact = await customer(tenant, name="华信")
    # Records that match the same query by words, characters, sounds, short names and tails.
    longer = await customer(tenant, name="深圳市华信电子科技有限公司")
    homophone = await customer(tenant, name="华新贸易")
    await customer(tenant, name="华信华信华信集团", aliases=["华信"])
    for q in ("华信",):
        await found(tenant, q, longer["id"])
        await found(tenant, q, exact["id"])
        assert ids(await search(tenant, q))[0] == exact["id"], q
    ranked = ids(await search(tenant, "华信"))
    assert ranked.index(homophone["id"]) > ranked.index(longer["id"])  # 华新 sounds alike: found, below
    person = await _contact(client, tenant, customer_id=exact["id"], name="Acme", phone="13700001234")
    named = await customer(tenant, name="1234")
    await found(tenant, "1234", person["id"])
    await found(tenant, "1234", named["id"])  # indexed on its own lane: not necessarily with the contact
    assert ids(await search(tenant, "1234"))[0] == named["id"]
    await found(tenant, "acme", person["id"])
