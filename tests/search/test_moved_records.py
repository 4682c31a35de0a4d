"""Records moved in bulk are found where they moved to (contract suite: every engine)."""

from __future__ import annotations

from typing import Any

from tests.search.conftest import INDEX_SECONDS, eventually, ids


async def _make(client, who, collection: str, **body: Any) -> dict:
    made = await client.post(f"/api/v1/{collection}", headers=who.headers, json=body)
    assert made.status_code == 201, made.text
    return made.json()


async def test_merged_interaction_is_found_under_the_survivor(client, signup, customer, found, search) -> None:
    tenant = await signup()
    keep = await customer(tenant, name="北京星辰科技有限公司")
    gone = await customer(tenant, name="星辰科技（北京）")
    talk = await _make(client, tenant, "interactions", customer_id=gone["id"], channel="meeting",
                       summary="讨论续约条款", details="客户要求延长保修期")
    hit = await found(tenant, "保修期", talk["id"])
    assert hit["customer_id"] == gone["id"]
    merged = await client.post(f"/api/v1/customers/{keep['id']}/merge", headers=tenant.headers,
                               json={"merge_ids": [gone["id"]]})
    assert merged.status_code == 200, merged.text
    hits: list[dict[str, Any]] = []

    async def under_survivor() -> bool:
        nonlocal hits
        response = await search(tenant, "保修期")
        hits = response.json()["hits"]
        return any(h["id"] == talk["id"] and h["customer_id"] == keep["id"]
                   and h["customer"]["title"] == "北京星辰科技有限公司" for h in hits)

    try:
        await eventually(under_survivor, timeout=INDEX_SECONDS)
    except AssertionError:
        raise AssertionError(f"the moved interaction is not under the survivor: {hits}") from None
    # The merged-away customer itself is gone from results.
    assert gone["id"] not in ids(await search(tenant, "星辰"))


async def test_transferred_task_is_found_by_its_new_owner(client, signup, customer, invite, in_directory,
                                                          found, search) -> None:
    tenant = await signup()
    bo = await invite(tenant, roles=["sales"])
    await in_directory(tenant.id, bo.id)
    made = await customer(tenant, name="转交客户")
    task = await _make(client, tenant, "tasks", customer_id=made["id"], title="准备投标文件",
                       assignee_id=tenant.admin_id)
    await found(tenant, "投标", task["id"])
    # A sales user sees only their own records: nothing before the transfer.
    assert task["id"] not in ids(await search(bo, "投标"))
    moved = await client.post("/api/v1/customers/transfer", headers=tenant.headers, json={
        "customer_ids": [made["id"]], "to_user_id": bo.id, "include_tasks": True})
    assert moved.status_code == 200, moved.text
    hit = await found(bo, "投标", task["id"])
    assert hit["owner_id"] == bo.id
    await found(tenant, "投标", task["id"], owner_id=bo.id)
