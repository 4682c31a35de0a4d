"""Customers end to end through the API."""

from __future__ import annotations

import asyncio
import uuid

from services.records.domain import idempotency
from shared.tenancy import scope_for_system


async def test_create_read_update_list(client, signup, customer) -> None:
    tenant = await signup()
    made = await customer(tenant, name="  深圳市腾讯计算机系统有限公司 ", phone="138 1234 5678", email="Bo@Example.COM",
                          uscc="91350100M000100Y43", tags=["vip", "vip", "south"], lifecycle_stage="prospect")
    assert made["name"] == "深圳市腾讯计算机系统有限公司"
    assert made["phone"] == "+8613812345678"
    assert made["phones"] == [{"value": "+8613812345678", "label": None, "primary": True}]
    assert made["email"] == "bo@example.com"
    assert made["tags"] == ["vip", "south"]
    assert made["owner_id"] == tenant.admin_id and made["version"] == 1
    for key in ("id", "created_at", "updated_at"):
        assert made[key]
    got = await client.get(f"/api/v1/customers/{made['id']}", headers=tenant.headers)
    assert got.status_code == 200 and got.headers["etag"] == '"1"' and got.json() == made
    changed = await client.patch(f"/api/v1/customers/{made['id']}", headers=tenant.headers,
                                 json={"tier": "A", "phone": "+1 650 253 0000"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["version"] == 2 and body["tier"] == "A" and body["phone"] == "+16502530000"
    assert [p["value"] for p in body["phones"]] == ["+16502530000"]
    listed = await client.get("/api/v1/customers", headers=tenant.headers, params={"tag": "vip", "tier": "A"})
    assert [c["id"] for c in listed.json()["items"]] == [made["id"]]
    none = await client.get("/api/v1/customers", headers=tenant.headers, params={"lifecycle_stage": "churned"})
    assert none.json()["items"] == []


async def test_bad_input_lists_every_bad_field_and_writes_nothing(client, signup) -> None:
    tenant = await signup()
    bad = await client.post("/api/v1/customers", headers=tenant.headers, json={
        "name": "ok\u0007", "phone": "12", "email": "not-an-email", "uscc": "91350100M000100Y44",
        "kind": "robot", "lifecycle_stage": "dead", "website": "ftp://x", "colour": "red", "tags": "vip",
    })
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"colour", "tags"} <= fields  # unknown field and wrong type, reported together
    bad = await client.post("/api/v1/customers", headers=tenant.headers, json={
        "name": "ok\u0007", "phone": "12", "email": "not-an-email", "uscc": "91350100M000100Y44",
        "kind": "robot", "lifecycle_stage": "dead", "website": "ftp://x",
    })
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"name", "phone", "email", "uscc", "kind", "lifecycle_stage", "website"}
    missing = await client.post("/api/v1/customers", headers=tenant.headers, json={"kind": "company"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "name"
    huge = await client.post("/api/v1/customers", headers={**tenant.headers, "Content-Type": "application/json"},
                             content=b'{"name": "' + b"x" * (5 * 1024 * 1024) + b'"}')
    assert huge.status_code == 413
    listed = await client.get("/api/v1/customers", headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_required_fields_follow_tenant_settings(client, signup) -> None:
    tenant = await signup()
    await client.patch("/api/v1/settings/records", headers=tenant.headers,
                       json={"required_fields": {"customer": ["industry", "phone"]}})
    bad = await client.post("/api/v1/customers", headers=tenant.headers, json={"name": "Acme"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"industry", "phone"}
    ok = await client.post("/api/v1/customers", headers=tenant.headers,
                           json={"name": "Acme", "industry": "制造", "phone": "13812345678"})
    assert ok.status_code == 201
    cleared = await client.patch(f"/api/v1/customers/{ok.json()['id']}", headers=tenant.headers,
                                 json={"industry": None})
    assert cleared.status_code == 422 and cleared.json()["errors"][0]["field"] == "industry"


async def test_stale_if_match_answers_412_and_writes_nothing(client, signup, customer) -> None:
    tenant = await signup()
    made = await customer(tenant, tier="B")
    first = await client.patch(f"/api/v1/customers/{made['id']}", headers={**tenant.headers, "If-Match": '"1"'},
                               json={"tier": "A"})
    assert first.status_code == 200
    stale = await client.patch(f"/api/v1/customers/{made['id']}", headers={**tenant.headers, "If-Match": '"1"'},
                               json={"tier": "C", "industry": "x"})
    assert stale.status_code == 412
    got = (await client.get(f"/api/v1/customers/{made['id']}", headers=tenant.headers)).json()
    assert got["tier"] == "A" and got["industry"] is None and got["version"] == 2
    gone = await client.delete(f"/api/v1/customers/{made['id']}", headers={**tenant.headers, "If-Match": '"1"'})
    assert gone.status_code == 412
    still = await client.get(f"/api/v1/customers/{made['id']}", headers=tenant.headers)
    assert still.status_code == 200 and still.json() == got  # not deleted, not changed


async def test_concurrent_patches_of_different_fields_both_land(client, signup, customer) -> None:
    tenant = await signup()
    made = await customer(tenant)
    url = f"/api/v1/customers/{made['id']}"
    answers = await asyncio.gather(*[
        client.patch(url, headers=tenant.headers, json={field: value})
        for field, value in [("tier", "A"), ("industry", "能源"), ("source", "展会"), ("address", "北京")] * 2
    ])
    assert all(a.status_code == 200 for a in answers)
    got = (await client.get(url, headers=tenant.headers)).json()
    assert (got["tier"], got["industry"], got["source"], got["address"]) == ("A", "能源", "展会", "北京")
    assert got["version"] == 9


async def test_idempotency_key_replays_refuses_other_body_and_racing_twin(client, signup, runtime) -> None:
    tenant = await signup()
    key = str(uuid.uuid4())
    headers = {**tenant.headers, "Idempotency-Key": key}
    first = await client.post("/api/v1/customers", headers=headers, json={"name": "Once Ltd"})
    again = await client.post("/api/v1/customers", headers=headers, json={"name": "Once Ltd"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = await client.post("/api/v1/customers", headers=headers, json={"name": "Twice Ltd"})
    assert other.status_code == 422 and other.json()["errors"][0]["field"] == "Idempotency-Key"
    listed = await client.get("/api/v1/customers", headers=tenant.headers)
    assert [c["name"] for c in listed.json()["items"]] == ["Once Ltd"]
    # A twin still running holds the key's lock: the second request answers 409 and writes nothing.
    racing = str(uuid.uuid4())
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        assert await idempotency.begin(unit, racing, "user:x", "h") is None
        busy = await client.post("/api/v1/customers", headers={**tenant.headers, "Idempotency-Key": racing},
                                 json={"name": "Race Ltd"})
    assert busy.status_code == 409
    assert len((await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"]) == 1


async def test_soft_delete_restore_and_history(client, signup, customer) -> None:
    tenant = await signup()
    made = await customer(tenant, tier="B")
    url = f"/api/v1/customers/{made['id']}"
    await client.patch(url, headers=tenant.headers, json={"tier": "A", "tags": ["vip"]})
    assert (await client.delete(url, headers=tenant.headers)).status_code == 204
    assert (await client.get(url, headers=tenant.headers)).status_code == 404
    assert (await client.patch(url, headers=tenant.headers, json={"tier": "C"})).status_code == 404
    assert (await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"] == []
    restored = await client.post(f"{url}/restore", headers=tenant.headers)
    assert restored.status_code == 200 and restored.json()["tier"] == "A"
    assert (await client.post(f"{url}/restore", headers=tenant.headers)).status_code == 404
    history = await client.get(f"{url}/history", headers=tenant.headers, params={"limit": 2})
    assert history.status_code == 200
    page1 = history.json()
    assert [i["field"] for i in page1["items"]] == ["deleted_at", "deleted_at"]
    page2 = (await client.get(f"{url}/history", headers=tenant.headers,
                              params={"limit": 2, "cursor": page1["next_cursor"]})).json()
    assert {(i["field"], str(i["old"]), str(i["new"])) for i in page2["items"]} == {
        ("tags", "[]", "['vip']"), ("tier", "B", "A")}
    assert page2["items"][0]["actor"] == {"kind": "user", "id": tenant.admin_id}
    assert page2["next_cursor"] is None


async def test_another_tenants_customer_answers_404_everywhere(client, signup, customer) -> None:
    a, b = await signup(), await signup()
    made = await customer(a)
    url = f"/api/v1/customers/{made['id']}"
    assert (await client.get(url, headers=b.headers)).status_code == 404
    assert (await client.patch(url, headers=b.headers, json={"tier": "A"})).status_code == 404
    assert (await client.delete(url, headers=b.headers)).status_code == 404
    assert (await client.post(f"{url}/restore", headers=b.headers)).status_code == 404
    assert (await client.get(f"{url}/history", headers=b.headers)).status_code == 404
    assert (await client.get("/api/v1/customers", headers=b.headers)).json()["items"] == []
    unchanged = await client.get(url, headers=a.headers)
    assert unchanged.status_code == 200 and unchanged.json() == made  # neither changed, deleted nor restored


async def test_openapi_documents_the_records_api(client) -> None:
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/v1/customers", "/api/v1/customers/{customer_id}/history", "/api/v1/contacts",
                 "/api/v1/custom-fields", "/api/v1/settings/records"):
        assert path in paths
