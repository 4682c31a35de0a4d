"""A field hidden from a role can be neither read nor inferred: not sorted, filtered, matched,
summed, exported, traced in history, nor carried readable in a cursor (issue 13, "Security").

The role below hides an opportunity's amount and a customer's phone and next follow-up date. Each
refusal is shown next to the administrator's same request succeeding, so what is refused is the
hidden field, not the request."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.records.conftest import eventually
from tests.records.test_exports import API as EXPORTS
from tests.records.test_exports import csv_rows, exported
from tests.records.test_imports import bulk  # noqa: F401 - the workers fixture

AMOUNTS = ("987654.32", "123456.78", "555444.33")
PHONE = "13866661234"


async def hider(client: httpx.AsyncClient, tenant: Any, invite: Any) -> Any:
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Hider", "key": "hider",
        "permissions": {"customer": {"actions": ["read", "export"], "scope": "all"},
                        "opportunity": {"actions": ["read", "export"], "scope": "all"},
                        "pipeline": {"actions": ["read"], "scope": "all"},
                        "report": {"actions": ["read"], "scope": "all"}},
        "field_rules": {"customer": {"phone": "hidden", "next_follow_up_at": "hidden"},
                        "opportunity": {"amount": "hidden"}},
    })
    assert role.status_code == 201, role.text
    return await invite(tenant, roles=["hider"])


async def deals(client: httpx.AsyncClient, tenant: Any, customer: Any) -> dict[str, Any]:
    acme = await customer(tenant, name="Acme 精密", phone=PHONE)
    for n, amount in enumerate(AMOUNTS):
        made = await client.post("/api/v1/opportunities", headers=tenant.headers, json={
            "customer_id": acme["id"], "name": f"Deal {n}", "amount": amount, "currency": "CNY"})
        assert made.status_code == 201, made.text
    return acme


def problem_fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return {e["field"]: e.get("code", "") for e in response.json()["errors"]}


async def test_sorts_and_filters_on_hidden_fields_are_refused(client, signup, invite, customer) -> None:
    tenant = await signup()
    member = await hider(client, tenant, invite)
    await deals(client, tenant, customer)
    refused = (
        ("/api/v1/opportunities", {"sort": "amount"}, "sort"),
        ("/api/v1/opportunities", {"sort": "-amount"}, "sort"),
        ("/api/v1/opportunities", {"amount_min": "500000"}, "amount_min"),
        ("/api/v1/opportunities", {"amount_max": "500000"}, "amount_max"),
        ("/api/v1/customers", {"sort": "next_follow_up_at"}, "sort"),
        ("/api/v1/customers", {"sort": "-next_follow_up_at"}, "sort"),
        ("/api/v1/customers", {"overdue_follow_up": "true"}, "overdue_follow_up"),
    )
    for path, params, field in refused:
        answer = await client.get(path, params=params, headers=member.headers)
        assert problem_fields(answer) == {field: "hidden"}, (path, params)
        assert "hidden for your role" in answer.json()["errors"][0]["message"]
        # The same request by a role that sees the field answers.
        assert (await client.get(path, params=params, headers=tenant.headers)).status_code == 200, (path, params)
    # Narrowing by amount would tell the amount of the one deal left: without the filter, no amount at all.
    items = (await client.get("/api/v1/opportunities", headers=member.headers)).json()["items"]
    assert len(items) == 3 and all("amount" not in o for o in items)
    # Every parameter a list reads is declared: a misspelt or invented one is not silently ignored.
    unknown = await client.get("/api/v1/opportunities", params={"amount_gt": "1"}, headers=tenant.headers)
    assert problem_fields(unknown) == {"amount_gt": "unknown"}
    assert problem_fields(await client.get("/api/v1/customers", params={"phone": PHONE},
                                           headers=tenant.headers)) == {"phone": "unknown"}


async def test_cursors_are_sealed_and_bound_to_their_list_and_sort(client, signup, customer) -> None:
    tenant = await signup()
    await deals(client, tenant, customer)
    url = "/api/v1/opportunities"
    first = (await client.get(url, params={"sort": "-amount", "limit": 1}, headers=tenant.headers)).json()
    assert first["items"][0]["amount"] == "987654.32"
    cursor = first["next_cursor"]
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    for text in ("987654.32", "987654", first["items"][0]["id"]):
        assert text not in cursor and text.encode() not in raw
        for shift in range(3):  # the value's base64 at each alignment (the groups made of it alone)
            data = b"\0" * shift + text.encode()
            encoded = base64.urlsafe_b64encode(data).decode()[4 if shift else 0: 4 * (len(data) // 3)]
            assert len(encoded) >= 4 and encoded not in cursor, (text, shift)
    second = (await client.get(url, params={"sort": "-amount", "limit": 1, "cursor": cursor},
                               headers=tenant.headers)).json()
    assert second["items"][0]["amount"] == "555444.33"
    for position in (0, len(cursor) // 2, len(cursor) - 2):
        flipped = list(cursor)
        flipped[position] = "A" if cursor[position] != "A" else "B"
        answer = await client.get(url, params={"sort": "-amount", "limit": 1, "cursor": "".join(flipped)},
                                  headers=tenant.headers)
        assert problem_fields(answer) == {"cursor": "invalid"}, position
    for truncated in (cursor[:-1], cursor[: len(cursor) // 2], cursor[:4]):
        answer = await client.get(url, params={"sort": "-amount", "cursor": truncated}, headers=tenant.headers)
        assert problem_fields(answer) == {"cursor": "invalid"}
    # Another sort of the same list, or another list, refuses it.
    for path, params in ((url, {"sort": "amount"}), (url, {"sort": "-created_at"}), (url, {}),
                         ("/api/v1/customers", {"sort": "-created_at"}), ("/api/v1/customers", {}),
                         ("/api/v1/tasks", {}), ("/api/v1/users", {})):
        answer = await client.get(path, params={**params, "cursor": cursor}, headers=tenant.headers)
        assert problem_fields(answer) == {"cursor": "invalid"}, (path, params)


async def test_duplicate_check_by_a_hidden_phone_does_not_say_whose_it_is(client, signup, invite, customer) -> None:
    tenant = await signup()
    member = await hider(client, tenant, invite)
    acme = await deals(client, tenant, customer)
    check = {"entity": "customer", "record": {"name": "完全不同的名字", "phone": PHONE}}
    theirs = await client.post("/api/v1/duplicates/check", headers=member.headers, json=check)
    assert theirs.status_code == 200, theirs.text
    assert theirs.json() == {"duplicates": [], "blocked": False}
    assert acme["id"] not in theirs.text
    admin = (await client.post("/api/v1/duplicates/check", headers=tenant.headers, json=check)).json()
    assert [d["id"] for d in admin["duplicates"]] == [acme["id"]] and admin["duplicates"][0]["rules"] == ["phone"]
    # A match on a field the caller sees is still answered.
    by_name = (await client.post("/api/v1/duplicates/check", headers=member.headers,
                                 json={"entity": "customer", "record": {"name": "Acme 精密", "phone": PHONE}})).json()
    assert [d["id"] for d in by_name["duplicates"]] == [acme["id"]] and by_name["duplicates"][0]["rules"] == ["name"]


async def test_reports_exports_and_history_leave_hidden_fields_out(client, signup, invite, customer, bulk) -> None:
    tenant = await signup()
    member = await hider(client, tenant, invite)
    acme = await deals(client, tenant, customer)
    # Report: counts per stage, no sum of a hidden amount.
    report = await client.get("/api/v1/reports/pipeline-value", headers=member.headers)
    assert report.status_code == 200, report.text
    figures = [f for s in report.json()["stages"] for f in s["by_currency"]]
    assert sum(f["count"] for f in figures) == 3
    assert report.json()["totals"] == [] and all("amount" not in f for f in figures)
    assert not any(a in report.text for a in ("987654", "1666555", "1,666"))
    admin = (await client.get("/api/v1/reports/pipeline-value", headers=tenant.headers)).json()
    assert admin["totals"][0]["amount"] == "1666555.43"
    # Export: no hidden column, and no filter on a hidden field.
    rows = csv_rows(await exported(client, member, {"entity": "opportunity", "format": "csv"}))
    assert len(rows) == 3 and "amount" not in rows[0] and "987654.32" not in str(rows)
    people = csv_rows(await exported(client, member, {"entity": "customer", "format": "csv"}))
    assert "phone" not in people[0] and "next_follow_up_at" not in people[0] and PHONE not in str(people)
    refused = await client.post(EXPORTS, headers=member.headers,
                                json={"entity": "customer", "format": "csv", "filters": {"overdue_follow_up": True}})
    assert problem_fields(refused) == {"filters.overdue_follow_up": "hidden"}
    assert (await client.post(EXPORTS, headers=tenant.headers, json={
        "entity": "customer", "format": "csv", "filters": {"overdue_follow_up": True}})).status_code == 202
    # History: the hidden field's changes (old and new values) are not there; others are.
    deal = (await client.get("/api/v1/opportunities", params={"sort": "name", "limit": 1},
                             headers=tenant.headers)).json()["items"][0]
    changed = await client.patch(f"/api/v1/opportunities/{deal['id']}", headers=tenant.headers,
                                 json={"amount": "111222.33", "name": "Deal renamed"})
    assert changed.status_code == 200, changed.text
    await client.patch(f"/api/v1/customers/{acme['id']}", headers=tenant.headers,
                       json={"phone": "13977770000", "industry": "制造"})
    for path in (f"/api/v1/opportunities/{deal['id']}/history", f"/api/v1/customers/{acme['id']}/history",
                 f"/api/v1/customers/{acme['id']}/timeline"):
        seen = await client.get(path, headers=member.headers)
        assert seen.status_code == 200, seen.text
        for text in ("111222.33", "987654.32", "13977770000", "8613866661234", "1386666"):
            assert text not in seen.text, (path, text)
        full = await client.get(path, headers=tenant.headers)
        assert "111222.33" in full.text or "13977770000" in full.text, path
    fields = {e["field"] for e in (await client.get(f"/api/v1/customers/{acme['id']}/history",
                                                     headers=member.headers)).json()["items"]}
    assert "industry" in fields and not fields & {"phone", "phones", "primary_phone"}


async def test_a_cursor_from_a_page_sorted_before_the_field_was_hidden_is_refused(
    client, signup, invite, customer
) -> None:
    tenant = await signup()
    await deals(client, tenant, customer)
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Soon hidden", "key": "soon_hidden",
        "permissions": {"customer": {"actions": ["read"], "scope": "all"},
                        "opportunity": {"actions": ["read"], "scope": "all"}},
    })
    assert role.status_code == 201, role.text
    member = await invite(tenant, roles=["soon_hidden"])
    page = (await client.get("/api/v1/opportunities", params={"sort": "amount", "limit": 1},
                             headers=member.headers)).json()
    assert page["next_cursor"]
    hidden = await client.patch(f"/api/v1/roles/{role.json()['id']}", headers=tenant.headers, json={
        "field_rules": {"opportunity": {"amount": "hidden"}}})
    assert hidden.status_code == 200, hidden.text

    async def refused() -> bool:
        answer = await client.get("/api/v1/opportunities", params={"sort": "amount", "cursor": page["next_cursor"]},
                                  headers=member.headers)
        return answer.status_code == 422 and {e["field"] for e in answer.json()["errors"]} == {"sort"}

    await eventually(refused, timeout=5, interval=0.1)


async def test_a_default_sort_on_a_hidden_field_gives_way_to_newest_first(client, signup, invite, customer) -> None:
    tenant = await signup()
    role = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "No dates", "key": "no_dates",
        "permissions": {"customer": {"actions": ["read"], "scope": "all"}, "task": {"actions": ["read"], "scope": "all"}},
        "field_rules": {"task": {"due_at": "hidden"}},
    })
    assert role.status_code == 201, role.text
    member = await invite(tenant, roles=["no_dates"])
    acme = await customer(tenant, name="Acme")
    made = []
    for n, due in enumerate(("2030-01-03T09:00:00+08:00", "2030-01-01T09:00:00+08:00", "2030-01-02T09:00:00+08:00")):
        task = await client.post("/api/v1/tasks", headers=tenant.headers,
                                 json={"customer_id": acme["id"], "title": f"T{n}", "due_at": due})
        assert task.status_code == 201, task.text
        made.append(task.json()["id"])
    # The admin's default order is by due date; the member's (due_at hidden) is newest first, paged.
    admin = (await client.get("/api/v1/tasks", headers=tenant.headers)).json()["items"]
    assert [t["title"] for t in admin] == ["T1", "T2", "T0"]
    first = (await client.get("/api/v1/tasks", params={"limit": 2}, headers=member.headers)).json()
    rest = (await client.get("/api/v1/tasks", params={"limit": 2, "cursor": first["next_cursor"]},
                             headers=member.headers)).json()
    assert [t["id"] for t in first["items"] + rest["items"]] == made[::-1]
    assert all("due_at" not in t for t in first["items"])
    assert problem_fields(await client.get("/api/v1/tasks", params={"sort": "due_at"},
                                           headers=member.headers)) == {"sort": "hidden"}
