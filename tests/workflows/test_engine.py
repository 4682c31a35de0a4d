"""Workflows acting on records' events, end to end through the HTTP API and real NATS and PostgreSQL:
triggers, conditions, steps, timers, settle windows, loop protection, permissions and isolation."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import SignUp, Tenant
from tests.workflows.conftest import eventually

Who = Any  # a Tenant (its admin) or a Member


async def make_workflow(client: httpx.AsyncClient, who: Who, triggers: list[dict[str, Any]],
                        steps: list[dict[str, Any]], name: str = "规则") -> dict[str, Any]:
    answer = await client.post("/api/v1/workflows", json={"name": name, "triggers": triggers, "steps": steps},
                               headers=who.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def runs_of(client: httpx.AsyncClient, who: Who, workflow_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/v1/workflows/{workflow_id}/runs", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def settled_runs(client: httpx.AsyncClient, who: Who, workflow_id: str, count: int = 1,
                       timeout: float = 5.0) -> list[dict[str, Any]]:
    """Wait until ``count`` runs have finished (succeeded, failed or skipped); answer them with their steps."""
    async def finished() -> bool:
        done = [r for r in await runs_of(client, who, workflow_id)
                if r["status"] in ("succeeded", "failed", "skipped", "cancelled")]
        return len(done) >= count

    await eventually(finished, timeout=timeout)
    items = await runs_of(client, who, workflow_id)
    return [(await client.get(f"/api/v1/workflow-runs/{r['id']}", headers=who.headers)).json() for r in items]


async def customer_of(client: httpx.AsyncClient, who: Who, **fields: Any) -> dict[str, Any]:
    answer = await client.post("/api/v1/customers", json={"name": f"客户 {uuid.uuid4().hex[:6]}", **fields},
                               headers=who.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def tasks_of(client: httpx.AsyncClient, who: Who, customer_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/v1/tasks?customer_id={customer_id}", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def test_an_objection_becoming_high_creates_a_task_within_two_seconds(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant = await signup()
    workflow = await make_workflow(client, tenant, [
        {"type": "record.updated", "entity": "objection", "fields": ["severity"],
         "condition": 'record.severity == "high" && old.severity != "high"'}], [
        {"type": "create_task", "title": "处理高危异议", "due_in": "PT8H", "business_time": True,
         "assignee": "record.assignee_id"}])
    customer = await customer_of(client, tenant)
    objection = (await client.post("/api/v1/objections", headers=tenant.headers, json={
        "customer_id": customer["id"], "category": "price", "severity": "low", "description": "价格太高",
        "assignee_id": tenant.admin_id})).json()
    # A change that does not meet the condition starts nothing.
    await client.patch(f"/api/v1/objections/{objection['id']}", json={"description": "价格还是太高"},
                       headers=tenant.headers)
    changed_at = datetime.now(UTC)
    answer = await client.patch(f"/api/v1/objections/{objection['id']}", json={"severity": "high"},
                                headers=tenant.headers)
    assert answer.status_code == 200, answer.text

    async def task_made() -> bool:
        return any(t["title"] == "处理高危异议" for t in await tasks_of(client, tenant, customer["id"]))

    took = await eventually(task_made, timeout=2.0)
    print(f"objection change to task: {took * 1000:.0f} ms")
    task = next(t for t in await tasks_of(client, tenant, customer["id"]) if t["title"] == "处理高危异议")
    assert task["assignee_id"] == objection["assignee_id"]
    due = datetime.fromisoformat(task["due_at"])
    assert due > changed_at  # 8 business hours on, on the tenant's calendar
    [run] = await settled_runs(client, tenant, workflow["id"])
    assert run["status"] == "succeeded" and run["workflow_version"] == 1
    assert run["trigger"]["type"] == "record.updated"
    assert run["record"] == {"type": "objection", "id": objection["id"]}
    [step] = run["steps"]
    assert step["type"] == "create_task" and step["status"] == "succeeded"
    assert step["output"]["task_id"] == task["id"] and step["input"]["title"] == "处理高危异议"


async def test_branches_waits_and_tags(client: httpx.AsyncClient, signup: SignUp) -> None:
    tenant = await signup()
    workflow = await make_workflow(client, tenant, [{"type": "record.created", "entity": "customer"}], [
        {"type": "branch", "condition": 'record.tier == "A"',
         "then": [{"type": "add_tags", "tags": ["重点"]}],
         "else": [{"type": "add_tags", "tags": ["普通"]}]},
        {"type": "wait", "duration": "PT1S"},
        {"type": "add_tags", "tags": ["已跟进"]},
    ])
    vip = await customer_of(client, tenant, tier="A")
    plain = await customer_of(client, tenant, tier="C")
    runs = await settled_runs(client, tenant, workflow["id"], count=2, timeout=8.0)
    assert {r["status"] for r in runs} == {"succeeded"}
    vip_now = (await client.get(f"/api/v1/customers/{vip['id']}", headers=tenant.headers)).json()
    plain_now = (await client.get(f"/api/v1/customers/{plain['id']}", headers=tenant.headers)).json()
    assert set(vip_now["tags"]) == {"重点", "已跟进"}
    assert set(plain_now["tags"]) == {"普通", "已跟进"}
    vip_run = next(r for r in runs if r["record"]["id"] == vip["id"])
    assert [s["path"] for s in vip_run["steps"]] == ["steps[0]", "steps[0].then[0]", "steps[1]", "steps[2]"]
    assert vip_run["steps"][0]["output"] == {"took": "then"}
    # The writes are the workflow's in the record's history.
    history = (await client.get(f"/api/v1/customers/{vip['id']}/history", headers=tenant.headers)).json()["items"]
    assert {h["actor"]["kind"] for h in history if h["field"] == "tags"} == {"workflow"}
    assert {h["actor"]["id"] for h in history if h["field"] == "tags"} == {workflow["id"]}


async def test_a_settle_window_runs_once_after_the_record_stops_changing(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant = await signup()
    workflow = await make_workflow(client, tenant, [
        {"type": "record.updated", "entity": "customer", "fields": ["industry"], "settle_seconds": 1}], [
        {"type": "add_tags", "tags": ["资料已更新"]}])
    customer = await customer_of(client, tenant)
    for industry in ("制造", "制造业", "汽车制造"):
        await client.patch(f"/api/v1/customers/{customer['id']}", json={"industry": industry}, headers=tenant.headers)
    [run] = await settled_runs(client, tenant, workflow["id"], timeout=6.0)
    assert run["status"] == "succeeded"
    await asyncio.sleep(1.5)
    assert len(await runs_of(client, tenant, workflow["id"])) == 1


async def test_a_date_trigger_fires_at_its_offset_and_is_replanned_when_the_date_moves(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant = await signup()
    workflow = await make_workflow(client, tenant, [
        {"type": "date", "entity": "task", "field": "due_at", "offset": "-PT1H"}], [
        {"type": "notify", "to": "record.assignee_id", "message": "任务 {{record.title}} 一小时后到期"}])
    customer = await customer_of(client, tenant)
    far = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    task = (await client.post("/api/v1/tasks", headers=tenant.headers, json={
        "customer_id": customer["id"], "title": "回访", "due_at": far})).json()
    await asyncio.sleep(0.5)
    assert await runs_of(client, tenant, workflow["id"]) == []
    # Moved to one hour and two seconds from now: the reminder is two seconds away.
    soon = (datetime.now(UTC) + timedelta(hours=1, seconds=2)).isoformat()
    await client.patch(f"/api/v1/tasks/{task['id']}", json={"due_at": soon}, headers=tenant.headers)
    [run] = await settled_runs(client, tenant, workflow["id"], timeout=6.0)
    assert run["status"] == "succeeded" and run["trigger"]["type"] == "date" and run["late"] is False
    assert run["steps"][0]["input"]["to"] == [tenant.admin_id]


async def test_a_workflows_own_writes_retrigger_it_only_to_a_bounded_depth(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant = await signup()
    workflow = await make_workflow(client, tenant, [{"type": "record.updated", "entity": "customer"}], [
        {"type": "update_record", "fields": {"industry": "循环"}}])
    customer = await customer_of(client, tenant)
    await client.patch(f"/api/v1/customers/{customer['id']}", json={"tier": "B"}, headers=tenant.headers)

    async def skipped() -> bool:
        return any(r["status"] == "skipped" for r in await runs_of(client, tenant, workflow["id"]))

    await eventually(skipped, timeout=8.0)
    await asyncio.sleep(1.0)
    runs = await runs_of(client, tenant, workflow["id"])
    assert len(runs) <= 5, [r["status"] for r in runs]
    skipped_run = next(r for r in runs if r["status"] == "skipped")
    assert "loop protection" in skipped_run["error"]


async def test_actions_run_with_the_authors_rights(client: httpx.AsyncClient, signup: SignUp, invite: Any) -> None:
    tenant = await signup()
    # The admin grants a manager role a workflow right but the author is read-only on tasks.
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "key": "flow_author", "name": "流程作者",
        "permissions": {"workflow": {"actions": ["read", "create", "update"], "scope": "all"},
                        "customer": {"actions": ["read", "create", "update"], "scope": "all"},
                        "task": {"actions": ["read"], "scope": "all"}}})
    assert role.status_code == 201, role.text
    author = await invite(tenant, roles=["flow_author"])
    workflow = await make_workflow(client, author, [{"type": "record.created", "entity": "customer"}], [
        {"type": "create_task", "title": "不应出现"}])
    customer = await customer_of(client, tenant)
    [run] = await settled_runs(client, tenant, workflow["id"])
    assert run["status"] == "failed"
    assert "task" in run["error"] and "create" in run["error"]
    assert await tasks_of(client, tenant, customer["id"]) == []


async def test_a_workflow_never_reaches_another_tenant(client: httpx.AsyncClient, signup: SignUp) -> None:
    owner, other = await signup(), await signup()
    workflow = await make_workflow(client, owner, [{"type": "record.created", "entity": "customer"}], [
        {"type": "create_task", "title": "跨租户", "assignee": f'"{other.admin_id}"'}])
    # The other tenant's customers start nothing in the owner's workflow.
    theirs = await customer_of(client, other)
    await asyncio.sleep(1.0)
    assert await runs_of(client, owner, workflow["id"]) == []
    # An action naming the other tenant's user is refused by records: no task anywhere.
    mine = await customer_of(client, owner)
    [run] = await settled_runs(client, owner, workflow["id"])
    assert run["status"] == "failed" and run["record"]["id"] == mine["id"]
    assert await tasks_of(client, owner, mine["id"]) == []
    assert await tasks_of(client, other, theirs["id"]) == []
    # The other tenant cannot read the run, start it by hand or dry-run it.
    assert (await client.get(f"/api/v1/workflow-runs/{run['id']}", headers=other.headers)).status_code == 404
    assert (await client.post(f"/api/v1/workflows/{workflow['id']}/dry-run", json={},
                              headers=other.headers)).status_code == 404
    # Nor can the owner run its workflow on the other tenant's record.
    answer = await client.post(f"/api/v1/workflows/{workflow['id']}/dry-run", headers=owner.headers,
                               json={"record": {"type": "customer", "id": theirs["id"]}})
    assert answer.status_code == 404


async def test_dry_run_and_start_by_hand(client: httpx.AsyncClient, signup: SignUp) -> None:
    tenant: Tenant = await signup()
    workflow = await make_workflow(client, tenant, [{"type": "manual", "entity": "customer"}], [
        {"type": "branch", "condition": 'record.tier == "A"', "then": [{"type": "add_tags", "tags": ["重点"]}]},
        {"type": "create_task", "title": "首次拜访", "due_in": "P1D"}])
    customer = await customer_of(client, tenant, tier="A")
    ref = {"record": {"type": "customer", "id": customer["id"]}}
    dry = await client.post(f"/api/v1/workflows/{workflow['id']}/dry-run", json=ref, headers=tenant.headers)
    assert dry.status_code == 200, dry.text
    steps = dry.json()["steps"]
    assert [s["path"] for s in steps] == ["steps[0]", "steps[0].then[0]", "steps[1]"]
    assert steps[2]["input"]["title"] == "首次拜访" and steps[2]["input"]["customer_id"] == customer["id"]
    # The dry run did nothing.
    assert await tasks_of(client, tenant, customer["id"]) == []
    assert (await client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.headers)).json()["tags"] == []
    assert await runs_of(client, tenant, workflow["id"]) == []

    started = await client.post(f"/api/v1/workflows/{workflow['id']}/runs", json=ref,
                                headers={**tenant.headers, "Idempotency-Key": "start-1"})
    assert started.status_code == 201, started.text
    again = await client.post(f"/api/v1/workflows/{workflow['id']}/runs", json=ref,
                              headers={**tenant.headers, "Idempotency-Key": "start-1"})
    assert again.json()["id"] == started.json()["id"]
    [run] = await settled_runs(client, tenant, workflow["id"])
    assert run["status"] == "succeeded" and run["trigger"]["type"] == "manual"
    assert [t["title"] for t in await tasks_of(client, tenant, customer["id"])] == ["首次拜访"]


async def test_an_inbound_webhook_starts_a_run_only_with_its_own_secret(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    owner, other = await signup(), await signup()
    created = await client.post("/api/v1/workflows", headers=owner.headers, json={
        "name": "官网表单线索", "triggers": [{"type": "webhook"}],
        "steps": [{"type": "branch", "condition": 'record.source == "官网"', "then": [{"type": "stop"}]}]})
    workflow, secret = created.json(), created.json()["webhook_secret"]
    theirs = (await client.post("/api/v1/workflows", headers=other.headers, json={
        "name": "别人的", "triggers": [{"type": "webhook"}], "steps": [{"type": "stop"}]})).json()
    hook = f"/api/v1/workflow-hooks/{workflow['id']}"
    for headers in ({}, {"Authorization": "Bearer whsec_wrong"}, {"Authorization": f"Bearer {theirs['webhook_secret']}"},
                    owner.headers):
        refused = await client.post(hook, json={"source": "官网"}, headers=headers)
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
    # The other tenant's secret on its own workflow does not start the owner's.
    assert (await client.post(f"/api/v1/workflow-hooks/{uuid.uuid4()}", json={},
                              headers={"Authorization": f"Bearer {secret}"})).status_code == 401
    assert await runs_of(client, owner, workflow["id"]) == []

    sent = {"Authorization": f"Bearer {secret}", "webhook-id": "msg_1"}
    started = await client.post(hook, json={"source": "官网", "name": "张三"}, headers=sent)
    assert started.status_code == 202, started.text
    again = await client.post(hook, json={"source": "官网", "name": "张三"}, headers=sent)
    assert again.json()["id"] == started.json()["id"]
    [run] = await settled_runs(client, owner, workflow["id"])
    assert run["status"] == "succeeded" and run["trigger"]["type"] == "webhook"
    assert run["steps"][0]["output"] == {"took": "then"}
    assert await runs_of(client, other, theirs["id"]) == []
    # Without its webhook trigger the secret opens nothing any more.
    await client.patch(f"/api/v1/workflows/{workflow['id']}", json={"triggers": [{"type": "manual"}]},
                       headers=owner.headers)
    assert (await client.post(hook, json={}, headers={"Authorization": f"Bearer {secret}"})).status_code == 401
