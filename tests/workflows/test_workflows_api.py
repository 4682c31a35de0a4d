"""/api/v1/workflows and /api/v1/business-calendar through the HTTP API: versions, If-Match,
permissions, isolation, and definitions refused whole with every problem named."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import SignUp

ESCALATION: dict[str, Any] = {
    "name": "高危异议升级",
    "triggers": [{"type": "record.updated", "entity": "objection", "fields": ["severity"],
                  "condition": 'record.severity == "high" && old.severity != record.severity'}],
    "steps": [{"type": "create_task", "title": "处理高危异议", "due_in": "PT8H", "business_time": True,
               "assignee": "record.assignee_id"}],
}


async def test_a_workflow_is_created_read_changed_as_a_new_version_and_deleted(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant = await signup()
    created = await client.post("/api/v1/workflows", json=ESCALATION, headers=tenant.headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["version"] == 1 and body["enabled"] is True and body["author_id"] == tenant.admin_id
    assert body["triggers"][0]["type"] == "record.updated" and body["webhook_secret"] is None
    assert created.headers["etag"] == '"1"'

    stale = await client.patch(f"/api/v1/workflows/{body['id']}", json={"enabled": False},
                               headers={**tenant.headers, "If-Match": '"7"'})
    assert stale.status_code == 412
    assert (await client.get(f"/api/v1/workflows/{body['id']}", headers=tenant.headers)).json()["enabled"] is True

    renamed = await client.patch(f"/api/v1/workflows/{body['id']}", json={"enabled": False},
                                 headers={**tenant.headers, "If-Match": '"1"'})
    assert renamed.status_code == 200 and renamed.json()["version"] == 1  # no new definition, no new version
    steps = [{"type": "add_tags", "tags": ["高危"]}]
    changed = await client.patch(f"/api/v1/workflows/{body['id']}", json={"steps": steps}, headers=tenant.headers)
    assert changed.status_code == 200 and changed.json()["version"] == 2
    assert changed.json()["steps"] == [{"type": "add_tags", "tags": ["高危"]}]

    listed = await client.get("/api/v1/workflows?enabled=false", headers=tenant.headers)
    assert [w["id"] for w in listed.json()["items"]] == [body["id"]]
    assert (await client.get("/api/v1/workflows?enabled=true", headers=tenant.headers)).json()["items"] == []

    assert (await client.delete(f"/api/v1/workflows/{body['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"/api/v1/workflows/{body['id']}", headers=tenant.headers)).status_code == 404


async def test_a_bad_definition_is_refused_whole_and_nothing_is_saved(client: httpx.AsyncClient, signup: SignUp) -> None:
    tenant = await signup()
    bad = {**ESCALATION, "triggers": [{"type": "record.updated", "entity": "objection", "condition": "record.colour == 1"},
                                      {"type": "schedule", "cron": "*/1 * * * * *"}],
           "steps": [{"type": "wait", "duration": "P2Y"}]}
    answer = await client.post("/api/v1/workflows", json=bad, headers=tenant.headers)
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"triggers[0].condition", "triggers[1].cron", "steps[0].duration"} <= fields
    assert (await client.get("/api/v1/workflows", headers=tenant.headers)).json()["items"] == []


async def test_a_webhook_trigger_gets_its_secret_once(client: httpx.AsyncClient, signup: SignUp) -> None:
    tenant = await signup()
    body = {"name": "表单线索", "triggers": [{"type": "webhook"}], "steps": [{"type": "stop"}]}
    created = (await client.post("/api/v1/workflows", json=body, headers=tenant.headers)).json()
    assert created["webhook_secret"].startswith("whsec_") and created["has_webhook"] is True
    again = (await client.get(f"/api/v1/workflows/{created['id']}", headers=tenant.headers)).json()
    assert again["webhook_secret"] is None and again["has_webhook"] is True


async def test_workflows_of_another_tenant_are_unreachable(client: httpx.AsyncClient, signup: SignUp) -> None:
    owner, other = await signup(), await signup()
    created = (await client.post("/api/v1/workflows", json=ESCALATION, headers=owner.headers)).json()
    path = f"/api/v1/workflows/{created['id']}"
    assert (await client.get(path, headers=other.headers)).status_code == 404
    assert (await client.patch(path, json={"enabled": False}, headers=other.headers)).status_code == 404
    assert (await client.delete(path, headers=other.headers)).status_code == 404
    assert (await client.get("/api/v1/workflows", headers=other.headers)).json()["items"] == []
    assert (await client.get(path, headers=owner.headers)).json()["enabled"] is True


async def test_a_sales_user_may_not_write_workflows(client: httpx.AsyncClient, signup: SignUp, invite: Any) -> None:
    tenant = await signup()
    member = await invite(tenant, roles=["sales"])
    answer = await client.post("/api/v1/workflows", json=ESCALATION, headers=member.headers)
    assert answer.status_code == 403
    assert (await client.get("/api/v1/workflows", headers=tenant.headers)).json()["items"] == []


async def test_the_business_calendar_defaults_to_china_and_takes_the_tenants_own_days(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant = await signup()
    default = await client.get("/api/v1/business-calendar", headers=tenant.headers)
    assert default.status_code == 200
    calendar = default.json()
    assert calendar["time_zone"] == "Asia/Shanghai" and calendar["china_holidays"] is True
    assert calendar["working_hours"]["mon"] == [["09:00", "12:00"], ["13:30", "18:00"]]
    assert calendar["working_hours"]["sat"] == []
    assert calendar["china"][0]["days_off"], "China's holidays of this year are listed"

    assert default.headers["etag"] == '"0"'  # the defaults, never saved
    saved = await client.put("/api/v1/business-calendar", headers={**tenant.headers, "If-Match": '"0"'}, json={
        "time_zone": "Asia/Hong_Kong", "working_hours": {"mon": [["08:30", "17:30"]], "sat": [["09:00", "12:00"]]},
        "closed_days": ["2027-02-05"], "extra_working_days": ["2027-02-20"]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["version"] == 1 and saved.json()["closed_days"] == ["2027-02-05"]

    bad = await client.put("/api/v1/business-calendar", headers=tenant.headers, json={
        "time_zone": "Mars/Olympus", "working_hours": {"mon": [["18:00", "09:00"]]},
        "closed_days": ["2027-03-01"], "extra_working_days": ["2027-03-01"]})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"time_zone", "working_hours.mon[0]", "extra_working_days"}
    assert (await client.get("/api/v1/business-calendar", headers=tenant.headers)).json()["time_zone"] == "Asia/Hong_Kong"
    stale = await client.put("/api/v1/business-calendar", headers={**tenant.headers, "If-Match": '"0"'},
                             json={"time_zone": "UTC", "working_hours": {"mon": [["09:00", "17:00"]]}})
    assert stale.status_code == 412
