"""A workspace's option lists (objection categories, interaction channels, customer tiers), its
time zone in reports, and sorts whose missing values come last in both directions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.tenancy import scope_for_system

PROBLEM = "application/problem+json"


def errors_of(response: httpx.Response) -> dict[str, str]:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    return {e["field"]: e["message"] for e in response.json()["errors"]}


async def test_default_option_lists_have_keys_and_labels(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    body = (await client.get("/api/v1/settings/records", headers=tenant.headers)).json()
    categories = {o["key"]: o["labels"] for o in body["objection_categories"]}
    assert list(categories) == ["price", "quality", "delivery", "service", "product", "other"]
    assert categories["price"] == {"zh-CN": "价格", "en": "Price"}
    channels = [o["key"] for o in body["interaction_channels"]]
    assert {"phone", "email", "wechat", "visit", "meeting", "form", "other", "sms", "dingtalk", "wecom",
            "feishu"} == set(channels)
    assert body["customer_tiers"] == []  # tiers stay free text until the workspace lists them
    assert body["time_zone"] == "Asia/Shanghai"


async def test_a_workspace_adds_a_channel_and_records_use_only_its_keys(client: httpx.AsyncClient, signup: Any,
                                                                        customer: Any) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    refused = await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": acme["id"], "channel": "telegram", "summary": "聊了聊"})
    assert refused.status_code == 422
    message = errors_of(refused)["channel"]
    assert "wecom" in message and "phone" in message  # names the allowed keys
    assert (await client.get("/api/v1/interactions", headers=tenant.headers)).json()["items"] == []

    current = (await client.get("/api/v1/settings/records", headers=tenant.headers)).json()
    channels = [*current["interaction_channels"],
                {"key": "telegram", "labels": {"zh-CN": "电报", "en": "Telegram"}}]
    added = await client.patch("/api/v1/settings/records", headers=tenant.headers,
                               json={"interaction_channels": channels})
    assert added.status_code == 200, added.text
    assert added.json()["interaction_channels"][-1] == channels[-1]
    made = await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": acme["id"], "channel": "telegram", "summary": "聊了聊"})
    assert made.status_code == 201, made.text
    assert made.json()["channel"] == "telegram"  # the key is stored
    wecom = await client.post("/api/v1/interactions", headers=tenant.headers, json={
        "customer_id": acme["id"], "channel": "wecom", "summary": "企业微信沟通"})
    assert wecom.status_code == 201, wecom.text
    listed = (await client.get("/api/v1/interactions", params={"channel": "wecom"}, headers=tenant.headers)).json()
    assert [i["id"] for i in listed["items"]] == [wecom.json()["id"]]

    # A key that records hold cannot be dropped; the list stays as it was.
    dropped = await client.patch("/api/v1/settings/records", headers=tenant.headers,
                                 json={"interaction_channels": channels[:-1]})
    assert dropped.status_code == 422
    assert "telegram" in errors_of(dropped)["interaction_channels"]
    after = (await client.get("/api/v1/settings/records", headers=tenant.headers)).json()
    assert after["interaction_channels"] == channels and after["version"] == added.json()["version"]


async def test_option_lists_are_validated_field_by_field(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    before = (await client.get("/api/v1/settings/records", headers=tenant.headers)).json()
    bad = await client.patch("/api/v1/settings/records", headers=tenant.headers, json={
        "objection_categories": [{"key": "price", "labels": {"zh-CN": "价格"}},
                                 {"key": "bad key!", "labels": {"zh-CN": "坏", "en": "Bad"}},
                                 {"key": "price", "labels": {"zh-CN": "价格", "en": "Price", "fr": "Prix"}}],
        "interaction_channels": [],
        "time_zone": "Mars/Olympus_Mons",
    })
    assert bad.status_code == 422
    fields = errors_of(bad)
    assert {"objection_categories[0].labels", "objection_categories[1].key", "objection_categories[2].labels",
            "objection_categories", "interaction_channels", "time_zone"} <= set(fields)
    assert "en" in fields["objection_categories[0].labels"]
    after = (await client.get("/api/v1/settings/records", headers=tenant.headers)).json()
    assert after == before


async def test_categories_and_tiers_follow_the_lists(client: httpx.AsyncClient, signup: Any, customer: Any) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    unknown = await client.post("/api/v1/objections", headers=tenant.headers, json={
        "customer_id": acme["id"], "category": "weather", "severity": "low", "description": "下雨"})
    assert unknown.status_code == 422 and "price" in errors_of(unknown)["category"]
    # A bare key keeps its labels (older clients sent keys only); a new one takes itself as its label.
    changed = await client.patch("/api/v1/settings/records", headers=tenant.headers,
                                 json={"objection_categories": ["price", "weather"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["objection_categories"] == [
        {"key": "price", "labels": {"zh-CN": "价格", "en": "Price"}},
        {"key": "weather", "labels": {"zh-CN": "weather", "en": "weather"}}]
    ok = await client.post("/api/v1/objections", headers=tenant.headers, json={
        "customer_id": acme["id"], "category": "weather", "severity": "low", "description": "下雨"})
    assert ok.status_code == 201, ok.text

    # Tiers are free text until listed; a list must keep the tiers customers hold.
    gold = await client.patch(f"/api/v1/customers/{acme['id']}", headers=tenant.headers, json={"tier": "gold"})
    assert gold.status_code == 200 and gold.json()["tier"] == "gold"
    tiers = [{"key": "A", "labels": {"zh-CN": "A 类", "en": "Tier A"}},
             {"key": "B", "labels": {"zh-CN": "B 类", "en": "Tier B"}}]
    refused = await client.patch("/api/v1/settings/records", headers=tenant.headers, json={"customer_tiers": tiers})
    assert refused.status_code == 422 and "'gold'" in errors_of(refused)["customer_tiers"]
    assert (await client.get("/api/v1/settings/records", headers=tenant.headers)).json()["customer_tiers"] == []
    listed = await client.patch("/api/v1/settings/records", headers=tenant.headers,
                                json={"customer_tiers": [*tiers, "gold"]})
    assert listed.status_code == 200, listed.text
    tier = await client.patch(f"/api/v1/customers/{acme['id']}", headers=tenant.headers, json={"tier": "VIP"})
    assert tier.status_code == 422 and "A, B, gold" in errors_of(tier)["tier"]
    assert (await client.get(f"/api/v1/customers/{acme['id']}", headers=tenant.headers)).json()["tier"] == "gold"
    good = await client.patch(f"/api/v1/customers/{acme['id']}", headers=tenant.headers, json={"tier": "B"})
    assert good.status_code == 200 and good.json()["tier"] == "B"


async def test_old_categories_stay_valid_after_the_migration(runtime: Any) -> None:
    """The migration's rule, run again on a tenant holding older values: every category it lists
    or uses becomes an option (known ones with their labels, others labelled with themselves)."""
    tenant_id = uuid.uuid4()
    db = runtime.db("records")
    customer_id = uuid.uuid4()
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        await unit.execute("INSERT INTO records.tenants (id) VALUES ($1)", tenant_id)
        await unit.execute("INSERT INTO records.settings (tenant_id, objection_categories, interaction_channels) "
                           "VALUES ($1, '[\"price\", \"contract\"]', '[]')", tenant_id)
        await unit.execute("INSERT INTO records.customers (tenant_id, id, name) VALUES ($1, $2, 'Acme')",
                           tenant_id, customer_id)
        await unit.execute("INSERT INTO records.objections (tenant_id, id, customer_id, category, severity, "
                           "description) VALUES ($1, $2, $3, '天气', 'low', 'x')", tenant_id, uuid.uuid4(), customer_id)
    async with db.tenant_unit(scope_for_system(tenant_id)) as unit:
        await unit.execute(runtime_migration_sql())
        row = await unit.fetchrow("SELECT objection_categories, interaction_channels FROM records.settings "
                                  "WHERE tenant_id = $1", tenant_id)
    assert [o["key"] for o in row["objection_categories"]] == ["price", "contract", "天气"]
    assert row["objection_categories"][1]["labels"] == {"zh-CN": "合同", "en": "Contract"}
    assert row["objection_categories"][2]["labels"] == {"zh-CN": "天气", "en": "天气"}
    assert {o["key"] for o in row["interaction_channels"]} >= {"phone", "wechat", "wecom", "dingtalk", "sms"}


def runtime_migration_sql() -> str:
    """The data part of 0009_sales_team.sql (labels and the UPDATE), for one tenant's unit."""
    from pathlib import Path

    import services.records

    text = (Path(services.records.__file__).parent / "db/migrations/0009_sales_team.sql").read_text()
    start = text.index("CREATE TEMPORARY TABLE known_labels")
    labels_end = text.index("ALTER TABLE records.settings ADD COLUMN interaction_channels")
    update_start = text.index("UPDATE records.settings s SET")
    update_end = text.index("ALTER TABLE records.settings FORCE ROW LEVEL SECURITY")
    return text[start:labels_end] + text[update_start:update_end]


