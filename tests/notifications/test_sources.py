"""What the other services publish reaches people: mentions in records' texts, a ready export,
a login from a new place, a new API key, an invitation's mail with its link."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from shared.tenancy import scope_for_system
from tests.identity.conftest import client_at, invite  # noqa: F401 - fixtures
from tests.notifications.test_inbox import eventually, inbox, sink_mail, wait_inbox

pytestmark = pytest.mark.asyncio


async def in_directory(runtime: Any, tenant_id: str, user_id: str) -> None:
    db = runtime.db("records")

    async def known() -> bool:
        async with db.tenant_unit(scope_for_system(uuid.UUID(tenant_id))) as unit:
            return bool(await unit.fetchval("SELECT 1 FROM records.directory_users WHERE tenant_id = $1 AND id = $2",
                                            uuid.UUID(tenant_id), uuid.UUID(user_id)))
    await eventually(known)


async def test_a_mention_in_an_interaction_tells_the_user_named(client, signup, runtime, invite) -> None:
    tenant = await signup()
    member = await invite(tenant, name="张小明")
    bystander = await invite(tenant, name="李四")
    await in_directory(runtime, tenant.id, member.id)
    made = await client.post("/api/v1/customers", json={"name": "深圳市腾讯计算机系统有限公司"}, headers=tenant.headers)
    assert made.status_code == 201, made.text
    logged = await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": made.json()["id"], "channel": "phone", "summary": "报价已发，@张小明请明天跟进"})
    assert logged.status_code == 201, logged.text
    [item] = await wait_inbox(client, member.headers, 1)
    assert item["type"] == "mention" and item["title"] == "Ada Admin 提到了你"
    assert "@张小明请明天跟进" in item["body"]
    assert item["link"] == {"type": "interaction", "id": logged.json()["id"]}
    assert await inbox(client, bystander.headers) == []
    # Editing the text without a new name tells nobody again.
    edited = await client.patch(f"/api/v1/interactions/{logged.json()['id']}", headers=tenant.headers,
                                json={"summary": "报价已发（改），@张小明请明天跟进"})
    assert edited.status_code == 200, edited.text
    assert len(await inbox(client, member.headers)) == 1


async def test_a_ready_export_is_announced_to_who_asked(client, signup) -> None:
    tenant = await signup()
    await client.post("/api/v1/customers", json={"name": "Acme"}, headers=tenant.headers)
    asked = await client.post("/api/v1/exports", json={"entity": "customer", "format": "csv"}, headers=tenant.headers)
    assert asked.status_code == 202, asked.text
    [item] = await wait_inbox(client, tenant.headers, 1, type="export.ready")
    assert item["link"] == {"type": "export", "id": asked.json()["id"]} and "1 行" in item["body"]


async def test_security_notices_login_from_a_new_place_and_api_key(client, signup, app, settings) -> None:
    tenant = await signup()
    created = await client.post("/api/v1/api-keys", json={"name": "ERP sync", "scopes": ["customer:read"]},
                                headers=tenant.headers)
    assert created.status_code == 201, created.text
    [key_notice] = await wait_inbox(client, tenant.headers, 1, type="api_key.created")
    assert "ERP sync" in key_notice["body"]
    # The sign-up's session came from the test client's address: the same address is not news.
    login = {"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.admin_password}
    assert (await client.post("/api/v1/auth/login", json=login)).status_code == 200
    async with client_at(app, "198.51.100.23") as elsewhere:
        assert (await elsewhere.post("/api/v1/auth/login", json=login)).status_code == 200
    [place] = await wait_inbox(client, tenant.headers, 1, type="login.new_place")
    assert "198.51.100.23" in place["body"]

    async def mailed() -> list[dict[str, Any]] | None:
        mails = await sink_mail(client, settings, tenant.admin_email)
        return mails if len(mails) >= 2 else None
    subjects = {m["subject"] for m in await eventually(mailed)}
    assert any("API" in s for s in subjects) and any("新地点" in s for s in subjects), subjects


async def test_an_invitation_is_mailed_with_its_link(client: httpx.AsyncClient, signup, settings) -> None:
    tenant = await signup(company_name=f"Globex {uuid.uuid4().hex[:6]}")
    address = f"new-{uuid.uuid4().hex[:8]}@example.com"
    invited = await client.post("/api/v1/invitations", json={"email": address, "name": "Cy"}, headers=tenant.headers)
    assert invited.status_code == 201, invited.text

    async def arrived() -> list[dict[str, Any]] | None:
        return await sink_mail(client, settings, address) or None
    [mail] = await eventually(arrived)
    assert tenant.body["tenant"]["name"] in mail["subject"] and "Ada Admin" in mail["subject"]
    token = re.search(r"/accept-invitation\?token=(hki_[A-Za-z0-9_-]+)", mail["text"]).group(1)
    assert token == invited.json()["token"]


async def test_a_workflows_notify_step_reaches_the_inbox_and_mail(client, signup, settings) -> None:
    tenant = await signup()
    made = await client.post("/api/v1/workflows", headers=tenant.headers, json={
        "name": "Tell the admin", "enabled": True, "triggers": [{"type": "manual"}],
        "steps": [{"type": "notify", "to": f"'{tenant.admin_id}'", "message": "请检查本周报价",
                   "channels": ["in_app", "email"]}]})
    assert made.status_code == 201, made.text
    run = await client.post(f"/api/v1/workflows/{made.json()['id']}/runs", json={}, headers=tenant.headers)
    assert run.status_code == 201, run.text
    [item] = await wait_inbox(client, tenant.headers, 1, type="workflow.message")
    assert item["title"] == "流程通知" and item["body"] == "请检查本周报价"

    async def mailed() -> list[dict[str, Any]] | None:
        return await sink_mail(client, settings, tenant.admin_email) or None
    [mail] = await eventually(mailed)
    assert "流程通知" in mail["subject"] and "请检查本周报价" in mail["text"]


async def test_approval_events_tell_approvers_and_the_submitter_once_decided(client, signup, runtime, invite) -> None:
    from tests.notifications.test_inbox import publish, workflows_event

    tenant = await signup()
    approver = await invite(tenant)
    record = {"type": "opportunity", "id": str(uuid.uuid4())}
    common = {"approval_id": str(uuid.uuid4()), "name": "大额折扣", "record": record, "submitted_by": tenant.admin_id}
    await publish(runtime, workflows_event(tenant.id, "approval", "requested", {**common, "approvers": [approver.id]}))
    await publish(runtime, workflows_event(tenant.id, "approval", "decided",
                                           {**common, "status": "pending", "decision": "approve"}))
    await publish(runtime, workflows_event(tenant.id, "approval", "decided",
                                           {**common, "status": "approved", "decision": "approve"}))
    [waiting] = await wait_inbox(client, approver.headers, 1)
    assert waiting["type"] == "approval.requested" and waiting["title"] == "待你审批：大额折扣"
    assert waiting["link"] == record
    [decided] = await wait_inbox(client, tenant.headers, 1)
    assert decided["type"] == "approval.decided" and "批准" in decided["body"]
    assert len(await inbox(client, tenant.headers)) == 1  # the pending step told the submitter nothing
