"""Records moved in bulk (merge, undo, transfer, handover, pool) publish an ``updated`` event of
their own and field history, like a PATCH of each would, so search and webhooks stay right."""

from __future__ import annotations

from typing import Any

from tests.records.conftest import EventLog, eventually

PLURAL = {"contact": "contacts", "interaction": "interactions", "objection": "objections", "task": "tasks",
          "opportunity": "opportunities"}


async def _make(client, who, collection: str, **body: Any) -> dict:
    made = await client.post(f"/api/v1/{collection}", headers=who.headers, json=body)
    assert made.status_code == 201, made.text
    return made.json()


async def _member(invite, in_directory, tenant, roles=("sales",)):
    member = await invite(tenant, roles=list(roles))
    await in_directory(tenant.id, member.id)
    return member


async def _updated(log: EventLog, tenant_id: str, entity: str, record_id: str, **wanted: Any) -> Any:
    """The latest ``<entity>.updated`` event of the record whose ``data.record`` holds ``wanted``."""
    found: list[Any] = []

    async def seen() -> bool:
        found[:] = [e for e in log.of(tenant_id) if e.type == f"{entity}.updated" and e.entity_id == record_id
                    and all(e.data["record"].get(k) == v for k, v in wanted.items())]
        return bool(found)

    try:
        await eventually(seen, timeout=3)
    except AssertionError:
        raise AssertionError(f"no {entity}.updated for {record_id} with {wanted}: "
                             f"{[(e.type, e.entity_id) for e in log.of(tenant_id)]}") from None
    return found[-1]


async def test_merge_and_undo_publish_every_moved_child(client, signup, customer, records_events) -> None:
    tenant = await signup()
    keep = await customer(tenant, name="保留客户")
    gone = await customer(tenant, name="被合并客户")
    children = {
        "contact": await _make(client, tenant, "contacts", customer_id=gone["id"], name="韩梅梅"),
        "interaction": await _make(client, tenant, "interactions", customer_id=gone["id"], channel="phone",
                                   summary="电话回访", occurred_at="2025-03-01T10:00:00+08:00"),
        "objection": await _make(client, tenant, "objections", customer_id=gone["id"], category="price",
                                 severity="high", description="价格太高"),
        "task": await _make(client, tenant, "tasks", customer_id=gone["id"], title="寄送合同"),
        "opportunity": await _make(client, tenant, "opportunities", customer_id=gone["id"], name="二期项目"),
    }


    async def clock_written() -> bool:
        # Workflows writes the objection's SLA fields just after its creation: let that land first,
        # so the merge's event and a read afterwards show the same record.
        got = (await client.get(f"/api/v1/objections/{children['objection']['id']}", headers=tenant.headers)).json()
        return got["sla_state"] is not None

    await eventually(clock_written, timeout=5.0)
    merged = await client.post(f"/api/v1/customers/{keep['id']}/merge", headers=tenant.headers,
                               json={"merge_ids": [gone["id"]]})
    assert merged.status_code == 200, merged.text
    for entity, child in children.items():
        event = await _updated(records_events, tenant.id, entity, child["id"], customer_id=keep["id"])
        assert event.version == child["version"] + 1
        assert event.data["customer_id"] == keep["id"]
        assert event.data["changes"]["customer_id"] == {"old": gone["id"], "new": keep["id"]}
        assert event.data["owner_id"] == tenant.admin_id and "sensitive_fields" in event.data
        # The event carries the whole record, as the API answers it.
        got = (await client.get(f"/api/v1/{PLURAL[entity]}/{child['id']}", headers=tenant.headers)).json()
        assert got["version"] == event.version and got["customer_id"] == keep["id"]
        assert {k: v for k, v in event.data["record"].items() if k in got} == {
            k: v for k, v in got.items() if k in event.data["record"]}
    history = (await client.get(f"/api/v1/customers/{keep['id']}/history", headers=tenant.headers)).json()["items"]
    moved_rows = {(h["entity"], h["record_id"]) for h in history if h["field"] == "customer_id"}
    assert moved_rows == {(e, c["id"]) for e, c in children.items()}

    undone = await client.post(f"/api/v1/merges/{merged.json()['merge_id']}/undo", headers=tenant.headers)
    assert undone.status_code == 200, undone.text
    for entity, child in children.items():
        event = await _updated(records_events, tenant.id, entity, child["id"], customer_id=gone["id"])
        assert event.version == child["version"] + 2
        assert event.data["changes"]["customer_id"] == {"old": keep["id"], "new": gone["id"]}


