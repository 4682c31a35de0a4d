"""The console's extras in real Chromium against the real stack: the admin tabs in English, the
phone layout of the customers list, customer 360 and objections board, a webhook's secret rotation
and replay, and the department charts that managers see and sales reps do not."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.notifications.receivers import Receiver, allow_private, receivers  # noqa: F401 - fixtures
from tests.shared.test_events import eventually
from tests.web.conftest import PASSWORD, Account, InFlight, Page, login

pytestmark = pytest.mark.slow

CHINESE = re.compile(r"[\u3400-\u9fff\u3000-\u303f\uff00-\uffef]+")
PHONE = {"width": 375, "height": 812}


async def colleague(api: httpx.AsyncClient, who: Account, name: str, roles: list[str]) -> Account:
    """A second user of ``who``'s workspace (invited and accepted over the API)."""
    email = f"u-{uuid.uuid4().hex[:8]}@example.com"
    invited = await api.post("/api/v1/invitations", headers=who.headers, json={"email": email, "name": name,
                                                                               "roles": roles})
    assert invited.status_code == 201, invited.text
    accepted = await api.post("/api/v1/invitations/accept", json={"token": invited.json()["token"], "password": PASSWORD})
    assert accepted.status_code == 201, accepted.text
    token = accepted.json()["access_token"]
    me = (await api.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).json()
    return Account(who.slug, email, PASSWORD, token, who.tenant_id, me["user"]["id"])


async def body_fits(web: Page) -> None:
    """Nothing scrolls the page body sideways on a 375 px phone."""
    width = await web.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"


async def test_admin_tabs_in_english_show_no_chinese_leftovers(web: Page, api: httpx.AsyncClient) -> None:
    # A workspace whose own data is English, so any Chinese on the page is a label left untranslated.
    suffix = uuid.uuid4().hex[:8]
    made = await api.post("/api/v1/signup", json={
        "company_name": f"Acme {suffix}", "admin_email": f"ada-{suffix}@example.com", "admin_password": PASSWORD,
        "admin_name": "Ada Admin", "slug": f"en-{suffix}"})
    assert made.status_code == 201, made.text
    who = Account(made.json()["tenant"]["slug"], f"ada-{suffix}@example.com", PASSWORD, made.json()["access_token"],
                  made.json()["tenant"]["id"], made.json()["user"]["id"])
    in_flight = InFlight(web.page)
    await login(web, who)
    await web.page.get_by_test_id("language-switch").click()
    await web.page.get_by_role("heading", name="My day").wait_for()
    await web.goto("/admin/users")
    await web.page.get_by_role("heading", name="Administration").or_(
        web.page.get_by_role("heading", name="Admin")).first.wait_for()
    tabs = web.page.get_by_role("tab")
    labels = [label.strip() for label in await tabs.all_inner_texts()]
    assert len(labels) >= 10 and all(label and not CHINESE.search(label) for label in labels), labels
    for index in range(len(labels)):
        await tabs.nth(index).click()
        await web.page.locator(".ant-tabs-tabpane-active").wait_for()
        await in_flight.settled()
        # What is shown, and what stands in empty fields or is read out for controls.
        shown = await web.page.locator("main").inner_text() + " ".join(await web.page.evaluate(
            """[...document.querySelectorAll('main [placeholder], main [aria-label], main [title]')]
               .flatMap((e) => ['placeholder', 'aria-label', 'title'].map((a) => e.getAttribute(a) || ''))"""))
        assert not CHINESE.findall(shown), (labels[index], CHINESE.findall(shown))
    await web.screenshot("admin-en")


