"""Interactions (沟通记录) end to end through the API."""

from __future__ import annotations

import uuid

from tests.records.conftest import EventLog

PROBLEM = "application/problem+json"


def fields_of(response) -> set[str]:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    return {e["field"] for e in response.json().get("errors", [])}


async def test_log_interaction_updates_customer_and_publishes(client, signup, customer,
                                                              records_events: EventLog) -> None:
    tenant = await signup()
    made = await customer(tenant)
    contact = await client.post("/api/v1/contacts", headers=tenant.headers,
                                json={"customer_id": made["id"], "name": "王经理"})
    assert contact.status_code == 201, contact.text
    created = await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": made["id"], "channel": "wechat", "direction": "outbound",
        "occurred_at": "2025-03-01T09:30:00+08:00", "summary": "  报价沟通  ",
        "details": "第一行\n第二行\t缩进", "sentiment": "positive", "next_step": "寄样品",
        "next_follow_up_at": "2025-03-08T10:00:00+08:00", "contact_ids": [contact.json()["id"]],
        "user_ids": [tenant.admin_id],
    })
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["etag"] == '"1"'
    assert body["summary"] == "报价沟通" and body["details"] == "第一行\n第二行\t缩进"
    assert body["owner_id"] == tenant.admin_id and body["customer_id"] == made["id"]
    assert body["occurred_at"].startswith("2025-03-01T01:30:00")
    assert body["contact_ids"] == [contact.json()["id"]]
    after = (await client.get(f"/api/v1/customers/{made['id']}", headers=tenant.headers)).json()
    assert after["last_interaction_at"].startswith("2025-03-01T01:30:00")
    assert after["next_follow_up_at"].startswith("2025-03-08T02:00:00")
    event = await records_events.wait_for(tenant.id, "interaction.created")
    assert event.entity_id == body["id"] and event.data["customer_id"] == made["id"]
    assert event.data["record"]["summary"] == "报价沟通" and event.data["owner_id"] == tenant.admin_id

    # An older interaction does not move last_interaction_at back.
    older = await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": made["id"], "channel": "phone", "occurred_at": "2025-01-01T00:00:00Z", "summary": "旧的"})
    assert older.status_code == 201
    after = (await client.get(f"/api/v1/customers/{made['id']}", headers=tenant.headers)).json()
    assert after["last_interaction_at"].startswith("2025-03-01T01:30:00")
    # A later one (by update) does.
    moved = await client.patch(f"/api/v1/interactions/{older.json()['id']}", headers=tenant.headers,
                               json={"occurred_at": "2025-04-01T00:00:00Z"})
    assert moved.status_code == 200, moved.text
    after = (await client.get(f"/api/v1/customers/{made['id']}", headers=tenant.headers)).json()
    assert after["last_interaction_at"].startswith("2025-04-01T00:00:00")


