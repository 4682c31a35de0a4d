"""The sales day in the web console, in real Chromium against the real stack: the objections
board, tasks, the pipeline, the public pool, transfer and return from the customer's page, the
customers list's columns, saved views and bulk actions, and the duplicate warning."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.shared.test_events import eventually
from tests.web.conftest import PASSWORD, Account, Page, login

pytestmark = pytest.mark.slow
ZH = {"Accept-Language": "zh-CN"}


async def customer(api: httpx.AsyncClient, who: Account, name: str, **fields: Any) -> dict[str, Any]:
    made = await api.post("/api/v1/customers", headers=who.headers, json={"name": name, **fields})
    assert made.status_code == 201, made.text
    return made.json()


async def colleague(api: httpx.AsyncClient, who: Account, name: str) -> str:
    """A second user of the workspace (invited and accepted), by id."""
    invited = await api.post("/api/v1/invitations", headers=who.headers,
                             json={"email": f"c-{uuid.uuid4().hex[:6]}@example.com", "name": name})
    assert invited.status_code == 201, invited.text
    accepted = await api.post("/api/v1/invitations/accept",
                              json={"token": invited.json()["token"], "password": PASSWORD, "name": name})
    assert accepted.status_code in (200, 201), accepted.text
    users = (await api.get("/api/v1/users", headers=who.headers)).json()["items"]
    return str(next(u["id"] for u in users if u["name"] == name))


async def test_objections_board_shows_sla_badges_moves_status_and_refuses_an_illegal_move_with_the_api_reason(
    web: Page, account: Any, api: httpx.AsyncClient,
) -> None:
    who: Account = await account()
    c = await customer(api, who, "成都异议看板有限公司")
    made = []
    for text in ("价格比竞品高 15%", "交付周期太长"):
        answer = await api.post("/api/v1/objections", headers=who.headers,
                                json={"customer_id": c["id"], "category": "price", "severity": "high", "description": text})
        assert answer.status_code == 201, answer.text
        made.append(answer.json())
    first, second = made

    async def sla_state() -> str | None:
        return (await api.get(f"/api/v1/objections/{first['id']}", headers=who.headers)).json().get("sla_state")

    state = await eventually(sla_state, timeout=10.0, what="the SLA clock to start")
    await login(web, who)
    await web.page.get_by_role("menuitem", name="客户异议").click()
    card = web.page.get_by_test_id(f"card-{first['id']}")
    await web.page.get_by_test_id("column-open").get_by_test_id(f"card-{first['id']}").wait_for()
    label = {"on_track": "正常", "at_risk": "即将超时", "breached": "已超时", "met": "按时完成"}[state]
    assert await card.get_by_test_id("sla-badge").inner_text() == label
    await web.screenshot("objections-board")

    # Keyboard/touch: the card's menu moves it; the API keeps the new status.
    await card.get_by_test_id("move-menu").click()
    await web.page.get_by_role("menuitem", name="处理中").click()
    await web.page.get_by_test_id("column-in_progress").get_by_test_id(f"card-{first['id']}").wait_for()
    got = (await api.get(f"/api/v1/objections/{first['id']}", headers=who.headers)).json()
    assert got["status"] == "in_progress"

    # Drag and drop does the same.
    await web.page.get_by_test_id(f"card-{second['id']}").drag_to(web.page.get_by_test_id("column-in_progress"))
    await web.page.get_by_test_id("column-in_progress").get_by_test_id(f"card-{second['id']}").wait_for()
    assert (await api.get(f"/api/v1/objections/{second['id']}", headers=who.headers)).json()["status"] == "in_progress"

    # in_progress → closed is not a legal move: refused, with the API's own reason, and the card stays.
    await card.get_by_test_id("move-menu").click()
    await web.page.get_by_role("menuitem", name="已关闭").click()
    refused = web.page.locator(".move-refused")
    await refused.wait_for()
    probe = await api.patch(f"/api/v1/objections/{first['id']}", headers={**who.headers, **ZH}, json={"status": "closed"})
    assert probe.status_code == 409
    assert (probe.json().get("detail") or probe.json()["title"]) in await refused.inner_text()
    await web.page.get_by_test_id("column-in_progress").get_by_test_id(f"card-{first['id']}").wait_for()
    assert (await api.get(f"/api/v1/objections/{first['id']}", headers=who.headers)).json()["status"] == "in_progress"


async def test_tasks_today_overdue_and_completing_one_on_a_phone(web: Page, account: Any, api: httpx.AsyncClient) -> None:
    who: Account = await account()
    c = await customer(api, who, "武汉任务测试有限公司")
    now = datetime.now(UTC)
    # "Today" is the browser's day (UTC here); a task due in a minute is today unless it is midnight.
    today = await api.post("/api/v1/tasks", headers=who.headers, json={
        "customer_id": c["id"], "title": "今天回电确认需求", "due_at": min(now + timedelta(minutes=1),
                                                                   now.replace(hour=23, minute=59)).isoformat()})
    late = await api.post("/api/v1/tasks", headers=who.headers, json={
        "customer_id": c["id"], "title": "上周该发的报价单", "due_at": (now - timedelta(days=3)).isoformat()})
    assert today.status_code == late.status_code == 201
    await web.page.set_viewport_size({"width": 375, "height": 812})
    await login(web, who)
    await web.goto("/tasks")
    tasks = web.page.get_by_test_id("task-list")
    await tasks.get_by_text("今天回电确认需求").wait_for()
    assert await tasks.get_by_text("上周该发的报价单").count() == 0
    assert await web.page.evaluate("document.documentElement.scrollWidth") <= 375
    await web.page.get_by_role("tab", name="已逾期").click()
    overdue = web.page.get_by_test_id(f"task-{late.json()['id']}")
    await overdue.wait_for()
    await web.screenshot("tasks-phone")
    await overdue.get_by_test_id("task-complete").click()
    await overdue.wait_for(state="detached")
    got = (await api.get(f"/api/v1/tasks/{late.json()['id']}", headers=who.headers)).json()
    assert got["status"] == "done" and got["completed_at"]
    await web.page.get_by_role("tab", name="我的").click()
    await web.page.get_by_test_id(f"task-{today.json()['id']}").wait_for()
    assert await web.page.get_by_test_id(f"task-{late.json()['id']}").count() == 0


async def test_pipeline_kanban_moves_a_deal_formats_cny_and_shows_the_stage_requirement(
    web: Page, account: Any, api: httpx.AsyncClient,
) -> None:
    who: Account = await account()
    c = await customer(api, who, "南京商机看板有限公司")
    pipeline = (await api.get("/api/v1/pipelines", headers=who.headers)).json()["items"][0]
    stages = pipeline["stages"]
    first, second, third = stages[0], stages[1], stages[2]
    # The third stage needs an expected close date.
    changed = await api.patch(f"/api/v1/pipelines/{pipeline['id']}/stages/{third['id']}", headers=who.headers,
                              json={"required_fields": ["expected_close_date"]})
    assert changed.status_code == 200, changed.text
    deal = await api.post("/api/v1/opportunities", headers=who.headers, json={
        "customer_id": c["id"], "name": "2027 年度框架采购", "amount": "120000.00", "currency": "CNY", "stage": first["id"]})
    assert deal.status_code == 201, deal.text
    deal_id = deal.json()["id"]
    await login(web, who)
    await web.page.get_by_role("menuitem", name="商机看板").click()
    card = web.page.get_by_test_id(f"card-{deal_id}")
    await web.page.get_by_test_id(f"column-{first['id']}").get_by_test_id(f"card-{deal_id}").wait_for()
    assert await card.get_by_test_id("amount").inner_text() == "¥120,000.00"
    await web.screenshot("pipeline")

    await card.drag_to(web.page.get_by_test_id(f"column-{second['id']}"))
    await web.page.get_by_test_id(f"column-{second['id']}").get_by_test_id(f"card-{deal_id}").wait_for()
    assert (await api.get(f"/api/v1/opportunities/{deal_id}", headers=who.headers)).json()["stage"] == second["id"]

    await card.get_by_test_id("move-menu").click()
    await web.page.get_by_role("menuitem", name=third["name"], exact=False).click()
    refused = web.page.locator(".move-refused")
    await refused.wait_for()
    assert "expected_close_date" in await refused.inner_text()
    assert (await api.get(f"/api/v1/opportunities/{deal_id}", headers=who.headers)).json()["stage"] == second["id"]

    # In English the amount follows the locale.
    await web.page.get_by_test_id("language-switch").click()
    await web.page.get_by_role("heading", name="Pipeline · ", exact=False).wait_for()
    assert await card.get_by_test_id("amount").inner_text() == "CN¥120,000.00"


async def test_public_pool_claim_limit_shown_and_enforced_then_transfer_and_return_from_the_customer_page(
    web: Page, account: Any, api: httpx.AsyncClient,
) -> None:
    who: Account = await account()
    other = await colleague(api, who, "赵同事")
    pooled = [await customer(api, who, f"公海客户 {i}") for i in range(2)]
    for c in pooled:
        assert (await api.post(f"/api/v1/customers/{c['id']}/release", headers=who.headers)).status_code == 204
    rules = await api.get("/api/v1/pool/rules", headers=who.headers)
    set_rules = await api.patch("/api/v1/pool/rules", headers={**who.headers, "If-Match": rules.headers["etag"]},
                                json={"max_claims_per_day": 1, "cooldown_days": 0})
    assert set_rules.status_code == 200, set_rules.text
    await login(web, who)
    await web.page.get_by_role("menuitem", name="公海").click()
    limits = web.page.get_by_test_id("pool-limits")
    await limits.get_by_text("每日最多领取").wait_for()
    assert "1" in await limits.inner_text()
    await web.page.get_by_test_id("pool-table").get_by_text("公海客户 1").wait_for()
    await web.screenshot("pool")
    await web.page.get_by_test_id(f"claim-{pooled[0]['id']}").click()
    await web.page.get_by_test_id(f"claim-{pooled[0]['id']}").wait_for(state="detached")
    assert (await api.get(f"/api/v1/customers/{pooled[0]['id']}", headers=who.headers)).json()["owner_id"] == who.user_id
    # The second claim passes the day's limit: refused with the API's reason.
    await web.page.get_by_test_id(f"claim-{pooled[1]['id']}").click()
    refused = web.page.locator(".claim-refused")
    await refused.wait_for()
    probe = await api.post(f"/api/v1/pool/{pooled[1]['id']}/claim", headers={**who.headers, **ZH})
    assert probe.status_code == 409
    assert (probe.json().get("detail") or probe.json()["title"]) in await refused.inner_text()

    # The claimed customer's page: the owner by name, transferred to the colleague, then returned to the pool.
    await web.goto(f"/customers/{pooled[0]['id']}")
    owner = web.page.get_by_test_id("owner")
    await owner.get_by_text("王销售").wait_for()
    await web.page.get_by_test_id("transfer").click()
    await web.page.get_by_test_id("transfer-to").click()
    await web.page.get_by_title("赵同事").click()
    await web.page.get_by_role("button", name="确定", exact=True).click()
    await owner.get_by_text("赵同事").wait_for()
    assert (await api.get(f"/api/v1/customers/{pooled[0]['id']}", headers=who.headers)).json()["owner_id"] == other
    await web.page.get_by_test_id("release").click()
    await web.page.locator(".ant-popconfirm").get_by_role("button", name="确定", exact=True).click()
    await owner.get_by_text("公海").wait_for()
    assert (await api.get(f"/api/v1/customers/{pooled[0]['id']}", headers=who.headers)).json()["owner_id"] is None


async def test_customer_list_columns_saved_views_and_bulk_actions_with_per_row_errors(
    web: Page, account: Any, api: httpx.AsyncClient,
) -> None:
    who: Account = await account()
    made = [await customer(api, who, f"批量客户 {i}", tier="A" if i < 2 else "B", phone=f"1390000000{i}") for i in range(3)]
    await login(web, who)
    await web.goto("/customers?sort=name")
    table = web.page.get_by_test_id("customer-table")
    await table.get_by_text("批量客户 2").wait_for()
    # Owners by name, not by id.
    assert await table.locator("tbody").get_by_text("王销售").count() == 3
    # Column choice: the phone column goes, and stays gone after a reload (kept for this user).
    assert await table.get_by_role("columnheader", name="电话").count() == 1
    await web.page.get_by_test_id("columns").click()
    await web.page.get_by_test_id("column-choice").get_by_text("电话").click()
    await table.get_by_role("columnheader", name="电话").wait_for(state="detached")
    await web.page.reload()
    await table.get_by_text("批量客户 2").wait_for()
    assert await table.get_by_role("columnheader", name="电话").count() == 0

    # A saved view keeps the filter: tier A only.
    await web.goto("/customers?sort=name&tier=A")
    await table.get_by_text("批量客户 1").wait_for()
    await web.page.get_by_test_id("save-view").click()
    await web.page.get_by_test_id("bulk-input").fill("A 级客户")
    await web.page.get_by_role("button", name="确定", exact=True).click()
    await web.goto("/customers")
    await table.get_by_text("批量客户 2").wait_for()
    await web.page.get_by_test_id("saved-views").click()
    await web.page.get_by_title("A 级客户").click()
    await table.get_by_text("批量客户 2").wait_for(state="detached")
    assert "tier=A" in web.page.url

    # Bulk tag both; then bulk return to pool, where one was returned meanwhile: its error is shown.
    await web.goto("/customers?sort=name")
    await table.get_by_text("批量客户 2").wait_for()
    rows = table.locator("tbody tr.ant-table-row")
    await rows.nth(0).locator("input[type=checkbox]").check()
    await rows.nth(1).locator("input[type=checkbox]").check()
    await web.page.get_by_test_id("bulk-tag").click()
    await web.page.get_by_test_id("bulk-input").fill("年底冲刺")
    await web.page.get_by_role("button", name="确定", exact=True).click()
    progress = web.page.get_by_test_id("bulk-progress")
    await progress.get_by_text("成功 2 / 2").wait_for()
    await web.screenshot("customers-bulk")
    await web.page.get_by_test_id("bulk-close").click()
    for c in made[:2]:
        assert "年底冲刺" in (await api.get(f"/api/v1/customers/{c['id']}", headers=who.headers)).json()["tags"]
    assert "年底冲刺" not in (await api.get(f"/api/v1/customers/{made[2]['id']}", headers=who.headers)).json()["tags"]

    await table.get_by_text("年底冲刺").first.wait_for()
    await rows.nth(0).locator("input[type=checkbox]").check()
    await rows.nth(1).locator("input[type=checkbox]").check()
    assert (await api.post(f"/api/v1/customers/{made[1]['id']}/release", headers=who.headers)).status_code == 204
    await web.page.get_by_test_id("bulk-release").click()
    await progress.get_by_text("成功 1 / 2").wait_for()
    errors = web.page.get_by_test_id("bulk-errors")
    await errors.get_by_text("批量客户 1").wait_for()
    probe = await api.post(f"/api/v1/customers/{made[1]['id']}/release", headers={**who.headers, **ZH})
    assert probe.status_code == 409
    assert (probe.json().get("detail") or probe.json()["title"]) in await errors.inner_text()
    assert (await api.get(f"/api/v1/customers/{made[0]['id']}", headers=who.headers)).json()["owner_id"] is None


async def test_duplicate_warning_while_typing_links_to_the_existing_customer(
    web: Page, account: Any, api: httpx.AsyncClient,
) -> None:
    who: Account = await account()
    existing = await customer(api, who, "杭州重复检测有限公司", phone="13900001111")
    await login(web, who)
    await web.goto("/customers/new")
    await web.page.get_by_test_id("field-name").fill("完全不同的名字")
    await web.page.get_by_test_id("field-phone").fill("13900001111")
    warning = web.page.get_by_test_id("duplicate-warning")
    await warning.get_by_text("可能重复").wait_for()
    await web.screenshot("duplicate-warning")
    # Changed to a phone nobody has: the warning goes away.
    await web.page.get_by_test_id("field-phone").fill("13700009999")
    await warning.wait_for(state="detached")
    await web.page.get_by_test_id("field-phone").fill("13900001111")
    await warning.get_by_role("link", name="杭州重复检测有限公司").click()
    await web.page.wait_for_url(f"**/customers/{existing['id']}")
    await web.page.get_by_test_id("customer-header").get_by_text("杭州重复检测有限公司").wait_for()


async def test_editing_a_customer_merges_the_duplicate_the_warning_found(
    web: Page, account: Any, api: httpx.AsyncClient,
) -> None:
    who: Account = await account()
    keep = await customer(api, who, "苏州合并保留有限公司")
    twin = await customer(api, who, "苏州合并重复有限公司", phone="13900002222")
    await login(web, who)
    await web.goto(f"/customers/{keep['id']}/edit")
    await web.page.get_by_test_id("field-phone").fill("13900002222")
    warning = web.page.get_by_test_id("duplicate-warning")
    await warning.get_by_text("苏州合并重复有限公司").wait_for()
    await warning.get_by_test_id(f"merge-{twin['id']}").click()
    await web.page.get_by_test_id("merged").wait_for()
    # The twin's id now answers the surviving customer, which keeps the twin's name as an alias.
    survivor = (await api.get(f"/api/v1/customers/{twin['id']}", headers=who.headers)).json()
    assert survivor["id"] == keep["id"] and "苏州合并重复有限公司" in survivor["aliases"]
    # The form saves after the merge (its version followed the merge).
    await web.page.get_by_test_id("customer-save").click()
    await web.page.get_by_test_id("customer-header").get_by_text("苏州合并保留有限公司").wait_for()
    assert (await api.get(f"/api/v1/customers/{keep['id']}", headers=who.headers)).json()["phone"].endswith("13900002222")
