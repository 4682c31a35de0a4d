"""Isolation, data scope, hidden fields, deletion, version order and bad input."""

from __future__ import annotations

import uuid

import msgspec

from shared.events.bus import MSG_ID_HEADER
from shared.events.envelope import encode_event
from shared.tenancy import scope_for_system
from tests.identity.conftest import eventually
from tests.search.conftest import ids


async def test_no_parameter_reaches_another_tenant(client, signup, customer, found, search) -> None:
    mine, theirs = await signup(), await signup()
    secret = await customer(theirs, name="机密客户 Zephyrine", tags=["zeta"], tier="gold", phone="13900001111")
    await found(theirs, "Zephyrine", secret["id"])
    own = await customer(mine, name="普通客户")
    await found(mine, "普通", own["id"])
    for params in (
        {"q": "Zephyrine"}, {"q": "机密"}, {"q": "jimi"}, {"q": "zephyrin"}, {"q": "13900001111"}, {"q": "phone:1111"},
        {"q": "Zephyrine", "owner_id": theirs.admin_id}, {"q": "Zephyrine", "tag": "zeta"},
        {"q": "Zephyrine", "types": "customer"}, {"q": "Zephyrine", "tier": "gold"},
        {"q": secret["id"]}, {"q": "* OR 1=1"}, {"q": "Zephyrine' OR tenant_id IS NOT NULL --"},
    ):
        response = await search(mine, **params)
        assert response.status_code == 200, (params, response.text)
        body = response.json()
        assert secret["id"] not in response.text and "Zephyrine" not in str(body["hits"]), params
    body = (await search(mine, "客户", facets="type,tag,tier,owner_id")).json()
    assert body["facets"]["owner_id"] == {mine.admin_id: 1} and body["facets"]["tag"] == {}
    assert ids(await search(mine, "客户")) == [own["id"]]


async def test_data_scope_follows_the_records_api(client, signup, invite, customer, in_directory, found,
                                                  search) -> None:
    tenant = await signup()
    ann = await invite(tenant, roles=["sales"])
    bob = await invite(tenant, roles=["sales"])
    for member in (ann, bob):
        await in_directory(tenant.id, member.id)
    anns = await customer(ann, name="安妮贸易")
    bobs = await customer(bob, name="鲍勃贸易")
    note = await client.post("/api/v1/interactions", headers=bob.headers, json={
        "customer_id": bobs["id"], "channel": "phone", "summary": "贸易 洽谈"})
    assert note.status_code == 201, note.text
    await found(tenant, "贸易", bobs["id"])
    await found(tenant, "洽谈", note.json()["id"])
    await found(ann, "贸易", anns["id"])
    assert ids(await search(ann, "贸易")) == [anns["id"]]
    assert ids(await search(ann, "洽谈")) == []
    # What the records API would not open, search does not return.
    assert (await client.get(f"/api/v1/customers/{bobs['id']}", headers=ann.headers)).status_code == 404
    # The admin sees the tenant.
    assert set(ids(await search(tenant, "贸易", types="customer"))) == {anns["id"], bobs["id"]}


async def test_hidden_fields_are_not_matched_highlighted_or_filtered(client, signup, invite, customer, found,
                                                                     search) -> None:
    tenant = await signup()
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Support lite", "key": "support_lite",
        "permissions": {"customer": {"actions": ["read"], "scope": "all"}},
        "field_rules": {"customer": {"phone": "hidden", "address": "hidden", "tier": "hidden"}},
    })
    assert role.status_code == 201, role.text
    member = await invite(tenant, roles=["support_lite"])
    made = await customer(tenant, name="Hidden Field Co", phone="13812345678", address="北京市海淀区中关村",
                          tier="gold")
    await found(tenant, "中关村", made["id"])
    await found(tenant, "13812345678", made["id"])
    hit = await found(member, "Hidden", made["id"])
    assert "tier" not in hit and set(hit["highlight"]) == {"name"}
    assert ids(await search(member, "中关村")) == []
    assert ids(await search(member, "13812345678")) == []
    assert ids(await search(member, "phone:5678")) == []
    assert ids(await search(member, "hidden 中关村")) == []
    denied = await search(member, "Hidden", tier="gold")
    assert denied.status_code == 403 and denied.json()["field"] == "tier"
    assert (await search(member, "Hidden", facets="tier")).status_code == 403
    # A role without read on objections finds none, even its own tenant's.
    objection = await client.post("/api/v1/objections", headers=tenant.headers, json={
        "customer_id": made["id"], "category": "price", "severity": "low", "description": "Hidden price concern"})
    assert objection.status_code == 201, objection.text
    await found(tenant, "concern", objection.json()["id"])
    assert ids(await search(member, "concern")) == []


