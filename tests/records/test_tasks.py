"""Tasks (跟进任务) end to end: assignee, reminder, completion, overdue list, scope."""

from __future__ import annotations

import uuid

from tests.records.conftest import EventLog

PROBLEM = "application/problem+json"


def fields_of(response) -> set[str]:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    return {e["field"] for e in response.json().get("errors", [])}


async def make_task(client, who, customer_id: str, **fields) -> dict:
    body = {"customer_id": customer_id, "title": "回访客户", **fields}
    response = await client.post("/api/v1/tasks", headers=who.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_create_complete_reopen_and_events(client, signup, customer, records_events: EventLog) -> None:
    tenant = await signup()
    made = await customer(tenant)
    task = await make_task(client, tenant, made["id"], description="带上报价单\n和样品",
                           due_at="2030-06-01T10:00:00+08:00", remind_at="2030-06-01T09:00:00+08:00")
    assert task["assignee_id"] == tenant.admin_id and task["owner_id"] == tenant.admin_id
    assert task["status"] == "open" and task["completed_at"] is None
    assert task["description"] == "带上报价单\n和样品"
    path = f"/api/v1/tasks/{task['id']}"
    done = await client.patch(path, headers={**tenant.headers, "If-Match": '"1"'}, json={"status": "done"})
    assert done.status_code == 200 and done.json()["completed_at"] is not None
    stale = await client.patch(path, headers={**tenant.headers, "If-Match": '"1"'}, json={"title": "x"})
    assert stale.status_code == 412
    event = await records_events.wait_for(tenant.id, "task.status_changed")
    assert event.data["from"] == "open" and event.data["to"] == "done" and event.data["customer_id"] == made["id"]
    reopened = await client.patch(path, headers=tenant.headers, json={"status": "open"})
    assert reopened.json()["completed_at"] is None and reopened.json()["title"] == "回访客户"
    assert (await client.delete(path, headers=tenant.headers)).status_code == 204
    assert (await client.get(path, headers=tenant.headers)).status_code == 404
    await records_events.wait_for(tenant.id, "task.deleted")
    assert (await client.post(f"{path}/restore", headers=tenant.headers)).status_code == 200
    assert (await client.get(path, headers=tenant.headers)).json()["version"] == 5


async def test_bad_input_names_the_field_and_writes_nothing(client, signup, customer) -> None:
    tenant = await signup()
    other = await signup()
    mine, theirs = await customer(tenant), await customer(other)
    good = {"customer_id": mine["id"], "title": "call back"}
    cases = [
        ({**good, "remind_at": "2030-01-02T00:00:00Z", "due_at": "2030-01-01T00:00:00Z"}, {"remind_at"}),
        ({**good, "status": "maybe"}, {"status"}),
        ({**good, "assignee_id": str(uuid.uuid4())}, {"assignee_id"}),
        ({**good, "customer_id": theirs["id"]}, {"customer_id"}),
        ({**good, "due_at": "2030-13-01T00:00:00Z"}, {"due_at"}),
        ({**good, "title": "tab\u0085"}, {"title"}),
        ({**good, "title": ["list"]}, {"title"}),
        ({**good, "priority": "high"}, {"priority"}),
        ({"title": "no customer"}, {"customer_id"}),
    ]
    for body, expected in cases:
        response = await client.post("/api/v1/tasks", headers=tenant.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert fields_of(response) == expected, (body, response.json())
    assert (await client.get("/api/v1/tasks", headers=tenant.headers)).json()["items"] == []
    task = await make_task(client, tenant, mine["id"], due_at="2030-01-01T00:00:00Z")
    late_reminder = await client.patch(f"/api/v1/tasks/{task['id']}", headers=tenant.headers,
                                       json={"remind_at": "2030-01-01T00:00:01Z"})
    assert late_reminder.status_code == 422 and fields_of(late_reminder) == {"remind_at"}
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=tenant.headers)).json()["version"] == 1


async def test_overdue_filters_and_sort(client, signup, customer) -> None:
    tenant = await signup()
    made = await customer(tenant)
    overdue = await make_task(client, tenant, made["id"], title="late", due_at="2020-01-01T00:00:00Z")
    finished = await make_task(client, tenant, made["id"], title="late but done", due_at="2020-01-02T00:00:00Z",
                               status="done")
    upcoming = await make_task(client, tenant, made["id"], title="soon", due_at="2099-01-01T00:00:00Z")
    undated = await make_task(client, tenant, made["id"], title="whenever")

    async def titles(**params) -> list[str]:
        response = await client.get("/api/v1/tasks", headers=tenant.headers, params=params)
        assert response.status_code == 200, response.text
        return [t["title"] for t in response.json()["items"]]

    assert await titles(overdue="true") == ["late"]
    assert await titles() == ["late", "late but done", "soon", "whenever"]  # by due time, none last
    assert await titles(sort="-due_at") == ["soon", "late but done", "late", "whenever"]  # none last here too
    assert await titles(status="done") == ["late but done"]
    assert await titles(due_to="2021-01-01T00:00:00Z") == ["late", "late but done"]
    assert await titles(due_from="2021-01-01T00:00:00Z") == ["soon"]
    assert await titles(assignee_id=tenant.admin_id, status="open") == ["late", "soon", "whenever"]
    first = (await client.get("/api/v1/tasks", headers=tenant.headers, params={"limit": 3})).json()
    rest = (await client.get("/api/v1/tasks", headers=tenant.headers,
                             params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [t["id"] for t in first["items"] + rest["items"]] == [
        overdue["id"], finished["id"], upcoming["id"], undated["id"]]
    back = (await client.get("/api/v1/tasks", headers=tenant.headers, params={"limit": 1, "sort": "-due_at"})).json()
    second = (await client.get("/api/v1/tasks", headers=tenant.headers,
                               params={"limit": 1, "sort": "-due_at", "cursor": back["next_cursor"]})).json()
    assert [t["title"] for t in back["items"] + second["items"]] == ["soon", "late but done"]
    wrong = await client.get("/api/v1/tasks", headers=tenant.headers, params={"status": "lost"})
    assert wrong.status_code == 422 and fields_of(wrong) == {"status"}


async def test_isolation_and_own_scope_with_assignment(client, signup, customer, invite, in_directory) -> None:
    tenant = await signup()
    other = await signup()
    sales = await invite(tenant, roles=["sales"])
    colleague = await invite(tenant, roles=["sales"])
    await in_directory(tenant.id, colleague.id)
    sales_customer = await customer(sales)
    task = await make_task(client, sales, sales_customer["id"])
    path = f"/api/v1/tasks/{task['id']}"
    for method, url, body in [("GET", path, None), ("PATCH", path, {"status": "done"}), ("DELETE", path, None),
                              ("POST", f"{path}/restore", None)]:
        assert (await client.request(method, url, headers=other.headers, json=body)).status_code == 404
    assert (await client.get("/api/v1/tasks", headers=other.headers, params={"overdue": "true"})).json()["items"] == []
    assert (await client.get(path, headers=colleague.headers)).status_code == 404
    assert (await client.get("/api/v1/tasks", headers=colleague.headers)).json()["items"] == []
    assert [t["id"] for t in (await client.get("/api/v1/tasks", headers=tenant.headers)).json()["items"]] == [
        task["id"]]
    # Assigning it to a colleague does not show it to them while the customer stays invisible to them.
    handed = await client.patch(path, headers=sales.headers, json={"assignee_id": colleague.id})
    assert handed.status_code == 200 and handed.json()["assignee_id"] == colleague.id
    assert (await client.get(path, headers=colleague.headers)).status_code == 404
