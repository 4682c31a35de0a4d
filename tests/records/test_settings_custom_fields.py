"""Records settings and the custom field lifecycle."""

from __future__ import annotations


async def test_settings_have_defaults_and_patch_validates_every_field(client, signup) -> None:
    tenant = await signup()
    got = await client.get("/api/v1/settings/records", headers=tenant.headers)
    assert got.status_code == 200
    body = got.json()
    assert body["default_region"] == "CN"
    assert body["duplicate_rule"] == "warn"
    assert body["objection_sla_hours"] == {"low": 120, "medium": 48, "high": 24, "critical": 4}
    assert "price" in [o["key"] for o in body["objection_categories"]]
    bad = await client.patch("/api/v1/settings/records", headers=tenant.headers, json={
        "default_region": "XX", "duplicate_rule": "maybe", "required_fields": {"spaceship": ["name"]},
    })
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"default_region", "duplicate_rule", "required_fields.spaceship"}
    assert (await client.get("/api/v1/settings/records", headers=tenant.headers)).json() == body  # nothing written
    ok = await client.patch("/api/v1/settings/records", headers={**tenant.headers, "If-Match": got.headers["etag"]},
                            json={"default_region": "us", "duplicate_rule": "block"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["default_region"] == "US" and ok.json()["duplicate_rule"] == "block"
    stale = await client.patch("/api/v1/settings/records", headers={**tenant.headers, "If-Match": got.headers["etag"]},
                               json={"duplicate_rule": "warn"})
    assert stale.status_code == 412
    assert (await client.get("/api/v1/settings/records", headers=tenant.headers)).json() == ok.json()


async def test_sales_may_read_but_not_change_settings(client, signup, invite) -> None:
    tenant = await signup()
    sales = await invite(tenant, roles=["sales"])
    assert (await client.get("/api/v1/settings/records", headers=sales.headers)).status_code == 200
    denied = await client.patch("/api/v1/settings/records", headers=sales.headers, json={"duplicate_rule": "block"})
    assert denied.status_code == 403


async def _define(client, tenant, **body):
    response = await client.post("/api/v1/custom-fields", headers=tenant.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_custom_field_definition_is_validated(client, signup) -> None:
    tenant = await signup()
    bad = await client.post("/api/v1/custom-fields", headers=tenant.headers, json={
        "entity": "spaceship", "key": "Bad Key", "label": "", "type": "colour", "colour": 1,
    })
    assert bad.status_code == 422
    assert "colour" in {e["field"] for e in bad.json()["errors"]}
    bad = await client.post("/api/v1/custom-fields", headers=tenant.headers, json={
        "entity": "spaceship", "key": "Bad Key", "label": " ", "type": "colour",
    })
    assert {e["field"] for e in bad.json()["errors"]} == {"entity", "key", "label", "type"}
    no_options = await client.post("/api/v1/custom-fields", headers=tenant.headers, json={
        "entity": "customer", "key": "size", "label": "Size", "type": "single_select",
    })
    assert no_options.status_code == 422 and no_options.json()["errors"][0]["field"] == "options"
    await _define(client, tenant, entity="customer", key="size", label="Size", type="text")
    taken = await client.post("/api/v1/custom-fields", headers=tenant.headers, json={
        "entity": "customer", "key": "size", "label": "Size 2", "type": "text"})
    assert taken.status_code == 409


async def test_custom_field_rename_and_retire_keep_definitions_listed(client, signup) -> None:
    tenant = await signup()
    field = await _define(client, tenant, entity="customer", key="region_code", label="Region", type="single_select",
                          options=[{"key": "north", "label": "华北"}, {"key": "south", "label": "华南"}])
    renamed = await client.patch(f"/api/v1/custom-fields/{field['id']}", headers=tenant.headers,
                                 json={"label": "Sales region"})
    assert renamed.status_code == 200 and renamed.json()["label"] == "Sales region"
    assert renamed.json()["key"] == "region_code"
    dropped = await client.patch(f"/api/v1/custom-fields/{field['id']}", headers=tenant.headers,
                                 json={"options": [{"key": "north", "label": "华北"}]})
    assert dropped.status_code == 422
    retired = await client.post(f"/api/v1/custom-fields/{field['id']}/retire", headers=tenant.headers)
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    listed = await client.get("/api/v1/custom-fields", headers=tenant.headers, params={"entity": "customer"})
    assert [f["key"] for f in listed.json()["items"]] == ["region_code"]
    active = await client.get("/api/v1/custom-fields", headers=tenant.headers, params={"status": "active"})
    assert active.json()["items"] == []


async def test_custom_fields_of_another_tenant_answer_404(client, signup) -> None:
    a, b = await signup(), await signup()
    field = await _define(client, a, entity="customer", key="vat", label="VAT", type="text")
    assert (await client.get(f"/api/v1/custom-fields/{field['id']}", headers=b.headers)).status_code == 404
    assert (await client.patch(f"/api/v1/custom-fields/{field['id']}", headers=b.headers,
                               json={"label": "x"})).status_code == 404
    assert (await client.post(f"/api/v1/custom-fields/{field['id']}/retire", headers=b.headers)).status_code == 404
    assert (await client.get("/api/v1/custom-fields", headers=b.headers)).json()["items"] == []


async def test_settings_read_after_any_write_are_the_written_ones(client, signup, runtime) -> None:
    # Reads skip decoding a row they decoded before; every kind of write must still be seen at
    # once: a PATCH, a write outside the API (a migration), two writes in one transaction.
    import uuid

    from services.records.domain import settings
    from shared.tenancy import scope_for_system

    tenant = await signup()
    headers = tenant.headers
    assert (await client.get("/api/v1/settings/records", headers=headers)).json()["duplicate_rule"] == "warn"
    patched = await client.patch("/api/v1/settings/records", headers=headers, json={"duplicate_rule": "block"})
    assert patched.status_code == 200, patched.text
    assert (await client.get("/api/v1/settings/records", headers=headers)).json()["duplicate_rule"] == "block"
    scope = scope_for_system(uuid.UUID(tenant.id))
    async with runtime.db("records").tenant_unit(scope) as unit:  # as a migration would: version unchanged
        await unit.execute("UPDATE records.settings SET default_region = 'US' WHERE tenant_id = $1", unit.tenant_id)
    assert (await client.get("/api/v1/settings/records", headers=headers)).json()["default_region"] == "US"
    async with runtime.db("records").tenant_unit(scope) as unit:
        for region in ("GB", "DE"):
            await unit.execute("UPDATE records.settings SET default_region = $2 WHERE tenant_id = $1",
                               unit.tenant_id, region)
            assert (await settings.get(unit)).default_region == region