async def test_phone_layout_of_customers_customer_360_and_objections(
    web: Page, account: Any, api: httpx.AsyncClient
) -> None:
    who: Account = await account()
    made = await api.post("/api/v1/customers", headers=who.headers, json={
        "name": "广州市天河区手机版布局测试有限责任公司", "phone": "13800138000", "email": "phone-layout@example.com",
        "industry": "制造业", "tags": ["重点客户", "华南", "年度框架协议"]})
    assert made.status_code == 201, made.text
    customer = made.json()
    contact = await api.post("/api/v1/contacts", headers=who.headers, json={
        "customer_id": customer["id"], "name": "陈经理", "phone": "13900139000", "title": "采购总监"})
    assert contact.status_code == 201, contact.text
    objection = await api.post("/api/v1/objections", headers=who.headers, json={
        "customer_id": customer["id"], "category": "price", "severity": "high",
        "description": "客户认为年度框架协议的单价比竞争对手高百分之十五，希望重新报价"})
    assert objection.status_code == 201, objection.text
    await web.page.set_viewport_size(PHONE)
    await login(web, who)

    await web.goto("/customers")
    row = web.page.get_by_role("link", name="广州市天河区手机版布局测试有限责任公司")
    await row.wait_for()
    await body_fits(web)
    await web.screenshot("customers-phone")
    await row.click()  # the list is usable: a tap opens the customer

    await web.page.get_by_test_id("customer-header").get_by_text("广州市天河区手机版布局测试有限责任公司").wait_for()
    await web.page.get_by_test_id("call-summary").wait_for()
    await body_fits(web)
    await web.page.get_by_test_id("call-summary").fill("手机上记录的电话")
    await web.page.get_by_test_id("call-submit").click()
    await web.page.get_by_test_id("timeline").get_by_text("手机上记录的电话").wait_for()
    await body_fits(web)

    await web.goto("/objections")
    card = web.page.get_by_test_id(f"card-{objection.json()['id']}")
    await card.wait_for()
    await body_fits(web)
    await web.screenshot("objections-phone")
    # Moving a card works by its menu on a touch screen.
    await card.get_by_test_id("move-menu").click()
    await web.page.get_by_role("menuitem", name="处理中").click()
    await web.page.get_by_test_id("column-in_progress").get_by_test_id(f"card-{objection.json()['id']}").wait_for()
    await body_fits(web)
    got = (await api.get(f"/api/v1/objections/{objection.json()['id']}", headers=who.headers)).json()
    assert got["status"] == "in_progress"


async def test_rotated_secret_is_shown_once_with_the_old_ones_end_and_events_replay_since_a_date(
    web: Page, account: Any, api: httpx.AsyncClient, receivers: Any, allow_private: None  # noqa: F811
) -> None:
    who: Account = await account()
    receiver: Receiver = await receivers()
    made = await api.post("/api/v1/webhooks", headers=who.headers, json={
        "url": f"{receiver.url}/huike", "events": ["customer.*"], "description": "ERP 轮换"})
    assert made.status_code == 201, made.text
    first_secret = made.json()["secret"]
    hook_id = made.json()["id"]
    customer = await api.post("/api/v1/customers", headers=who.headers, json={"name": "轮换密钥客户"})
    assert customer.status_code == 201, customer.text
    await eventually(lambda: _delivered(receiver, 1), what="the customer.created delivery")

    await login(web, who)
    await web.goto("/admin/webhooks")
    row = web.page.get_by_test_id("webhooks").get_by_role("row").filter(has_text="ERP 轮换")
    await row.get_by_test_id("webhook-rotate").click()
    await web.page.locator(".ant-popconfirm").get_by_role("button", name="轮换密钥").click()
    shown = web.page.get_by_test_id("webhook-rotated")
    secret = await shown.locator("code").inner_text()
    assert secret.startswith("whsec_") and secret != first_secret, secret
    until = await shown.get_by_test_id("old-secret-until").inner_text()
    hook = (await api.get(f"/api/v1/webhooks/{hook_id}", headers=who.headers)).json()
    expires = datetime.fromisoformat(hook["previous_secret_expires_at"])
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    # The end of the overlap, in the reader's locale (zh-CN, the browser's time zone: UTC here).
    assert "旧密钥仍然有效" in until and f"{expires.year}年{expires.month}月{expires.day}日" in until, until
    assert "secret" not in hook or hook["secret"] is None
    await web.page.reload()  # shown once: gone after a reload
    await row.wait_for()
    assert secret not in await web.page.content()
    assert await web.page.get_by_test_id("webhook-rotated").count() == 0

    # Replay every event since an hour ago: the customer.created message goes out again, signed
    # with both secrets during the overlap.
    await row.get_by_role("button", name="投递记录").click()
    since = (datetime.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    await web.page.get_by_test_id("replay-since").fill(since)
    await web.page.get_by_test_id("replay-since-submit").click()
    await web.page.get_by_test_id("replay-queued").filter(has_text="已重新排队 1 条消息").wait_for()
    await eventually(lambda: _delivered(receiver, 2), what="the replayed delivery")
    replayed = receiver.requests[-1]
    assert replayed.headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]
    assert len(replayed.headers["webhook-signature"].split(" ")) == 2  # new and old secret

    # Another workspace cannot rotate this webhook.
    other: Account = await account()
    assert (await api.post(f"/api/v1/webhooks/{hook_id}/rotate-secret", headers=other.headers)).status_code == 404


