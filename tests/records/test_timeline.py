"""The customer timeline: every kind of item, newest first, keyset paging, field rules, visibility."""

from __future__ import annotations

from typing import Any

import httpx


async def fill(client: httpx.AsyncClient, who: Any, customer_id: str) -> dict[str, str]:
    """One of each thing that shows on a timeline; answers their ids."""
    headers = who.headers
    old_call = await client.post("/api/v1/interactions", headers=headers, json={
        "customer_id": customer_id, "channel": "phone", "summary": "First call about pricing",
        "occurred_at": "2020-01-01T09:00:00Z"})
    assert old_call.status_code == 201, old_call.text
    visit = await client.post("/api/v1/interactions", headers=headers, json={
        "customer_id": customer_id, "channel": "visit", "summary": "Visited the plant"})
    assert visit.status_code == 201, visit.text
    objection = await client.post("/api/v1/objections", headers=headers, json={
        "customer_id": customer_id, "category": "price", "severity": "high", "description": "Too expensive"})
    assert objection.status_code == 201, objection.text
    moved = await client.patch(f"/api/v1/objections/{objection.json()['id']}", json={"status": "in_progress"},
                               headers=headers)
    assert moved.status_code == 200, moved.text
    task = await client.post("/api/v1/tasks", headers=headers, json={"customer_id": customer_id,
                                                                      "title": "Send the quote"})
    assert task.status_code == 201, task.text
    deal = await client.post("/api/v1/opportunities", headers=headers, json={
        "customer_id": customer_id, "name": "Plant upgrade", "amount": "88000", "currency": "CNY"})
    assert deal.status_code == 201, deal.text
    pipelines = (await client.get("/api/v1/pipelines", headers=headers)).json()["items"]
    proposal = next(s["id"] for p in pipelines if p["is_default"] for s in p["stages"] if s["name"] == "Proposal")
    staged = await client.patch(f"/api/v1/opportunities/{deal.json()['id']}", json={"stage": proposal},
                                headers=headers)
    assert staged.status_code == 200, staged.text
    tiered = await client.patch(f"/api/v1/customers/{customer_id}", json={"tier": "A"}, headers=headers)
    assert tiered.status_code == 200, tiered.text
    return {"old_call": old_call.json()["id"], "visit": visit.json()["id"], "objection": objection.json()["id"],
            "task": task.json()["id"], "deal": deal.json()["id"]}


async def walk(client: httpx.AsyncClient, who: Any, customer_id: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        response = await client.get(f"/api/v1/customers/{customer_id}/timeline", params=params, headers=who.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_timeline_lists_every_kind_newest_first_and_pages(
    client: httpx.AsyncClient, signup: Any, customer: Any
) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    ids = await fill(client, tenant, acme["id"])
    items = await walk(client, tenant, acme["id"], limit=200)
    for item in items:
        assert set(item) == {"kind", "at", "id", "entity", "entity_id", "summary", "data"}
    ats = [i["at"] for i in items]
    assert ats == sorted(ats, reverse=True)
    kinds = {i["kind"] for i in items}
    assert {"interaction", "objection_created", "objection_status", "task", "opportunity_stage",
            "field_change"} <= kinds
    # The call back in 2020 is the oldest thing that happened.
    assert (items[-1]["kind"], items[-1]["entity_id"]) == ("interaction", ids["old_call"])
    assert items[-1]["summary"] == "phone · First call about pricing"
    moves = [i for i in items if i["kind"] == "opportunity_stage"]
    assert [m["summary"] for m in moves] == ["Plant upgrade: Qualification → Proposal",
                                             "Plant upgrade: opened in Qualification"]
    assert moves[0]["data"]["amount"] == "88000.00" and moves[0]["entity_id"] == ids["deal"]
    status = next(i for i in items if i["kind"] == "objection_status")
    assert (status["entity_id"], status["summary"]) == (ids["objection"], "Objection open → in_progress")
    tier = [i for i in items if i["kind"] == "field_change" and i["data"]["field"] == "tier"]
    assert [(t["entity"], t["entity_id"], t["data"]["old"], t["data"]["new"]) for t in tier] == [
        ("customer", acme["id"], None, "A")]
    # Stage moves and objection status moves are not repeated as field changes.
    assert not [i for i in items if i["kind"] == "field_change"
                and (i["entity"], i["data"]["field"]) in (("opportunity", "stage"), ("objection", "status"))]
    # Small pages walk the same items, each once, in the same order.
    for size in (1, 2, 3):
        assert await walk(client, tenant, acme["id"], limit=size) == items
    bad = await client.get(f"/api/v1/customers/{acme['id']}/timeline", params={"cursor": "nonsense"},
                           headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


async def test_timeline_honours_visibility_and_field_rules(
    client: httpx.AsyncClient, signup: Any, customer: Any, invite: Any
) -> None:
    tenant, other = await signup(), await signup()
    acme = await customer(tenant)
    await fill(client, tenant, acme["id"])
    url = f"/api/v1/customers/{acme['id']}/timeline"
    assert (await client.get(url, headers=other.headers)).status_code == 404
    sales = await invite(tenant, roles=["sales"])
    assert (await client.get(url, headers=sales.headers)).status_code == 404
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Customer viewer", "key": "customer_viewer",
        "permissions": {"customer": {"actions": ["read"], "scope": "all"},
                        "interaction": {"actions": ["read"], "scope": "all"},
                        "opportunity": {"actions": ["read"], "scope": "all"}},
        "field_rules": {"customer": {"tier": "hidden"}, "interaction": {"summary": "hidden"},
                        "opportunity": {"amount": "hidden"}},
    })
    assert role.status_code == 201, role.text
    viewer = await invite(tenant, roles=["customer_viewer"])
    items = await walk(client, viewer, acme["id"], limit=50)
    kinds = {i["kind"] for i in items}
    assert "interaction" in kinds and "opportunity_stage" in kinds
    assert not kinds & {"objection_created", "objection_status", "task"}  # no read on objections or tasks
    assert not [i for i in items if i["kind"] == "field_change" and i["data"]["field"] == "tier"]
    assert all(i["entity"] not in ("objection", "task") for i in items)
    for item in items:
        if item["kind"] == "interaction":
            assert "summary" not in item["data"] and "pricing" not in item["summary"]
        if item["kind"] == "opportunity_stage":
            assert "amount" not in item["data"]
