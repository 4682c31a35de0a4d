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
from tests.workflows.test_engine import customer_of


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
