"""Reports computed against known data (times that matter are set in the database by the test)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.tenancy import scope_for_system


async def execute(runtime: Any, tenant_id: str, sql: str, *args: Any) -> None:
    """Test set-up only: put known times on rows (the API stamps them with now())."""
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant_id))) as unit:
        await unit.execute(sql, *args)


async def objection(client: httpx.AsyncClient, who: Any, customer_id: str, category: str, *,
                    resolve: bool, satisfaction: int | None = None) -> str:
    made = await client.post("/api/v1/objections", headers=who.headers, json={
        "customer_id": customer_id, "category": category, "severity": "high", "description": "Not happy"})
    assert made.status_code == 201, made.text
    objection_id = made.json()["id"]
    if resolve:
        url = f"/api/v1/objections/{objection_id}"
        assert (await client.patch(url, json={"status": "in_progress"}, headers=who.headers)).status_code == 200
        body: dict[str, Any] = {"status": "resolved", "resolution": "Discount agreed"}
        if satisfaction is not None:
            body["satisfaction"] = satisfaction
        resolved = await client.patch(url, json=body, headers=who.headers)
        assert resolved.status_code == 200, resolved.text
    return objection_id


async def test_objections_and_satisfaction(client: httpx.AsyncClient, signup: Any, customer: Any,
                                           runtime: Any) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    # (category, hours to resolve or None, resolved within the SLA, satisfaction)
    plan = [("price", 2, True, 4), ("price", 4, True, 5), ("price", 10, False, None), ("price", None, None, None),
            ("quality", 6, True, 2)]
    for category, hours, in_sla, score in plan:
        objection_id = await objection(client, tenant, acme["id"], category, resolve=hours is not None,
                                       satisfaction=score)
        resolved_at = start + timedelta(hours=hours) if hours is not None else None
        due_at = start + timedelta(hours=(hours + 1) if in_sla else 5) if hours is not None else start
        await execute(runtime, tenant.id,
                      "UPDATE records.objections SET created_at = $2, resolved_at = $3, due_at = $4 WHERE id = $1",
                      uuid.UUID(objection_id), start, resolved_at, due_at)
    report = await client.get("/api/v1/reports/objections", headers=tenant.headers)
    assert report.status_code == 200, report.text
    body = report.json()
    price = next(c for c in body["by_category"] if c["category"] == "price")
    assert (price["count"], price["resolved"]) == (4, 3)
    assert (price["median_hours_to_resolve"], price["p90_hours_to_resolve"]) == (4.0, 8.8)
    assert (price["resolved_within_sla"], price["resolved_with_sla"], price["share_resolved_within_sla"]) == (2, 3, 0.6667)
    cells = {(c["category"], c["status"]): c for c in body["by_category_status"]}
    assert set(cells) == {("price", "resolved"), ("price", "open"), ("quality", "resolved")}
    assert cells[("price", "open")]["count"] == 1 and cells[("price", "open")]["median_hours_to_resolve"] is None
    overall = body["overall"]
    assert (overall["count"], overall["resolved"]) == (5, 4)
    assert (overall["median_hours_to_resolve"], overall["p90_hours_to_resolve"]) == (5.0, 8.8)
    assert overall["share_resolved_within_sla"] == 0.75
    # A date range that misses them counts nothing.
    empty = (await client.get("/api/v1/reports/objections", params={"from": "2026-02-01"},
                              headers=tenant.headers)).json()
    assert empty["overall"]["count"] == 0 and empty["by_category"] == []
    backwards = await client.get("/api/v1/reports/objections", params={"from": "2026-02-01", "to": "2026-01-01"},
                                 headers=tenant.headers)
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "from"
    satisfaction = (await client.get("/api/v1/reports/satisfaction", headers=tenant.headers)).json()
    assert satisfaction["overall"] == {"rated": 3, "average": 3.67}
    assert {c["category"]: c["average"] for c in satisfaction["by_category"]} == {"price": 4.5, "quality": 2.0}


async def test_interactions_per_week_channel_and_owner(client: httpx.AsyncClient, signup: Any, customer: Any,
                                                       invite: Any) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    sales = await invite(tenant, roles=["sales"])
    own = await customer(sales)
    for who, customer_id, channel, at in ((tenant, acme["id"], "phone", "2025-03-03T01:00:00Z"),
                                          (tenant, acme["id"], "phone", "2025-03-09T23:30:00Z"),
                                          (tenant, acme["id"], "email", "2025-03-10T00:10:00Z"),
                                          (sales, own["id"], "visit", "2025-03-12T10:00:00Z"),
                                          (tenant, acme["id"], "email", "2025-02-01T10:00:00Z")):
        made = await client.post("/api/v1/interactions", headers=who.headers, json={
            "customer_id": customer_id, "channel": channel, "summary": "Talked", "occurred_at": at})
        assert made.status_code == 201, made.text
    report = await client.get("/api/v1/reports/interactions", params={"from": "2025-03-01", "to": "2025-03-16"},
                              headers=tenant.headers)
    assert report.status_code == 200, report.text
    body = report.json()
    # Weeks are the workspace's (Asia/Shanghai by default): the call at 2025-03-09T23:30Z was on
    # Monday 10 March at 07:30 in Shanghai, so it belongs to that Monday's week (W11), not W10.
    assert body["time_zone"] == "Asia/Shanghai"
    assert [(r["week"], r["week_start"], r["channel"], r["count"]) for r in body["by_channel"]] == [
        ("2025-W10", "2025-03-03", "phone", 1), ("2025-W11", "2025-03-10", "email", 1),
        ("2025-W11", "2025-03-10", "phone", 1), ("2025-W11", "2025-03-10", "visit", 1)]
    owners = {(r["week"], r["owner_id"]): r["count"] for r in body["by_owner"]}
    assert owners == {("2025-W10", tenant.admin_id): 1, ("2025-W11", tenant.admin_id): 2, ("2025-W11", sales.id): 1}
    # A workspace in UTC counts the same call on Sunday, in W10.
    utc = await client.patch("/api/v1/settings/records", headers=tenant.headers, json={"time_zone": "UTC"})
    assert utc.status_code == 200, utc.text
    in_utc = (await client.get("/api/v1/reports/interactions", params={"from": "2025-03-01", "to": "2025-03-16"},
                               headers=tenant.headers)).json()
    assert [(r["week"], r["channel"], r["count"]) for r in in_utc["by_channel"]] == [
        ("2025-W10", "phone", 2), ("2025-W11", "email", 1), ("2025-W11", "visit", 1)]
    # The range's days are the workspace's too: from=2025-03-10 starts at Monday 00:00 in UTC now.
    monday = (await client.get("/api/v1/reports/interactions", params={"from": "2025-03-10", "to": "2025-03-16"},
                               headers=tenant.headers)).json()
    assert [(r["channel"], r["count"]) for r in monday["by_channel"]] == [("email", 1), ("visit", 1)]
    assert (await client.patch("/api/v1/settings/records", headers=tenant.headers,
                               json={"time_zone": "Asia/Shanghai"})).status_code == 200
    # A sales user's report covers their own data scope only.
    mine = (await client.get("/api/v1/reports/interactions", params={"from": "2025-03-01", "to": "2025-03-16"},
                             headers=sales.headers)).json()
    assert [(r["channel"], r["count"]) for r in mine["by_channel"]] == [("visit", 1)]
    default = await client.get("/api/v1/reports/interactions", headers=tenant.headers)
    assert default.status_code == 200 and default.json()["by_channel"] == []


async def test_customers_without_interaction(client: httpx.AsyncClient, signup: Any, customer: Any,
                                             runtime: Any) -> None:
    tenant = await signup()
    recent, old, new, forgotten = [await customer(tenant, name=n) for n in ("Recent", "Old", "New", "Forgotten")]
    for who, at in ((recent, None), (old, "2025-03-03T01:00:00Z")):
        body = {"customer_id": who["id"], "channel": "phone", "summary": "Hello", **({"occurred_at": at} if at else {})}
        assert (await client.post("/api/v1/interactions", json=body, headers=tenant.headers)).status_code == 201
    await execute(runtime, tenant.id, "UPDATE records.customers SET created_at = now() - interval '100 days' "
                                      "WHERE id = ANY($1::uuid[])",
                  [uuid.UUID(c["id"]) for c in (recent, old, forgotten)])
    report = await client.get("/api/v1/reports/customers-without-interaction", params={"days": 30},
                              headers=tenant.headers)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["count"] == 2 and [c["name"] for c in body["items"]] == ["Old", "Forgotten"]
    first = (await client.get("/api/v1/reports/customers-without-interaction", params={"days": 30, "limit": 1},
                              headers=tenant.headers)).json()
    assert first["count"] == 2 and [c["name"] for c in first["items"]] == ["Old"]
    long_ago = (await client.get("/api/v1/reports/customers-without-interaction", params={"days": 1000},
                                 headers=tenant.headers)).json()
    assert long_ago["count"] == 0 and long_ago["items"] == []
    assert new["name"] == "New"
    bad = await client.get("/api/v1/reports/customers-without-interaction", params={"days": 0},
                           headers=tenant.headers)
    assert bad.status_code == 422 and "days" in bad.text


@pytest.mark.parametrize("scope", ["all", "own"])
async def test_pipeline_value_by_stage_and_currency(client: httpx.AsyncClient, signup: Any, customer: Any,
                                                    invite: Any, scope: str) -> None:
    tenant, other = await signup(), await signup()
    acme = await customer(tenant)
    pipelines = (await client.get("/api/v1/pipelines", headers=tenant.headers)).json()["items"]
    stage = {s["name"]: s["id"] for s in pipelines[0]["stages"]}
    for amount, currency, stage_name, probability in (("1000", "CNY", "Qualification", None),
                                                      ("500", "CNY", "Qualification", 50),
                                                      ("200", "USD", "Qualification", None),
                                                      ("10000", "CNY", "Proposal", None),
                                                      ("300", "USD", "Won", None)):
        body = {"customer_id": acme["id"], "name": "Deal", "amount": amount, "currency": currency,
                "stage": stage[stage_name], **({"probability": probability} if probability is not None else {})}
        assert (await client.post("/api/v1/opportunities", json=body, headers=tenant.headers)).status_code == 201
    if scope == "own":
        role = await client.post("/api/v1/roles", headers=tenant.headers, json={
            "name": "Analyst", "key": "analyst",
            "permissions": {"customer": {"actions": ["read", "create"], "scope": "own"},
                            "opportunity": {"actions": ["read", "create"], "scope": "own"},
                            "report": {"actions": ["read"], "scope": "all"}}})
        assert role.status_code == 201, role.text
        analyst = await invite(tenant, roles=["analyst"])
        mine = await customer(analyst)
        body = {"customer_id": mine["id"], "name": "Mine", "amount": "70", "currency": "CNY"}
        assert (await client.post("/api/v1/opportunities", json=body, headers=analyst.headers)).status_code == 201
        report = (await client.get("/api/v1/reports/pipeline-value", headers=analyst.headers)).json()
        assert report["totals"] == [{"currency": "CNY", "count": 1, "amount": "70.00", "weighted_amount": "7.00"}]
        return
    report = await client.get("/api/v1/reports/pipeline-value", headers=tenant.headers)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["pipeline"]["name"] == "Sales"
    by_stage = {s["name"]: s for s in body["stages"]}
    assert [s["name"] for s in body["stages"]] == ["Qualification", "Needs analysis", "Proposal", "Negotiation",
                                                   "Won", "Lost"]
    assert by_stage["Qualification"]["count"] == 3
    assert by_stage["Qualification"]["by_currency"] == [
        {"currency": "CNY", "count": 2, "amount": "1500.00", "weighted_amount": "350.00"},
        {"currency": "USD", "count": 1, "amount": "200.00", "weighted_amount": "20.00"}]
    assert by_stage["Proposal"]["by_currency"] == [
        {"currency": "CNY", "count": 1, "amount": "10000.00", "weighted_amount": "6000.00"}]
    assert by_stage["Needs analysis"] == {**by_stage["Needs analysis"], "count": 0, "by_currency": []}
    assert by_stage["Won"]["by_currency"] == [
        {"currency": "USD", "count": 1, "amount": "300.00", "weighted_amount": "300.00"}]
    assert body["totals"] == [
        {"currency": "CNY", "count": 3, "amount": "11500.00", "weighted_amount": "6350.00"},
        {"currency": "USD", "count": 2, "amount": "500.00", "weighted_amount": "320.00"}]
    # Another tenant's report is about its own (empty) pipeline.
    theirs = (await client.get("/api/v1/reports/pipeline-value", headers=other.headers)).json()
    assert theirs["totals"] == [] and all(s["count"] == 0 for s in theirs["stages"])
    unknown = await client.get("/api/v1/reports/pipeline-value", params={"pipeline_id": pipelines[0]["id"]},
                               headers=other.headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "pipeline_id"


async def test_objection_resolution_per_week_median_and_share_within_sla(
    client: httpx.AsyncClient, signup: Any, customer: Any, invite: Any, runtime: Any
) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    sales = await invite(tenant, roles=["sales"])
    own = await customer(sales)
    # (who, customer, created, hours to resolve, due after hours); weeks in Asia/Shanghai.
    monday = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai, ISO week 2026-W10
    plan = [(tenant, acme, monday, 2, 3), (tenant, acme, monday, 4, 3), (tenant, acme, monday, 30, None),
            (tenant, acme, monday + timedelta(days=7), 1, 5), (sales, own, monday + timedelta(days=7), 6, 8)]
    for who, record, created, hours, due in plan:
        objection_id = await objection(client, who, record["id"], "price", resolve=True)
        await execute(runtime, tenant.id,
                      "UPDATE records.objections SET created_at = $2, resolved_at = $3, due_at = $4 WHERE id = $1",
                      uuid.UUID(objection_id), created, created + timedelta(hours=hours),
                      created + timedelta(hours=due) if due is not None else None)
    await objection(client, tenant, acme["id"], "price", resolve=False)  # still open: not counted
    params = {"from": "2026-03-01", "to": "2026-03-15"}
    report = await client.get("/api/v1/reports/objection-resolution", params=params, headers=tenant.headers)
    assert report.status_code == 200, report.text
    weeks = report.json()["weeks"]
    assert [(w["week"], w["resolved"], w["median_hours_to_resolve"], w["resolved_within_sla"], w["resolved_with_sla"],
             w["share_resolved_within_sla"]) for w in weeks] == [
        ("2026-W10", 3, 4.0, 1, 2, 0.5), ("2026-W11", 2, 3.5, 2, 2, 1.0)]
    # A sales user counts their own objections only; another workspace counts none of these.
    mine = (await client.get("/api/v1/reports/objection-resolution", params=params, headers=sales.headers)).json()
    assert [(w["week"], w["resolved"], w["median_hours_to_resolve"]) for w in mine["weeks"]] == [("2026-W11", 1, 6.0)]
    other = await signup()
    theirs = await client.get("/api/v1/reports/objection-resolution", params=params, headers=other.headers)
    assert theirs.status_code == 200 and theirs.json()["weeks"] == []
    backwards = await client.get("/api/v1/reports/objection-resolution", headers=tenant.headers,
                                 params={"from": "2026-03-15", "to": "2026-03-01"})
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "from"


async def test_objection_resolution_respects_hidden_fields(
    client: httpx.AsyncClient, signup: Any, customer: Any, invite: Any
) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    await objection(client, tenant, acme["id"], "price", resolve=True)
    for key, rules in (("no_due", {"due_at": "hidden"}), ("no_resolved", {"resolved_at": "hidden"})):
        role = await client.post("/api/v1/roles", headers=tenant.headers, json={
            "name": key, "key": key, "field_rules": {"objection": rules},
            "permissions": {"customer": {"actions": ["read"], "scope": "all"},
                            "objection": {"actions": ["read"], "scope": "all"},
                            "report": {"actions": ["read"], "scope": "all"}}})
        assert role.status_code == 201, role.text
    no_due = await invite(tenant, roles=["no_due"])
    answer = await client.get("/api/v1/reports/objection-resolution", headers=no_due.headers)
    assert answer.status_code == 200, answer.text
    [week] = answer.json()["weeks"]
    assert week["resolved"] == 1 and not {"resolved_with_sla", "resolved_within_sla",
                                          "share_resolved_within_sla"} & set(week)
    admin = (await client.get("/api/v1/reports/objection-resolution", headers=tenant.headers)).json()["weeks"]
    assert admin[0]["resolved_with_sla"] == 1
    no_resolved = await invite(tenant, roles=["no_resolved"])
    refused = await client.get("/api/v1/reports/objection-resolution", headers=no_resolved.headers)
    assert refused.status_code == 403 and refused.json()["field"] == "resolved_at"
