"""Who sees and changes which customers and fields; events; custom field values; contacts."""

from __future__ import annotations

import uuid

from shared.tenancy import scope_for_system


async def _department(client, tenant, name, parent_id=None) -> str:
    made = await client.post("/api/v1/departments", headers=tenant.headers,
                             json={"name": name, **({"parent_id": parent_id} if parent_id else {})})
    assert made.status_code == 201, made.text
    return made.json()["id"]


async def test_sales_sees_only_own_and_manager_sees_department_subtree(
    client, signup, invite, customer, in_directory
) -> None:
    tenant = await signup()
    east = await _department(client, tenant, "East")
    shanghai = await _department(client, tenant, "Shanghai", east)
    west = await _department(client, tenant, "West")
    manager = await invite(tenant, roles=["manager"], department_id=east)
    ann = await invite(tenant, roles=["sales"], department_id=shanghai)
    bob = await invite(tenant, roles=["sales"], department_id=west)
    for member in (manager, ann, bob):
        await in_directory(tenant.id, member.id)
    anns = await customer(ann, name="Ann's")
    bobs = await customer(bob, name="Bob's")
    assert anns["department_id"] == shanghai
    names = lambda r: sorted(c["name"] for c in r.json()["items"])  # noqa: E731
    assert names(await client.get("/api/v1/customers", headers=ann.headers)) == ["Ann's"]
    assert (await client.get(f"/api/v1/customers/{bobs['id']}", headers=ann.headers)).status_code == 404
    assert (await client.patch(f"/api/v1/customers/{bobs['id']}", headers=ann.headers,
                               json={"tier": "A"})).status_code == 404
    untouched = (await client.get(f"/api/v1/customers/{bobs['id']}", headers=tenant.headers)).json()
    assert (untouched["tier"], untouched["version"]) == (None, 1)  # the refused write changed nothing
    assert names(await client.get("/api/v1/customers", headers=manager.headers)) == ["Ann's"]
    assert (await client.get(f"/api/v1/customers/{anns['id']}", headers=manager.headers)).status_code == 200
    assert (await client.get(f"/api/v1/customers/{bobs['id']}", headers=manager.headers)).status_code == 404
    assert names(await client.get("/api/v1/customers", headers=tenant.headers)) == ["Ann's", "Bob's"]
    # Sales may not hand a customer to someone else (transfer is for managers).
    moved = await client.patch(f"/api/v1/customers/{anns['id']}", headers=ann.headers, json={"owner_id": bob.id})
    assert moved.status_code == 403
    kept = (await client.get(f"/api/v1/customers/{anns['id']}", headers=tenant.headers)).json()
    assert (kept["owner_id"], kept["version"]) == (ann.id, 1)
    moved = await client.patch(f"/api/v1/customers/{anns['id']}", headers=manager.headers,
                               json={"owner_id": bob.id})
    assert moved.status_code == 200 and moved.json()["department_id"] == west
    assert names(await client.get("/api/v1/customers", headers=ann.headers)) == []
    stranger = await client.post("/api/v1/customers", headers=tenant.headers,
                                 json={"name": "x", "owner_id": str(uuid.uuid4())})
    assert stranger.status_code == 422 and stranger.json()["errors"][0]["field"] == "owner_id"


async def test_hidden_field_is_absent_and_read_only_field_cannot_be_written(client, signup, invite, customer) -> None:
    tenant = await signup()
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Support lite", "key": "support_lite",
        "permissions": {"customer": {"actions": ["read", "create", "update"], "scope": "all"}},
        "field_rules": {"customer": {"phone": "hidden", "tier": "read_only"}},
    })
    assert role.status_code == 201, role.text
    member = await invite(tenant, roles=["support_lite"])
    made = await customer(tenant, phone="13812345678", tier="A")
    seen = (await client.get(f"/api/v1/customers/{made['id']}", headers=member.headers)).json()
    assert "phone" not in seen and "phones" not in seen and seen["tier"] == "A"
    listed = (await client.get("/api/v1/customers", headers=member.headers)).json()["items"]
    assert "phone" not in listed[0] and "phones" not in listed[0]
    for field, value in (("tier", "B"), ("phone", "13912345678"), ("phones", [])):
        denied = await client.patch(f"/api/v1/customers/{made['id']}", headers=member.headers, json={field: value})
        assert denied.status_code == 403 and denied.json()["field"] == field
    after = (await client.get(f"/api/v1/customers/{made['id']}", headers=tenant.headers)).json()
    assert after["tier"] == "A" and after["phone"] == "+8613812345678" and after["version"] == 1
    await client.patch(f"/api/v1/customers/{made['id']}", headers=tenant.headers, json={"phone": "13912345678"})
    history = (await client.get(f"/api/v1/customers/{made['id']}/history", headers=member.headers)).json()["items"]
    assert history == []


