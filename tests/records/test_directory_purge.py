"""The directory mirror, the purge job and the interaction touch of customers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.records.db import customers as customers_db
from services.records.jobs import purge_all
from services.records.storage import file_store
from shared.tenancy import scope_for_system
from tests.records.conftest import eventually


def _unit(runtime, tenant):
    return runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant.id)))


async def test_moved_department_takes_its_subtree_into_the_managers_scope(
    client, signup, invite, customer, in_directory, runtime
) -> None:
    tenant = await signup()
    east = (await client.post("/api/v1/departments", headers=tenant.headers, json={"name": "East"})).json()["id"]
    west = (await client.post("/api/v1/departments", headers=tenant.headers, json={"name": "West"})).json()["id"]
    team = (await client.post("/api/v1/departments", headers=tenant.headers,
                              json={"name": "Team", "parent_id": west})).json()["id"]
    manager = await invite(tenant, roles=["manager"], department_id=east)
    seller = await invite(tenant, roles=["sales"], department_id=team)
    await in_directory(tenant.id, seller.id)
    made = await customer(seller)

    async def visible_to_manager() -> bool:
        got = await client.get(f"/api/v1/customers/{made['id']}", headers=manager.headers)
        return got.status_code == 200

    assert not await visible_to_manager()
    moved = await client.patch(f"/api/v1/departments/{west}", headers=tenant.headers, json={"parent_id": east})
    assert moved.status_code == 200, moved.text
    await eventually(visible_to_manager, timeout=5)
    async with _unit(runtime, tenant) as unit:
        path = await unit.fetchval("SELECT path FROM records.directory_departments WHERE tenant_id = $1 AND id = $2",
                                   uuid.UUID(tenant.id), uuid.UUID(team))
    assert path.endswith(f"{east}/{west}/{team}")


async def test_deactivated_user_cannot_become_an_owner(client, signup, invite, in_directory, runtime) -> None:
    tenant = await signup()
    leaver = await invite(tenant, roles=["sales"])
    await in_directory(tenant.id, leaver.id)
    assert (await client.post(f"/api/v1/users/{leaver.id}/deactivate", headers=tenant.headers)).status_code == 200

    async def mirrored() -> bool:
        async with _unit(runtime, tenant) as unit:
            return await unit.fetchval("SELECT status FROM records.directory_users WHERE tenant_id = $1 AND id = $2",
                                       uuid.UUID(tenant.id), uuid.UUID(leaver.id)) == "deactivated"

    await eventually(mirrored, timeout=5)
    refused = await client.post("/api/v1/customers", headers=tenant.headers, json={"name": "x", "owner_id": leaver.id})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "owner_id"


async def test_purge_deletes_only_customers_deleted_over_30_days_ago(client, signup, customer, runtime) -> None:
    tenant = await signup()
    old, recent, live = await customer(tenant), await customer(tenant), await customer(tenant)
    await client.post("/api/v1/contacts", headers=tenant.headers, json={"customer_id": old["id"], "name": "c"})
    await client.patch(f"/api/v1/customers/{old['id']}", headers=tenant.headers, json={"tier": "A"})
    for made in (old, recent):
        assert (await client.delete(f"/api/v1/customers/{made['id']}", headers=tenant.headers)).status_code == 204
    async with _unit(runtime, tenant) as unit:
        await unit.execute("UPDATE records.customers SET deleted_at = now() - interval '31 days' WHERE id = $1",
                           uuid.UUID(old["id"]))
    await purge_all(runtime.db("records"), file_store(runtime))
    async with _unit(runtime, tenant) as unit:
        ids = {str(r["id"]) for r in await unit.fetch("SELECT id FROM records.customers WHERE tenant_id = $1",
                                                      uuid.UUID(tenant.id))}
        history = await unit.fetchval("SELECT count(*) FROM records.field_history WHERE customer_id = $1",
                                      uuid.UUID(old["id"]))
        contacts = await unit.fetchval("SELECT count(*) FROM records.contacts WHERE customer_id = $1",
                                       uuid.UUID(old["id"]))
    assert ids == {recent["id"], live["id"]} and history == 0 and contacts == 0
    assert (await client.post(f"/api/v1/customers/{old['id']}/restore", headers=tenant.headers)).status_code == 404
    assert (await client.post(f"/api/v1/customers/{recent['id']}/restore", headers=tenant.headers)).status_code == 200


async def test_touch_interaction_and_interaction_filters(client, signup, customer, runtime) -> None:
    tenant = await signup()
    quiet, busy = await customer(tenant, name="Quiet"), await customer(tenant, name="Busy")
    now = datetime.now(UTC)
    async with _unit(runtime, tenant) as unit:
        row = await customers_db.touch_interaction(unit, uuid.UUID(busy["id"]), now - timedelta(days=1),
                                                   now - timedelta(hours=1))
        await customers_db.touch_interaction(unit, uuid.UUID(busy["id"]), now - timedelta(days=3), None)
    assert row["version"] == 2
    got = (await client.get(f"/api/v1/customers/{busy['id']}", headers=tenant.headers)).json()
    assert datetime.fromisoformat(got["last_interaction_at"]) == now - timedelta(days=1)
    names = lambda r: [c["name"] for c in r.json()["items"]]  # noqa: E731
    assert names(await client.get("/api/v1/customers", headers=tenant.headers,
                                  params={"no_interaction_days": 2})) == ["Quiet"]
    assert names(await client.get("/api/v1/customers", headers=tenant.headers,
                                  params={"overdue_follow_up": "true"})) == ["Busy"]
    assert names(await client.get("/api/v1/customers", headers=tenant.headers,
                                  params={"sort": "-last_interaction_at"})) == ["Busy", "Quiet"]
    first = await client.get("/api/v1/customers", headers=tenant.headers, params={"sort": "name", "limit": 1})
    second = await client.get("/api/v1/customers", headers=tenant.headers,
                              params={"sort": "name", "limit": 1, "cursor": first.json()["next_cursor"]})
    assert names(first) + names(second) == ["Busy", "Quiet"] and second.json()["next_cursor"] is None
    wrong = await client.get("/api/v1/customers", headers=tenant.headers,
                             params={"sort": "-created_at", "cursor": first.json()["next_cursor"]})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "cursor"
    bad = await client.get("/api/v1/customers", headers=tenant.headers, params={"sort": "colour"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "sort"
    assert quiet["id"]
