"""A fetched batch of events is written set-based (one statement for the rows, one for the mails):
the outcome is exactly that of one event at a time."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from services.notifications.workers import state_of
from tests.identity.conftest import invite  # noqa: F401 - fixtures
from tests.notifications.test_inbox import (  # noqa: F401 - server is a fixture
    eventually,
    inbox,
    publish,
    read_events,
    server,
    sink_mail,
    workflows_event,
)

pytestmark = pytest.mark.asyncio


async def test_a_batch_numbers_each_users_rows_in_order_once_with_one_mail_each(
        client, signup, runtime, server, settings, invite) -> None:  # noqa: F811
    tenant = await signup()
    member = await invite(tenant)
    other = await signup()  # one fetch holds two tenants' events: each in its own transaction
    consumer = next(c for c in state_of(runtime).consumers if c.name == "notifications-workflows")
    await consumer.stop()  # the events pile up, so the next fetch takes them as one batch
    events = [workflows_event(tenant.id, "reminder", "due", {"user_id": user, "title": f"batch {i}"})
              for i, user in enumerate([tenant.admin_id, member.id] * 6)]
    theirs = workflows_event(other.id, "reminder", "due", {"user_id": other.admin_id, "title": "theirs"})
    try:
        for event in [*events[:6], theirs, *events[6:]]:
            await publish(runtime, event)
        for event in events[:4]:  # redelivered past JetStream's de-duplication, in the same batch
            await publish(runtime, event, msg_id=f"{event.id}:again")
    finally:
        await consumer.start()

    async def six(headers: dict[str, str]) -> list[dict[str, Any]] | None:
        items = await inbox(client, headers, limit=50)
        return items if len(items) >= 6 else None

    for _who, headers in ((tenant, tenant.headers), (member, member.headers)):
        items = await eventually(lambda h=headers: six(h))
        titles = [i["title"] for i in reversed(items)]
        assert len(items) == 6 and len(set(titles)) == 6
    await asyncio.sleep(0.5)
    assert len(await inbox(client, tenant.headers, limit=50)) == 6  # no repeat from the redeliveries
    assert [i["title"] for i in await inbox(client, other.headers)] == ["任务提醒：theirs"]

    # The stream positions are 1..6 per user, in publishing order: resuming from 0 replays them.
    async with httpx.AsyncClient(base_url=server, timeout=10) as http, \
            http.stream("GET", "/api/v1/notifications/stream",
                        headers={**member.headers, "Last-Event-ID": "0"}) as stream:
        got = await asyncio.wait_for(read_events(stream, 6), 5)
    assert [e["id"] for e in got] == ["1", "2", "3", "4", "5", "6"]
    assert [f"batch {i}" in e["data"] for i, e in zip(range(1, 12, 2), got, strict=True)] == [True] * 6

    async def reminders() -> list[dict[str, Any]]:  # the member's invitation came to the address too
        return [m for m in await sink_mail(client, settings, member.email) if "任务提醒" in m["subject"]]

    async def mails() -> list[dict[str, Any]] | None:
        found = await reminders()
        return found if len(found) >= 6 else None
    found = await eventually(mails, timeout=15)
    await asyncio.sleep(0.5)
    assert len(await reminders()) == 6  # one mail per event, none twice
    assert sorted(m["subject"].split("] ")[1] for m in found) == sorted(f"任务提醒：batch {i}" for i in range(1, 12, 2))