async def test_transfer_publishes_moved_open_work_and_contacts(client, signup, customer, invite, in_directory,
                                                               records_events) -> None:
    tenant = await signup()
    bo = await _member(invite, in_directory, tenant)
    made = await customer(tenant, name="转移客户")
    contact = await _make(client, tenant, "contacts", customer_id=made["id"], name="李雷")
    task = await _make(client, tenant, "tasks", customer_id=made["id"], title="跟进", assignee_id=tenant.admin_id)
    done = await _make(client, tenant, "tasks", customer_id=made["id"], title="已完成", status="done")
    objection = await _make(client, tenant, "objections", customer_id=made["id"], category="price",
                            severity="low", description="要折扣", assignee_id=tenant.admin_id)
    moved = await client.post("/api/v1/customers/transfer", headers=tenant.headers, json={
        "customer_ids": [made["id"]], "to_user_id": bo.id, "include_tasks": True, "include_objections": True})
    assert moved.status_code == 200, moved.text
    assert moved.json()["tasks"] == 1 and moved.json()["objections"] == 1
    for entity, child in (("task", task), ("objection", objection)):
        event = await _updated(records_events, tenant.id, entity, child["id"], owner_id=bo.id)
        assert event.data["changes"]["owner_id"] == {"old": tenant.admin_id, "new": bo.id}
        assert event.data["changes"]["assignee_id"] == {"old": tenant.admin_id, "new": bo.id}
        assert event.data["record"]["assignee_id"] == bo.id and event.data["customer_id"] == made["id"]
        assert event.version == child["version"] + 1
    event = await _updated(records_events, tenant.id, "contact", contact["id"], owner_id=bo.id)
    assert event.data["changes"]["owner_id"] == {"old": tenant.admin_id, "new": bo.id}
    # Closed work stays with its owner and publishes nothing.
    assert not [e for e in records_events.of(tenant.id) if e.entity_id == done["id"] and e.type == "task.updated"]
    history = (await client.get(f"/api/v1/customers/{made['id']}/history", headers=tenant.headers)).json()["items"]
    assert {("task", task["id"]), ("objection", objection["id"]), ("contact", contact["id"])} <= {
        (h["entity"], h["record_id"]) for h in history if h["field"] == "owner_id" and h["new"] == bo.id}


async def test_handover_and_pool_publish_the_leavers_records(client, signup, customer, invite, in_directory,
                                                             records_events) -> None:
    tenant = await signup()
    leaver = await _member(invite, in_directory, tenant)
    heir = await _member(invite, in_directory, tenant)
    theirs = await customer(leaver, name="交接客户")
    contact = await _make(client, leaver, "contacts", customer_id=theirs["id"], name="王经理")
    talk = await _make(client, leaver, "interactions", customer_id=theirs["id"], channel="visit", summary="上门")
    task = await _make(client, leaver, "tasks", customer_id=theirs["id"], title="回访")
    done = await client.post("/api/v1/handovers", headers=tenant.headers,
                             json={"from_user_id": leaver.id, "to_user_id": heir.id})
    assert done.status_code == 201, done.text
    for entity, child in (("contact", contact), ("interaction", talk), ("task", task)):
        event = await _updated(records_events, tenant.id, entity, child["id"], owner_id=heir.id)
        assert event.data["changes"]["owner_id"] == {"old": leaver.id, "new": heir.id}
        assert event.data["owner_id"] == heir.id and event.data["customer_id"] == theirs["id"]
    # The heir releases the customer to the pool; a colleague claims it: the contact follows each time.
    released = await client.post(f"/api/v1/customers/{theirs['id']}/release", headers=heir.headers)
    assert released.status_code == 204, released.text
    event = await _updated(records_events, tenant.id, "contact", contact["id"], owner_id=None)
    assert event.data["changes"]["owner_id"] == {"old": heir.id, "new": None}
    claimed = await client.post(f"/api/v1/pool/{theirs['id']}/claim", headers=leaver.headers)
    assert claimed.status_code == 200, claimed.text
    event = await _updated(records_events, tenant.id, "contact", contact["id"], owner_id=leaver.id)
    assert event.data["changes"]["owner_id"] == {"old": None, "new": leaver.id}
    got = (await client.get(f"/api/v1/contacts/{contact['id']}", headers=leaver.headers)).json()
    assert got["version"] == event.version
