"""Merging customers: survivor and field choices, children move, redirect, history, undo, bad input."""

from __future__ import annotations

import uuid


async def _interaction(client, who, customer_id: str) -> dict:
    made = await client.post("/api/v1/interactions", headers=who.headers, json={
        "customer_id": customer_id, "channel": "phone", "occurred_at": "2024-05-01T10:00:00+08:00", "summary": "回访"})
    assert made.status_code == 201, made.text
    return made.json()


async def test_merge_moves_everything_redirects_and_undoes(client, signup, customer, records_events) -> None:
    tenant = await signup()
    keep = await customer(tenant, name="星河科技有限公司", phone="13800000001", tags=["vip"], industry=None)
    gone = await customer(tenant, name="星河科技（深圳）有限公司", phone="13800000002", email="boss@xinghe.cn",
                          tags=["south"], industry="制造", tier="A")
    contact = await client.post("/api/v1/contacts", headers=tenant.headers,
                                json={"customer_id": gone["id"], "name": "李雷", "phone": "13900000009"})
    task = await client.post("/api/v1/tasks", headers=tenant.headers, json={"customer_id": gone["id"], "title": "回访"})
    assert task.status_code == 201, task.text
    talk = await _interaction(client, tenant, gone["id"])
    merged = await client.post(f"/api/v1/customers/{keep['id']}/merge", headers=tenant.headers,
                               json={"merge_ids": [gone["id"]], "fields": {"name": gone["id"]}})
    assert merged.status_code == 200, merged.text
    body = merged.json()
    survivor = body["customer"]
    assert survivor["id"] == keep["id"] and survivor["name"] == "星河科技（深圳）有限公司"
    assert survivor["industry"] == "制造" and survivor["tier"] == "A"  # filled from the merged record
    assert survivor["phone"] == "+8613800000001"
    assert [p["value"] for p in survivor["phones"]] == ["+8613800000001", "+8613800000002"]
    assert survivor["email"] == "boss@xinghe.cn" and survivor["tags"] == ["vip", "south"]
    assert "星河科技有限公司" in survivor["aliases"]
    assert body["moved"] == {"contact": 1, "interaction": 1, "objection": 0, "task": 1, "opportunity": 0}
    # Children now belong to the survivor.
    for path in (f"/api/v1/contacts/{contact.json()['id']}", f"/api/v1/tasks/{task.json()['id']}",
                 f"/api/v1/interactions/{talk['id']}"):
        assert (await client.get(path, headers=tenant.headers)).json()["customer_id"] == keep["id"]
    # The merged id resolves to the survivor; lists no longer show it.
    redirected = await client.get(f"/api/v1/customers/{gone['id']}", headers=tenant.headers)
    assert redirected.status_code == 200 and redirected.json()["id"] == keep["id"]
    listed = await client.get("/api/v1/customers", headers=tenant.headers)
    assert [c["id"] for c in listed.json()["items"]] == [keep["id"]]
    # The duplicate check recognises the merged record.
    check = await client.post("/api/v1/duplicates/check", headers=tenant.headers,
                              json={"record": {"phone": "13800000002"}})
    statuses = {d["id"]: d["status"] for d in check.json()["duplicates"]}
    assert statuses == {keep["id"]: "active", gone["id"]: "merged"}
    history = (await client.get(f"/api/v1/customers/{keep['id']}/history", headers=tenant.headers)).json()["items"]
    assert {"field": "name", "old": "星河科技有限公司", "new": "星河科技（深圳）有限公司"}.items() <= next(
        h for h in history if h["field"] == "name" and h["entity"] == "customer").items()
    event = await records_events.wait_for(tenant.id, "customer.merged")
    assert event.data["merge_id"] == body["merge_id"]
    # Undo: both records as before, children back.
    undone = await client.post(f"/api/v1/merges/{body['merge_id']}/undo", headers=tenant.headers)
    assert undone.status_code == 200, undone.text
    assert undone.json()["customer"]["name"] == "星河科技有限公司" and undone.json()["customer"]["tags"] == ["vip"]
    back = await client.get(f"/api/v1/customers/{gone['id']}", headers=tenant.headers)
    assert back.status_code == 200 and back.json()["id"] == gone["id"]
    assert (await client.get(f"/api/v1/tasks/{task.json()['id']}", headers=tenant.headers)).json()["customer_id"] == gone["id"]
    assert (await client.get(f"/api/v1/contacts/{contact.json()['id']}",
                             headers=tenant.headers)).json()["customer_id"] == gone["id"]
    again = await client.post(f"/api/v1/merges/{body['merge_id']}/undo", headers=tenant.headers)
    assert again.status_code == 409


async def test_bad_merges_answer_4xx_and_write_nothing(client, signup, customer, invite) -> None:
    tenant, other = await signup(), await signup()
    mine = await customer(tenant, name="甲")
    second = await customer(tenant, name="乙")
    theirs = await customer(other, name="丙")
    url = f"/api/v1/customers/{mine['id']}/merge"
    itself = await client.post(url, headers=tenant.headers, json={"merge_ids": [mine["id"]]})
    assert itself.status_code == 422 and itself.json()["errors"][0]["field"] == "merge_ids"
    cross = await client.post(url, headers=tenant.headers, json={"merge_ids": [theirs["id"]]})
    assert cross.status_code == 422 and cross.json()["errors"][0]["field"] == "merge_ids[0]"
    foreign_survivor = await client.post(f"/api/v1/customers/{theirs['id']}/merge", headers=tenant.headers,
                                         json={"merge_ids": [mine["id"]]})
    assert foreign_survivor.status_code == 404
    bad_field = await client.post(url, headers=tenant.headers,
                                  json={"merge_ids": [second["id"]], "fields": {"colour": second["id"],
                                                                                "name": str(uuid.uuid4())}})
    assert bad_field.status_code == 422
    assert {e["field"] for e in bad_field.json()["errors"]} == {"fields.colour", "fields.name"}
    sales = await invite(tenant, roles=["sales"])
    denied = await client.post(url, headers=sales.headers, json={"merge_ids": [second["id"]]})
    assert denied.status_code == 403
    for c in (mine, second):
        got = await client.get(f"/api/v1/customers/{c['id']}", headers=tenant.headers)
        assert got.status_code == 200 and got.json()["id"] == c["id"] and got.json()["version"] == 1
    assert (await client.get(f"/api/v1/customers/{theirs['id']}", headers=other.headers)).json()["version"] == 1
