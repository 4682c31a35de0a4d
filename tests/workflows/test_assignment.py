"""assign_owner by strategy: round robin over a department (concurrency-safe turns), least loaded
from records' open work, an empty pool failing the run with its reason, bad definitions refused."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx

from services.workflows.domain import assignment, people
from services.workflows.domain import definitions as d
from shared.tenancy import scope_for_system
from tests.conftest import SignUp, Tenant
from tests.workflows.conftest import eventually
from tests.workflows.test_engine import customer_of, make_workflow, settled_runs


async def team(client: httpx.AsyncClient, tenant: Tenant, invite: Any, runtime: Any, size: int = 3,
               roles: list[str] | None = None) -> tuple[str, list[str]]:
    """A department with ``size`` members, once workflows' and records' mirrors know them."""
    root = (await client.get("/api/v1/departments", headers=tenant.headers)).json()["items"][0]
    made = await client.post("/api/v1/departments", headers=tenant.headers,
                             json={"name": f"销售{uuid.uuid4().hex[:4]}", "parent_id": root["id"]})
    department_id = made.json()["id"]
    members = sorted([(await invite(tenant, department_id=department_id, roles=roles)).id for _ in range(size)])
    scope = scope_for_system(uuid.UUID(tenant.id))

    async def known() -> bool:
        async with runtime.db("workflows").tenant_unit(scope) as unit:
            pool = await people.users_of_department(unit, uuid.UUID(department_id))
        async with runtime.db("records").tenant_unit(scope) as unit:
            mirrored = await unit.fetchval("SELECT count(*) FROM records.directory_users WHERE id = ANY($1::uuid[])",
                                           [uuid.UUID(m) for m in members])
        return [str(u) for u in pool] == members and mirrored == size

    await eventually(known, timeout=5)
    return department_id, members


async def owners(client: httpx.AsyncClient, tenant: Tenant, ids: list[str]) -> list[str]:
    return [(await client.get(f"/api/v1/customers/{i}", headers=tenant.headers)).json()["owner_id"] for i in ids]


async def test_round_robin_gives_each_member_of_the_department_the_same_share(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    department_id, members = await team(client, tenant, invite, runtime)
    workflow = await make_workflow(client, tenant, [{"type": "record.created", "entity": "customer"}], [
        {"type": "assign_owner", "strategy": "round_robin", "department_id": department_id}])
    created = [(await customer_of(client, tenant))["id"] for _ in range(6)]
    runs = await settled_runs(client, tenant, workflow["id"], count=6, timeout=10)
    assert {r["status"] for r in runs} == {"succeeded"}, [r["error"] for r in runs]
    assert Counter(await owners(client, tenant, created)) == {m: 2 for m in members}
    step = runs[0]["steps"][0]
    assert step["input"]["strategy"] == "round_robin" and step["output"]["pool"] == members


async def test_round_robin_turns_are_distinct_when_runs_choose_at_once(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    department_id, members = await team(client, tenant, invite, runtime)
    step = d.AssignOwner(strategy="round_robin", department_id=department_id)
    scope, workflow_id = scope_for_system(uuid.UUID(tenant.id)), uuid.uuid4()
    db, nc = runtime.db("workflows"), runtime.bus.nc
    picks = await asyncio.gather(*(assignment.choose(db, scope, nc, workflow_id, step, "customer", f"k{i}")
                                   for i in range(6)))
    assert Counter(str(user) for user, _ in picks) == {m: 2 for m in members}
    # The same step again (same key) chooses the same user, taking no turn.
    again, detail = await assignment.choose(db, scope, nc, workflow_id, step, "customer", "k0")
    assert again == picks[0][0] and detail == {"remembered": True}


async def test_least_loaded_picks_the_member_with_the_fewest_open_customers(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    department_id, members = await team(client, tenant, invite, runtime)
    busy, some, free = members[2], members[0], members[1]
    for owner in (busy, busy, some):
        await customer_of(client, tenant, owner_id=owner)
    churned = await customer_of(client, tenant, owner_id=free, lifecycle_stage="churned")  # not open work
    assert churned["owner_id"] == free

    async def seen_by_the_rules() -> bool:
        # The four customers' events reached the rules before the workflow exists (else they start it).
        async with runtime.db("workflows").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            return await unit.fetchval("SELECT count(*) FROM workflows.inbox WHERE consumer = 'workflows-triggers'") >= 4

    await eventually(seen_by_the_rules, timeout=5.0)
    workflow = await make_workflow(client, tenant, [{"type": "record.created", "entity": "customer"}], [
        {"type": "assign_owner", "strategy": "least_loaded", "department_id": department_id}])
    first = await customer_of(client, tenant)
    [run] = await settled_runs(client, tenant, workflow["id"], count=1)
    assert run["status"] == "succeeded", run["error"]
    assert await owners(client, tenant, [first["id"]]) == [free]
    assert run["steps"][0]["output"]["open_work"] == {busy: 2, some: 1, free: 0}
    # Now some and free hold one each: the tie goes to the lower id, never to the busy one.
    second = await customer_of(client, tenant)
    await settled_runs(client, tenant, workflow["id"], count=2)
    assert await owners(client, tenant, [second["id"]]) == [min(some, free)]


async def test_an_empty_pool_fails_the_run_with_its_reason(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant, other = await signup(), await signup()
    other_root = (await client.get("/api/v1/departments", headers=other.headers)).json()["items"][0]["id"]
    nobody = await make_workflow(client, tenant, [{"type": "record.created", "entity": "customer"}], [
        {"type": "assign_owner", "strategy": "round_robin", "role": "read_only"}])
    # Another tenant's department is an empty pool here (its people are out of reach).
    foreign = await make_workflow(client, tenant, [{"type": "record.created", "entity": "customer"}], [
        {"type": "assign_owner", "strategy": "least_loaded", "department_id": other_root}])
    customer = await customer_of(client, tenant)
    for workflow in (nobody, foreign):
        [run] = await settled_runs(client, tenant, workflow["id"])
        assert run["status"] == "failed" and "no active user" in run["error"], run
    assert (await owners(client, tenant, [customer["id"]])) == [tenant.admin_id]


async def test_a_strategy_needs_exactly_one_pool(client: httpx.AsyncClient, signup: SignUp) -> None:
    tenant = await signup()
    for step, place in (
        ({"strategy": "round_robin"}, "steps[0]"),
        ({"strategy": "least_loaded", "role": "sales", "department_id": str(uuid.uuid4())}, "steps[0]"),
        ({"strategy": "round_robin", "department_id": "销售部"}, "steps[0].department_id"),
        ({"user_id": tenant.admin_id, "role": "sales"}, "steps[0]"),
    ):
        answer = await client.post("/api/v1/workflows", headers=tenant.headers, json={
            "name": "分配", "triggers": [{"type": "record.created", "entity": "customer"}],
            "steps": [{"type": "assign_owner", **step}]})
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == [place]
    assert (await client.get("/api/v1/workflows", headers=tenant.headers)).json()["items"] == []


async def test_least_loaded_picks_at_once_spread_over_the_pool(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    department_id, members = await team(client, tenant, invite, runtime)
    step = d.AssignOwner(strategy="least_loaded", department_id=department_id)
    scope, db, nc = scope_for_system(uuid.UUID(tenant.id)), runtime.db("workflows"), runtime.bus.nc
    # Three runs choose at the same moment, before any of their assignments reaches records: each
    # sees the others' picks, so each member gets one instead of all three going to the first.
    picks = await asyncio.gather(*(assignment.choose(db, scope, nc, uuid.uuid4(), step, "customer", f"at-once-{i}")
                                   for i in range(3)))
    assert sorted(str(user) for user, _ in picks) == members
    reserved = [detail.get("reserved", {}) for _, detail in picks]
    assert sorted(sum(r.values()) for r in reserved) == [0, 1, 2]
