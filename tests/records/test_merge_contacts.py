"""A customer merge also merges the contacts that are one person (same name and a shared phone
or e-mail), keeping the richer one, with history and events; undo brings them back."""

from __future__ import annotations

from typing import Any

import httpx


async def contact(client: httpx.AsyncClient, who: Any, customer_id: str, **fields: Any) -> dict[str, Any]:
    made = await client.post("/api/v1/contacts", headers=who.headers, json={"customer_id": customer_id, **fields})
    assert made.status_code == 201, made.text
    return made.json()


async def contacts_of(client: httpx.AsyncClient, who: Any, customer_id: str) -> list[dict[str, Any]]:
    listed = await client.get("/api/v1/contacts", params={"customer_id": customer_id, "limit": 200},
                              headers=who.headers)
    assert listed.status_code == 200, listed.text
    return listed.json()["items"]


async def test_merge_joins_twin_contacts_and_undo_separates_them(client: httpx.AsyncClient, signup: Any,
                                                                  customer: Any, records_events: Any) -> None:
    tenant = await signup()
    keep = await customer(tenant, name="星河科技有限公司")
    gone = await customer(tenant, name="星河科技（深圳）有限公司")
    thin = await contact(client, tenant, keep["id"], name="李雷", phone="13900000009")
    rich = await contact(client, tenant, gone["id"], name="李 雷", phone="139 0000 0009", email="lilei@xinghe.cn",
                         title="采购经理", role_in_deal="decision_maker")
    namesake = await contact(client, tenant, gone["id"], name="李雷", phone="13700000007")  # another phone: another man
    other = await contact(client, tenant, gone["id"], name="韩梅梅", phone="13900000009")   # shared phone, another name

    merged = await client.post(f"/api/v1/customers/{keep['id']}/merge", headers=tenant.headers,
                               json={"merge_ids": [gone["id"]]})
    assert merged.status_code == 200, merged.text
    assert merged.json()["contacts_merged"] == [{"kept": rich["id"], "merged": [thin["id"]]}]
    listed = {c["id"]: c for c in await contacts_of(client, tenant, keep["id"])}
    assert set(listed) == {rich["id"], namesake["id"], other["id"]}  # 李雷 is listed once
    kept = listed[rich["id"]]
    assert (kept["title"], kept["email"], kept["phone"]) == ("采购经理", "lilei@xinghe.cn", "+8613900000009")
    assert kept["version"] == rich["version"] + 2  # moved to the survivor, then merged
    assert (await client.get(f"/api/v1/contacts/{thin['id']}", headers=tenant.headers)).status_code == 404
    deleted = await records_events.wait_for(tenant.id, "contact.deleted")
    assert str(deleted.entity_id) == thin["id"]
    assert deleted.data["merged_into"] == rich["id"]

    undone = await client.post(f"/api/v1/merges/{merged.json()['merge_id']}/undo", headers=tenant.headers)
    assert undone.status_code == 200, undone.text
    assert [c["id"] for c in await contacts_of(client, tenant, keep["id"])] == [thin["id"]]
    back = {c["id"]: c for c in await contacts_of(client, tenant, gone["id"])}
    assert set(back) == {rich["id"], namesake["id"], other["id"]}
    assert (back[rich["id"]]["title"], back[rich["id"]]["email"]) == ("采购经理", "lilei@xinghe.cn")
    restored = (await client.get(f"/api/v1/contacts/{thin['id']}", headers=tenant.headers)).json()
    assert (restored["name"], restored["phone"], restored["customer_id"]) == ("李雷", "+8613900000009", keep["id"])