async def _delivered(receiver: Receiver, count: int) -> bool:
    return len(receiver.requests) >= count


async def test_a_manager_sees_the_department_charts_and_a_sales_rep_does_not(
    web: Page, browser: Any, live_server: Any, account: Any, api: httpx.AsyncClient
) -> None:
    who: Account = await account()
    manager = await colleague(api, who, "李经理", ["manager"])
    rep = await colleague(api, who, "张销售", ["sales"])
    own = await api.post("/api/v1/customers", headers=rep.headers, json={"name": "销售自己的客户"})
    assert own.status_code == 201, own.text
    for headers in (who.headers, rep.headers):
        made = await api.post("/api/v1/interactions", headers=headers, json={
            "customer_id": own.json()["id"], "channel": "phone", "summary": "沟通"})
        assert made.status_code == 201, made.text
    objection = await api.post("/api/v1/objections", headers=who.headers, json={
        "customer_id": own.json()["id"], "category": "price", "severity": "low", "description": "价格太高"})
    assert objection.status_code == 201, objection.text
    url = f"/api/v1/objections/{objection.json()['id']}"
    assert (await api.patch(url, headers=who.headers, json={"status": "in_progress"})).status_code == 200
    resolved = await api.patch(url, headers=who.headers, json={"status": "resolved", "resolution": "给了折扣",
                                                               "satisfaction": 4})
    assert resolved.status_code == 200, resolved.text

    await login(web, manager)
    charts = web.page.get_by_test_id("manager-charts")
    await charts.get_by_text("异议解决时长（每周中位数）").wait_for()
    resolution = charts.get_by_test_id("chart-resolution")
    await resolution.locator("canvas").wait_for()
    # ECharts describes each chart's data in its aria-label (what a screen reader reads).
    assert "解决时长中位数" in (await resolution.get_attribute("aria-label") or "")
    await charts.get_by_test_id("resolution-within-sla").get_by_text("100%").wait_for()
    owners = charts.get_by_test_id("chart-owners")
    await owners.locator("canvas").wait_for()
    described = await owners.get_attribute("aria-label") or ""
    assert "张销售" in described and "王销售" in described, described
    await charts.get_by_test_id("satisfaction-average").get_by_text("4").first.wait_for()
    assert "price" in (await charts.get_by_test_id("chart-satisfaction").get_attribute("aria-label") or "")
    await web.screenshot("home-manager-charts")

    # A sales rep gets "my day" only: no department charts (and no chart code is loaded).
    context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    try:
        page = await context.new_page()
        in_flight = InFlight(page)
        scripts: list[str] = []
        page.on("request", lambda r: scripts.append(r.url) if r.resource_type == "script" else None)
        await page.goto(live_server.url + "/login")
        await page.get_by_label("工作区标识").fill(rep.slug)
        await page.get_by_label("邮箱").fill(rep.email)
        await page.get_by_label("密码").fill(rep.password)
        await page.get_by_test_id("login-submit").click()
        await page.get_by_role("heading", name="我的一天").wait_for()
        await page.get_by_test_id("home-follow-ups").wait_for()
        await in_flight.settled()
        assert await page.get_by_test_id("manager-charts").count() == 0
        assert not any("ManagerCharts" in s for s in scripts), scripts
    finally:
        await context.close()