async def test_events_carry_record_changes_and_sensitive_fields(client, signup, customer, records_events) -> None:
    tenant = await signup()
    await client.patch("/api/v1/settings/records", headers=tenant.headers,
                       json={"sensitive_fields": {"customer": ["phone", "phones"]}})
    made = await customer(tenant, phone="13812345678")
    created = await records_events.wait_for(tenant.id, "customer.created")
    assert created.entity_id == made["id"]
    assert created.data["record"]["phone"] == "+8613812345678"
    assert created.data["owner_id"] == tenant.admin_id
    assert created.data["sensitive_fields"] == ["phone", "phones"]
    await client.patch(f"/api/v1/customers/{made['id']}", headers=tenant.headers, json={"tier": "A"})
    updated = await records_events.wait_for(tenant.id, "customer.updated")
    assert updated.data["changes"] == {"tier": {"old": None, "new": "A"}} and updated.version == 2
    await client.delete(f"/api/v1/customers/{made['id']}", headers=tenant.headers)
    await records_events.wait_for(tenant.id, "customer.deleted")
    await client.post(f"/api/v1/customers/{made['id']}/restore", headers=tenant.headers)
    await records_events.wait_for(tenant.id, "customer.restored")


async def test_sensitive_reads_are_audited(client, signup, customer, runtime) -> None:
    tenant = await signup()
    await client.patch("/api/v1/settings/records", headers=tenant.headers,
                       json={"sensitive_fields": {"customer": ["phone"]}})
    made = await customer(tenant, phone="13812345678")
    await customer(tenant)  # no phone: its read reveals nothing sensitive
    await client.get(f"/api/v1/customers/{made['id']}", headers=tenant.headers)
    await client.get("/api/v1/customers", headers=tenant.headers)
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        rows = await unit.fetch("SELECT action, record_id, details FROM records.audit_log WHERE tenant_id = $1",
                                uuid.UUID(tenant.id))
    assert [(r["action"], str(r["record_id"])) for r in rows] == [("customer.sensitive_read", made["id"])] * 2
    assert rows[0]["details"] == {"fields": ["phone"]}


