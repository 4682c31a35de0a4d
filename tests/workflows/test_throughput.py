"""The engine's throughput machinery keeps its guarantees: the runs of one record are walked one
after the other and in order while other records' runs go on; the per-process index of enabled
workflows follows every save, disable and new version; the tenant's run cap is its own setting."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.workflows.db import queue
from shared.tenancy import scope_for_system
from tests.conftest import SignUp
from tests.workflows.test_engine import customer_of, make_workflow, runs_of, settled_runs


class _Rollback(Exception):
    pass


async def test_the_queue_leases_one_item_per_record_at_a_time_in_queue_order(signup: SignUp, runtime: Any) -> None:
    tenant = await signup()
    tenant_id = uuid.UUID(tenant.id)
    record, other = uuid.uuid4(), uuid.uuid4()
    first, second, third, elsewhere = (uuid.uuid4() for _ in range(4))
    # Written and leased in one transaction that is rolled back: the running engine never sees them.
    with pytest.raises(_Rollback):
        async with runtime.db("workflows").tenant_unit(scope_for_system(tenant_id)) as unit:
            for run_id, record_id in ((first, record), (second, record), (third, record), (elsewhere, other)):
                await unit.execute(
                    """INSERT INTO workflows.runs (tenant_id, id, workflow_id, workflow_version, trigger_index,
                                                    trigger_type, trigger_key, record_type, record_id)
                       VALUES ($1, $2, $3, 1, 0, 'manual', $4, 'customer', $5)""",
                    tenant_id, run_id, uuid.uuid4(), str(run_id), record_id)
                await queue.put(unit.conn, "run", run_id, tenant_id)
            leased = {row["id"] for row in await queue.lease_due(unit.conn, 100)} & {first, second, third, elsewhere}
            # The record's first run and the other record's run; not the record's later runs.
            assert leased == {first, elsewhere}
            assert {row["id"] for row in await queue.lease_due(unit.conn, 100)} & {second, third} == set()
            # Done with the first: the second (not the third) is next, even when the third is due earlier.
            await queue.drop(unit.conn, first)
            await unit.execute("UPDATE workflows.queue SET due_at = due_at - interval '1 hour' WHERE id = $1", third)
            assert {row["id"] for row in await queue.lease_due(unit.conn, 100)} & {second, third} == {second}
            # A run given back for later (records unreachable) lets the record's next run go first.
            await queue.retry_later(unit.conn, second, 60)
            assert {row["id"] for row in await queue.lease_due(unit.conn, 100)} & {second, third} == {third}
            raise _Rollback


async def test_leases_are_renewed_only_for_items_still_held(signup: SignUp, runtime: Any) -> None:
    tenant_id = uuid.UUID((await signup()).id)
    held, given_back = uuid.uuid4(), uuid.uuid4()
    with pytest.raises(_Rollback):
        async with runtime.db("workflows").tenant_unit(scope_for_system(tenant_id)) as unit:
            for item in (held, given_back):
                await unit.execute("""INSERT INTO workflows.queue (id, kind, tenant_id, due_at, leased_until)
                                      VALUES ($1, 'timer', $2, now(), now() + interval '5 seconds')""", item, tenant_id)
            await queue.retry_later(unit.conn, given_back, 15)
            await queue.renew(unit.conn, [held, given_back])
            rows = {r["id"]: r for r in await unit.fetch(
                "SELECT id, leased_until - now() AS left, due_at - now() AS due_in FROM workflows.queue "
                "WHERE id = ANY($1::uuid[])", [held, given_back])}
            assert rows[held]["left"].total_seconds() == queue.LEASE_SECONDS
            assert rows[given_back]["left"] is None and rows[given_back]["due_in"].total_seconds() == 15
            raise _Rollback


async def test_runs_of_one_record_never_overlap_and_keep_their_order(client: httpx.AsyncClient, signup: SignUp) -> None:
    tenant = await signup()
    workflow = await make_workflow(client, tenant, [
        {"type": "record.updated", "entity": "customer", "fields": ["industry"]}], [
        {"type": "add_tags", "tags": ["一"]}, {"type": "update_record", "fields": {"website": "https://a.example"}},
        {"type": "remove_tags", "tags": ["一"]}])
    customer, neighbour = await customer_of(client, tenant), await customer_of(client, tenant)
    for n in range(4):
        for who in (customer, neighbour):
            answer = await client.patch(f"/api/v1/customers/{who['id']}", json={"industry": f"行业{n}"},
                                        headers=tenant.headers)
            assert answer.status_code == 200, answer.text
    runs = await settled_runs(client, tenant, workflow["id"], count=8, timeout=20.0)
    assert {r["status"] for r in runs} == {"succeeded"}, [r["error"] for r in runs]
    for who in (customer, neighbour):
        mine = sorted((r for r in runs if r["record"]["id"] == who["id"]), key=lambda r: r["created_at"])
        assert len(mine) == 4
        for before, after in zip(mine, mine[1:], strict=False):
            # Each run of the record started after the one triggered before it had finished.
            assert datetime.fromisoformat(after["started_at"]) >= datetime.fromisoformat(before["finished_at"])
        now = (await client.get(f"/api/v1/customers/{who['id']}", headers=tenant.headers)).json()
        assert now["tags"] == []   # the last run's remove_tags came last


async def test_an_edited_workflow_is_matched_by_its_new_version_on_the_next_event(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant = await signup()
    workflow = await make_workflow(client, tenant, [
        {"type": "record.updated", "entity": "customer", "fields": ["tier"], "condition": 'record.tier == "A"'}], [
        {"type": "add_tags", "tags": ["甲"]}])
    # A witness runs on every update: once it ran for an event, the rules have seen that event.
    witness = await make_workflow(client, tenant, [{"type": "record.updated", "entity": "customer",
                                                    "fields": ["tier"]}], [{"type": "stop"}])
    first = await customer_of(client, tenant)
    await client.patch(f"/api/v1/customers/{first['id']}", json={"tier": "A"}, headers=tenant.headers)
    [run] = await settled_runs(client, tenant, workflow["id"])
    assert run["workflow_version"] == 1 and run["status"] == "succeeded"

    edited = await client.patch(f"/api/v1/workflows/{workflow['id']}", headers=tenant.headers, json={
        "triggers": [{"type": "record.updated", "entity": "customer", "fields": ["tier"],
                      "condition": 'record.tier == "B"'}],
        "steps": [{"type": "add_tags", "tags": ["乙"]}]})
    assert edited.status_code == 200 and edited.json()["version"] == 2, edited.text
    second, third = await customer_of(client, tenant), await customer_of(client, tenant)
    await client.patch(f"/api/v1/customers/{second['id']}", json={"tier": "A"}, headers=tenant.headers)  # old rule
    await client.patch(f"/api/v1/customers/{third['id']}", json={"tier": "B"}, headers=tenant.headers)   # new rule
    await settled_runs(client, tenant, witness["id"], count=3)
    runs = await settled_runs(client, tenant, workflow["id"], count=2)
    assert sorted(r["record"]["id"] for r in runs) == sorted([first["id"], third["id"]])
    newest = next(r for r in runs if r["record"]["id"] == third["id"])
    assert newest["workflow_version"] == 2 and newest["status"] == "succeeded"
    assert (await client.get(f"/api/v1/customers/{third['id']}", headers=tenant.headers)).json()["tags"] == ["乙"]
    assert (await client.get(f"/api/v1/customers/{second['id']}", headers=tenant.headers)).json()["tags"] == []

    # Disabled: the next event starts nothing.
    await client.patch(f"/api/v1/workflows/{workflow['id']}", json={"enabled": False}, headers=tenant.headers)
    await client.patch(f"/api/v1/customers/{first['id']}", json={"tier": "B"}, headers=tenant.headers)
    await settled_runs(client, tenant, witness["id"], count=4)
    assert len(await runs_of(client, tenant, workflow["id"])) == 2


def test_a_condition_on_record_fields_is_remembered_per_value_only_when_it_reads_nothing_else() -> None:
    from services.workflows.domain.conditions import Activation, compile_condition

    now = datetime.now(UTC)
    stage = compile_condition('record.stage == "won" && old.stage != "won"')
    assert stage.pure
    assert stage.holds(Activation(record={"stage": "won"}, old={"stage": "lead"}, actor={}, now=now))
    assert not stage.holds(Activation(record={"stage": "won"}, old={"stage": "won"}, actor={}, now=now))
    assert stage.holds(Activation(record={"stage": "won"}, old={"stage": "lead"}, actor={}, now=now))
    assert len(stage.memo) == 2
    # Reading the actor or the time: evaluated every time.
    assert not compile_condition('record.stage == "won" && actor.kind == "user"').pure
    assert not compile_condition("record.due_at < now").pure
    assert not compile_condition('record["stage"] == "won"').pure


async def test_the_run_cap_is_the_tenants_own_setting_and_names_itself_when_hit(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant, other = await signup(), await signup()
    defaults = await client.get("/api/v1/workflow-settings", headers=tenant.headers)
    assert defaults.status_code == 200 and defaults.json()["max_runs_per_minute"] == 6000
    assert defaults.json()["version"] == 0
    refused = await client.put("/api/v1/workflow-settings", json={"max_runs_per_minute": 0}, headers=tenant.headers)
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["max_runs_per_minute"]
    saved = await client.put("/api/v1/workflow-settings", json={"max_runs_per_minute": 2},
                             headers={**tenant.headers, "If-Match": '"0"'})
    assert saved.status_code == 200, saved.text
    assert saved.json()["max_runs_per_minute"] == 2 and saved.json()["version"] == 1
    stale = await client.put("/api/v1/workflow-settings", json={"max_runs_per_minute": 3},
                             headers={**tenant.headers, "If-Match": '"0"'})
    assert stale.status_code == 412
    # Another tenant keeps the defaults (its own row, under RLS).
    assert (await client.get("/api/v1/workflow-settings", headers=other.headers)).json()["max_runs_per_minute"] == 6000

    workflow = await make_workflow(client, tenant, [{"type": "record.created", "entity": "customer"}],
                                   [{"type": "stop"}])
    for _ in range(3):
        await customer_of(client, tenant)
    runs = await settled_runs(client, tenant, workflow["id"], count=3)
    assert sorted(r["status"] for r in runs) == ["skipped", "succeeded", "succeeded"]
    skipped = next(r for r in runs if r["status"] == "skipped")
    assert "rate limit" in skipped["error"] and "2 runs" in skipped["error"]
    assert "max_runs_per_minute" in skipped["error"]


async def test_a_run_whose_replica_died_mid_walk_is_taken_over_from_its_next_step(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any
) -> None:
    tenant = await signup()
    workflow = await make_workflow(client, tenant, [{"type": "manual", "entity": "customer"}], [
        {"type": "add_tags", "tags": ["第一步"]}, {"type": "add_tags", "tags": ["第二步"]}])
    customer = await customer_of(client, tenant)
    tenant_id, run_id = uuid.UUID(tenant.id), uuid.uuid4()
    # As a replica leaves it when it dies after recording the first step: the run running, its
    # first step recorded (its tag deliberately not written, to show it is not done again), and its
    # queue item under a lease that has run out.
    async with runtime.db("workflows").tenant_unit(scope_for_system(tenant_id)) as unit:
        await unit.execute(
            """INSERT INTO workflows.runs (tenant_id, id, workflow_id, workflow_version, trigger_index, trigger_type,
                                            trigger_key, record_type, record_id, status, context, started_at)
               VALUES ($1, $2, $3, 1, 0, 'manual', 'crashed', 'customer', $4, 'running', $5, now())""",
            tenant_id, run_id, uuid.UUID(workflow["id"]), uuid.UUID(customer["id"]),
            {"entity": "customer", "record": {"id": customer["id"]}, "old": None,
             "actor": {"kind": "user", "id": tenant.admin_id}})
        await unit.execute(
            """INSERT INTO workflows.run_steps (tenant_id, run_id, seq, path, type, status, input, output)
               VALUES ($1, $2, 1, 'steps[0]', 'add_tags', 'succeeded', '{}', '{}')""", tenant_id, run_id)
        await unit.execute(
            """INSERT INTO workflows.queue (id, kind, tenant_id, due_at, leased_until, serial_key)
               VALUES ($1, 'run', $2, now() - interval '2 minutes', now() - interval '1 second', $3)""",
            run_id, tenant_id, uuid.UUID(customer["id"]))
    [run] = await settled_runs(client, tenant, workflow["id"], timeout=10.0)
    assert run["id"] == str(run_id) and run["status"] == "succeeded", run
    assert [s["path"] for s in run["steps"]] == ["steps[0]", "steps[1]"]
    assert (await client.get(f"/api/v1/customers/{customer['id']}", headers=tenant.headers)).json()["tags"] == ["第二步"]


async def test_a_date_triggers_condition_decides_whether_the_record_gets_its_timer(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant = await signup()
    workflow = await make_workflow(client, tenant, [
        {"type": "date", "entity": "customer", "field": "next_follow_up_at",
         "condition": 'record.lifecycle_stage != "churned"'}], [{"type": "add_tags", "tags": ["该跟进了"]}])
    soon = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    churned = await customer_of(client, tenant, lifecycle_stage="churned", next_follow_up_at=soon)
    active = await customer_of(client, tenant, next_follow_up_at=soon)
    [run] = await settled_runs(client, tenant, workflow["id"], timeout=8.0)
    assert run["record"]["id"] == active["id"] and run["status"] == "succeeded"
    await asyncio.sleep(1.0)   # the churned customer's moment has passed too: still only one run
    assert [r["record"]["id"] for r in await runs_of(client, tenant, workflow["id"])] == [active["id"]]
    assert (await client.get(f"/api/v1/customers/{churned['id']}", headers=tenant.headers)).json()["tags"] == []
