"""The notifications service end to end: events from JetStream into the inbox, preferences, mail
through the local SMTP sink (aiosmtpd, real SMTP), the SSE stream over a real HTTP server."""

from __future__ import annotations

import asyncio
import re
import socket
import uuid
from typing import Any

import httpx
import pytest
import uvicorn

from shared.events.bus import MSG_ID_HEADER
from shared.events.envelope import Actor, Event, encode_event, new_event
from tests.identity.conftest import invite  # noqa: F401 - fixtures

pytestmark = pytest.mark.asyncio


async def eventually(check: Any, timeout: float = 10.0) -> Any:
    """Poll ``check()`` until it answers something truthy, and return that (fail after ``timeout``)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if found := await check():
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(0.05)


async def publish(runtime: Any, event: Event, *, msg_id: str | None = None) -> None:
    """As a producer's relay does (the same envelope; ``msg_id`` differs for a redelivery)."""
    await runtime.bus.js.publish(event.subject, encode_event(event), headers={MSG_ID_HEADER: msg_id or str(event.id)})


def workflows_event(tenant_id: str, entity: str, action: str, data: dict[str, Any]) -> Event:
    return new_event(service="workflows", tenant_id=uuid.UUID(tenant_id), entity=entity, action=action,
                     entity_id=uuid.uuid4(), actor=Actor(kind="system"), data=data)


def records_event(tenant_id: str, entity: str, action: str, entity_id: Any, data: dict[str, Any],
                  actor: Actor | None = None) -> Event:
    return new_event(service="records", tenant_id=uuid.UUID(tenant_id), entity=entity, action=action,
                     entity_id=entity_id, actor=actor or Actor(kind="system"), data=data)


async def inbox(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/notifications", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def wait_inbox(client: httpx.AsyncClient, headers: dict[str, str], count: int, **params: Any
                     ) -> list[dict[str, Any]]:
    async def enough() -> list[dict[str, Any]] | None:
        items = await inbox(client, headers, **params)
        return items if len(items) >= count else None
    return await eventually(enough, timeout=10)


async def sink_mail(client: httpx.AsyncClient, settings: Any, to: str) -> list[dict[str, Any]]:
    operator = {"Authorization": f"Bearer {settings.operator_token}"}
    listed = await client.get("/api/v1/operator/mail", params={"to": to}, headers=operator)
    assert listed.status_code == 200, listed.text
    return [(await client.get(f"/api/v1/operator/mail/{m['id']}", headers=operator)).json()
            for m in listed.json()["items"]]


