"""Saved list views (issue 16): per user, optionally shared with the department (and those below it)
or the tenant; checked against the entity's list so a view cannot name a hidden or undeclared
field; If-Match on change; invisible to other users (private) and other tenants."""

from __future__ import annotations

from typing import Any

import httpx

from tests.records.conftest import eventually
from tests.records.test_customer_access import _department
from tests.records.test_hidden_fields import hider, problem_fields

API = "/api/v1/saved-views"
VIEW = {"name": "我的重点客户", "entity": "customer", "columns": ["lifecycle_stage", "owner_id", "tags"],
        "filters": {"lifecycle_stage": "lead", "tag": "vip"}, "sort": "-last_interaction_at"}


async def names(client: httpx.AsyncClient, who: Any, entity: str = "customer") -> list[str]:
    listed = await client.get(API, params={"entity": entity}, headers=who.headers)
    assert listed.status_code == 200, listed.text
    return [v["name"] for v in listed.json()["items"]]


async def test_a_view_is_saved_listed_renamed_with_if_match_and_deleted(client, signup) -> None:
    tenant = await signup()
    made = await client.post(API, json=VIEW, headers=tenant.headers)
    assert made.status_code == 201, made.text
    view = made.json()
    assert (view["filters"], view["sort"], view["columns"], view["shared"], view["mine"]) == (
        VIEW["filters"], VIEW["sort"], VIEW["columns"], "private", True)
    assert made.headers["etag"] == '"1"'
    # The view's filters are the list's own parameters: the list takes them as they are.
    used = await client.get("/api/v1/customers", params={**view["filters"], "sort": view["sort"]},
                            headers=tenant.headers)
    assert used.status_code == 200, used.text
    assert await names(client, tenant) == ["我的重点客户"]
    assert await names(client, tenant, "task") == []

    renamed = await client.patch(f"{API}/{view['id']}", json={"name": "重点", "shared": "tenant"},
                                 headers={**tenant.headers, "If-Match": '"1"'})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["name"], renamed.json()["shared"], renamed.json()["version"]) == ("重点", "tenant", 2)
    assert renamed.json()["filters"] == VIEW["filters"]  # what was not sent stays
    stale = await client.patch(f"{API}/{view['id']}", json={"name": "旧"}, headers={**tenant.headers, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert await names(client, tenant) == ["重点"]
    twice = await client.post(API, json={**VIEW, "name": "重点"}, headers=tenant.headers)
    assert twice.status_code == 409 and twice.json()["type"].endswith("name-taken")

    assert (await client.delete(f"{API}/{view['id']}", headers={**tenant.headers, "If-Match": '"1"'})).status_code == 412
    assert (await client.delete(f"{API}/{view['id']}", headers={**tenant.headers, "If-Match": '"2"'})).status_code == 204
    assert await names(client, tenant) == []
    assert (await client.get(f"{API}/{view['id']}", headers=tenant.headers)).status_code == 404


async def test_undeclared_and_hidden_fields_are_refused_naming_each(client, signup, invite) -> None:
    tenant = await signup()
    bad = await client.post(API, headers=tenant.headers, json={
        "name": "x", "entity": "customer", "columns": ["name", "salary"], "sort": "-amount",
        "filters": {"lifecycle_stage": "lead", "amount_min": "5", "cursor": "abc"}})
    assert problem_fields(bad) == {"columns[1]": "unknown_field", "sort": "invalid", "filters.amount_min": "unknown",
                                   "filters.cursor": "unknown"}
    assert (await client.post(API, headers=tenant.headers, json={**VIEW, "entity": "invoice"})).status_code == 422
    mistyped = await client.post(API, headers=tenant.headers, json={**VIEW, "shared": "world", "filters": {"tag": 3}})
    assert sorted(problem_fields(mistyped)) == ["filters[...]", "shared"]  # a value of filters is text

    # The role hides a customer's phone and next follow-up date: a view may not read them either.
    member = await hider(client, tenant, invite)
    hidden = await client.post(API, headers=member.headers, json={
        "name": "跟进", "entity": "customer", "columns": ["name", "phone"], "sort": "next_follow_up_at",
        "filters": {"overdue_follow_up": "true"}})
    assert problem_fields(hidden) == {"columns[1]": "hidden", "sort": "hidden", "filters.overdue_follow_up": "hidden"}
    # The administrator's same view is fine: what is refused is the hidden field.
    same = await client.post(API, headers=tenant.headers, json={
        "name": "跟进", "entity": "customer", "columns": ["name", "phone"], "sort": "next_follow_up_at",
        "filters": {"overdue_follow_up": "true"}})
    assert same.status_code == 201, same.text
    assert await names(client, member) == []  # private to the administrator


async def test_private_views_stay_private_and_shared_ones_reach_department_and_tenant(
    client, signup, invite, in_directory
) -> None:
    tenant = await signup()
    east = await _department(client, tenant, "East")
    shanghai = await _department(client, tenant, "Shanghai", east)
    west = await _department(client, tenant, "West")
    ann = await invite(tenant, roles=["sales"], department_id=east)
    cai = await invite(tenant, roles=["sales"], department_id=shanghai)
    bob = await invite(tenant, roles=["sales"], department_id=west)
    for member in (ann, cai, bob):
        await in_directory(tenant.id, member.id)

    mine = (await client.post(API, headers=ann.headers, json={**VIEW, "name": "Ann 私有"})).json()
    team = await client.post(API, headers=ann.headers, json={**VIEW, "name": "East 团队", "shared": "department"})
    assert team.status_code == 201, team.text
    assert team.json()["department_id"] == east
    everyone = await client.post(API, headers=bob.headers, json={**VIEW, "name": "全公司", "shared": "tenant"})
    assert everyone.status_code == 201, everyone.text

    assert await names(client, ann) == ["Ann 私有", "East 团队", "全公司"]  # own first

    async def cai_sees_the_team_view() -> bool:  # Shanghai is below East (once the mirror has it)
        return await names(client, cai) == ["East 团队", "全公司"]

    await eventually(cai_sees_the_team_view, timeout=5)
    assert await names(client, bob) == ["全公司"]
    # Another user's private view answers 404 like a missing one, to read, change or delete.
    for method in ("GET", "PATCH", "DELETE"):
        answer = await client.request(method, f"{API}/{mine['id']}", headers=bob.headers,
                                      **({"json": {"name": "mine now"}} if method == "PATCH" else {}))
        assert answer.status_code == 404, (method, answer.text)
    # A shared view is read by the others but changed only by its owner.
    shared_id = everyone.json()["id"]
    seen = await client.get(f"{API}/{shared_id}", headers=ann.headers)
    assert seen.status_code == 200 and seen.json()["mine"] is False
    refused = await client.patch(f"{API}/{shared_id}", headers=ann.headers, json={"name": "Ann's now"})
    assert refused.status_code == 403 and refused.json()["type"].endswith("saved-view-not-yours")
    assert (await client.delete(f"{API}/{shared_id}", headers=ann.headers)).status_code == 403
    assert "全公司" in await names(client, bob)
    # Unsharing takes it away from the others.
    back = await client.patch(f"{API}/{team.json()['id']}", headers=ann.headers, json={"shared": "private"})
    assert back.status_code == 200 and back.json()["department_id"] is None
    assert await names(client, cai) == ["全公司"]


async def test_another_tenants_views_are_unreachable(client, signup) -> None:
    tenant, other = await signup(), await signup()
    view = (await client.post(API, headers=tenant.headers, json={**VIEW, "shared": "tenant"})).json()
    assert await names(client, other) == []
    for method in ("GET", "PATCH", "DELETE"):
        answer = await client.request(method, f"{API}/{view['id']}", headers=other.headers,
                                      **({"json": {"name": "taken"}} if method == "PATCH" else {}))
        assert answer.status_code == 404, (method, answer.text)
    kept = await client.get(f"{API}/{view['id']}", headers=tenant.headers)
    assert (kept.json()["name"], kept.json()["version"]) == (VIEW["name"], 1)
