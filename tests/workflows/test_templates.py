"""Workflow templates against real PostgreSQL and NATS: the list (zh-CN and en), each template
enabled into a normal workflow (the caller its author), 422 naming each missing or wrong parameter,
another tenant's department or approval template out of reach, and two run end to end: a new
high-tier customer goes to the department's head with an intro task, and an objection's SLA breach
notifies the head."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from services.workflows.domain import people
from shared.tenancy import scope_for_system
from tests.conftest import SignUp, Tenant
from tests.workflows.conftest import eventually
from tests.workflows.test_engine import customer_of, settled_runs, tasks_of
from tests.workflows.test_time import always_open, objection_of, records_knows, sla_policy

KEYS = {"objection-sla-escalation", "no-interaction-reminder", "high-tier-customer", "contract-renewal",
        "opportunity-won-onboarding", "discount-approval"}


async def enable(client: httpx.AsyncClient, tenant: Tenant, key: str, **params: Any) -> httpx.Response:
    return await client.post(f"/api/v1/workflow-templates/{key}/enable", headers=tenant.headers,
                              json={"params": params})


async def root_of(client: httpx.AsyncClient, tenant: Tenant) -> str:
    return str((await client.get("/api/v1/departments", headers=tenant.headers)).json()["items"][0]["id"])


async def mirrored_head(runtime: Any, tenant: Tenant, department_id: str) -> None:
    async def known() -> bool:
        async with runtime.db("workflows").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            return await people.head_of(unit, uuid.UUID(department_id)) == uuid.UUID(tenant.admin_id)

    await eventually(known, timeout=5.0)


async def approval_template(client: httpx.AsyncClient, tenant: Tenant, approver: str) -> str:
    answer = await client.post("/api/v1/approval-templates", headers=tenant.headers, json={
        "name": "折扣审批", "entity": "opportunity", "steps": [{"approvers": [
            {"type": "users", "user_ids": [approver]}]}]})
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_templates_are_listed_and_each_enables_as_an_editable_workflow(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    listed = await client.get("/api/v1/workflow-templates", headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    items = {t["key"]: t for t in listed.json()["items"]}
    assert set(items) == KEYS
    assert items["discount-approval"]["name"] == {"zh-CN": "折扣审批", "en": "Discount approval"}
    needs = {n["name"]: n for n in items["discount-approval"]["needs"]}
    assert needs["approval_template_id"]["required"] is True and needs["threshold"]["default"] == 10
    root = await root_of(client, tenant)
    await mirrored_head(runtime, tenant, root)
    approver = await invite(tenant, department_id=root)
    params: dict[str, dict[str, Any]] = {
        "high-tier-customer": {"department_id": root}, "contract-renewal": {"field": "contract_end"},
        "discount-approval": {"approval_template_id": await approval_template(client, tenant, approver.id),
                              "threshold": 15}}
    made = {}
    for key in sorted(KEYS):
        answer = await enable(client, tenant, key, **params.get(key, {}))
        assert answer.status_code == 201, (key, answer.text)
        made[key] = answer.json()
        assert made[key]["enabled"] is True and made[key]["author_id"] == tenant.admin_id
    renewal = made["contract-renewal"]["triggers"][0]
    assert renewal["field"] == "custom_fields.contract_end" and renewal["offset"] == "-P30D"
    assert made["discount-approval"]["steps"][0]["template_id"] == params["discount-approval"]["approval_template_id"]
    assert "15.0" in made["discount-approval"]["triggers"][0]["condition"]
    assert made["high-tier-customer"]["steps"][0] == {"type": "assign_owner", "user_id": tenant.admin_id,
                                                      "strategy": None, "department_id": None, "role": None}
    # A normal workflow: listed with the others, edited and disabled like them.
    changed = await client.patch(f"/api/v1/workflows/{made['no-interaction-reminder']['id']}",
                                 headers=tenant.headers, json={"enabled": False, "name": "60 天未沟通"})
    assert changed.status_code == 200 and changed.json()["enabled"] is False, changed.text
    everything = (await client.get("/api/v1/workflows?limit=50", headers=tenant.headers)).json()["items"]
    assert {w["id"] for w in everything} >= {w["id"] for w in made.values()}


async def test_missing_or_wrong_parameters_are_named_and_nothing_is_saved(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant, other = await signup(), await signup()
    missing = await enable(client, tenant, "discount-approval", threshold="lots", colour="red")
    assert missing.status_code == 422, missing.text
    fields = {e["field"]: e["code"] for e in missing.json()["errors"]}
    assert fields == {"params.approval_template_id": "required", "params.threshold": "invalid",
                      "params.colour": "unknown_field"}
    bad_field = await enable(client, tenant, "contract-renewal", field="end date; drop", days=0)
    assert {e["field"] for e in bad_field.json()["errors"]} == {"params.field", "params.days"}
    assert (await enable(client, tenant, "no-such-template")).status_code == 404
    # Another tenant's approval template and department are as unknown as missing ones.
    other_root = await root_of(client, other)
    await mirrored_head(runtime, other, other_root)
    approver = await invite(other, department_id=other_root)
    theirs = await approval_template(client, other, approver.id)
    assert (await enable(client, other, "discount-approval", approval_template_id=theirs)).status_code == 201
    foreign = await enable(client, tenant, "discount-approval", approval_template_id=theirs)
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["code"] == "unknown_template", foreign.text
    foreign = await enable(client, tenant, "high-tier-customer", department_id=other_root)
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "params.department_id"
    assert (await client.get("/api/v1/workflows", headers=tenant.headers)).json()["items"] == []


async def test_a_new_high_tier_customer_goes_to_the_head_with_an_intro_task(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    root = await root_of(client, tenant)
    await mirrored_head(runtime, tenant, root)
    rep = await invite(tenant, department_id=root)
    workflow = (await enable(client, tenant, "high-tier-customer", department_id=root, tiers=["A", "VIP"])).json()
    ordinary = await customer_of(client, rep, tier="C", owner_id=rep.id)
    important = await customer_of(client, rep, tier="VIP", owner_id=rep.id)
    [run] = await settled_runs(client, tenant, workflow["id"])
    assert run["status"] == "succeeded" and run["record"]["id"] == important["id"], run
    now = (await client.get(f"/api/v1/customers/{important['id']}", headers=tenant.headers)).json()
    assert now["owner_id"] == tenant.admin_id
    [task] = await tasks_of(client, tenant, important["id"])
    assert task["title"].startswith("首次拜访")
    assert (await client.get(f"/api/v1/customers/{ordinary['id']}", headers=tenant.headers)).json()[
        "owner_id"] == rep.id


async def test_an_objection_sla_breach_notifies_the_head(
    client: httpx.AsyncClient, signup: SignUp, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    root = await root_of(client, tenant)
    await mirrored_head(runtime, tenant, root)
    member = await invite(tenant, department_id=root)

    async def member_known() -> bool:
        async with runtime.db("workflows").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            return await people.manager_of(unit, uuid.UUID(member.id)) == uuid.UUID(tenant.admin_id)

    await eventually(member_known, timeout=5.0)
    await eventually(lambda: records_knows(runtime, tenant, member.id), timeout=10.0)  # to be assigned
    await always_open(client, tenant)
    await sla_policy(client, tenant, {"targets": {"high": {"first_response_hours": 0.0005, "resolution_hours": 100}}})
    workflow = (await enable(client, tenant, "objection-sla-escalation")).json()
    customer = await customer_of(client, tenant)
    created = await objection_of(client, tenant, customer, severity="high", assignee_id=member.id)
    [run] = await settled_runs(client, tenant, workflow["id"], timeout=30.0)
    assert run["status"] == "succeeded" and run["record"] == {"type": "objection", "id": created["id"]}, run
    notify = next(s for s in run["steps"] if s["type"] == "notify")
    assert notify["path"] == "steps[0].then[0]" and notify["input"]["to"] == [tenant.admin_id], notify
