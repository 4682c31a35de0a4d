"""Approvals (审批流) against real PostgreSQL and NATS: templates checked whole, 或签 and 会签, steps
with the submitter's manager, reject/return with a comment, transfer (转交), add approver (加签),
recall (撤回), guarded fields answering 409 while pending, decisions in the record's history and
events for notifications, a workflow waiting on an approval and branching on it, step SLAs, and
another tenant's approvals out of reach."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest

from services.workflows.domain import people
from shared.events.envelope import decode_event
from shared.tenancy import scope_for_system
from tests.conftest import SignUp, Tenant
from tests.workflows.conftest import Member, eventually
from tests.workflows.test_engine import customer_of, make_workflow, settled_runs


@dataclass
class Office:
    """A tenant: 销售部 headed by ``lead``; ``rep`` sells in it; a1..a4 may approve."""

    tenant: Tenant
    lead: Member
    rep: Member
    a: list[Member]


class Events:
    def __init__(self) -> None:
        self.items: list[Any] = []

    async def on(self, msg: Any) -> None:
        try:
            self.items.append(decode_event(msg.data))
        except msgspec.DecodeError:
            pass

    def of(self, action: str, approval_id: str) -> list[Any]:
        return [e for e in self.items if e.action == action and e.entity_id == approval_id]


@pytest.fixture
async def office(client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any) -> Office:
    tenant = await signup()
    root = (await client.get("/api/v1/departments", headers=tenant.headers)).json()["items"][0]
    lead = await invite(tenant, roles=["manager"], department_id=root["id"], name="Li Lead")
    sales = (await client.post("/api/v1/departments", headers=tenant.headers, json={
        "name": "销售部", "parent_id": root["id"], "head_user_id": lead.id})).json()
    await client.patch(f"/api/v1/users/{lead.id}", json={"department_id": sales["id"]}, headers=tenant.headers)
    rep = await invite(tenant, roles=["sales"], department_id=sales["id"], name="Ren Rep")
    approvers = [await invite(tenant, roles=["sales"], department_id=root["id"], name=f"Approver {i}")
                 for i in range(4)]
    scope = scope_for_system(uuid.UUID(tenant.id))

    async def mirrored() -> bool:
        async with runtime.db("workflows").tenant_unit(scope) as unit:
            ok = await people.manager_of(unit, uuid.UUID(rep.id)) == uuid.UUID(lead.id)
            return ok and all([await people.is_active(unit, uuid.UUID(m.id)) for m in approvers])

    await eventually(mirrored, timeout=5)
    return Office(tenant, lead, rep, approvers)


@pytest.fixture
async def events(runtime: Any) -> Any:
    log = Events()
    subscription = await runtime.bus.nc.subscribe("crm.workflows.*.approval.>", cb=log.on)
    yield log
    await subscription.unsubscribe()


async def template(client: httpx.AsyncClient, tenant: Tenant, steps: list[dict[str, Any]], *,
                   entity: str = "customer", guarded: list[str] | None = None, condition: str | None = None) -> str:
    body: dict[str, Any] = {"name": "大客户定级审批", "entity": entity, "steps": steps,
                            "guarded_fields": guarded if guarded is not None else ["tier"]}
    if condition:
        body["condition"] = condition
    answer = await client.post("/api/v1/approval-templates", json=body, headers=tenant.headers)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def users(*members: Member) -> dict[str, Any]:
    return {"type": "users", "user_ids": [m.id for m in members]}


async def request(client: httpx.AsyncClient, who: Any, template_id: str, customer_id: str) -> dict[str, Any]:
    answer = await client.post("/api/v1/approvals", headers=who.headers, json={
        "template_id": template_id, "record": {"type": "customer", "id": customer_id}})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def decide(client: httpx.AsyncClient, who: Any, approval_id: str, decision: str, **more: Any) -> httpx.Response:
    return await client.post(f"/api/v1/approvals/{approval_id}/decisions", headers=who.headers,
                             json={"decision": decision, **more})


async def patch_tier(client: httpx.AsyncClient, who: Any, customer_id: str, tier: str) -> httpx.Response:
    return await client.patch(f"/api/v1/customers/{customer_id}", json={"tier": tier}, headers=who.headers)


async def test_or_sign_one_approval_decides_and_guarded_fields_wait_for_it(
    client: httpx.AsyncClient, office: Office, events: Events
) -> None:
    o = office
    template_id = await template(client, o.tenant, [{"name": "主管", "approvers": [users(o.a[0], o.a[1])],
                                                     "mode": "any"}])
    customer = await customer_of(client, o.rep)
    approval = await request(client, o.rep, template_id, customer["id"])
    assert approval["status"] == "pending" and approval["submitted_by"] == o.rep.id
    assert sorted(approval["waiting_for"]) == sorted([o.a[0].id, o.a[1].id])
    # The guarded field is locked, on the HTTP API, naming the pending approval; others are not.
    locked = await patch_tier(client, o.rep, customer["id"], "A")
    assert locked.status_code == 409, locked.text
    problem = locked.json()
    assert problem["type"].endswith("approval-pending") and problem["approval_id"] == approval["id"]
    assert [e["field"] for e in problem["errors"]] == ["tier"] and approval["id"] in problem["detail"]
    free = await client.patch(f"/api/v1/customers/{customer['id']}", json={"industry": "制造"}, headers=o.rep.headers)
    assert free.status_code == 200, free.text
    # Each approver sees it waiting for them; the submitter does not.
    for member, expected in ((o.a[0], [approval["id"]]), (o.a[1], [approval["id"]]), (o.rep, []), (o.a[2], [])):
        listed = (await client.get("/api/v1/approvals?assigned_to=me", headers=member.headers)).json()["items"]
        assert [i["id"] for i in listed] == expected
    mine = (await client.get("/api/v1/approvals?submitted_by=me", headers=o.rep.headers)).json()["items"]
    assert [i["id"] for i in mine] == [approval["id"]]
    approved = await decide(client, o.a[0], approval["id"], "approve", comment="同意")
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.text
    # 或签: one was enough; the other's decision comes too late.
    late = await decide(client, o.a[1], approval["id"], "approve")
    assert late.status_code == 409 and late.json()["type"].endswith("approval-finished")
    assert (await patch_tier(client, o.rep, customer["id"], "A")).status_code == 200
    # Every decision is in the record's history, by the person who made it.
    history = (await client.get(f"/api/v1/customers/{customer['id']}/history", headers=o.tenant.headers)).json()
    entries = [h for h in history["items"] if h["field"] == "approval"]
    assert [(h["new"]["decision"], h["actor"]["id"]) for h in reversed(entries)] == [
        ("submit", o.rep.id), ("approve", o.a[0].id)]
    assert entries[0]["new"]["comment"] == "同意" and entries[0]["new"]["status"] == "approved"

    async def published() -> bool:
        return bool(events.of("requested", approval["id"]) and events.of("decided", approval["id"]))

    await eventually(published, timeout=5)
    [requested] = events.of("requested", approval["id"])
    assert sorted(requested.data["approvers"]) == sorted([o.a[0].id, o.a[1].id])
    assert str(requested.tenant_id) == o.tenant.id
    assert events.of("decided", approval["id"])[0].data["status"] == "approved"


async def test_countersign_needs_every_approver_then_the_submitters_manager(
    client: httpx.AsyncClient, office: Office, events: Events
) -> None:
    o = office
    template_id = await template(client, o.tenant, [
        {"name": "会签", "approvers": [users(o.a[0], o.a[1])], "mode": "all"},
        {"name": "主管", "approvers": [{"type": "manager"}]}])
    customer = await customer_of(client, o.rep)
    approval = await request(client, o.rep, template_id, customer["id"])
    # The manager of step 2 may not decide step 1.
    early = await decide(client, o.lead, approval["id"], "approve")
    assert early.status_code == 403 and early.json()["type"].endswith("not-an-approver")
    first = (await decide(client, o.a[0], approval["id"], "approve")).json()
    assert first["status"] == "pending" and first["current_step"] == 0 and first["waiting_for"] == [o.a[1].id]
    twice = await decide(client, o.a[0], approval["id"], "approve")
    assert twice.status_code == 409 and twice.json()["type"].endswith("already-decided")
    assert (await patch_tier(client, o.rep, customer["id"], "B")).status_code == 409
    second = (await decide(client, o.a[1], approval["id"], "approve")).json()
    assert second["status"] == "pending" and second["current_step"] == 1 and second["waiting_for"] == [o.lead.id]
    listed = (await client.get("/api/v1/approvals?assigned_to=me", headers=o.lead.headers)).json()["items"]
    assert [i["id"] for i in listed] == [approval["id"]]
    done = (await decide(client, o.lead, approval["id"], "approve")).json()
    assert done["status"] == "approved"
    assert [d["decision"] for d in done["decisions"]] == ["submit", "approve", "approve", "approve"]

    async def advanced() -> bool:
        return bool(events.of("step_advanced", approval["id"]))

    await eventually(advanced, timeout=5)
    assert events.of("step_advanced", approval["id"])[0].data["approvers"] == [o.lead.id]


async def test_reject_and_return_need_a_comment_and_end_the_request(
    client: httpx.AsyncClient, office: Office
) -> None:
    o = office
    template_id = await template(client, o.tenant, [{"approvers": [users(o.a[0])]}])
    customer = await customer_of(client, o.rep)
    approval = await request(client, o.rep, template_id, customer["id"])
    for decision in ("reject", "return"):
        bare = await decide(client, o.a[0], approval["id"], decision, comment="  ")
        assert bare.status_code == 422 and [e["field"] for e in bare.json()["errors"]] == ["comment"]
    rejected = (await decide(client, o.a[0], approval["id"], "reject", comment="折扣过高")).json()
    assert rejected["status"] == "rejected" and rejected["approvers"][0]["comment"] == "折扣过高"
    assert (await patch_tier(client, o.rep, customer["id"], "A")).status_code == 200
    # Returned to the submitter (回退), who may ask again once it has ended.
    again = await request(client, o.rep, template_id, customer["id"])
    duplicate = await client.post("/api/v1/approvals", headers=o.rep.headers, json={
        "template_id": template_id, "record": {"type": "customer", "id": customer["id"]}})
    assert duplicate.status_code == 409 and duplicate.json()["approval_id"] == again["id"]
    returned = (await decide(client, o.a[0], again["id"], "return", comment="请补充合同")).json()
    assert returned["status"] == "returned"
    assert (await decide(client, o.a[0], again["id"], "approve")).status_code == 409
    assert (await patch_tier(client, o.rep, customer["id"], "B")).status_code == 200


async def test_transfer_and_add_approver(client: httpx.AsyncClient, office: Office, events: Events) -> None:
    o = office
    template_id = await template(client, o.tenant, [{"approvers": [users(o.a[0])], "mode": "all"}])
    customer = await customer_of(client, o.rep)
    approval = await request(client, o.rep, template_id, customer["id"])
    missing = await decide(client, o.a[0], approval["id"], "transfer")
    assert missing.status_code == 422 and [e["field"] for e in missing.json()["errors"]] == ["user_id"]
    moved = (await decide(client, o.a[0], approval["id"], "transfer", user_id=o.a[1].id, comment="出差")).json()
    assert moved["status"] == "pending" and moved["waiting_for"] == [o.a[1].id]
    # The one who transferred has decided their place away.
    assert (await decide(client, o.a[0], approval["id"], "approve")).status_code == 409
    added = (await decide(client, o.a[1], approval["id"], "add_approver", user_id=o.a[2].id)).json()
    assert sorted(added["waiting_for"]) == sorted([o.a[1].id, o.a[2].id])
    # 会签 with the added approver: both must approve.
    assert (await decide(client, o.a[1], approval["id"], "approve")).json()["status"] == "pending"
    assert (await decide(client, o.a[2], approval["id"], "approve")).json()["status"] == "approved"

    async def told() -> bool:
        return len(events.of("requested", approval["id"])) == 3

    await eventually(told, timeout=5)
    assert [e.data["approvers"] for e in events.of("requested", approval["id"])][1:] == [[o.a[1].id], [o.a[2].id]]


async def test_only_the_submitter_recalls_and_recalling_unlocks(client: httpx.AsyncClient, office: Office) -> None:
    o = office
    template_id = await template(client, o.tenant, [{"approvers": [users(o.a[0])]}], guarded=["tier", "owner_id"])
    customer = await customer_of(client, o.rep)
    approval = await request(client, o.rep, template_id, customer["id"])
    refused = await client.post(f"/api/v1/approvals/{approval['id']}/recall", headers=o.a[0].headers)
    assert refused.status_code == 403
    # A guarded owner is kept by records' transfer too.
    transfer = {"customer_ids": [customer["id"]], "to_user_id": o.lead.id}
    moved = await client.post("/api/v1/customers/transfer", json=transfer, headers=o.tenant.headers)
    assert moved.status_code == 409 and moved.json()["approval_id"] == approval["id"], moved.text
    recalled = await client.post(f"/api/v1/approvals/{approval['id']}/recall", headers=o.rep.headers)
    assert recalled.status_code == 200 and recalled.json()["status"] == "recalled"
    assert (await client.post(f"/api/v1/approvals/{approval['id']}/recall", headers=o.rep.headers)).status_code == 409
    assert (await decide(client, o.a[0], approval["id"], "approve")).status_code == 409
    assert (await patch_tier(client, o.rep, customer["id"], "A")).status_code == 200
    assert (await client.get("/api/v1/approvals?assigned_to=me", headers=o.a[0].headers)).json()["items"] == []
    moved = await client.post("/api/v1/customers/transfer", json=transfer, headers=o.tenant.headers)
    assert moved.status_code == 200, moved.text


async def test_a_template_with_no_approver_an_unknown_field_or_a_bad_condition_is_refused_whole(
    client: httpx.AsyncClient, signup: SignUp
) -> None:
    tenant = await signup()
    answer = await client.post("/api/v1/approval-templates", headers=tenant.headers, json={
        "name": "坏模板", "entity": "opportunity", "condition": "record.discount_pct >",
        "guarded_fields": ["amount", "colour"],
        "steps": [{"approvers": []}, {"approvers": [{"type": "users", "user_ids": [str(uuid.uuid4())]}],
                                      "sla": "P2M"}]})
    assert answer.status_code == 422, answer.text
    assert sorted(e["field"] for e in answer.json()["errors"]) == sorted([
        "condition", "guarded_fields[1]", "steps[0].approvers", "steps[1].approvers[0].user_ids[0]", "steps[1].sla"])
    assert (await client.get("/api/v1/approval-templates", headers=tenant.headers)).json()["items"] == []
    no_steps = await client.post("/api/v1/approval-templates", headers=tenant.headers, json={
        "name": "空", "entity": "customer", "steps": []})
    assert no_steps.status_code == 422 and no_steps.json()["errors"][0]["field"] == "steps"


async def test_a_request_needs_the_templates_condition_and_an_approver(
    client: httpx.AsyncClient, office: Office
) -> None:
    o = office
    conditional = await template(client, o.tenant, [{"approvers": [users(o.a[0])]}], condition='record.tier == "A"')
    customer = await customer_of(client, o.rep, tier="C")
    refused = await client.post("/api/v1/approvals", headers=o.rep.headers, json={
        "template_id": conditional, "record": {"type": "customer", "id": customer["id"]}})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "record"
    # Three levels above the rep there is nobody: the request is refused, nothing is locked.
    nobody = await template(client, o.tenant, [{"approvers": [{"type": "levels_up", "levels": 3}]}])
    refused = await client.post("/api/v1/approvals", headers=o.rep.headers, json={
        "template_id": nobody, "record": {"type": "customer", "id": customer["id"]}})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "template_id", refused.text
    assert (await patch_tier(client, o.rep, customer["id"], "B")).status_code == 200
    # Two levels up is the administrator who heads the company.
    two_up = await template(client, o.tenant, [{"approvers": [{"type": "levels_up", "levels": 2}]}])
    approval = await request(client, o.rep, two_up, customer["id"])
    assert approval["waiting_for"] == [o.tenant.admin_id]


async def test_another_tenants_approvals_are_out_of_reach(
    client: httpx.AsyncClient, office: Office, signup: SignUp, invite: Any
) -> None:
    o = office
    template_id = await template(client, o.tenant, [{"approvers": [users(o.a[0])]}])
    customer = await customer_of(client, o.rep)
    approval = await request(client, o.rep, template_id, customer["id"])
    other = await signup()
    outsider = await invite(other)
    for who in (other, outsider):
        assert (await client.get(f"/api/v1/approvals/{approval['id']}", headers=who.headers)).status_code == 404
        hostile = await decide(client, who, approval["id"], "approve")
        assert hostile.status_code == 404, hostile.text
        recall = await client.post(f"/api/v1/approvals/{approval['id']}/recall", headers=who.headers)
        assert recall.status_code == 404
    assert (await client.get("/api/v1/approvals", headers=other.headers)).json()["items"] == []
    assert (await client.get(f"/api/v1/approval-templates/{template_id}", headers=other.headers)).status_code == 404
    # Tenant A's template cannot be used on tenant B's record.
    theirs = await customer_of(client, other)
    foreign = await client.post("/api/v1/approvals", headers=other.headers, json={
        "template_id": template_id, "record": {"type": "customer", "id": theirs["id"]}})
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "template_id"
    # Nothing changed for tenant A.
    still = (await client.get(f"/api/v1/approvals/{approval['id']}", headers=o.rep.headers)).json()
    assert still["status"] == "pending" and [d["decision"] for d in still["decisions"]] == ["submit"]


async def test_a_workflow_waits_for_its_approval_and_branches_on_the_decision(
    client: httpx.AsyncClient, office: Office
) -> None:
    o = office
    template_id = await template(client, o.tenant, [{"approvers": [users(o.a[0])]}], guarded=["tier"])
    workflow = await make_workflow(client, o.tenant, [
        {"type": "record.updated", "entity": "customer", "fields": ["industry"]}], [
        {"type": "request_approval", "template_id": template_id},
        {"type": "branch", "condition": 'approval.status == "approved"',
         "then": [{"type": "add_tags", "tags": ["审批通过"]}],
         "else": [{"type": "add_tags", "tags": ["审批未通过"]}]}])
    customer = await customer_of(client, o.rep)
    await client.patch(f"/api/v1/customers/{customer['id']}", json={"industry": "能源"}, headers=o.rep.headers)

    async def waiting() -> list[dict[str, Any]]:
        return (await client.get("/api/v1/approvals?assigned_to=me", headers=o.a[0].headers)).json()["items"]

    async def requested() -> bool:
        return bool(await waiting())

    await eventually(requested, timeout=5)
    [approval] = await waiting()
    # Made for the person whose change started the run, and the record's tier is locked.
    assert approval["submitted_by"] == o.rep.id and approval["record"]["id"] == customer["id"]
    assert (await patch_tier(client, o.rep, customer["id"], "A")).status_code == 409

    async def run_waits() -> bool:  # the run records its wait just after the request is made
        runs = (await client.get(f"/api/v1/workflows/{workflow['id']}/runs", headers=o.tenant.headers)).json()
        return runs["items"][0]["status"] == "waiting"

    await eventually(run_waits, timeout=5)
    assert (await decide(client, o.a[0], approval["id"], "approve")).status_code == 200
    [run] = await settled_runs(client, o.tenant, workflow["id"], timeout=5)
    assert run["status"] == "succeeded", run
    assert run["steps"][0]["output"]["status"] == "approved" and run["steps"][0]["output"]["decided_by"] == o.a[0].id
    assert [s["path"] for s in run["steps"]] == ["steps[0]", "steps[1]", "steps[1].then[0]"]
    now = (await client.get(f"/api/v1/customers/{customer['id']}", headers=o.rep.headers)).json()
    assert "审批通过" in now["tags"]


async def test_a_step_past_its_sla_reminds_its_approvers(
    client: httpx.AsyncClient, office: Office, events: Events
) -> None:
    o = office
    template_id = await template(client, o.tenant, [
        {"approvers": [users(o.a[0], o.a[1])], "mode": "all", "sla": "PT1S", "business_time": False}])
    customer = await customer_of(client, o.rep)
    approval = await request(client, o.rep, template_id, customer["id"])
    await decide(client, o.a[0], approval["id"], "approve")

    async def reminded() -> bool:
        return bool(events.of("reminder", approval["id"]))

    await eventually(reminded, timeout=6)
    [reminder] = events.of("reminder", approval["id"])
    assert reminder.data["approvers"] == [o.a[1].id] and reminder.data["step"] == 0


async def test_a_workflow_command_cannot_write_a_guarded_field_while_pending(
    client: httpx.AsyncClient, office: Office
) -> None:
    o = office
    template_id = await template(client, o.tenant, [{"approvers": [users(o.a[0])]}])
    workflow = await make_workflow(client, o.tenant, [{"type": "manual", "entity": "customer"}], [
        {"type": "update_record", "fields": {"tier": "A"}}])
    customer = await customer_of(client, o.rep)
    approval = await request(client, o.rep, template_id, customer["id"])
    started = await client.post(f"/api/v1/workflows/{workflow['id']}/runs", headers=o.tenant.headers,
                                json={"record": {"type": "customer", "id": customer["id"]}})
    assert started.status_code in (200, 201), started.text
    [run] = await settled_runs(client, o.tenant, workflow["id"])
    assert run["status"] == "failed" and "409" in run["error"] and approval["id"] in run["error"], run["error"]
    assert (await client.get(f"/api/v1/customers/{customer['id']}", headers=o.rep.headers)).json()["tier"] != "A"


async def test_cancelling_a_waiting_run_cancels_its_approval_and_unlocks(
    client: httpx.AsyncClient, office: Office, events: Events
) -> None:
    o = office
    template_id = await template(client, o.tenant, [{"approvers": [users(o.a[0])]}], guarded=["tier"])
    workflow = await make_workflow(client, o.tenant, [
        {"type": "record.updated", "entity": "customer", "fields": ["industry"]}], [
        {"type": "request_approval", "template_id": template_id},
        {"type": "add_tags", "tags": ["审批后"]}])
    customer = await customer_of(client, o.rep)
    await client.patch(f"/api/v1/customers/{customer['id']}", json={"industry": "能源"}, headers=o.rep.headers)

    async def run_waits() -> dict[str, Any] | None:
        runs = (await client.get(f"/api/v1/workflows/{workflow['id']}/runs", headers=o.tenant.headers)).json()
        return runs["items"][0] if runs["items"] and runs["items"][0]["status"] == "waiting" else None

    await eventually(run_waits, timeout=5)
    run = await run_waits()
    assert run is not None
    [approval] = (await client.get("/api/v1/approvals?assigned_to=me", headers=o.a[0].headers)).json()["items"]
    assert (await patch_tier(client, o.rep, customer["id"], "A")).status_code == 409
    cancelled = await client.post(f"/api/v1/workflow-runs/{run['id']}/cancel", headers=o.tenant.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    now = (await client.get(f"/api/v1/approvals/{approval['id']}", headers=o.rep.headers)).json()
    assert now["status"] == "cancelled" and now["waiting_for"] == []
    assert now["decisions"][-1]["decision"] == "cancel"
    # The tier is no longer locked, the approver has nothing waiting, and a late decision is refused.
    assert (await patch_tier(client, o.rep, customer["id"], "A")).status_code == 200
    assert (await client.get("/api/v1/approvals?assigned_to=me", headers=o.a[0].headers)).json()["items"] == []
    assert (await decide(client, o.a[0], approval["id"], "approve")).status_code == 409

    async def announced() -> bool:
        return any(e.data.get("decision") == "cancel" for e in events.of("decided", approval["id"]))

    await eventually(announced, timeout=5)
    after = (await client.get(f"/api/v1/customers/{customer['id']}", headers=o.rep.headers)).json()
    assert "审批后" not in after["tags"]


async def test_a_template_with_its_own_trigger_requests_itself_when_a_customer_is_transferred(
    client: httpx.AsyncClient, office: Office
) -> None:
    o = office
    wrong = await client.post("/api/v1/approval-templates", headers=o.tenant.headers, json={
        "name": "客户转移审批", "entity": "customer", "steps": [{"approvers": [users(o.a[0])]}],
        "trigger": {"action": "transferred", "fields": ["no_such_field"]}})
    assert wrong.status_code == 422, wrong.text
    assert sorted(e["field"] for e in wrong.json()["errors"]) == ["trigger.fields", "trigger.fields[0]"]
    made = await client.post("/api/v1/approval-templates", headers=o.tenant.headers, json={
        "name": "客户转移审批", "entity": "customer", "steps": [{"approvers": [users(o.a[0])]}],
        "guarded_fields": ["owner_id"], "trigger": {"action": "transferred"}, "condition": "record.tier == 'A'"})
    assert made.status_code == 201 and made.json()["trigger"] == {"action": "transferred", "fields": []}, made.text
    big, small = await customer_of(client, o.rep, tier="A"), await customer_of(client, o.rep, tier="C")
    # An edit is no transfer; a transfer of a customer the condition leaves out requests nothing.
    await client.patch(f"/api/v1/customers/{big['id']}", json={"industry": "制造"}, headers=o.rep.headers)
    for customer in (small, big):
        moved = await client.post("/api/v1/customers/transfer", headers=o.tenant.headers, json={
            "customer_ids": [customer["id"]], "to_user_id": o.a[1].id})
        assert moved.status_code == 200, moved.text

    async def requested() -> list[dict[str, Any]]:
        return (await client.get("/api/v1/approvals?assigned_to=me", headers=o.a[0].headers)).json()["items"]

    await eventually(requested, timeout=20)
    [approval] = await requested()
    assert approval["record"]["id"] == big["id"] and approval["status"] == "pending"
    assert approval["submitted_by"] == o.tenant.admin_id  # the user whose change it was
    # While it is pending, the owner it guards cannot change again.
    again = await client.post("/api/v1/customers/transfer", headers=o.tenant.headers, json={
        "customer_ids": [big["id"]], "to_user_id": o.a[2].id})
    assert again.status_code == 409, again.text
    assert (await decide(client, o.a[0], approval["id"], "approve")).status_code == 200
    assert (await client.post("/api/v1/customers/transfer", headers=o.tenant.headers, json={
        "customer_ids": [big["id"]], "to_user_id": o.a[2].id})).status_code == 200


async def test_a_steps_sla_escalates_level_by_level_each_once(
    client: httpx.AsyncClient, office: Office, events: Events, runtime: Any
) -> None:
    o = office
    # Bad levels are refused whole, each at its place.
    bad = await client.post("/api/v1/approval-templates", headers=o.tenant.headers, json={
        "name": "坏模板", "entity": "customer", "steps": [
            {"approvers": [users(o.a[0])], "escalations": [{"at": 1, "notify": [{"type": "assignee"}]}]},
            {"approvers": [users(o.a[0])], "sla": "PT1H", "escalations": [
                {"at": 1, "notify": [{"type": "users", "user_ids": [str(uuid.uuid4())]}]},
                {"at": 0.5, "notify": [{"type": "assignee"}]}]}]})
    assert bad.status_code == 422, bad.text
    assert {e["field"] for e in bad.json()["errors"]} == {
        "steps[0].sla", "steps[1].escalations[0].notify[0].user_ids[0]", "steps[1].escalations[1].at"}
    # The waiting approver at half the SLA; past it, their manager (the admin heads the root
    # department) and the sales lead by name.
    template_id = await template(client, o.tenant, [{
        "approvers": [users(o.a[0])], "sla": "PT2S", "business_time": False, "escalations": [
            {"at": 0.5, "notify": [{"type": "assignee"}]},
            {"at": 1.5, "notify": [{"type": "department_head"}, users(o.lead)]}]}])
    customer = await customer_of(client, o.rep)
    approval = await request(client, o.rep, template_id, customer["id"])
    # A decided step escalates no more: its levels' timers go with the decision.
    slow = await template(client, o.tenant, [{
        "approvers": [users(o.a[0])], "sla": "PT1H", "escalations": [{"at": 0.5, "notify": [{"type": "assignee"}]}]}])
    other = await customer_of(client, o.rep)
    decided = await request(client, o.rep, slow, other["id"])

    async def level_timers(approval_id: str) -> int:
        async with runtime.db("workflows").tenant_unit(scope_for_system(uuid.UUID(o.tenant.id))) as unit:
            return int(await unit.fetchval("SELECT count(*) FROM workflows.timers WHERE tenant_id = $1 AND key LIKE $2",
                                           unit.tenant_id, f"approval:{approval_id}:0:level%"))

    assert await level_timers(decided["id"]) == 1
    assert (await decide(client, o.a[0], decided["id"], "approve")).status_code == 200
    assert await level_timers(decided["id"]) == 0

    async def both_levels() -> bool:
        return len(events.of("escalated", approval["id"])) >= 2 and bool(events.of("reminder", approval["id"]))

    await eventually(both_levels, timeout=8)
    first, second = sorted(events.of("escalated", approval["id"]), key=lambda e: e.data["level"])
    assert first.data["user_ids"] == [o.a[0].id] and first.data["at"] == 0.5
    assert second.data["user_ids"] == [o.tenant.admin_id, o.lead.id] and second.data["waiting_approvers"] == [o.a[0].id]
    [reminder] = events.of("reminder", approval["id"])   # the step's own reminder at the SLA still goes out
    assert reminder.data["approvers"] == [o.a[0].id]
