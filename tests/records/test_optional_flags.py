"""Every optional flag of the records endpoints, each on its own: a flag that fails whenever it is
set (``include_opportunities`` on transfer did, every time) is found here.

Flags covered elsewhere, each value: imports ``dry_run`` and ``on_duplicate`` (test_imports.py:
test_dry_run_reports_failures_and_writes_nothing, test_on_duplicate[skip|update|create]), handover
``to_pool`` on deactivation (test_ownership.py), custom fields ``required`` / ``unique``
(test_settings_custom_fields.py), pool rules ``enabled`` (test_public_pool.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

FLAGS = ("include_tasks", "include_objections", "include_opportunities")
ENTITY = {"include_tasks": "tasks", "include_objections": "objections", "include_opportunities": "opportunities"}


async def _member(invite: Any, in_directory: Any, tenant: Any) -> Any:
    member = await invite(tenant, roles=["sales"])
    await in_directory(tenant.id, member.id)
    return member


@pytest.mark.parametrize("flags", [(), *((f,) for f in FLAGS), FLAGS], ids=lambda f: "+".join(f) or "none")
async def test_transfer_moves_exactly_the_open_work_each_flag_names(
    client: httpx.AsyncClient, signup: Any, customer: Any, invite: Any, in_directory: Any, flags: tuple[str, ...],
) -> None:
    tenant = await signup()
    heir = await _member(invite, in_directory, tenant)
    owned = await customer(tenant, name="转移标志测试有限公司")
    work = {
        "tasks": await client.post("/api/v1/tasks", headers=tenant.headers,
                                   json={"customer_id": owned["id"], "title": "回访"}),
        "objections": await client.post("/api/v1/objections", headers=tenant.headers, json={
            "customer_id": owned["id"], "category": "price", "severity": "low", "description": "价格太高"}),
        "opportunities": await client.post("/api/v1/opportunities", headers=tenant.headers,
                                           json={"customer_id": owned["id"], "name": "年度采购"}),
    }
    for name, response in work.items():
        assert response.status_code == 201, (name, response.text)
    moved = await client.post("/api/v1/customers/transfer", headers=tenant.headers, json={
        "customer_ids": [owned["id"]], "to_user_id": heir.id, **{flag: True for flag in flags}})
    assert moved.status_code == 200, moved.text
    report = moved.json()
    assert report["customers"] == 1
    for flag in FLAGS:
        entity = ENTITY[flag]
        assert report[entity] == (1 if flag in flags else 0), (flag, report)
        record = (await client.get(f"/api/v1/{entity}/{work[entity].json()['id']}", headers=tenant.headers)).json()
        assert record["owner_id"] == (heir.id if flag in flags else tenant.admin_id), (flag, record)
    assert (await client.get(f"/api/v1/customers/{owned['id']}", headers=tenant.headers)).json()["owner_id"] == heir.id


@pytest.mark.parametrize("to_pool", [True, False])
async def test_handover_to_a_user_or_to_the_pool(client: httpx.AsyncClient, signup: Any, customer: Any, invite: Any,
                                                 in_directory: Any, to_pool: bool) -> None:
    tenant = await signup()
    leaver = await _member(invite, in_directory, tenant)
    heir = await _member(invite, in_directory, tenant)
    theirs = await customer(leaver, name="交接标志测试")
    body: dict[str, Any] = {"from_user_id": leaver.id, **({"to_pool": True} if to_pool else {"to_user_id": heir.id})}
    done = await client.post("/api/v1/handovers", headers=tenant.headers, json=body)
    assert done.status_code == 201, done.text
    assert done.json()["to_pool"] is to_pool and done.json()["report"]["customers"] == 1
    got = (await client.get(f"/api/v1/customers/{theirs['id']}", headers=tenant.headers)).json()
    assert got["owner_id"] == (None if to_pool else heir.id)


@pytest.mark.parametrize(("path", "flag"), [("tasks", "overdue"), ("objections", "overdue"),
                                            ("customers", "overdue_follow_up")])
async def test_boolean_list_filters_each_value(client: httpx.AsyncClient, signup: Any, customer: Any,
                                               path: str, flag: str) -> None:
    tenant = await signup()
    late, early = await customer(tenant, name="逾期的"), await customer(tenant, name="未到期的")
    past = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    ids = {}
    for who, when in ((late, past), (early, future)):
        if path == "tasks":
            made = await client.post("/api/v1/tasks", headers=tenant.headers,
                                     json={"customer_id": who["id"], "title": "回访", "due_at": when})
        elif path == "objections":
            made = await client.post("/api/v1/objections", headers=tenant.headers, json={
                "customer_id": who["id"], "category": "price", "severity": "low", "description": "贵",
                "due_at": when})
        else:
            made = await client.patch(f"/api/v1/customers/{who['id']}", headers=tenant.headers,
                                      json={"next_follow_up_at": when})
        assert made.status_code in (200, 201), made.text
        ids[when] = made.json()["id"]
    for value in ("true", "false"):
        listed = await client.get(f"/api/v1/{path}", params={flag: value}, headers=tenant.headers)
        assert listed.status_code == 200, listed.text
        found = {item["id"] for item in listed.json()["items"]}
        if value == "true":
            assert found == {ids[past]}, (value, found)
        else:
            assert ids[past] not in found, (value, found)
