"""The customer's last_interaction_at and next_follow_up_at follow its live interactions on every
change: delete, restore, update (date or follow-up moved or cleared) and merge."""

from __future__ import annotations

from typing import Any

from tests.records.conftest import eventually

MAR_1, MAR_8 = "2025-03-01T02:00:00Z", "2025-03-08T02:00:00Z"
APR_1, APR_10 = "2025-04-01T02:00:00Z", "2025-04-10T02:00:00Z"


async def _talk(client, who, customer_id: str, occurred_at: str, follow_up: str | None = None) -> dict:
    body = {"customer_id": customer_id, "channel": "phone", "summary": "回访", "occurred_at": occurred_at}
    if follow_up:
        body["next_follow_up_at"] = follow_up
    made = await client.post("/api/v1/interactions", headers=who.headers, json=body)
    assert made.status_code == 201, made.text
    return made.json()


async def _fields(client, who, customer_id: str) -> tuple[Any, Any]:
    got = (await client.get(f"/api/v1/customers/{customer_id}", headers=who.headers)).json()
    return got["last_interaction_at"], got["next_follow_up_at"]


def _z(value: str | None) -> str | None:
    return None if value is None else value.replace("+00:00", "Z")


async def test_delete_restore_and_update_recompute_the_customer(client, signup, customer, records_events) -> None:
    tenant = await signup()
    made = await customer(tenant)
    early = await _talk(client, tenant, made["id"], MAR_1, MAR_8)
    late = await _talk(client, tenant, made["id"], APR_1, APR_10)
    assert tuple(map(_z, await _fields(client, tenant, made["id"]))) == (APR_1, APR_10)

    # Deleting the latest interaction falls back to the one before, with its follow-up.
    assert (await client.delete(f"/api/v1/interactions/{late['id']}", headers=tenant.headers)).status_code == 204
    assert tuple(map(_z, await _fields(client, tenant, made["id"]))) == (MAR_1, MAR_8)

    async def announced() -> bool:
        return any(e.type == "customer.updated" and e.entity_id == made["id"]
                   and str(e.data["changes"].get("last_interaction_at", {}).get("old")).startswith("2025-04-01")
                   and str(e.data["record"]["next_follow_up_at"]).startswith("2025-03-08")
                   for e in records_events.of(tenant.id))

    await eventually(announced, timeout=3)
    history = (await client.get(f"/api/v1/customers/{made['id']}/history", headers=tenant.headers)).json()["items"]
    assert any(h["entity"] == "customer" and h["field"] == "next_follow_up_at" and h["new"].startswith("2025-03-08")
               for h in history)

    # Restoring brings it back.
    restored = await client.post(f"/api/v1/interactions/{late['id']}/restore", headers=tenant.headers)
    assert restored.status_code == 200, restored.text
    assert tuple(map(_z, await _fields(client, tenant, made["id"]))) == (APR_1, APR_10)

    # Clearing the latest follow-up falls back to the earlier plan, which nothing fulfilled.
    cleared = await client.patch(f"/api/v1/interactions/{late['id']}", headers=tenant.headers,
                                 json={"next_follow_up_at": None})
    assert cleared.status_code == 200, cleared.text
    assert tuple(map(_z, await _fields(client, tenant, made["id"]))) == (APR_1, MAR_8)
    # Moving its date back moves last_interaction_at back.
    back = await client.patch(f"/api/v1/interactions/{late['id']}", headers=tenant.headers,
                              json={"occurred_at": "2025-02-01T00:00:00Z"})
    assert back.status_code == 200, back.text
    assert tuple(map(_z, await _fields(client, tenant, made["id"]))) == (MAR_1, MAR_8)
    # Changing a follow-up sets the new one.
    moved = await client.patch(f"/api/v1/interactions/{early['id']}", headers=tenant.headers,
                               json={"next_follow_up_at": "2025-03-09T02:00:00Z"})
    assert moved.status_code == 200, moved.text
    assert tuple(map(_z, await _fields(client, tenant, made["id"]))) == (MAR_1, "2025-03-09T02:00:00Z")

    # No live interaction left: both empty (and the customer is no longer overdue).
    for talk in (early, late):
        assert (await client.delete(f"/api/v1/interactions/{talk['id']}", headers=tenant.headers)).status_code == 204
    assert await _fields(client, tenant, made["id"]) == (None, None)
    overdue = (await client.get("/api/v1/customers", headers=tenant.headers,
                                params={"overdue_follow_up": "true"})).json()["items"]
    assert made["id"] not in [c["id"] for c in overdue]


async def test_a_follow_up_set_by_hand_stays(client, signup, customer) -> None:
    tenant = await signup()
    made = await customer(tenant, next_follow_up_at="2030-01-01T00:00:00Z")
    talk = await _talk(client, tenant, made["id"], MAR_1)
    assert tuple(map(_z, await _fields(client, tenant, made["id"]))) == (MAR_1, "2030-01-01T00:00:00Z")
    assert (await client.delete(f"/api/v1/interactions/{talk['id']}", headers=tenant.headers)).status_code == 204
    assert tuple(map(_z, await _fields(client, tenant, made["id"]))) == (None, "2030-01-01T00:00:00Z")
    # A plan written on an interaction replaces it; deleting that interaction leaves no plan behind.
    planned = await _talk(client, tenant, made["id"], MAR_1, MAR_8)
    assert tuple(map(_z, await _fields(client, tenant, made["id"]))) == (MAR_1, MAR_8)
    assert (await client.delete(f"/api/v1/interactions/{planned['id']}", headers=tenant.headers)).status_code == 204
    assert await _fields(client, tenant, made["id"]) == (None, None)


async def test_merge_and_undo_recompute_the_survivor(client, signup, customer) -> None:
    tenant = await signup()
    keep = await customer(tenant, name="留下的")
    gone = await customer(tenant, name="合并走的")
    await _talk(client, tenant, keep["id"], MAR_1, MAR_8)
    await _talk(client, tenant, gone["id"], APR_1, APR_10)
    merged = await client.post(f"/api/v1/customers/{keep['id']}/merge", headers=tenant.headers,
                               json={"merge_ids": [gone["id"]]})
    assert merged.status_code == 200, merged.text
    survivor = merged.json()["customer"]
    assert (_z(survivor["last_interaction_at"]), _z(survivor["next_follow_up_at"])) == (APR_1, APR_10)
    assert tuple(map(_z, await _fields(client, tenant, keep["id"]))) == (APR_1, APR_10)
    undone = await client.post(f"/api/v1/merges/{merged.json()['merge_id']}/undo", headers=tenant.headers)
    assert undone.status_code == 200, undone.text
    assert tuple(map(_z, await _fields(client, tenant, keep["id"]))) == (MAR_1, MAR_8)
    assert tuple(map(_z, await _fields(client, tenant, gone["id"]))) == (APR_1, APR_10)
    # An explicit choice of the follow-up in a merge stands.
    again = await client.post(f"/api/v1/customers/{keep['id']}/merge", headers=tenant.headers,
                              json={"merge_ids": [gone["id"]], "fields": {"next_follow_up_at": keep["id"]}})
    assert again.status_code == 200, again.text
    assert tuple(map(_z, await _fields(client, tenant, keep["id"]))) == (APR_1, MAR_8)