async def test_bad_input_names_the_field_and_writes_nothing(client, signup, customer, runtime) -> None:
    tenant = await signup()
    other = await signup()
    mine = await customer(tenant)
    theirs = await customer(other)
    gone = await customer(tenant)
    assert (await client.delete(f"/api/v1/customers/{gone['id']}", headers=tenant.headers)).status_code == 204
    good = {"customer_id": mine["id"], "channel": "phone", "summary": "ok"}
    cases = [
        ({**good, "colour": "red"}, {"colour"}),
        ({**good, "summary": 42}, {"summary"}),
        ({**good, "channel": "fax"}, {"channel"}),
        ({**good, "summary": None}, {"summary"}),
        ({"channel": "phone"}, {"customer_id", "summary"}),
        ({**good, "customer_id": theirs["id"]}, {"customer_id"}),
        ({**good, "customer_id": gone["id"]}, {"customer_id"}),
        ({**good, "customer_id": "not-a-uuid"}, {"customer_id"}),
        ({**good, "occurred_at": "2025-02-30T10:00:00Z"}, {"occurred_at"}),
        ({**good, "occurred_at": "yesterday"}, {"occurred_at"}),
        ({**good, "next_follow_up_at": "2025-03-01T10:00:00"}, {"next_follow_up_at"}),
        ({**good, "summary": "bell\u0007"}, {"summary"}),
        ({**good, "details": "nul\u0000byte"}, {"details"}),
        ({**good, "summary": "   "}, {"summary"}),
        ({**good, "contact_ids": [str(uuid.uuid4())]}, {"contact_ids[0]"}),
        ({**good, "user_ids": [str(uuid.uuid4())]}, {"user_ids[0]"}),
        ({**good, "owner_id": str(uuid.uuid4())}, {"owner_id"}),
        ({**good, "custom_fields": {"nope": 1}}, {"custom_fields.nope"}),
    ]
    for body, expected in cases:
        response = await client.post("/api/v1/interactions", headers=tenant.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert fields_of(response) == expected, (body, response.json())
    huge = await client.post("/api/v1/interactions", headers={**tenant.headers, "Content-Type": "application/json"},
                             content=b'{"customer_id": "%s", "channel": "phone", "summary": "x", "details": "'
                             % mine["id"].encode() + b"x" * (5 * 1024 * 1024) + b'"}')
    assert huge.status_code == 413 and huge.headers["content-type"].startswith(PROBLEM)
    listed = await client.get("/api/v1/interactions", headers=tenant.headers)
    assert listed.status_code == 200 and listed.json()["items"] == []
    after = (await client.get(f"/api/v1/customers/{mine['id']}", headers=tenant.headers)).json()
    assert after["last_interaction_at"] is None and after["version"] == mine["version"]


async def test_other_tenant_sees_nothing_and_changes_nothing(client, signup, customer) -> None:
    tenant = await signup()
    other = await signup()
    made = await customer(tenant)
    created = await client.post("/api/v1/interactions", headers=tenant.headers,
                                json={"customer_id": made["id"], "channel": "visit", "summary": "上门拜访"})
    interaction_id = created.json()["id"]
    for method, path, body in [
        ("GET", f"/api/v1/interactions/{interaction_id}", None),
        ("PATCH", f"/api/v1/interactions/{interaction_id}", {"summary": "hacked"}),
        ("DELETE", f"/api/v1/interactions/{interaction_id}", None),
        ("POST", f"/api/v1/interactions/{interaction_id}/restore", None),
    ]:
        response = await client.request(method, path, headers=other.headers, json=body)
        assert response.status_code == 404, (method, response.text)
    assert (await client.get("/api/v1/interactions", headers=other.headers)).json()["items"] == []
    assert (await client.get("/api/v1/interactions", headers=other.headers,
                             params={"customer_id": made["id"]})).json()["items"] == []
    still = await client.get(f"/api/v1/interactions/{interaction_id}", headers=tenant.headers)
    assert still.json()["summary"] == "上门拜访" and still.json()["version"] == 1


async def test_sales_user_sees_only_own(client, signup, customer, invite, in_directory) -> None:
    tenant = await signup()
    ann = await invite(tenant, roles=["sales"])
    bob = await invite(tenant, roles=["sales"])
    anns_customer = await customer(ann)
    bobs_customer = await customer(bob)
    mine = await client.post("/api/v1/interactions", headers=ann.headers,
                             json={"customer_id": anns_customer["id"], "channel": "phone", "summary": "Ann's call"})
    assert mine.status_code == 201, mine.text
    # Bob cannot log against Ann's customer (he cannot see it) ...
    blocked = await client.post("/api/v1/interactions", headers=bob.headers,
                                json={"customer_id": anns_customer["id"], "channel": "phone", "summary": "x"})
    assert blocked.status_code == 422 and fields_of(blocked) == {"customer_id"}
    # ... nor read or change Ann's interaction.
    assert (await client.get(f"/api/v1/interactions/{mine.json()['id']}", headers=bob.headers)).status_code == 404
    patched = await client.patch(f"/api/v1/interactions/{mine.json()['id']}", headers=bob.headers,
                                 json={"summary": "x"})
    assert patched.status_code == 404
    bobs = await client.post("/api/v1/interactions", headers=bob.headers,
                             json={"customer_id": bobs_customer["id"], "channel": "email", "summary": "Bob's mail"})
    assert bobs.status_code == 201
    assert [i["summary"] for i in (await client.get("/api/v1/interactions", headers=ann.headers)).json()["items"]] \
        == ["Ann's call"]
    assert [i["summary"] for i in (await client.get("/api/v1/interactions", headers=bob.headers)).json()["items"]] \
        == ["Bob's mail"]
    everything = (await client.get("/api/v1/interactions", headers=tenant.headers)).json()["items"]
    assert {i["summary"] for i in everything} == {"Ann's call", "Bob's mail"}
    # Giving an interaction to someone else is a transfer, which sales may not do.
    given = await client.patch(f"/api/v1/interactions/{mine.json()['id']}", headers=ann.headers,
                               json={"owner_id": bob.id})
    assert given.status_code == 403
    # Sales may not delete (the role has no delete).
    denied = await client.delete(f"/api/v1/interactions/{mine.json()['id']}", headers=ann.headers)
    assert denied.status_code == 403


async def test_list_filters_sorts_and_pages(client, signup, customer) -> None:
    tenant = await signup()
    first, second = await customer(tenant), await customer(tenant)
    for day, (who, channel) in enumerate([(first, "phone"), (second, "email"), (first, "email"), (first, "visit")],
                                         start=1):
        response = await client.post("/api/v1/interactions", headers=tenant.headers, json={
            "customer_id": who["id"], "channel": channel, "summary": f"day {day}",
            "occurred_at": f"2025-05-0{day}T08:00:00Z"})
        assert response.status_code == 201

    async def summaries(**params) -> list[str]:
        response = await client.get("/api/v1/interactions", headers=tenant.headers, params=params)
        assert response.status_code == 200, response.text
        return [i["summary"] for i in response.json()["items"]]

    assert await summaries() == ["day 4", "day 3", "day 2", "day 1"]
    assert await summaries(sort="occurred_at") == ["day 1", "day 2", "day 3", "day 4"]
    assert await summaries(customer_id=first["id"]) == ["day 4", "day 3", "day 1"]
    assert await summaries(channel="email") == ["day 3", "day 2"]
    assert await summaries(occurred_from="2025-05-02T00:00:00Z", occurred_to="2025-05-04T00:00:00Z") == [
        "day 3", "day 2"]
    assert await summaries(owner_id=tenant.admin_id, channel="visit") == ["day 4"]
    page_one = (await client.get("/api/v1/interactions", headers=tenant.headers, params={"limit": 3})).json()
    page_two = (await client.get("/api/v1/interactions", headers=tenant.headers,
                                 params={"limit": 3, "cursor": page_one["next_cursor"]})).json()
    assert [i["summary"] for i in page_one["items"] + page_two["items"]] == ["day 4", "day 3", "day 2", "day 1"]
    assert page_two["next_cursor"] is None
    for params, field in [({"channel": "fax"}, "channel"), ({"sort": "summary"}, "sort"), ({"limit": 500}, "limit"),
                          ({"cursor": "garbage"}, "cursor"),
                          ({"occurred_from": "2025-05-04T00:00:00Z", "occurred_to": "2025-05-01T00:00:00Z"},
                           "occurred_to")]:
        response = await client.get("/api/v1/interactions", headers=tenant.headers, params=params)
        assert response.status_code == 422 and field in fields_of(response), (params, response.text)
    bad_date = await client.get("/api/v1/interactions", headers=tenant.headers, params={"occurred_from": "soon"})
    assert bad_date.status_code == 422 and bad_date.headers["content-type"].startswith("application/problem+json")
    assert "occurred_from" in bad_date.text


async def test_if_match_delete_restore_and_events(client, signup, customer, records_events: EventLog) -> None:
    tenant = await signup()
    made = await customer(tenant)
    created = (await client.post("/api/v1/interactions", headers=tenant.headers,
                                 json={"customer_id": made["id"], "channel": "meeting", "summary": "kick-off"})).json()
    path = f"/api/v1/interactions/{created['id']}"
    changed = await client.patch(path, headers={**tenant.headers, "If-Match": '"1"'},
                                 json={"sentiment": "negative", "next_step": "回访"})
    assert changed.status_code == 200 and changed.headers["etag"] == '"2"'
    stale = await client.patch(path, headers={**tenant.headers, "If-Match": '"1"'}, json={"summary": "lost"})
    assert stale.status_code == 412
    assert (await client.get(path, headers=tenant.headers)).json()["summary"] == "kick-off"
    # Two clients changing different fields without If-Match both land.
    await client.patch(path, headers=tenant.headers, json={"summary": "kick-off meeting"})
    await client.patch(path, headers=tenant.headers, json={"direction": "inbound"})
    now = (await client.get(path, headers=tenant.headers)).json()
    assert now["summary"] == "kick-off meeting" and now["direction"] == "inbound" and now["sentiment"] == "negative"
    updated = await records_events.wait_for(tenant.id, "interaction.updated")
    assert updated.data["changes"]["sentiment"] == {"old": None, "new": "negative"}
    history = (await client.get(f"/api/v1/customers/{made['id']}/history", headers=tenant.headers)).json()["items"]
    assert {"entity": "interaction", "field": "next_step"} in [{"entity": h["entity"], "field": h["field"]}
                                                                for h in history]

    assert (await client.delete(path, headers=tenant.headers)).status_code == 204
    assert (await client.get(path, headers=tenant.headers)).status_code == 404
    assert (await client.get("/api/v1/interactions", headers=tenant.headers)).json()["items"] == []
    assert (await client.patch(path, headers=tenant.headers, json={"summary": "x"})).status_code == 404
    await records_events.wait_for(tenant.id, "interaction.deleted")
    restored = await client.post(f"{path}/restore", headers=tenant.headers)
    assert restored.status_code == 200 and restored.json()["summary"] == "kick-off meeting"
    await records_events.wait_for(tenant.id, "interaction.restored")
    assert (await client.post(f"{path}/restore", headers=tenant.headers)).status_code == 404
    # A deleted customer hides its interactions.
    assert (await client.delete(f"/api/v1/customers/{made['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(path, headers=tenant.headers)).status_code == 404


async def test_idempotency_key_replays_the_first_answer(client, signup, customer) -> None:
    tenant = await signup()
    made = await customer(tenant)
    headers = {**tenant.headers, "Idempotency-Key": str(uuid.uuid4())}
    body = {"customer_id": made["id"], "channel": "form", "summary": "官网表单"}
    first = await client.post("/api/v1/interactions", headers=headers, json=body)
    again = await client.post("/api/v1/interactions", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert len((await client.get("/api/v1/interactions", headers=tenant.headers)).json()["items"]) == 1


async def test_field_rules_hide_and_protect_fields(client, signup, customer, invite) -> None:
    tenant = await signup()
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "key": "note_taker", "name": "Note taker",
        "permissions": {"customer": {"actions": ["read"], "scope": "all"},
                        "interaction": {"actions": ["read", "create", "update", "transfer"], "scope": "all"}},
        "field_rules": {"interaction": {"details": "hidden", "sentiment": "read_only"}},
    })
    assert role.status_code == 201, role.text
    member = await invite(tenant, roles=["note_taker"])
    made = await customer(tenant)
    created = (await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": made["id"], "channel": "phone", "summary": "报价", "details": "底价 80 万",
        "sentiment": "neutral"})).json()
    seen = await client.get(f"/api/v1/interactions/{created['id']}", headers=member.headers)
    assert seen.status_code == 200 and "details" not in seen.json() and seen.json()["sentiment"] == "neutral"
    listed = (await client.get("/api/v1/interactions", headers=member.headers)).json()["items"]
    assert [i["id"] for i in listed] == [created["id"]] and "details" not in listed[0]
    for body, field in [({"details": "x"}, "details"), ({"sentiment": "negative"}, "sentiment")]:
        denied = await client.patch(f"/api/v1/interactions/{created['id']}", headers=member.headers, json=body)
        assert denied.status_code == 403 and denied.json()["field"] == field, denied.text
    denied = await client.post("/api/v1/interactions", headers=member.headers, json={
        "customer_id": made["id"], "channel": "phone", "summary": "x", "details": "y"})
    assert denied.status_code == 403 and denied.json()["field"] == "details"
    fine = await client.patch(f"/api/v1/interactions/{created['id']}", headers=member.headers,
                              json={"summary": "报价（已更新）"})
    assert fine.status_code == 200 and "details" not in fine.json()
    assert (await client.get(f"/api/v1/interactions/{created['id']}", headers=tenant.headers)).json()[
        "details"] == "底价 80 万"