async def test_event_reaches_the_inbox_once_and_read_unread_archive(client, signup, runtime) -> None:
    tenant = await signup()
    event = workflows_event(tenant.id, "reminder", "due", {
        "user_id": tenant.admin_id, "title": "Call 腾讯 back", "due_at": "2026-12-03T10:00:00Z",
        "record": {"type": "task", "id": str(uuid.uuid4())}})
    await publish(runtime, event)
    [item] = await wait_inbox(client, tenant.headers, 1)
    assert item["type"] == "task.reminder_due" and item["read_at"] is None
    assert item["title"] == "任务提醒：Call 腾讯 back"  # the admin's locale: zh-CN
    assert item["link"] == event.data["record"]

    # The same event again (a redelivery past JetStream's de-duplication): nothing changes.
    await publish(runtime, event, msg_id=f"{event.id}:again")
    other = workflows_event(tenant.id, "task", "overdue", {"assignee_id": tenant.admin_id, "title": "Quote"})
    await publish(runtime, other)
    items = await wait_inbox(client, tenant.headers, 2)
    assert [i["type"] for i in items] == ["task.overdue", "task.reminder_due"]  # newest first
    await asyncio.sleep(0.5)
    assert len(await inbox(client, tenant.headers)) == 2

    count = (await client.get("/api/v1/notifications/unread-count", headers=tenant.headers)).json()
    assert count == {"unread": 2}
    assert [i["type"] for i in await inbox(client, tenant.headers, type="task.overdue")] == ["task.overdue"]
    first = await inbox(client, tenant.headers, limit=1)
    assert len(first) == 1
    read = await client.post("/api/v1/notifications/read", json={"ids": [item["id"]]}, headers=tenant.headers)
    assert read.json() == {"changed": 1}
    assert [i["type"] for i in await inbox(client, tenant.headers, unread="true")] == ["task.overdue"]
    unread = await client.post("/api/v1/notifications/unread", json={"ids": [item["id"]]}, headers=tenant.headers)
    assert unread.json() == {"changed": 1}
    everything = await client.post("/api/v1/notifications/read", json={"all": True}, headers=tenant.headers)
    assert everything.json() == {"changed": 2}
    assert (await client.get("/api/v1/notifications/unread-count", headers=tenant.headers)).json() == {"unread": 0}
    archived = await client.post("/api/v1/notifications/archive", json={"ids": [item["id"]]}, headers=tenant.headers)
    assert archived.json() == {"changed": 1}
    assert [i["id"] for i in await inbox(client, tenant.headers)] != [item["id"]]
    assert item["id"] not in [i["id"] for i in await inbox(client, tenant.headers)]

    bad = await client.post("/api/v1/notifications/read", json={"ids": ["nope"]}, headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"].startswith("ids")


async def test_other_tenants_never_see_or_touch_a_notification(client, signup, runtime) -> None:
    a, b = await signup(), await signup()
    # An event of tenant A naming tenant B's admin: B's user is not a user of A, nobody is told.
    await publish(runtime, workflows_event(a.id, "reminder", "due", {"user_id": b.admin_id, "title": "cross"}))
    await publish(runtime, workflows_event(a.id, "reminder", "due", {"user_id": a.admin_id, "title": "mine"}))
    [mine] = await wait_inbox(client, a.headers, 1)
    assert mine["title"].endswith("mine")
    assert await inbox(client, b.headers) == []
    for path in ("read", "archive", "unread"):
        answer = await client.post(f"/api/v1/notifications/{path}", json={"ids": [mine["id"]]}, headers=b.headers)
        assert answer.json() == {"changed": 0}
    assert (await inbox(client, a.headers))[0]["read_at"] is None


async def test_hidden_field_never_appears_in_the_text(client, signup, runtime, invite) -> None:
    tenant = await signup()
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Support lite", "key": "support_lite",
        "permissions": {"objection": {"actions": ["read", "update"], "scope": "all"}},
        "field_rules": {"objection": {"description": "hidden"}},
    })
    assert role.status_code == 201, role.text
    member = await invite(tenant, roles=["support_lite"])
    for assignee in (member.id, tenant.admin_id):
        record = {"id": str(uuid.uuid4()), "assignee_id": assignee, "category": "price", "severity": "high",
                  "description": "SECRET discount 40%"}
        await publish(runtime, records_event(tenant.id, "objection", "created", record["id"], {"record": record}))
    [told] = await wait_inbox(client, member.headers, 1)
    assert told["type"] == "objection.assigned" and "SECRET" not in told["body"] + told["title"]
    assert "price" in told["body"]
    [admin_told] = await wait_inbox(client, tenant.headers, 1)
    assert "SECRET discount 40%" in admin_told["body"]


async def test_a_burst_of_transfers_is_one_notification(client, signup, runtime, invite) -> None:
    tenant = await signup()
    member = await invite(tenant)
    boss = Actor(kind="user", id=tenant.admin_id)
    for n in range(5):
        record = {"id": str(uuid.uuid4()), "name": f"客户{n}", "owner_id": member.id}
        await publish(runtime, records_event(tenant.id, "customer", "transferred", record["id"], {"record": record},
                                             actor=boss))

    async def all_five() -> list[dict[str, Any]] | None:
        items = await inbox(client, member.headers)
        return items if items and items[0]["count"] == 5 else None
    [item] = await eventually(all_five, timeout=10)
    assert item["type"] == "customer.transferred" and item["title"] == "5 个客户转给了你"


async def test_password_reset_mail_arrives_in_the_sink_with_a_working_link(client, signup, settings) -> None:
    tenant = await signup()
    asked = await client.post("/api/v1/auth/password-reset/request",
                              json={"tenant": tenant.slug, "email": tenant.admin_email})
    assert asked.status_code == 202

    async def arrived() -> list[dict[str, Any]] | None:
        return await sink_mail(client, settings, tenant.admin_email) or None
    [mail] = await eventually(arrived, timeout=10)
    assert "密码" in mail["subject"] and mail["message_id"]
    token = re.search(r"/reset-password\?token=(hkp_[A-Za-z0-9_-]+)", mail["text"]).group(1)
    assert token in mail["html"]
    done = await client.post("/api/v1/auth/password-reset/confirm",
                             json={"token": token, "new_password": "Harbor-Cactus-Ribbon-3"})
    assert done.status_code == 204, done.text