async def test_objection_report_days_are_the_workspace_days(client: httpx.AsyncClient, signup: Any, customer: Any,
                                                            runtime: Any) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    made = await client.post("/api/v1/objections", headers=tenant.headers, json={
        "customer_id": acme["id"], "category": "price", "severity": "low", "description": "贵"})
    assert made.status_code == 201
    # 00:30 on 1 March in Shanghai is still 28 February in UTC.
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        await unit.execute("UPDATE records.objections SET created_at = $2 WHERE id = $1", uuid.UUID(made.json()["id"]),
                           datetime(2027, 2, 28, 16, 30, tzinfo=UTC))
    march = (await client.get("/api/v1/reports/objections", params={"from": "2027-03-01", "to": "2027-03-01"},
                              headers=tenant.headers)).json()
    assert march["overall"]["count"] == 1
    february = (await client.get("/api/v1/reports/objections", params={"from": "2027-02-28", "to": "2027-02-28"},
                                 headers=tenant.headers)).json()
    assert february["overall"]["count"] == 0


async def test_next_follow_up_sort_puts_customers_without_a_plan_last_both_ways(
        client: httpx.AsyncClient, signup: Any, customer: Any) -> None:
    tenant = await signup()
    soon = datetime.now(UTC) + timedelta(days=2)
    later = datetime.now(UTC) + timedelta(days=5)
    planned_soon = await customer(tenant, name="Soon", next_follow_up_at=soon.isoformat())
    unplanned = [await customer(tenant, name=f"None {i}") for i in range(2)]
    planned_later = await customer(tenant, name="Later", next_follow_up_at=later.isoformat())
    unplanned_ids = {c["id"] for c in unplanned}

    async def walk(sort: str) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            params = {"sort": sort, "limit": 1, **({"cursor": cursor} if cursor else {})}
            page = await client.get("/api/v1/customers", params=params, headers=tenant.headers)
            assert page.status_code == 200, page.text
            ids += [c["id"] for c in page.json()["items"]]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                return ids

    ascending = await walk("next_follow_up_at")
    assert ascending[:2] == [planned_soon["id"], planned_later["id"]] and set(ascending[2:]) == unplanned_ids
    descending = await walk("-next_follow_up_at")
    assert descending[:2] == [planned_later["id"], planned_soon["id"]] and set(descending[2:]) == unplanned_ids
    assert len(ascending) == len(descending) == 4
    # Paging across customers never contacted loses none of them (a cursor holding the year-1
    # sentinel used to be sent as -infinity and ended the list after the first page).
    never = await walk("-last_interaction_at")
    assert sorted(never) == sorted([planned_soon["id"], planned_later["id"], *unplanned_ids])


async def test_due_sorts_put_records_without_a_due_time_last_both_ways(
        client: httpx.AsyncClient, signup: Any, customer: Any) -> None:
    tenant = await signup()
    acme = await customer(tenant)
    due = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    with_due = await client.post("/api/v1/tasks", headers=tenant.headers,
                                 json={"customer_id": acme["id"], "title": "回访", "due_at": due})
    without = await client.post("/api/v1/tasks", headers=tenant.headers, json={"customer_id": acme["id"], "title": "x"})
    assert with_due.status_code == without.status_code == 201, (with_due.text, without.text)
    for sort in ("due_at", "-due_at"):
        items = (await client.get("/api/v1/tasks", params={"sort": sort}, headers=tenant.headers)).json()["items"]
        assert [t["id"] for t in items] == [with_due.json()["id"], without.json()["id"]], sort
