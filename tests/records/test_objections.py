"""Objections (客户异议) end to end: categories, SLA, the status machine, satisfaction, scope."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from tests.records.conftest import EventLog

PROBLEM = "application/problem+json"


def fields_of(response) -> set[str]:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    return {e["field"] for e in response.json().get("errors", [])}


async def make_objection(client, who, customer_id: str, **fields) -> dict:
    body = {"customer_id": customer_id, "category": "price", "severity": "high", "description": "太贵了", **fields}
    response = await client.post("/api/v1/objections", headers=who.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def move(client, who, objection: dict, **fields):
    return await client.patch(f"/api/v1/objections/{objection['id']}", headers=who.headers, json=fields)


async def test_sla_due_at_from_tenant_settings(client, signup, customer) -> None:
    tenant = await signup()
    made = await customer(tenant)
    settings = await client.patch("/api/v1/settings/records", headers=tenant.headers,
                                  json={"objection_sla_hours": {"low": 72, "medium": 24, "high": 8, "critical": 2}})
    assert settings.status_code == 200, settings.text
    objection = await make_objection(client, tenant, made["id"], severity="critical")
    assert objection["status"] == "open" and objection["owner_id"] == tenant.admin_id
    due = datetime.fromisoformat(objection["due_at"]) - datetime.fromisoformat(objection["created_at"])
    assert due == timedelta(hours=2)
    given = await make_objection(client, tenant, made["id"], due_at="2030-01-01T00:00:00Z")
    assert given["due_at"].startswith("2030-01-01T00:00:00")
    # A severity change moves an SLA due time with it.
    lowered = await move(client, tenant, objection, severity="low")
    assert lowered.status_code == 200
    due = datetime.fromisoformat(lowered.json()["due_at"]) - datetime.fromisoformat(objection["created_at"])
    assert due == timedelta(hours=72)


async def test_status_machine_history_and_events(client, signup, customer, records_events: EventLog) -> None:
    tenant = await signup()
    made = await customer(tenant)
    call = await client.post("/api/v1/interactions", headers=tenant.headers,
                             json={"customer_id": made["id"], "channel": "phone", "summary": "客户投诉价格"})
    objection = await make_objection(client, tenant, made["id"], interaction_id=call.json()["id"])
    assert objection["interaction_id"] == call.json()["id"]

    illegal = await move(client, tenant, objection, status="closed")
    assert illegal.status_code == 409 and illegal.headers["content-type"].startswith(PROBLEM)
    assert illegal.json()["allowed"] == ["in_progress"] and illegal.json()["current"] == "open"
    assert (await move(client, tenant, objection, status="resolved")).status_code == 409

    started = await move(client, tenant, objection, status="in_progress", assignee_id=tenant.admin_id)
    assert started.status_code == 200, started.text
    no_resolution = await move(client, tenant, objection, status="resolved")
    assert no_resolution.status_code == 422 and fields_of(no_resolution) == {"resolution"}
    early_score = await move(client, tenant, objection, satisfaction=4)
    assert early_score.status_code == 422 and fields_of(early_score) == {"satisfaction"}
    resolved = await move(client, tenant, objection, status="resolved", resolution="给了九折")
    assert resolved.status_code == 200
    assert resolved.json()["resolved_at"] is not None and resolved.json()["status"] == "resolved"
    too_high = await move(client, tenant, objection, satisfaction=7)
    assert too_high.status_code == 422 and fields_of(too_high) == {"satisfaction"}
    rated = await move(client, tenant, objection, satisfaction=5)
    assert rated.status_code == 200 and rated.json()["satisfaction"] == 5
    closed = await move(client, tenant, objection, status="closed")
    assert closed.status_code == 200 and closed.json()["closed_at"] is not None
    assert (await move(client, tenant, objection, status="in_progress")).json()["allowed"] == ["reopened"]
    reopened = await move(client, tenant, objection, status="reopened")
    body = reopened.json()
    assert reopened.status_code == 200 and body["satisfaction"] is None and body["reopen_count"] == 1
    assert body["resolved_at"] == resolved.json()["resolved_at"]  # kept for reporting
    again = await move(client, tenant, objection, status="open")
    assert again.status_code == 409 and again.json()["allowed"] == ["in_progress", "resolved"]
    assert (await move(client, tenant, objection, status="resolved")).status_code == 200

    trail = (await client.get(f"/api/v1/objections/{objection['id']}/status-history", headers=tenant.headers)).json()
    assert [(m["from_status"], m["to_status"]) for m in trail["items"]] == [
        (None, "open"), ("open", "in_progress"), ("in_progress", "resolved"), ("resolved", "closed"),
        ("closed", "reopened"), ("reopened", "resolved")]
    event = await records_events.wait_for(tenant.id, "objection.status_changed")
    assert event.data["from"] == "open" and event.data["to"] == "in_progress"
    assert event.data["customer_id"] == made["id"] and event.data["record"]["status"] == "in_progress"


async def test_bad_input_names_the_field_and_writes_nothing(client, signup, customer) -> None:
    tenant = await signup()
    other = await signup()
    mine = await customer(tenant)
    theirs = await customer(other)
    elsewhere = await customer(tenant)
    foreign_interaction = await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": elsewhere["id"], "channel": "phone", "summary": "other customer's call"})
    good = {"customer_id": mine["id"], "category": "price", "severity": "low", "description": "x"}
    cases = [
        ({**good, "category": "weather"}, {"category"}),
        ({**good, "severity": "apocalyptic"}, {"severity"}),
        ({**good, "satisfaction": 3}, {"satisfaction"}),
        ({**good, "satisfaction": 7}, {"satisfaction"}),
        ({**good, "status": "closed"}, {"status"}),
        ({**good, "customer_id": theirs["id"]}, {"customer_id"}),
        ({**good, "assignee_id": str(uuid.uuid4())}, {"assignee_id"}),
        ({**good, "interaction_id": foreign_interaction.json()["id"]}, {"interaction_id"}),
        ({**good, "due_at": "31/12/2025"}, {"due_at"}),
        ({**good, "description": "ctl\u001b[0m"}, {"description"}),
        ({**good, "description": ""}, {"description"}),
        ({"severity": "low"}, {"customer_id", "category", "description"}),
    ]
    for body, expected in cases:
        response = await client.post("/api/v1/objections", headers=tenant.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert fields_of(response) == expected, (body, response.json())
    unknown = await client.post("/api/v1/objections", headers=tenant.headers, json={**good, "category": "weather"})
    assert "price" in unknown.json()["errors"][0]["message"]  # names the allowed categories
    huge = await client.post("/api/v1/objections", headers={**tenant.headers, "Content-Type": "application/json"},
                             content=b'{"description": "' + b"x" * (5 * 1024 * 1024) + b'"}')
    assert huge.status_code == 413
    assert (await client.get("/api/v1/objections", headers=tenant.headers)).json()["items"] == []
    # Categories follow the tenant's settings.
    await client.patch("/api/v1/settings/records", headers=tenant.headers,
                       json={"objection_categories": ["weather", "price"]})
    ok = await client.post("/api/v1/objections", headers=tenant.headers, json={**good, "category": "weather"})
    assert ok.status_code == 201, ok.text


async def test_isolation_scope_and_assignee_visibility(client, signup, customer, invite, in_directory) -> None:
    tenant = await signup()
    other = await signup()
    sales = await invite(tenant, roles=["sales"])
    support = await invite(tenant, roles=["support"])
    await in_directory(tenant.id, sales.id)
    admins_customer = await customer(tenant)
    objection = await make_objection(client, tenant, admins_customer["id"])
    path = f"/api/v1/objections/{objection['id']}"
    for method, url, body in [("GET", path, None), ("PATCH", path, {"status": "in_progress"}),
                              ("DELETE", path, None), ("POST", f"{path}/restore", None),
                              ("GET", f"{path}/status-history", None)]:
        assert (await client.request(method, url, headers=other.headers, json=body)).status_code == 404
    assert (await client.get("/api/v1/objections", headers=other.headers)).json()["items"] == []
    # Sales (own scope) sees neither the objection nor its customer.
    assert (await client.get(path, headers=sales.headers)).status_code == 404
    assert (await client.get("/api/v1/objections", headers=sales.headers)).json()["items"] == []
    # Support (scope all) works every objection.
    assert (await client.get(path, headers=support.headers)).status_code == 200
    assert (await move(client, support, objection, status="in_progress")).status_code == 200
    # Sales sees an objection support raised on their customer once it is assigned to them.
    sales_customer = await customer(sales)
    raised = await make_objection(client, support, sales_customer["id"], assignee_id=sales.id)
    listed = (await client.get("/api/v1/objections", headers=sales.headers)).json()["items"]
    assert [o["id"] for o in listed] == [raised["id"]]


async def test_list_filters_overdue_and_paging(client, signup, customer) -> None:
    tenant = await signup()
    made = await customer(tenant)
    late = await make_objection(client, tenant, made["id"], category="quality", severity="critical",
                                due_at="2020-01-01T00:00:00Z")
    done_late = await make_objection(client, tenant, made["id"], due_at="2020-01-02T00:00:00Z")
    await move(client, tenant, done_late, status="in_progress")
    await move(client, tenant, done_late, status="resolved", resolution="ok")
    future = await make_objection(client, tenant, made["id"], severity="low", due_at="2099-01-01T00:00:00Z")

    async def ids(**params) -> list[str]:
        response = await client.get("/api/v1/objections", headers=tenant.headers, params=params)
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()["items"]]

    assert await ids(overdue="true") == [late["id"]]
    assert await ids(status="resolved") == [done_late["id"]]
    assert await ids(category="quality") == [late["id"]]
    assert await ids(severity="low") == [future["id"]]
    assert await ids(sort="due_at") == [late["id"], done_late["id"], future["id"]]
    assert await ids(due_from="2020-01-01T12:00:00Z", due_to="2030-01-01T00:00:00Z") == [done_late["id"]]
    assert await ids(customer_id=made["id"], sort="-due_at", limit=2) == [future["id"], done_late["id"]]
    first = (await client.get("/api/v1/objections", headers=tenant.headers, params={"limit": 2, "sort": "due_at"}))
    rest = await ids(limit=2, sort="due_at", cursor=first.json()["next_cursor"])
    assert rest == [future["id"]]
    for params, field in [({"status": "lost"}, "status"), ({"severity": "x"}, "severity")]:
        response = await client.get("/api/v1/objections", headers=tenant.headers, params=params)
        assert response.status_code == 422 and fields_of(response) == {field}
