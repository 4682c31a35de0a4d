"""Roles with permissions and field rules; departments as a tree."""

from __future__ import annotations

import httpx

from tests.identity.conftest import EventLog, eventually


async def test_create_update_delete_role(client: httpx.AsyncClient, signup, events: EventLog) -> None:
    tenant = await signup()
    created = await client.post(
        "/api/v1/roles",
        headers=tenant.headers,
        json={
            "name": "销售主管",
            "description": "Leads a sales team",
            "permissions": {
                "customer": {"actions": ["read", "update", "export"], "scope": "department"},
                "task": {"actions": ["*"], "scope": "own"},
            },
            "field_rules": {"customer": {"phone": "read_only"}},
        },
    )
    assert created.status_code == 201, created.text
    role = created.json()
    assert role["key"] == "xiaoshouzhuguan" and role["builtin"] is False
    assert role["permissions"]["task"]["actions"] == [
        "read",
        "create",
        "update",
        "delete",
        "export",
        "import",
        "merge",
        "transfer",
    ]
    assert created.headers["ETag"] == '"1"'
    await events.wait_for(tenant.id, "role.created")

    stale = await client.patch(
        f"/api/v1/roles/{role['id']}", headers={**tenant.headers, "If-Match": '"7"'}, json={"name": "X"}
    )
    assert stale.status_code == 412
    assert (await client.get(f"/api/v1/roles/{role['id']}", headers=tenant.headers)).json() == role
    updated = await client.patch(
        f"/api/v1/roles/{role['id']}",
        headers={**tenant.headers, "If-Match": '"1"'},
        json={"permissions": {"customer": {"actions": ["read"], "scope": "all"}}},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["permissions"] == {"customer": {"actions": ["read"], "scope": "all"}}
    assert updated.json()["version"] == 2
    await events.wait_for(tenant.id, "role.updated")

    assert (await client.delete(f"/api/v1/roles/{role['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"/api/v1/roles/{role['id']}", headers=tenant.headers)).status_code == 404
    await events.wait_for(tenant.id, "role.deleted")


async def test_unknown_action_scope_or_rule_answers_422_naming_the_field(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    response = await client.post(
        "/api/v1/roles",
        headers=tenant.headers,
        json={
            "name": "Bad",
            "permissions": {"customer": {"actions": ["read", "fly"], "scope": "galaxy"}},
            "field_rules": {"customer": {"phone": "invisible"}},
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"permissions.customer.actions[1]", "permissions.customer.scope"} <= fields
    unknown_entity = await client.post(
        "/api/v1/roles",
        headers=tenant.headers,
        json={"name": "Bad", "permissions": {"spaceship": {"actions": ["read"]}}},
    )
    assert unknown_entity.status_code == 422
    assert unknown_entity.json()["errors"][0]["field"] == "permissions.spaceship"
    rule = await client.post(
        "/api/v1/roles",
        headers=tenant.headers,
        json={"name": "Bad", "permissions": {}, "field_rules": {"customer": {"phone": "invisible"}}},
    )
    assert rule.status_code == 422 and rule.json()["errors"][0]["field"] == "field_rules.customer.phone"
    names = [r["name"] for r in (await client.get("/api/v1/roles", headers=tenant.headers)).json()["items"]]
    assert "Bad" not in names


async def test_builtin_admin_role_cannot_be_deleted_or_stripped(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    admin = next(
        r for r in (await client.get("/api/v1/roles", headers=tenant.headers)).json()["items"] if r["key"] == "admin"
    )
    assert (await client.delete(f"/api/v1/roles/{admin['id']}", headers=tenant.headers)).status_code == 409
    strip = await client.patch(
        f"/api/v1/roles/{admin['id']}",
        headers=tenant.headers,
        json={"permissions": {"customer": {"actions": ["read"]}}},
    )
    assert strip.status_code == 409 and strip.json()["type"].endswith("builtin-role")
    assert (await client.get(f"/api/v1/roles/{admin['id']}", headers=tenant.headers)).json() == admin
    rename = await client.patch(f"/api/v1/roles/{admin['id']}", headers=tenant.headers, json={"name": "管理员"})
    assert rename.status_code == 200 and rename.json()["name"] == "管理员"


async def test_role_permission_change_takes_effect_within_two_seconds(
    client: httpx.AsyncClient, signup, invite
) -> None:
    tenant = await signup()
    member = await invite(tenant, roles=["read_only"])
    assert (await client.get("/api/v1/roles", headers=member.headers)).status_code == 403
    read_only = next(
        r
        for r in (await client.get("/api/v1/roles", headers=tenant.headers)).json()["items"]
        if r["key"] == "read_only"
    )
    permissions = {**read_only["permissions"], "role": {"actions": ["read"], "scope": "all"}}
    response = await client.patch(
        f"/api/v1/roles/{read_only['id']}", headers=tenant.headers, json={"permissions": permissions}
    )
    assert response.status_code == 200, response.text

    async def allowed() -> bool:
        return (await client.get("/api/v1/roles", headers=member.headers)).status_code == 200

    assert await eventually(allowed) < 2.0


async def test_department_tree_move_cycle_and_delete(
    client: httpx.AsyncClient, signup, invite, events: EventLog
) -> None:
    tenant = await signup()
    root = (await client.get("/api/v1/departments", headers=tenant.headers)).json()["items"][0]
    sales = (
        await client.post(
            "/api/v1/departments", headers=tenant.headers, json={"name": "销售部", "parent_id": root["id"]}
        )
    ).json()
    east = await client.post(
        "/api/v1/departments", headers=tenant.headers, json={"name": "华东", "parent_id": sales["id"]}
    )
    assert east.status_code == 201, east.text
    east = east.json()
    assert east["path"] == [root["id"], sales["id"], east["id"]] and east["depth"] == 2
    twin = await client.post(
        "/api/v1/departments", headers=tenant.headers, json={"name": "华东", "parent_id": sales["id"]}
    )
    assert twin.status_code == 409 and twin.json()["errors"][0]["field"] == "name"

    cycle = await client.patch(
        f"/api/v1/departments/{sales['id']}", headers=tenant.headers, json={"parent_id": east["id"]}
    )
    assert cycle.status_code == 409 and cycle.json()["type"].endswith("department-cycle")
    itself = await client.patch(
        f"/api/v1/departments/{sales['id']}", headers=tenant.headers, json={"parent_id": sales["id"]}
    )
    assert itself.status_code == 409
    assert (await client.get(f"/api/v1/departments/{sales['id']}", headers=tenant.headers)).json() == sales

    # Make sales a root: its child's path follows.
    moved = await client.patch(f"/api/v1/departments/{sales['id']}", headers=tenant.headers, json={"parent_id": None})
    assert moved.status_code == 200, moved.text
    assert moved.json()["path"] == [sales["id"]]
    child = (await client.get(f"/api/v1/departments/{east['id']}", headers=tenant.headers)).json()
    assert child["path"] == [sales["id"], east["id"]]
    event = await events.wait_for(tenant.id, "department.updated")
    assert event.data["moved"] is True

    not_empty = await client.delete(f"/api/v1/departments/{sales['id']}", headers=tenant.headers)
    assert not_empty.status_code == 409
    member = await invite(tenant, department_id=east["id"])
    with_users = await client.delete(f"/api/v1/departments/{east['id']}", headers=tenant.headers)
    assert with_users.status_code == 409
    for kept in (sales, east):
        assert (await client.get(f"/api/v1/departments/{kept['id']}", headers=tenant.headers)).status_code == 200
    assert (await client.get(f"/api/v1/users/{member.id}", headers=tenant.headers)).json()["department_id"] == east["id"]
    await client.patch(f"/api/v1/users/{member.id}", headers=tenant.headers, json={"department_id": root["id"]})
    assert (await client.delete(f"/api/v1/departments/{east['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.delete(f"/api/v1/departments/{sales['id']}", headers=tenant.headers)).status_code == 204
    await events.wait_for(tenant.id, "department.deleted")


async def test_unknown_parent_answers_422(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    response = await client.post(
        "/api/v1/departments",
        headers=tenant.headers,
        json={"name": "Orphans", "parent_id": "00000000-0000-4000-8000-000000000000"},
    )
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "parent_id"