async def test_custom_field_values_validate_rename_retire_and_unique(client, signup, customer) -> None:
    tenant = await signup()

    async def define(**body):
        made = await client.post("/api/v1/custom-fields", headers=tenant.headers, json={"entity": "customer", **body})
        assert made.status_code == 201, made.text
        return made.json()

    budget = await define(key="budget", label="Budget", type="decimal", validation={"min": 0})
    size = await define(key="size", label="Size", type="single_select", required=True,
                        options=[{"key": "s", "label": "Small"}, {"key": "l", "label": "Large"}])
    await define(key="vat_no", label="VAT number", type="text", unique=True)
    bad = await client.post("/api/v1/customers", headers=tenant.headers, json={
        "name": "x", "custom_fields": {"budget": "-5", "nope": 1}})
    assert {e["field"] for e in bad.json()["errors"]} == {"custom_fields.budget", "custom_fields.nope",
                                                          "custom_fields.size"}
    one = await customer(tenant, custom_fields={"budget": "12.50", "size": "l", "vat_no": "CN-001"})
    assert one["custom_fields"] == {"budget": "12.50", "size": "l", "vat_no": "CN-001"}
    twin = await client.post("/api/v1/customers", headers=tenant.headers,
                             json={"name": "y", "custom_fields": {"size": "s", "vat_no": "cn-001"}})
    assert twin.status_code == 409 and twin.json()["errors"][0]["field"] == "custom_fields.vat_no"
    found = await client.get("/api/v1/customers", headers=tenant.headers, params={"cf.size": "l"})
    assert [c["id"] for c in found.json()["items"]] == [one["id"]]
    assert (await client.get("/api/v1/customers", headers=tenant.headers, params={"cf.size": "s"})).json()["items"] == []
    await client.patch(f"/api/v1/custom-fields/{budget['id']}", headers=tenant.headers, json={"label": "预算"})
    await client.post(f"/api/v1/custom-fields/{size['id']}/retire", headers=tenant.headers)
    kept = (await client.get(f"/api/v1/customers/{one['id']}", headers=tenant.headers)).json()
    assert kept["custom_fields"] == {"budget": "12.50", "size": "l", "vat_no": "CN-001"}
    refused = await client.patch(f"/api/v1/customers/{one['id']}", headers=tenant.headers,
                                 json={"custom_fields": {"size": "s"}})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "custom_fields.size"
    # A retired required field no longer blocks new customers; the value moves with a PATCH.
    two = await customer(tenant, custom_fields={"vat_no": "CN-002"})
    changed = await client.patch(f"/api/v1/customers/{one['id']}", headers=tenant.headers,
                                 json={"custom_fields": {"vat_no": "CN-003", "budget": None}})
    assert changed.status_code == 200 and changed.json()["custom_fields"] == {"size": "l", "vat_no": "CN-003"}
    reuse = await client.patch(f"/api/v1/customers/{two['id']}", headers=tenant.headers,
                               json={"custom_fields": {"vat_no": "CN-001"}})
    assert reuse.status_code == 200


async def test_contacts_follow_their_customer(client, signup, invite, customer, in_directory) -> None:
    tenant = await signup()
    ann = await invite(tenant, roles=["sales"])
    bob = await invite(tenant, roles=["sales"])
    await in_directory(tenant.id, ann.id)
    anns = await customer(ann)
    made = await client.post("/api/v1/contacts", headers=ann.headers, json={
        "customer_id": anns["id"], "name": "王经理", "title": "采购总监", "role_in_deal": "decision_maker",
        "phone": "13812345678"})
    assert made.status_code == 201, made.text
    contact = made.json()
    assert contact["phone"] == "+8613812345678" and contact["owner_id"] == ann.id
    bad = await client.post("/api/v1/contacts", headers=bob.headers, json={
        "customer_id": anns["id"], "name": "x", "role_in_deal": "boss", "email": "nope"})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"customer_id"}
    bad = await client.post("/api/v1/contacts", headers=ann.headers, json={
        "customer_id": anns["id"], "name": "x", "role_in_deal": "boss", "email": "nope"})
    assert {e["field"] for e in bad.json()["errors"]} == {"role_in_deal", "email"}
    assert (await client.get(f"/api/v1/contacts/{contact['id']}", headers=bob.headers)).status_code == 404
    listed = await client.get("/api/v1/contacts", headers=ann.headers, params={"customer_id": anns["id"]})
    assert [c["id"] for c in listed.json()["items"]] == [contact["id"]]
    assert (await client.get("/api/v1/contacts", headers=bob.headers)).json()["items"] == []
    renamed = await client.patch(f"/api/v1/contacts/{contact['id']}", headers=ann.headers, json={"title": "CEO"})
    assert renamed.status_code == 200 and renamed.json()["version"] == 2
    history = (await client.get(f"/api/v1/customers/{anns['id']}/history", headers=ann.headers)).json()["items"]
    assert [(h["entity"], h["field"], h["new"]) for h in history] == [("contact", "title", "CEO")]
    await client.delete(f"/api/v1/customers/{anns['id']}", headers=tenant.headers)
    assert (await client.get(f"/api/v1/contacts/{contact['id']}", headers=ann.headers)).status_code == 404
    other = await signup()
    assert (await client.get(f"/api/v1/contacts/{contact['id']}", headers=other.headers)).status_code == 404