async def test_deleted_records_disappear_and_restored_ones_return(client, signup, customer, found, gone,
                                                                  search) -> None:
    tenant = await signup()
    made = await customer(tenant, name="短命公司 Ephemeral")
    contact = await client.post("/api/v1/contacts", headers=tenant.headers,
                                json={"customer_id": made["id"], "name": "Ephemeral Contact"})
    assert contact.status_code == 201, contact.text
    await found(tenant, "ephemeral", made["id"])
    await found(tenant, "ephemeral", contact.json()["id"])
    assert (await client.delete(f"/api/v1/customers/{made['id']}", headers=tenant.headers)).status_code == 204
    await gone(tenant, "ephemeral", made["id"])
    # A child of a deleted customer cannot be opened either.
    await gone(tenant, "ephemeral", contact.json()["id"])
    restored = await client.post(f"/api/v1/customers/{made['id']}/restore", headers=tenant.headers)
    assert restored.status_code == 200, restored.text
    await found(tenant, "短命", made["id"])
    await found(tenant, "ephemeral", contact.json()["id"])


async def test_an_old_event_never_overwrites_a_newer_document(client, signup, customer, found, search,
                                                              records_events, runtime) -> None:
    tenant = await signup()
    made = await customer(tenant, name="Oldname Limited")
    created = await records_events.wait_for(tenant.id, "customer.created")
    await client.patch(f"/api/v1/customers/{made['id']}", json={"name": "Newname Limited"}, headers=tenant.headers)
    await found(tenant, "newname", made["id"])
    # The version-1 event arrives again, as a new message (another event id, so the inbox lets it in).
    late = msgspec.structs.replace(created, id=uuid.uuid4())
    await runtime.bus.js.publish(late.subject, encode_event(late), headers={MSG_ID_HEADER: str(late.id)})

    async def applied() -> bool:
        async with runtime.db("search").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            return bool(await unit.fetchval("SELECT 1 FROM search.inbox WHERE tenant_id = $1 AND event_id = $2",
                                            uuid.UUID(tenant.id), late.id))

    await eventually(applied)
    assert ids(await search(tenant, "oldname")) == []
    hit = await found(tenant, "newname", made["id"])
    assert hit["title"] == "Newname Limited" and hit["version"] == 2


async def test_bad_input_answers_4xx_or_nothing_never_5xx(signup, customer, found, search, client) -> None:
    tenant = await signup()
    made = await customer(tenant, name="Robust Input Ltd")
    await found(tenant, "robust", made["id"])
    for params, field in (
        ({}, "q"), ({"q": ""}, "q"), ({"q": "   "}, "q"), ({"q": "x" * 10_000}, "q"),
        ({"q": "robust", "types": "customer,planet"}, "types"), ({"q": "robust", "colour": "red"}, "colour"),
        ({"q": "robust", "limit": "-1"}, "limit"), ({"q": "robust", "limit": "0"}, "limit"),
        ({"q": "robust", "limit": "1000000000000"}, "limit"), ({"q": "robust", "limit": "ten"}, "limit"),
        ({"q": "robust", "sort": "name; DROP TABLE x"}, "sort"), ({"q": "robust", "owner_id": "1 OR 1=1"}, "owner_id"),
        ({"q": "robust", "lifecycle_stage": "lead' OR '1'='1"}, "lifecycle_stage"),
        ({"q": "robust", "facets": "tenant_id"}, "facets"),
        ({"q": "\x00robust"}, "q"),  # NUL is refused at the edge, as in every parameter (shared/http/guard.py)
    ):
        response = await search(tenant, **params)
        assert response.status_code == 422, (params, response.status_code, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], (params, response.text)
    for q in ('"robust', "robust'", "robust & | ! ( ) : * <-> \\", "'; DROP TABLE search.documents; --",
              "robust' OR '1'='1", "tenant_id = '00000000-0000-0000-0000-000000000000'", "%_%", "!!!", "a:*",
              "NOT robust", "😀", "phone:", "phone:abc", "+", "robust " * 25):
        response = await search(tenant, q)
        assert response.status_code == 200, (q, response.text)
        assert set(ids(response)) <= {made["id"]}, q
    assert made["id"] in ids(await search(tenant, "robust'"))
    assert (await client.get("/api/v1/search", params={"q": "robust"})).status_code == 401
    # The declared parameters (in the OpenAPI document) are still given once each.
    twice = await client.get("/api/v1/search", params=[("q", "robust"), ("q", "again"), ("limit", "1"), ("limit", "2")],
                             headers=tenant.headers)
    assert twice.status_code == 422, twice.text
    assert {(e["field"], e["code"]) for e in twice.json()["errors"]} == {("q", "repeated"), ("limit", "repeated")}