async def test_preferences_turn_email_off_for_a_type(client, signup, runtime, settings) -> None:
    tenant = await signup()
    saved = await client.put("/api/v1/notification-preferences", headers=tenant.headers, json={
        "types": {"task.overdue": {"channels": ["in_app"]}}, "quiet_hours": "", "time_zone": "Asia/Shanghai"})
    assert saved.status_code == 200, saved.text
    assert saved.json()["types"] == {"task.overdue": {"channels": ["in_app"]}}
    await publish(runtime, workflows_event(tenant.id, "task", "overdue", {"assignee_id": tenant.admin_id, "title": "quiet one"}))
    await publish(runtime, workflows_event(tenant.id, "reminder", "due", {"user_id": tenant.admin_id, "title": "loud one"}))
    await wait_inbox(client, tenant.headers, 2)

    async def reminder_mailed() -> list[dict[str, Any]] | None:
        return await sink_mail(client, settings, tenant.admin_email) or None
    mails = await eventually(reminder_mailed, timeout=10)
    await asyncio.sleep(1)  # both were handled in one consumer, in order: the first one has had its chance
    subjects = [m["subject"] for m in await sink_mail(client, settings, tenant.admin_email)]
    assert any("loud one" in s for s in subjects) and not any("quiet one" in s for s in subjects), subjects
    assert mails


async def test_a_preference_saved_applies_to_the_next_event_though_the_consumer_had_cached_it(
        client, signup, runtime, settings) -> None:
    """The consumer keeps preferences a few seconds; saving them forgets that copy at once."""
    tenant = await signup()
    await publish(runtime, workflows_event(tenant.id, "reminder", "due", {"user_id": tenant.admin_id, "title": "mailed"}))
    await wait_inbox(client, tenant.headers, 1)  # handled: the (empty) preferences were read and kept
    saved = await client.put("/api/v1/notification-preferences", headers=tenant.headers,
                             json={"types": {"task.reminder_due": {"channels": ["in_app"]}}})
    assert saved.status_code == 200, saved.text
    await publish(runtime, workflows_event(tenant.id, "reminder", "due", {"user_id": tenant.admin_id, "title": "silent"}))
    await publish(runtime, workflows_event(tenant.id, "task", "overdue", {"assignee_id": tenant.admin_id, "title": "after"}))
    await wait_inbox(client, tenant.headers, 3)

    async def last_mailed() -> list[str] | None:
        subjects = [m["subject"] for m in await sink_mail(client, settings, tenant.admin_email)]
        return subjects if any("after" in s for s in subjects) else None
    # Mail is sent in the order it was queued: once "after" is out, "silent" would have been too.
    subjects = await eventually(last_mailed)
    assert any("mailed" in s for s in subjects) and not any("silent" in s for s in subjects), subjects


async def test_bad_preferences_name_each_field_and_save_nothing(client, signup) -> None:
    tenant = await signup()
    bad = await client.put("/api/v1/notification-preferences", headers=tenant.headers, json={
        "types": {"no.such": {"channels": ["in_app"]}, "task.overdue": {"channels": ["pigeon"]}},
        "quiet_hours": "22h-8h", "time_zone": "Mars/Olympus"})
    assert bad.status_code == 422
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"types.no.such", "types.task.overdue.channels[0]", "quiet_hours", "time_zone"}
    zh = await client.put("/api/v1/notification-preferences", headers={**tenant.headers, "Accept-Language": "zh-CN"},
                          json={"quiet_hours": "25:00-08:00"})
    assert zh.status_code == 422 and "免打扰" in zh.json()["errors"][0]["message"]
    saved = (await client.get("/api/v1/notification-preferences", headers=tenant.headers)).json()
    assert saved["version"] == 0 and saved["types"] == {}
    assert any(t["key"] == "password.reset" and t["security"] for t in saved["available_types"])
    member_denied = await client.put("/api/v1/notification-defaults", headers=tenant.headers,
                                     json={"quiet_hours": "22:00-08:00"})
    assert member_denied.status_code == 200  # the admin may


# --- SSE over a real HTTP server ---------------------------------------------------------------


