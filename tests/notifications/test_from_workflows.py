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
