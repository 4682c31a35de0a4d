"""The people directory: department heads in identity (validated, published) and workflows' own
mirror of users and departments answering heads, managers, N levels up, department and role pools,
under the tenant's row-level security."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from services.workflows.domain import people
from shared.tenancy import scope_for_system
from tests.conftest import SignUp, Tenant
from tests.workflows.conftest import eventually


async def department(client: httpx.AsyncClient, tenant: Tenant, name: str, parent_id: str,
                     head_user_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "parent_id": parent_id}
    if head_user_id:
        body["head_user_id"] = head_user_id
    answer = await client.post("/api/v1/departments", json=body, headers=tenant.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def root_of(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    return (await client.get("/api/v1/departments", headers=tenant.headers)).json()["items"][0]


async def test_a_department_head_must_be_an_active_user_of_the_tenant(
    client: httpx.AsyncClient, signup: SignUp, invite: Any
) -> None:
    tenant, other = await signup(), await signup()
    root = await root_of(client, tenant)
    assert root["head_user_id"] == tenant.admin_id  # who signed up heads the company
    member = await invite(tenant)
    leaver = await invite(tenant)
    await client.post(f"/api/v1/users/{leaver.id}/deactivate", json={}, headers=tenant.headers)
    for head in (str(uuid.uuid4()), other.admin_id, leaver.id):
        refused = await client.post("/api/v1/departments", headers=tenant.headers,
                                    json={"name": "销售部", "parent_id": root["id"], "head_user_id": head})
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["head_user_id"]
    listed = (await client.get("/api/v1/departments", headers=tenant.headers)).json()["items"]
    assert [d["id"] for d in listed] == [root["id"]]  # nothing saved

    sales = await department(client, tenant, "销售部", root["id"], member.id)
    assert sales["head_user_id"] == member.id
    patch = await client.patch(f"/api/v1/departments/{sales['id']}", json={"head_user_id": leaver.id},
                               headers=tenant.headers)
    assert patch.status_code == 422 and patch.json()["errors"][0]["field"] == "head_user_id"
    cleared = await client.patch(f"/api/v1/departments/{sales['id']}", json={"head_user_id": None},
                                 headers=tenant.headers)
    assert cleared.status_code == 200 and cleared.json()["head_user_id"] is None
    assert (await client.get(f"/api/v1/departments/{sales['id']}", headers=tenant.headers)).json()["head_user_id"] is None


async def test_heads_managers_levels_and_pools_follow_identity(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    root = await root_of(client, tenant)
    director = await invite(tenant, roles=["manager"], department_id=root["id"])
    sales = await department(client, tenant, "销售部", root["id"], director.id)
    lead = await invite(tenant, roles=["manager"], department_id=sales["id"])
    east = await department(client, tenant, "华东", sales["id"], lead.id)
    reps = [await invite(tenant, department_id=east["id"]) for _ in range(2)]
    await client.patch(f"/api/v1/users/{lead.id}", json={"department_id": east["id"]}, headers=tenant.headers)
    db = runtime.db("workflows")
    scope = scope_for_system(uuid.UUID(tenant.id))
    rep, lead_id, director_id = uuid.UUID(reps[0].id), uuid.UUID(lead.id), uuid.UUID(director.id)
    admin = uuid.UUID(tenant.admin_id)

    async def mirrored() -> bool:
        async with db.tenant_unit(scope) as unit:
            return (await people.users_of_department(unit, uuid.UUID(east["id"]))) == sorted(
                [rep, uuid.UUID(reps[1].id), lead_id])

    await eventually(mirrored, timeout=5)
    async with db.tenant_unit(scope) as unit:
        assert await people.head_of(unit, uuid.UUID(east["id"])) == lead_id
        assert await people.manager_of(unit, rep) == lead_id
        # The head of 华东 is managed by the head of the department above.
        assert await people.manager_of(unit, lead_id) == director_id
        assert await people.levels_up(unit, rep, 2) == director_id
        assert await people.levels_up(unit, rep, 3) == admin
        assert await people.levels_up(unit, rep, 4) is None
        assert await people.manager_of(unit, admin) is None
        assert await people.users_of_department(unit, uuid.UUID(sales["id"]), below=True) == sorted(
            [rep, uuid.UUID(reps[1].id), lead_id])
        assert await people.users_with_role(unit, "manager") == sorted([lead_id, director_id])

    # A deactivated head is skipped: 华东's people go to the next head up, and leave the pools.
    await client.post(f"/api/v1/users/{lead.id}/deactivate", json={}, headers=tenant.headers)

    async def lead_gone() -> bool:
        async with db.tenant_unit(scope) as unit:
            return await people.manager_of(unit, rep) == director_id

    await eventually(lead_gone, timeout=5)
    async with db.tenant_unit(scope) as unit:
        assert lead_id not in await people.users_of_department(unit, uuid.UUID(east["id"]))
        assert await people.users_with_role(unit, "manager") == [director_id]
    # A new head named through identity's PATCH reaches the mirror.
    await client.patch(f"/api/v1/departments/{east['id']}", json={"head_user_id": reps[1].id},
                       headers=tenant.headers)

    async def new_head() -> bool:
        async with db.tenant_unit(scope) as unit:
            return await people.manager_of(unit, rep) == uuid.UUID(reps[1].id)

    await eventually(new_head, timeout=5)


async def test_another_tenants_people_are_out_of_reach(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant, other = await signup(), await signup()
    member = await invite(tenant)
    db = runtime.db("workflows")
    scope_a, scope_b = scope_for_system(uuid.UUID(tenant.id)), scope_for_system(uuid.UUID(other.id))

    async def mirrored() -> bool:
        async with db.tenant_unit(scope_a) as unit:
            if not await people.is_active(unit, uuid.UUID(member.id)):
                return False
        async with db.tenant_unit(scope_b) as unit:
            return await people.is_active(unit, uuid.UUID(other.admin_id))

    await eventually(mirrored, timeout=5)
    root_a = uuid.UUID((await root_of(client, tenant))["id"])
    async with db.tenant_unit(scope_b) as unit:
        # Tenant B asking about tenant A's people and departments learns nothing...
        assert not await people.is_active(unit, uuid.UUID(member.id))
        assert await people.head_of(unit, root_a) is None
        assert await people.users_of_department(unit, root_a) == []
        assert await people.manager_of(unit, uuid.UUID(member.id)) is None
        # ...and a query that forgets its tenant filter still sees only tenant B's rows.
        tenants = {r["tenant_id"] for r in await unit.fetch("SELECT tenant_id FROM workflows.directory_users")}
        tenants |= {r["tenant_id"] for r in await unit.fetch("SELECT tenant_id FROM workflows.directory_departments")}
        assert tenants == {uuid.UUID(other.id)}