@pytest.fixture
async def server(app) -> Any:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    serving = uvicorn.Server(config)
    task = asyncio.create_task(serving.serve())
    while not serving.started:
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    serving.should_exit = True
    await task


async def read_events(response: httpx.Response, count: int) -> list[dict[str, str]]:
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    async for line in response.aiter_lines():
        if line == "":
            if "data" in current:
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            current[name] = value.strip()
    return events


async def test_sse_delivers_and_resumes_from_last_event_id(signup, runtime, server, client) -> None:
    tenant, other = await signup(), await signup()
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        async with http.stream("GET", "/api/v1/notifications/stream", headers=tenant.headers) as stream, \
                http.stream("GET", "/api/v1/notifications/stream", headers=other.headers) as other_stream:
            assert stream.status_code == 200 and "text/event-stream" in stream.headers["content-type"]
            await publish(runtime, workflows_event(tenant.id, "reminder", "due", {"user_id": tenant.admin_id, "title": "one"}))
            [first] = await asyncio.wait_for(read_events(stream, 1), 5)
            assert first["event"] == "notification" and '"one"' not in first["data"] and "one" in first["data"]
            last_id = first["id"]
            # Tenant B's open stream got nothing of A's: its next event is its own.
            await publish(runtime, workflows_event(other.id, "reminder", "due", {"user_id": other.admin_id, "title": "B's"}))
            [theirs] = await asyncio.wait_for(read_events(other_stream, 1), 5)
            assert "B's" in theirs["data"]
        # Disconnected: two more arrive meanwhile.
        for title in ("two", "three"):
            await publish(runtime, workflows_event(tenant.id, "reminder", "due", {"user_id": tenant.admin_id, "title": title}))
        await wait_inbox(client, tenant.headers, 3)
        async with http.stream("GET", "/api/v1/notifications/stream",
                               headers={**tenant.headers, "Last-Event-ID": last_id}) as again:
            missed = await asyncio.wait_for(read_events(again, 2), 5)
        assert ["two" in missed[0]["data"], "three" in missed[1]["data"]] == [True, True]
        assert int(missed[0]["id"]) > int(last_id)

        unauthenticated = await http.get("/api/v1/notifications/stream")
        assert unauthenticated.status_code == 401


async def test_sse_stream_ends_on_logout(signup, server) -> None:
    tenant = await signup()
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        async with http.stream("GET", "/api/v1/notifications/stream", headers=tenant.headers) as stream:
            logout = await http.post("/api/v1/auth/logout", headers=tenant.headers)
            assert logout.status_code in (200, 204), logout.text

            async def drain() -> None:
                async for _ in stream.aiter_lines():
                    pass
            await asyncio.wait_for(drain(), 8)  # the server closes it


async def test_digest_holds_mail_until_the_daily_digest(client, signup, runtime, settings) -> None:
    tenant = await signup()
    saved = await client.put("/api/v1/notification-preferences", headers=tenant.headers,
                             json={"types": {"task.overdue": {"digest": True}}})
    assert saved.status_code == 200, saved.text
    await publish(runtime, workflows_event(tenant.id, "task", "overdue", {"assignee_id": tenant.admin_id, "title": "held A"}))
    await publish(runtime, workflows_event(tenant.id, "task", "overdue", {"assignee_id": tenant.admin_id, "title": "held B"}))
    await wait_inbox(client, tenant.headers, 2)  # in-app as usual
    assert await sink_mail(client, settings, tenant.admin_email) == []
    await publish(runtime, workflows_event(tenant.id, "digest", "daily", {"user_id": tenant.admin_id}))

    async def digest() -> list[dict[str, Any]] | None:
        return await sink_mail(client, settings, tenant.admin_email) or None
    [mail] = await eventually(digest)
    assert "每日摘要" in mail["subject"] and "held A" in mail["text"] and "held B" in mail["text"]


async def test_sse_stream_ends_when_the_user_is_deactivated(signup, server, invite) -> None:
    tenant = await signup()
    member = await invite(tenant)
    async with httpx.AsyncClient(base_url=server, timeout=10) as http:
        async with http.stream("GET", "/api/v1/notifications/stream", headers=member.headers) as stream:
            off = await http.post(f"/api/v1/users/{member.id}/deactivate", json={}, headers=tenant.headers)
            assert off.status_code in (200, 204), off.text

            async def drain() -> None:
                async for _ in stream.aiter_lines():
                    pass
            await asyncio.wait_for(drain(), 8)
