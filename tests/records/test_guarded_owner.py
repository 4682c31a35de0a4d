"""A pending approval guards fields (records.record_locks): every path that changes them answers
409 naming the approval — PATCH, transfer, claim, release, merge — and a handover skips the locked
customer and reports it instead of failing the whole book. Locks are set as workflows sets them,
over the command RPC (op ``lock``)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import SignUp, Tenant
from tests.records.test_commands import command


async def lock(runtime: Any, tenant: Tenant, customer_id: str, *fields: str, entity: str = "customer") -> str:
    approval_id = str(uuid.uuid4())
    answer = await command(runtime, tenant, "lock", entity, record_id=customer_id, approval_id=approval_id,
                           fields=list(fields))
    assert answer["status"] == 200, answer
    return approval_id


async def unlock(runtime: Any, tenant: Tenant, customer_id: str, approval_id: str) -> None:
    answer = await command(runtime, tenant, "unlock", "customer", record_id=customer_id, approval_id=approval_id)
    assert answer["status"] == 200, answer


def pending(answer: httpx.Response, approval_id: str) -> bool:
    body = answer.json()
    return answer.status_code == 409 and body["type"].endswith("approval-pending") and body["approval_id"] == approval_id


async def test_claim_and_release_wait_for_the_approval_guarding_the_owner(
    client: httpx.AsyncClient, signup: SignUp, customer: Any, invite: Any, in_directory: Any, runtime: Any
) -> None:
    tenant = await signup()
    ann = await invite(tenant, roles=["sales"])
    await in_directory(tenant.id, ann.id)
    made = await customer(tenant, name="审批中的公海客户")
    held = await lock(runtime, tenant, made["id"], "owner_id")
    release = await client.post(f"/api/v1/customers/{made['id']}/release", headers=tenant.headers)
    assert pending(release, held), release.text
    await unlock(runtime, tenant, made["id"], held)
    assert (await client.post(f"/api/v1/customers/{made['id']}/release", headers=tenant.headers)).status_code == 204
    held = await lock(runtime, tenant, made["id"], "owner_id")
    claim = await client.post(f"/api/v1/pool/{made['id']}/claim", headers=ann.headers)
    assert pending(claim, held), claim.text
    assert (await client.get(f"/api/v1/customers/{made['id']}", headers=tenant.headers)).json()["owner_id"] is None
    await unlock(runtime, tenant, made["id"], held)
    claim = await client.post(f"/api/v1/pool/{made['id']}/claim", headers=ann.headers)
    assert claim.status_code == 200 and claim.json()["owner_id"] == ann.id


async def test_handover_skips_and_reports_a_customer_whose_owner_is_guarded(
    client: httpx.AsyncClient, signup: SignUp, customer: Any, invite: Any, in_directory: Any, runtime: Any
) -> None:
    tenant = await signup()
    leaver = await invite(tenant, roles=["sales"])
    heir = await invite(tenant, roles=["sales"])
    for member in (leaver, heir):
        await in_directory(tenant.id, member.id)
    free = await customer(leaver, name="可交接的客户")
    guarded = await customer(leaver, name="审批中的客户")
    held = await lock(runtime, tenant, guarded["id"], "owner_id")
    done = await client.post("/api/v1/handovers", headers=tenant.headers,
                             json={"from_user_id": leaver.id, "to_user_id": heir.id})
    assert done.status_code == 201, done.text
    report = done.json()["report"]
    assert report["customers"] == 1
    assert report["skipped"] == [{"entity": "customer", "record_id": guarded["id"], "customer_id": guarded["id"],
                                  "reason": "approval-pending", "approval_id": held, "fields": ["owner_id"]}]
    owners = {c["id"]: (await client.get(f"/api/v1/customers/{c['id']}", headers=tenant.headers)).json()["owner_id"]
              for c in (free, guarded)}
    assert owners == {free["id"]: heir.id, guarded["id"]: leaver.id}


async def _make(client: httpx.AsyncClient, who: Any, collection: str, **body: Any) -> dict[str, Any]:
    made = await client.post(f"/api/v1/{collection}", headers=who.headers, json=body)
    assert made.status_code == 201, made.text
    return dict(made.json())


async def test_handover_skips_and_reports_children_whose_owner_or_assignee_is_guarded(
    client: httpx.AsyncClient, signup: SignUp, customer: Any, invite: Any, in_directory: Any, runtime: Any
) -> None:
    tenant = await signup()
    leaver = await invite(tenant, roles=["sales"])
    heir = await invite(tenant, roles=["sales"])
    for member in (leaver, heir):
        await in_directory(tenant.id, member.id)
    theirs = await customer(leaver, name="交接客户")
    talk = await _make(client, leaver, "interactions", customer_id=theirs["id"], channel="visit", summary="上门")
    task = await _make(client, leaver, "tasks", customer_id=theirs["id"], title="回访", assignee_id=leaver.id)
    free_task = await _make(client, leaver, "tasks", customer_id=theirs["id"], title="寄样品")
    issue = await _make(client, leaver, "objections", customer_id=theirs["id"], description="价格太高", category="price",
                        severity="high", assignee_id=leaver.id)
    deal = await _make(client, leaver, "opportunities", customer_id=theirs["id"], name="年度采购", amount="10000",
                       currency="CNY")
    held = {
        "interaction": await lock(runtime, tenant, talk["id"], "owner_id", entity="interaction"),
        "task": await lock(runtime, tenant, task["id"], "assignee_id", entity="task"),
        "objection": await lock(runtime, tenant, issue["id"], "department_id", entity="objection"),
    }
    # A lock on a field the handover does not write keeps nothing back.
    await lock(runtime, tenant, deal["id"], "amount", entity="opportunity")
    done = await client.post("/api/v1/handovers", headers=tenant.headers,
                             json={"from_user_id": leaver.id, "to_user_id": heir.id})
    assert done.status_code == 201, done.text
    report = done.json()["report"]
    assert (report["customers"], report["interactions"], report["tasks"], report["objections"],
            report["opportunities"]) == (1, 0, 1, 0, 1)
    assert sorted(report["skipped"], key=lambda s: s["entity"]) == [
        {"entity": "interaction", "record_id": talk["id"], "customer_id": theirs["id"], "reason": "approval-pending",
         "approval_id": held["interaction"], "fields": ["owner_id"]},
        {"entity": "objection", "record_id": issue["id"], "customer_id": theirs["id"], "reason": "approval-pending",
         "approval_id": held["objection"], "fields": ["department_id"]},
        {"entity": "task", "record_id": task["id"], "customer_id": theirs["id"], "reason": "approval-pending",
         "approval_id": held["task"], "fields": ["assignee_id"]}]

    async def owner(collection: str, record: dict[str, Any]) -> Any:
        got = (await client.get(f"/api/v1/{collection}/{record['id']}", headers=tenant.headers)).json()
        return got.get("assignee_id") or got["owner_id"]

    assert [await owner(c, r) for c, r in (("interactions", talk), ("tasks", task), ("objections", issue))] \
        == [leaver.id] * 3
    assert [await owner(c, r) for c, r in (("tasks", free_task), ("opportunities", deal))] == [heir.id] * 2
    # The handover is listed with its report.
    listed = (await client.get("/api/v1/handovers", headers=tenant.headers)).json()["items"]
    assert listed[0]["report"]["skipped"] == report["skipped"]


async def test_merge_refuses_a_guarded_survivor_field_or_a_guarded_merged_customer(
    client: httpx.AsyncClient, signup: SignUp, customer: Any, runtime: Any
) -> None:
    tenant = await signup()
    survivor = await customer(tenant, name="合并保留方")
    other = await customer(tenant, name="合并被并方", industry="制造业")
    url = f"/api/v1/customers/{survivor['id']}/merge"
    # The merge would fill the survivor's empty industry: guarded there, it waits.
    held = await lock(runtime, tenant, survivor["id"], "industry")
    refused = await client.post(url, headers=tenant.headers, json={"merge_ids": [other["id"]]})
    assert pending(refused, held), refused.text
    await unlock(runtime, tenant, survivor["id"], held)
    # A merged customer disappears into the survivor: any pending approval on it refuses the merge.
    held = await lock(runtime, tenant, other["id"], "tier")
    refused = await client.post(url, headers=tenant.headers, json={"merge_ids": [other["id"]]})
    assert pending(refused, held), refused.text
    assert (await client.get(f"/api/v1/customers/{other['id']}", headers=tenant.headers)).json()["id"] == other["id"]
    await unlock(runtime, tenant, other["id"], held)
    merged = await client.post(url, headers=tenant.headers, json={"merge_ids": [other["id"]]})
    assert merged.status_code in (200, 201), merged.text


async def test_a_guard_on_an_api_field_sees_its_columns_in_merge_and_patch(
    client: httpx.AsyncClient, signup: SignUp, customer: Any, runtime: Any
) -> None:
    tenant = await signup()
    survivor = await customer(tenant, name="无电话的保留方")
    other = await customer(tenant, name="有电话的被并方", phone="13800138000")
    url = f"/api/v1/customers/{survivor['id']}/merge"
    # The merge would give the survivor a phone (columns phones / primary_phone): a guard on phone sees it.
    held = await lock(runtime, tenant, survivor["id"], "phone")
    refused = await client.post(url, headers=tenant.headers, json={"merge_ids": [other["id"]]})
    assert pending(refused, held), refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["phone"]
    # The same guard holds a PATCH of the list.
    patched = await client.patch(f"/api/v1/customers/{survivor['id']}", headers=tenant.headers,
                                 json={"phones": [{"value": "13900139000"}]})
    assert pending(patched, held), patched.text
    await unlock(runtime, tenant, survivor["id"], held)
    merged = await client.post(url, headers=tenant.headers, json={"merge_ids": [other["id"]]})
    assert merged.status_code in (200, 201), merged.text


async def test_a_transfer_with_open_work_leaves_guarded_work_and_reports_it(
    client: httpx.AsyncClient, signup: SignUp, customer: Any, invite: Any, in_directory: Any, runtime: Any
) -> None:
    tenant = await signup()
    heir = await invite(tenant, roles=["sales"])
    await in_directory(tenant.id, heir.id)
    theirs = await customer(tenant, name="转移客户")
    guarded = await _make(client, tenant, "tasks", customer_id=theirs["id"], title="待审批的任务")
    free = await _make(client, tenant, "tasks", customer_id=theirs["id"], title="普通任务")
    held = await lock(runtime, tenant, guarded["id"], "owner_id", entity="task")
    moved = await client.post("/api/v1/customers/transfer", headers=tenant.headers, json={
        "customer_ids": [theirs["id"]], "to_user_id": heir.id, "include_tasks": True})
    assert moved.status_code == 200, moved.text
    assert moved.json()["tasks"] == 1 and moved.json()["skipped"] == [
        {"entity": "task", "record_id": guarded["id"], "customer_id": theirs["id"], "reason": "approval-pending",
         "approval_id": held, "fields": ["owner_id"]}]
    owners = [(await client.get(f"/api/v1/tasks/{t['id']}", headers=tenant.headers)).json()["owner_id"]
              for t in (guarded, free)]
    assert owners == [tenant.admin_id, heir.id]
