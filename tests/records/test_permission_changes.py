"""Permission changes made in identity apply to the records API within two seconds, without new tokens."""

from __future__ import annotations

from typing import Any

import httpx

from tests.records.conftest import eventually


async def test_role_change_and_role_edit_apply_within_two_seconds(
    client: httpx.AsyncClient, signup: Any, invite: Any, customer: Any
) -> None:
    tenant = await signup()
    others = await customer(tenant, name="Admin's customer")
    member = await invite(tenant, roles=["sales"])

    async def member_sees() -> set[str]:
        answer = await client.get("/api/v1/customers", headers=member.headers)
        return {c["id"] for c in answer.json()["items"]} if answer.status_code == 200 else set()

    assert others["id"] not in await member_sees()  # sales: own customers only

    async def role_id(key: str) -> str:
        roles = (await client.get("/api/v1/roles", headers=tenant.headers)).json()["items"]
        return next(r["id"] for r in roles if r["key"] == key)

    # The admin gives the member the read-only role (scope: all): the same token now sees everything.
    changed = await client.patch(f"/api/v1/users/{member.id}", headers=tenant.headers,
                                 json={"role_ids": [await role_id("read_only")]})
    assert changed.status_code == 200, changed.text

    async def sees_others() -> bool:
        return others["id"] in await member_sees()

    await eventually(sees_others, timeout=2.0)

    # The admin then hides the phone from a role of its own and gives the member only that role.
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Viewer", "key": "viewer",
        "permissions": {"customer": {"actions": ["read"], "scope": "all"}},
        "field_rules": {"customer": {"phone": "hidden"}},
    })
    assert role.status_code == 201, role.text
    viewer = await client.patch(f"/api/v1/users/{member.id}", headers=tenant.headers,
                                json={"role_ids": [role.json()["id"]]})
    assert viewer.status_code == 200, viewer.text
    phone_made = await customer(tenant, name="With phone", phone="13812345678")

    async def phone_hidden() -> bool:
        answer = await client.get(f"/api/v1/customers/{phone_made['id']}", headers=member.headers)
        return answer.status_code == 200 and "phone" not in answer.json()

    await eventually(phone_hidden, timeout=2.0)

    # Taking the read permission away from the role closes the customers to the member.
    edited = await client.patch(f"/api/v1/roles/{role.json()['id']}", headers=tenant.headers,
                                json={"permissions": {"contact": {"actions": ["read"], "scope": "all"}}})
    assert edited.status_code == 200, edited.text

    async def closed() -> bool:
        return (await client.get("/api/v1/customers", headers=member.headers)).status_code == 403

    await eventually(closed, timeout=2.0)
