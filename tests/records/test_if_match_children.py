"""If-Match on contacts and objections: a stale version answers 412 and changes nothing (the
record, its version, its history and its events stay as they were)."""

from __future__ import annotations

from tests.records.conftest import EventLog

PROBLEM = "application/problem+json"
# What workflows writes onto an objection on its own when the SLA clock starts (no version bump):
# it may land between the two reads, whatever the stale requests do.
SLA_FIELDS = ("sla_state", "sla_due_at", "first_response_due_at")


def _without_sla(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in SLA_FIELDS}


async def _stale_then_unchanged(client, tenant, path: str, change: dict, records_events: EventLog,
                                entity: str) -> None:
    before = await client.get(path, headers=tenant.headers)
    assert before.status_code == 200 and before.headers["etag"] == '"1"'
    fresh = await client.patch(path, headers={**tenant.headers, "If-Match": '"1"'}, json=change)
    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["etag"] == '"2"'
    after_first = (await client.get(path, headers=tenant.headers)).json()
    await records_events.wait_for(tenant.id, f"{entity}.updated")
    events_before = len(records_events.of(tenant.id))

    stale = await client.patch(path, headers={**tenant.headers, "If-Match": '"1"'},
                               json={k: f"{v} (stale)" if isinstance(v, str) else v for k, v in change.items()})
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"].startswith(PROBLEM)
    gone = await client.delete(path, headers={**tenant.headers, "If-Match": '"1"'})
    assert gone.status_code == 412, gone.text

    now = await client.get(path, headers=tenant.headers)
    assert now.status_code == 200  # the stale DELETE deleted nothing
    # Nor did the stale PATCH change a field or the version.
    assert _without_sla(now.json()) == _without_sla(after_first)
    assert now.headers["etag"] == '"2"'

    current = await client.delete(path, headers={**tenant.headers, "If-Match": '"2"'})
    assert current.status_code == 204, current.text
    assert (await client.get(path, headers=tenant.headers)).status_code == 404
    # Events leave in commit order: once the delete's event is here, a stale write's would be too.
    await records_events.wait_for(tenant.id, f"{entity}.deleted")
    # (Only this entity's: workflows may score the customer's health meanwhile, on its own.)
    assert [e.type for e in records_events.of(tenant.id)[events_before:]
            if e.type.startswith(f"{entity}.")] == [f"{entity}.deleted"]


async def test_contact_stale_if_match_is_412_and_changes_nothing(client, signup, customer, records_events) -> None:
    tenant = await signup()
    made = await customer(tenant)
    contact = await client.post("/api/v1/contacts", headers=tenant.headers,
                                json={"customer_id": made["id"], "name": "王小明", "title": "采购经理"})
    assert contact.status_code == 201, contact.text
    await _stale_then_unchanged(client, tenant, f"/api/v1/contacts/{contact.json()['id']}",
                                {"title": "采购总监"}, records_events, "contact")


async def test_objection_stale_if_match_is_412_and_changes_nothing(client, signup, customer, records_events) -> None:
    tenant = await signup()
    made = await customer(tenant)
    objection = await client.post("/api/v1/objections", headers=tenant.headers, json={
        "customer_id": made["id"], "category": "price", "severity": "high", "description": "太贵了"})
    assert objection.status_code == 201, objection.text
    path = f"/api/v1/objections/{objection.json()['id']}"
    await _stale_then_unchanged(client, tenant, path, {"description": "价格比竞品高 20%"}, records_events, "objection")


async def test_objection_status_move_with_stale_if_match_is_refused(client, signup, customer) -> None:
    tenant = await signup()
    made = await customer(tenant)
    created = (await client.post("/api/v1/objections", headers=tenant.headers, json={
        "customer_id": made["id"], "category": "price", "severity": "high", "description": "太贵了"})).json()
    path = f"/api/v1/objections/{created['id']}"
    moved = await client.patch(path, headers={**tenant.headers, "If-Match": '"1"'}, json={"status": "in_progress"})
    assert moved.status_code == 200, moved.text
    stale = await client.patch(path, headers={**tenant.headers, "If-Match": '"1"'},
                               json={"status": "resolved", "resolution": "打折"})
    assert stale.status_code == 412, stale.text
    now = (await client.get(path, headers=tenant.headers)).json()
    assert (now["status"], now["resolution"], now["version"]) == ("in_progress", None, 2)
    statuses = (await client.get(f"{path}/status-history", headers=tenant.headers)).json()
    assert [s["to_status"] for s in statuses["items"]] == ["open", "in_progress"]
