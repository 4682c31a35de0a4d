"""Bulk actions on a list selection (issue 16): tag and return to the pool in one request, with an
answer per customer; set-based but with field history, one event per customer and an audit row;
the export of the selected rows (``filters.ids``)."""

from __future__ import annotations

import uuid

from shared.tenancy import scope_for_system
from tests.records.conftest import eventually
from tests.records.test_exports import csv_rows, exported
from tests.records.test_guarded_owner import lock
from tests.records.test_imports import bulk  # noqa: F401 - the workers fixture

TAGS = "/api/v1/customers/bulk-tags"
RELEASE = "/api/v1/customers/bulk-release"


async def test_bulk_tags_change_every_visible_customer_and_say_why_others_were_left(
    client, signup, customer, runtime, records_events, invite, in_directory
) -> None:
    tenant, other = await signup(), await signup()
    a = await customer(tenant, name="甲", tags=["cold", "keep"])
    b = await customer(tenant, name="乙")
    c = await customer(tenant, name="丙", tags=["vip"])  # already tagged: done, nothing written
    locked = await customer(tenant, name="丁")
    approval = await lock(runtime, tenant, locked["id"], "tags")
    foreign = await customer(other, name="别家")
    missing = str(uuid.uuid4())
    answer = await client.post(TAGS, headers=tenant.headers, json={
        "customer_ids": [a["id"], b["id"], c["id"], locked["id"], foreign["id"], missing],
        "add": ["vip", " 重点 "], "remove": ["cold"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["done"] == [a["id"], b["id"], c["id"]]
    failed = {f["id"]: (f["status"], f["type"].rsplit(":", 1)[-1]) for f in body["failed"]}
    assert failed == {locked["id"]: (409, "approval-pending"), foreign["id"]: (404, "customer-not-found"),
                      missing: (404, "customer-not-found")}
    assert approval
    got = {x["id"]: x for x in (await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"]}
    assert got[a["id"]]["tags"] == ["keep", "vip", "重点"] and got[a["id"]]["version"] == 2
    assert got[b["id"]]["tags"] == ["vip", "重点"]
    assert got[c["id"]]["tags"] == ["vip", "重点"]
    assert got[locked["id"]]["tags"] == [] and got[locked["id"]]["version"] == 1
    theirs = (await client.get(f"/api/v1/customers/{foreign['id']}", headers=other.headers)).json()
    assert (theirs["tags"], theirs["version"]) == ([], 1)

    history = (await client.get(f"/api/v1/customers/{a['id']}/history", headers=tenant.headers)).json()["items"]
    assert [(h["field"], h["old"], h["new"]) for h in history if h["field"] == "tags"] == [
        ("tags", ["cold", "keep"], ["keep", "vip", "重点"])]

    async def three_events() -> bool:
        events = [e for e in records_events.of(tenant.id) if e.type == "customer.updated" and e.data.get("bulk")]
        return sorted(str(e.entity_id) for e in events) == sorted([a["id"], b["id"], c["id"]])

    await eventually(three_events, timeout=5)
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        audit = await unit.fetchrow("SELECT actor_id, details FROM records.audit_log WHERE tenant_id = $1 "
                                    "AND action = 'customer.bulk_tags'", uuid.UUID(tenant.id))
    assert str(audit["actor_id"]) == tenant.admin_id
    assert sorted(audit["details"]["customer_ids"]) == sorted([a["id"], b["id"], c["id"]])

    # A salesperson sees only their own customers: the others answer 404 each, untouched.
    ann = await invite(tenant, roles=["sales"])
    await in_directory(tenant.id, ann.id)
    anns = await customer(ann, name="Ann 的客户")
    mixed = (await client.post(TAGS, headers=ann.headers, json={"customer_ids": [anns["id"], b["id"]],
                                                                "add": ["ann"]})).json()
    assert mixed["done"] == [anns["id"]] and [f["id"] for f in mixed["failed"]] == [b["id"]]
    empty = await client.post(TAGS, headers=tenant.headers, json={"customer_ids": [a["id"]]})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "add"
    none = await client.post(TAGS, headers=tenant.headers, json={"customer_ids": [], "add": ["x"]})
    assert none.status_code == 422 and none.json()["errors"][0]["field"] == "customer_ids"


async def test_bulk_release_returns_each_allowed_customer_to_the_pool(client, signup, customer, runtime) -> None:
    tenant = await signup()
    a, b, c = [await customer(tenant, name=n) for n in ("一", "二", "三")]
    locked = await customer(tenant, name="四")
    await lock(runtime, tenant, locked["id"], "owner_id")
    assert (await client.post(f"/api/v1/customers/{c['id']}/release", headers=tenant.headers)).status_code == 204
    answer = await client.post(RELEASE, headers=tenant.headers,
                               json={"customer_ids": [a["id"], b["id"], c["id"], locked["id"]]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["done"] == [a["id"], b["id"]]
    assert {f["id"]: f["type"].rsplit(":", 1)[-1] for f in body["failed"]} == {
        c["id"]: "already-in-pool", locked["id"]: "approval-pending"}
    pooled = {x["id"] for x in (await client.get("/api/v1/pool", headers=tenant.headers)).json()["items"]}
    assert pooled == {a["id"], b["id"], c["id"]}
    log = (await client.get("/api/v1/pool/log", headers=tenant.headers)).json()["items"]
    assert sorted(e["customer_id"] for e in log if e["action"] == "released") == sorted([a["id"], b["id"], c["id"]])


async def test_export_of_selected_ids_holds_only_those_rows(client, signup, customer, bulk) -> None:  # noqa: F811
    tenant, other = await signup(), await signup()
    a = await customer(tenant, name="选中一")
    await customer(tenant, name="未选")
    b = await customer(tenant, name="选中二")
    foreign = await customer(other, name="别家")
    response = await exported(client, tenant, {"entity": "customer", "format": "csv",
                                               "filters": {"ids": [a["id"], b["id"], foreign["id"]]}})
    assert sorted(r["name"] for r in csv_rows(response)) == ["选中一", "选中二"]
    bad = await client.post("/api/v1/exports", headers=tenant.headers,
                            json={"entity": "customer", "filters": {"ids": ["not-a-uuid"]}})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("filters.ids")
