"""Opportunities end to end: money, stages and their rules, won/lost, stage history, lists, access."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx

from tests.records.test_pipelines import make_pipeline

BASE = "/api/v1/opportunities"


def fields_of(response: httpx.Response) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}


async def default_stages(client: httpx.AsyncClient, who: Any) -> dict[str, str]:
    pipelines = (await client.get("/api/v1/pipelines", headers=who.headers)).json()["items"]
    sales = next(p for p in pipelines if p["is_default"])
    return {s["name"]: s["id"] for s in sales["stages"]}


async def opportunity(client: httpx.AsyncClient, who: Any, customer_id: str, **fields: Any) -> dict[str, Any]:
    response = await client.post(BASE, json={"customer_id": customer_id, "name": "Deal", **fields},
                                 headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_with_defaults_and_money_as_strings(client: httpx.AsyncClient, signup: Any, customer: Any) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    made = await opportunity(client, tenant, acme["id"], name="  ERP 二期 ", amount="12500.5", currency="cny",
                             expected_close_date="2030-06-30")
    stages = await default_stages(client, tenant)
    assert made["name"] == "ERP 二期"
    assert (made["amount"], made["currency"]) == ("12500.50", "CNY")
    assert made["stage"] == stages["Qualification"] and made["stage_name"] == "Qualification"
    assert (made["status"], made["probability"], made["probability_override"]) == ("open", 10, False)
    assert made["owner_id"] == tenant.admin_id and made["closed_at"] is None and made["version"] == 1
    got = await client.get(f"{BASE}/{made['id']}", headers=tenant.headers)
    assert got.status_code == 200 and got.headers["etag"] == '"1"' and got.json() == made
    history = (await client.get(f"{BASE}/{made['id']}/stage-history", headers=tenant.headers)).json()["items"]
    assert [(h["from_stage"], h["to_stage_name"], h["amount"]) for h in history] == [(None, "Qualification", "12500.50")]


async def test_bad_money_and_references_name_the_field_and_write_nothing(
    client: httpx.AsyncClient, signup: Any, customer: Any
) -> None:
    tenant, other = await signup(), await signup()
    acme = await customer(tenant)
    foreign = await customer(other)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"amount": "-1", "currency": "CNY"}, {"amount"}),
        ({"amount": "1e5", "currency": "CNY"}, {"amount"}),
        ({"amount": "12.345", "currency": "CNY"}, {"amount"}),
        ({"amount": "1,000", "currency": "CNY"}, {"amount"}),
        ({"amount": "NaN", "currency": "CNY"}, {"amount"}),
        ({"amount": 12.5, "currency": "CNY"}, {"amount"}),
        ({"amount": "100", "currency": "XYZ"}, {"currency"}),
        ({"amount": "100", "currency": "yuan"}, {"currency"}),
        ({"amount": "100"}, {"currency"}),
        ({"amount": "abc", "currency": "ABC", "name": "  "}, {"amount", "currency", "name"}),
        ({"customer_id": foreign["id"]}, {"customer_id"}),
        ({"customer_id": str(uuid.uuid4())}, {"customer_id"}),
        ({"pipeline_id": str(uuid.uuid4())}, {"pipeline_id"}),
        ({"stage": str(uuid.uuid4())}, {"stage"}),
        ({"probability": 101}, {"probability"}),
        ({"expected_close_date": "next week"}, {"expected_close_date"}),
        ({"owner_id": str(uuid.uuid4())}, {"owner_id"}),
        ({"colour": "red"}, {"colour"}),
    ]
    for fields, expected in cases:
        body = {"customer_id": acme["id"], "name": "Deal", **fields}
        response = await client.post(BASE, json=body, headers=tenant.headers)
        assert response.status_code == 422, (fields, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert fields_of(response) == expected, (fields, response.text)
    assert (await client.get(BASE, headers=tenant.headers)).json()["items"] == []


async def test_a_stage_of_another_pipeline_is_refused(client: httpx.AsyncClient, signup: Any, customer: Any) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    projects = await make_pipeline(client, tenant)
    stages = await default_stages(client, tenant)
    wrong = await client.post(BASE, headers=tenant.headers, json={
        "customer_id": acme["id"], "name": "Deal", "pipeline_id": projects["id"], "stage": stages["Proposal"]})
    assert wrong.status_code == 422 and fields_of(wrong) == {"stage"}
    made = await opportunity(client, tenant, acme["id"], pipeline_id=projects["id"])
    assert made["pipeline_id"] == projects["id"] and made["stage_name"] == "Lead"
    moved = await client.patch(f"{BASE}/{made['id']}", json={"stage": stages["Proposal"]}, headers=tenant.headers)
    assert moved.status_code == 422 and fields_of(moved) == {"stage"}
    # Changing pipeline without a stage starts at the new pipeline's first stage.
    pipelines = (await client.get("/api/v1/pipelines", headers=tenant.headers)).json()["items"]
    default_id = next(p["id"] for p in pipelines if p["is_default"])
    back = await client.patch(f"{BASE}/{made['id']}", json={"pipeline_id": default_id}, headers=tenant.headers)
    assert back.status_code == 200 and back.json()["stage_name"] == "Qualification"


async def test_required_fields_won_lost_and_stage_history(client: httpx.AsyncClient, signup: Any, customer: Any) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    projects = await make_pipeline(client, tenant)
    stage = {s["name"]: s["id"] for s in projects["stages"]}
    made = await opportunity(client, tenant, acme["id"], pipeline_id=projects["id"])
    url = f"{BASE}/{made['id']}"
    # "Demo" requires amount and currency.
    blocked = await client.patch(url, json={"stage": stage["Demo"]}, headers=tenant.headers)
    assert blocked.status_code == 422 and fields_of(blocked) == {"amount", "currency"}
    assert (await client.get(url, headers=tenant.headers)).json()["version"] == 1
    demo = await client.patch(url, json={"stage": stage["Demo"], "amount": "1000", "currency": "USD"},
                              headers=tenant.headers)
    assert demo.status_code == 200 and demo.json()["probability"] == 40
    await client.patch(url, json={"amount": "1500.00"}, headers=tenant.headers)
    no_reason = await client.patch(url, json={"stage": stage["Dropped"]}, headers=tenant.headers)
    assert no_reason.status_code == 422 and fields_of(no_reason) == {"lost_reason"}
    lost = await client.patch(url, json={"stage": stage["Dropped"], "lost_reason": "Chose a competitor"},
                              headers=tenant.headers)
    body = lost.json()
    assert (body["status"], body["probability"], body["lost_reason"]) == ("lost", 0, "Chose a competitor")
    assert body["closed_at"] is not None
    reopened = (await client.patch(url, json={"stage": stage["Lead"]}, headers=tenant.headers)).json()
    assert (reopened["status"], reopened["closed_at"], reopened["lost_reason"]) == ("open", None, None)
    won = (await client.patch(url, json={"stage": stage["Signed"], "won_reason": "Best price"},
                              headers=tenant.headers)).json()
    assert (won["status"], won["probability"], won["won_reason"]) == ("won", 100, "Best price")
    assert won["closed_at"] is not None
    history = (await client.get(f"{url}/stage-history", headers=tenant.headers)).json()["items"]
    assert [(h["from_stage_name"], h["to_stage_name"], h["status"], h["amount"]) for h in history] == [
        (None, "Lead", "open", None), ("Lead", "Demo", "open", "1000.00"), ("Demo", "Dropped", "lost", "1500.00"),
        ("Dropped", "Lead", "open", "1500.00"), ("Lead", "Signed", "won", "1500.00"),
    ]
    assert all(h["by"] == tenant.admin_id for h in history)
    # A stage that holds opportunities is neither deleted nor re-kinded; deleted opportunities count too.
    in_use = await client.delete(f"/api/v1/pipelines/{projects['id']}/stages/{stage['Signed']}", headers=tenant.headers)
    assert in_use.status_code == 409 and in_use.json()["opportunities"] == 1 and "1 opportunity" in in_use.json()["detail"]
    assert (await client.delete(url, headers=tenant.headers)).status_code == 204
    still = await client.delete(f"/api/v1/pipelines/{projects['id']}/stages/{stage['Signed']}", headers=tenant.headers)
    assert still.status_code == 409 and still.json()["deleted"] == 1
    rekind = await client.patch(f"/api/v1/pipelines/{projects['id']}/stages/{stage['Signed']}", json={"kind": "open"},
                                headers=tenant.headers)
    assert rekind.status_code == 409


async def test_probability_override_if_match_delete_restore(
    client: httpx.AsyncClient, signup: Any, customer: Any, records_events: Any
) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    stages = await default_stages(client, tenant)
    made = await opportunity(client, tenant, acme["id"], probability=55)
    url = f"{BASE}/{made['id']}"
    assert (made["probability"], made["probability_override"]) == (55, True)
    moved = (await client.patch(url, json={"stage": stages["Proposal"]}, headers=tenant.headers)).json()
    assert moved["probability"] == 55
    follows = (await client.patch(url, json={"probability": None}, headers=tenant.headers)).json()
    assert (follows["probability"], follows["probability_override"]) == (60, False)
    # The stage's probability changes: opportunities following it follow.
    sales = next(p for p in (await client.get("/api/v1/pipelines", headers=tenant.headers)).json()["items"])
    await client.patch(f"/api/v1/pipelines/{sales['id']}/stages/{stages['Proposal']}", json={"probability": 65},
                       headers=tenant.headers)
    assert (await client.get(url, headers=tenant.headers)).json()["probability"] == 65
    # Stale If-Match: 412, nothing written.
    current = (await client.get(url, headers=tenant.headers)).json()
    stale = await client.patch(url, json={"name": "Renamed"},
                               headers={**tenant.headers, "If-Match": f'"{current["version"] - 1}"'})
    assert stale.status_code == 412
    assert (await client.get(url, headers=tenant.headers)).json()["name"] == "Deal"
    # Two clients changing different fields both land.
    a, b = await asyncio.gather(
        client.patch(url, json={"name": "Renamed"}, headers=tenant.headers),
        client.patch(url, json={"expected_close_date": "2031-01-31"}, headers=tenant.headers),
    )
    assert a.status_code == b.status_code == 200
    both = (await client.get(url, headers=tenant.headers)).json()
    assert (both["name"], both["expected_close_date"], both["version"]) == ("Renamed", "2031-01-31",
                                                                            current["version"] + 2)
    changes = (await client.get(f"{url}/history", headers=tenant.headers)).json()["items"]
    # The two concurrent updates: one row each, in whichever order they committed.
    assert {(c["field"], c["old"], c["new"]) for c in changes if c["field"] in ("name", "expected_close_date")} == {
        ("expected_close_date", None, "2031-01-31"), ("name", "Deal", "Renamed")}
    assert all(c["actor"] == {"kind": "user", "id": tenant.admin_id} for c in changes)
    first = await client.get(f"{url}/history", params={"limit": 1}, headers=tenant.headers)
    rest = await client.get(f"{url}/history", params={"cursor": first.json()["next_cursor"], "limit": 200},
                            headers=tenant.headers)
    assert first.json()["items"] + rest.json()["items"] == changes
    assert (await client.delete(url, headers=tenant.headers)).status_code == 204
    assert (await client.get(url, headers=tenant.headers)).status_code == 404
    assert (await client.get(f"{url}/history", headers=tenant.headers)).status_code == 404
    assert (await client.get(BASE, headers=tenant.headers)).json()["items"] == []
    restored = await client.post(f"{url}/restore", headers=tenant.headers)
    assert restored.status_code == 200 and restored.json()["name"] == "Renamed"
    assert (await client.post(f"{url}/restore", headers=tenant.headers)).status_code == 404
    for event_type in ("opportunity.created", "opportunity.stage_changed", "opportunity.deleted",
                       "opportunity.restored"):
        await records_events.wait_for(tenant.id, event_type)
    updated = [e for e in records_events.of(tenant.id) if e.type == "opportunity.updated"]
    renamed = next(e for e in updated if "name" in e.data["changes"])
    assert renamed.data["changes"]["name"] == {"old": "Deal", "new": "Renamed"}
    assert renamed.data["customer_id"] == acme["id"] and renamed.data["record"]["name"] == "Renamed"


async def test_lists_filter_sort_and_page(client: httpx.AsyncClient, signup: Any, customer: Any) -> None:
    tenant = await signup()
    acme, globex = await customer(tenant), await customer(tenant)
    stages = await default_stages(client, tenant)
    amounts = ["500.00", None, "20000.00", "75.25", "3000.00"]
    made = []
    for index, amount in enumerate(amounts):
        money = {"amount": amount, "currency": "CNY"} if amount else {}
        made.append(await opportunity(client, tenant, (acme if index % 2 else globex)["id"], name=f"Deal {index}",
                                      expected_close_date=f"2030-0{index + 1}-15", **money))
    await client.patch(f"{BASE}/{made[2]['id']}", json={"stage": stages["Won"]}, headers=tenant.headers)

    async def names(**params: Any) -> list[str]:
        response = await client.get(BASE, params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        return [o["name"] for o in response.json()["items"]]

    assert await names(sort="amount") == ["Deal 3", "Deal 0", "Deal 4", "Deal 2", "Deal 1"]
    assert await names(sort="-amount") == ["Deal 2", "Deal 4", "Deal 0", "Deal 3", "Deal 1"]  # no amount: last both ways
    assert await names(sort="-expected_close_date", limit=2) == ["Deal 4", "Deal 3"]
    assert await names(status="won") == ["Deal 2"]
    assert await names(stage=stages["Qualification"], sort="name") == ["Deal 0", "Deal 1", "Deal 3", "Deal 4"]
    assert await names(customer_id=acme["id"], sort="name") == ["Deal 1", "Deal 3"]
    assert await names(amount_min="100", amount_max="3000", sort="amount") == ["Deal 0", "Deal 4"]
    assert await names(expected_close_from="2030-02-01", expected_close_to="2030-03-31", sort="name") == [
        "Deal 1", "Deal 2"]
    # Keyset paging over a sort with an empty value walks every row once.
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"sort": "amount", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(BASE, params=params, headers=tenant.headers)).json()
        seen += [o["name"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["Deal 3", "Deal 0", "Deal 4", "Deal 2", "Deal 1"]
    for params, field in (({"sort": "colour"}, "sort"), ({"amount_min": "-5"}, "amount_min"),
                          ({"currency": "ZZZ"}, "currency"), ({"cursor": "garbage"}, "cursor")):
        response = await client.get(BASE, params=params, headers=tenant.headers)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        assert field in [e["field"] for e in response.json()["errors"]], (params, response.text)
    bad_status = await client.get(BASE, params={"status": "maybe"}, headers=tenant.headers)
    assert bad_status.status_code == 422 and bad_status.headers["content-type"].startswith("application/problem+json")
    assert "status" in bad_status.text


async def test_other_tenants_scopes_and_field_rules(
    client: httpx.AsyncClient, signup: Any, customer: Any, invite: Any, in_directory: Any
) -> None:
    tenant, other = await signup(), await signup()
    acme = await customer(tenant)
    made = await opportunity(client, tenant, acme["id"], amount="10.00", currency="EUR")
    url = f"{BASE}/{made['id']}"
    for method, path, body in (("GET", url, None), ("PATCH", url, {"name": "Mine"}), ("DELETE", url, None),
                               ("POST", f"{url}/restore", None), ("GET", f"{url}/stage-history", None),
                               ("GET", f"{url}/history", None)):
        response = await client.request(method, path, json=body, headers=other.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert (await client.get(BASE, headers=other.headers)).json()["items"] == []
    assert (await client.get(url, headers=tenant.headers)).json()["version"] == 1
    # A sales person sees only their own opportunities, of customers they can see.
    sales = await invite(tenant, roles=["sales"])
    assert (await client.get(url, headers=sales.headers)).status_code == 404
    assert (await client.get(BASE, headers=sales.headers)).json()["items"] == []
    own_customer = await customer(sales)
    mine = await opportunity(client, sales, own_customer["id"])
    assert mine["owner_id"] == sales.id
    assert [o["id"] for o in (await client.get(BASE, headers=sales.headers)).json()["items"]] == [mine["id"]]
    refused = await client.post(BASE, json={"customer_id": acme["id"], "name": "Steal"}, headers=sales.headers)
    assert refused.status_code == 422 and fields_of(refused) == {"customer_id"}
    # The admin may hand an opportunity to a user the directory knows.
    await in_directory(tenant.id, sales.id)
    handed = await client.patch(url, json={"owner_id": sales.id}, headers=tenant.headers)
    assert handed.status_code == 200 and handed.json()["owner_id"] == sales.id
    # Hidden fields are absent; writing them is refused.
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Deal viewer", "key": "deal_viewer",
        "permissions": {"customer": {"actions": ["read"], "scope": "all"},
                        "opportunity": {"actions": ["read", "update"], "scope": "all"}},
        "field_rules": {"opportunity": {"amount": "hidden", "name": "read_only"}},
    })
    assert role.status_code == 201, role.text
    viewer = await invite(tenant, roles=["deal_viewer"])
    seen = (await client.get(url, headers=viewer.headers)).json()
    assert "amount" not in seen and seen["currency"] == "EUR"
    assert all("amount" not in o for o in (await client.get(BASE, headers=viewer.headers)).json()["items"])
    assert all("amount" not in h for h in (await client.get(f"{url}/stage-history", headers=viewer.headers)).json()[
        "items"])
    await client.patch(url, json={"amount": "20.00"}, headers=tenant.headers)
    fields = {c["field"] for c in (await client.get(f"{url}/history", headers=viewer.headers)).json()["items"]}
    assert "owner_id" in fields and "amount" not in fields
    for body in ({"amount": "1.00"}, {"name": "New"}):
        response = await client.patch(url, json=body, headers=viewer.headers)
        assert response.status_code == 403 and response.json()["field"] == next(iter(body))
    assert (await client.post(BASE, json={"customer_id": acme["id"], "name": "X"},
                              headers=viewer.headers)).status_code == 403
