"""Workflows' own timers reach people: a task's reminder and a customer's follow-up, fired by
workflows' clock (not a hand-made event), land in the inbox with a link to their record."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.notifications.test_inbox import wait_inbox

pytestmark = pytest.mark.asyncio


async def test_a_tasks_reminder_and_a_follow_up_fired_by_workflows_reach_the_inbox(client, signup) -> None:
    tenant = await signup()
    soon = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    customer = await client.post("/api/v1/customers", json={"name": "回访提醒科技", "next_follow_up_at": soon},
                                 headers=tenant.headers)
    assert customer.status_code == 201, customer.text
    task = await client.post("/api/v1/tasks", headers=tenant.headers, json={
        "customer_id": customer.json()["id"], "title": "给王总回电话", "remind_at": soon,
        "due_at": (datetime.now(UTC) + timedelta(hours=3)).isoformat()})
    assert task.status_code == 201, task.text

    [reminder] = await wait_inbox(client, tenant.headers, 1, type="task.reminder_due")
    assert reminder["link"] == {"type": "task", "id": task.json()["id"]}
    assert "给王总回电话" in reminder["title"] + reminder["body"]
    [follow_up] = await wait_inbox(client, tenant.headers, 1, type="follow_up.due")
    assert follow_up["link"] == {"type": "customer", "id": customer.json()["id"]}
    assert "回访提醒科技" in follow_up["title"] + follow_up["body"]


async def test_an_sla_escalation_level_reaches_the_people_it_names(client, signup) -> None:
    tenant = await signup()
    always = {day: [["00:00", "23:59"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    calendar = await client.put("/api/v1/business-calendar", headers=tenant.headers, json={
        "time_zone": "Asia/Shanghai", "working_hours": always, "china_holidays": False})
    assert calendar.status_code == 200, calendar.text
    # Nobody is assigned, so the policy's own warning tells nobody: only the level reaches the owner.
    policy = await client.put("/api/v1/sla-policy", headers=tenant.headers, json={
        "warning_share": 0.99, "targets": {"high": {"first_response_hours": 1000, "resolution_hours": 0.002}},
        "escalations": [{"at": 0.2, "notify": [{"type": "assignee"}]}]})
    assert policy.status_code == 200, policy.text
    customer = await client.post("/api/v1/customers", json={"name": "升级提醒科技"}, headers=tenant.headers)
    objection = await client.post("/api/v1/objections", headers=tenant.headers, json={
        "customer_id": customer.json()["id"], "category": "price", "severity": "high", "description": "交付延期"})
    assert objection.status_code == 201, objection.text
    [item] = await wait_inbox(client, tenant.headers, 1, type="objection.sla_warning")
    assert item["link"] == {"type": "objection", "id": objection.json()["id"]}
    assert "交付延期" in item["title"] + item["body"]
