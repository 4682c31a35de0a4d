"""Transfer and handover (离职交接): what moves, reports, events, deactivation, bad input."""

from __future__ import annotations

import uuid

import pytest

from shared.tenancy import scope_for_system
from tests.records.conftest import eventually
from tests.records.data_quality_fixtures import data_quality_jobs  # noqa: F401 - fixture


async def _member(invite, in_directory, tenant, roles=("sales",)):
    member = await invite(tenant, roles=list(roles))
    await in_directory(tenant.id, member.id)
    return member


async def test_transfer_moves_customers_and_open_work_when_asked(client, signup, customer, invite, in_directory,
                                                                  records_events) -> None:
    tenant = await signup()
    bo = await _member(invite, in_directory, tenant)
    first = await customer(tenant, name="转移一")
    second = await customer(tenant, name="转移二")
    task = (await client.post("/api/v1/tasks", headers=tenant.headers,
                              json={"customer_id": first["id"], "title": "跟进", "assignee_id": tenant.admin_id})).json()
    done = (await client.post("/api/v1/tasks", headers=tenant.headers,
                              json={"customer_id": first["id"], "title": "旧的", "status": "done"})).json()
    moved = await client.post("/api/v1/customers/transfer", headers=tenant.headers, json={
        "customer_ids": [first["id"], second["id"]], "to_user_id": bo.id, "include_tasks": True})
    assert moved.status_code == 200, moved.text
    assert moved.json()["customers"] == 2 and moved.json()["tasks"] == 1 and moved.json()["objections"] == 0
    for c in (first, second):
        got = (await client.get(f"/api/v1/customers/{c['id']}", headers=bo.headers)).json()
        assert got["owner_id"] == bo.id
    mine = (await client.get(f"/api/v1/tasks/{task['id']}", headers=bo.headers)).json()
    assert mine["owner_id"] == bo.id and mine["assignee_id"] == bo.id
    old = (await client.get(f"/api/v1/tasks/{done['id']}", headers=tenant.headers)).json()
    assert old["owner_id"] == tenant.admin_id  # closed work stays
    event = await records_events.wait_for(tenant.id, "customer.transferred")
    assert event.data["previous_owner_id"] == tenant.admin_id and event.data["owner_id"] == bo.id
    history = (await client.get(f"/api/v1/customers/{first['id']}/history", headers=tenant.headers)).json()["items"]
    assert any(h["field"] == "owner_id" and h["new"] == bo.id for h in history)


async def test_transfer_bad_input_writes_nothing(client, runtime, signup, customer, invite, in_directory) -> None:
    tenant, other = await signup(), await signup()
    bo = await _member(invite, in_directory, tenant)
    mine = await customer(tenant, name="我的")
    theirs = await customer(other, name="别人的")
    gone = await client.post(f"/api/v1/users/{bo.id}/deactivate", headers=tenant.headers, json={})
    assert gone.status_code == 200

    async def mirrored() -> bool:
        async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            return await unit.fetchval("SELECT status FROM records.directory_users WHERE tenant_id = $1 AND id = $2",
                                       uuid.UUID(tenant.id), uuid.UUID(bo.id)) == "deactivated"

    await eventually(mirrored, timeout=5)
    refused = await client.post("/api/v1/customers/transfer", headers=tenant.headers,
                                json={"customer_ids": [mine["id"]], "to_user_id": bo.id})
    assert refused.json()["errors"][0]["field"] == "to_user_id"
    cross = await client.post("/api/v1/customers/transfer", headers=tenant.headers,
                              json={"customer_ids": [mine["id"], theirs["id"]], "to_user_id": tenant.admin_id})
    assert cross.status_code == 422 and cross.json()["errors"][0]["field"] == "customer_ids[1]"
    sales = await _member(invite, in_directory, tenant)
    denied = await client.post("/api/v1/customers/transfer", headers=sales.headers,
                               json={"customer_ids": [mine["id"]], "to_user_id": sales.id})
    assert denied.status_code == 403
    assert (await client.get(f"/api/v1/customers/{mine['id']}", headers=tenant.headers)).json()["version"] == 1


async def test_handover_by_request_reports_what_moved(client, signup, customer, invite, in_directory) -> None:
    tenant = await signup()
    leaver = await _member(invite, in_directory, tenant)
    heir = await _member(invite, in_directory, tenant)
    theirs = await customer(leaver, name="离职者的客户")
    await client.post("/api/v1/tasks", headers=leaver.headers, json={"customer_id": theirs["id"], "title": "待办"})
    both = await client.post("/api/v1/handovers", headers=tenant.headers,
                             json={"from_user_id": leaver.id, "to_user_id": heir.id, "to_pool": True})
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "to_user_id"
    done = await client.post("/api/v1/handovers", headers=tenant.headers,
                             json={"from_user_id": leaver.id, "to_user_id": heir.id})
    assert done.status_code == 201, done.text
    assert done.json()["report"]["customers"] == 1 and done.json()["report"]["tasks"] == 1
    got = (await client.get(f"/api/v1/customers/{theirs['id']}", headers=heir.headers))
    assert got.status_code == 200 and got.json()["owner_id"] == heir.id
    assert (await client.get("/api/v1/customers", headers=leaver.headers)).json()["items"] == []
    listed = await client.get("/api/v1/handovers", headers=tenant.headers)
    assert listed.json()["items"][0]["id"] == done.json()["id"]


@pytest.mark.usefixtures("data_quality_jobs")
async def test_deactivation_hands_over_to_successor_or_pool(client, signup, customer, invite, in_directory,
                                                             records_events) -> None:
    tenant = await signup()
    leaver = await _member(invite, in_directory, tenant)
    heir = await _member(invite, in_directory, tenant)
    theirs = await customer(leaver, name="交接客户")
    out = await client.post(f"/api/v1/users/{leaver.id}/deactivate", headers=tenant.headers,
                            json={"successor_id": heir.id})
    assert out.status_code == 200

    async def moved() -> bool:
        got = await client.get(f"/api/v1/customers/{theirs['id']}", headers=tenant.headers)
        return got.json()["owner_id"] == heir.id

    await eventually(moved, timeout=10)
    event = await records_events.wait_for(tenant.id, "handover.completed", timeout=5)
    assert event.data["report"]["customers"] == 1 and event.data["trigger"] == "user_deactivated"
    # Without a successor: the pool.
    lonely = await _member(invite, in_directory, tenant)
    pooled = await customer(lonely, name="无人接手")
    await client.post(f"/api/v1/users/{lonely.id}/deactivate", headers=tenant.headers, json={})

    async def in_pool() -> bool:
        pool = (await client.get("/api/v1/pool", headers=tenant.headers)).json()["items"]
        return pooled["id"] in [c["id"] for c in pool]

    await eventually(in_pool, timeout=10)
