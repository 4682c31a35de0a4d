"""Journeys through the web console in real Chromium, against the real stack (PostgreSQL, NATS,
every service), with the screenshots the README shows (docs/screens/)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from tests.shared.test_events import eventually
from tests.web.conftest import PASSWORD, Account, Page, login

pytestmark = pytest.mark.slow


async def test_signup_lands_on_home_in_chinese_and_no_script_can_read_the_refresh_token(web: Page) -> None:
    suffix = uuid.uuid4().hex[:8]
    await web.goto("/signup")
    assert await web.page.locator("html").get_attribute("lang") == "zh-CN"
    await web.page.get_by_label("公司名称").fill(f"杭州汇客测试 {suffix}")
    await web.page.get_by_label("工作区标识（可选）").fill(f"hz-{suffix}")
    await web.page.get_by_label("管理员姓名").fill("李经理")
    await web.page.get_by_label("邮箱").fill(f"li-{suffix}@example.com")
    await web.page.get_by_label("密码").fill(PASSWORD)
    await web.screenshot("signup")
    await web.page.get_by_test_id("signup-submit").click()
    await web.page.get_by_role("heading", name="我的一天").wait_for()
    assert web.page.url.endswith("/")
    await web.page.get_by_text("待跟进客户").wait_for()
    await web.screenshot("home")
    # The refresh token is an HttpOnly cookie: nothing a script in the page can reach holds it.
    readable = await web.page.evaluate(
        "() => [document.cookie, JSON.stringify(localStorage), JSON.stringify(sessionStorage)].join(' ')")
    assert "hkr_" not in readable and "huike_refresh" not in readable, readable
    cookies = {c["name"]: c for c in await web.context.cookies()}
    assert cookies["huike_refresh"]["httpOnly"] and cookies["huike_refresh"]["sameSite"] == "Strict"
    assert cookies["huike_refresh"]["path"] == "/api/v1/auth"
    assert web.csp_violations == [] and web.page_errors == []


async def test_login_reload_keeps_the_session_and_logout_ends_it(web: Page, account: Any) -> None:
    who: Account = await account()
    await login(web, who)
    await web.page.reload()  # the access token was in memory only: the cookie brings a new one
    await web.page.get_by_role("heading", name="我的一天").wait_for()
    await web.page.get_by_test_id("user-menu").click()
    await web.page.get_by_text("退出登录").click()
    await web.page.get_by_test_id("login-submit").wait_for()
    await web.goto("/customers")  # a client route needing a session goes back to login
    await web.page.get_by_test_id("login-submit").wait_for()
    assert "huike_refresh" not in {c["name"] for c in await web.context.cookies()}


async def test_wrong_password_shows_the_api_message_in_chinese(web: Page, account: Any, api: httpx.AsyncClient) -> None:
    who: Account = await account()
    await web.goto("/login")
    await web.page.get_by_label("工作区标识").fill(who.slug)
    await web.page.get_by_label("邮箱").fill(who.email)
    await web.page.get_by_label("密码").fill("Wrong-Password-1")
    await web.page.get_by_test_id("login-submit").click()
    expected = (await api.post("/api/v1/auth/login", headers={"Accept-Language": "zh-CN"}, json={
        "tenant": who.slug, "email": who.email, "password": "Wrong-Password-2"})).json()
    alert = web.page.get_by_test_id("form-error")
    await alert.wait_for()
    assert (expected.get("detail") or expected["title"]) in await alert.inner_text()


async def test_customer_form_shows_the_api_field_error_on_its_field_and_keeps_the_draft(
    web: Page, account: Any, api: httpx.AsyncClient,
) -> None:
    who: Account = await account()
    await login(web, who)
    await web.goto("/customers/new")
    await web.page.get_by_test_id("field-name").fill("上海草稿保留有限公司")
    await web.page.get_by_test_id("field-email").fill("not-an-email")
    await web.page.get_by_test_id("customer-save").click()
    # The message the API gives for this field, in Chinese, appears under that field.
    answer = await api.post("/api/v1/customers", headers={**who.headers, "Accept-Language": "zh-CN"},
                            json={"name": "x", "email": "not-an-email"})
    assert answer.status_code == 422
    message = next(e["message"] for e in answer.json()["errors"] if e["field"] == "email")
    email_item = web.page.locator(".ant-form-item").filter(has=web.page.get_by_test_id("field-email"))
    await email_item.locator(".ant-form-item-explain-error").filter(has_text=message).wait_for()
    await web.screenshot("customer-form-error")
    # Nothing was saved, and a reload (or a closed tab) keeps what was typed.
    listed = (await api.get("/api/v1/customers", headers=who.headers)).json()["items"]
    assert listed == []
    await web.page.reload()
    await web.page.get_by_test_id("draft-restored").wait_for()
    assert await web.page.get_by_test_id("field-name").input_value() == "上海草稿保留有限公司"
    assert await web.page.get_by_test_id("field-email").input_value() == "not-an-email"
    # Fixed and saved: the customer exists and the draft is gone.
    await web.page.get_by_test_id("field-email").fill("ops@caogao.cn")
    await web.page.get_by_test_id("customer-save").click()
    await web.page.get_by_test_id("customer-header").get_by_text("上海草稿保留有限公司").wait_for()
    listed = (await api.get("/api/v1/customers", headers=who.headers)).json()["items"]
    assert [(c["name"], c["email"]) for c in listed] == [("上海草稿保留有限公司", "ops@caogao.cn")]
    await web.goto("/customers/new")
    await web.page.get_by_test_id("field-name").wait_for()
    assert await web.page.get_by_test_id("draft-restored").count() == 0
    assert await web.page.get_by_test_id("field-name").input_value() == ""


async def test_customer_list_pages_fifty_rows_sorted(web: Page, account: Any, api: httpx.AsyncClient) -> None:
    who: Account = await account()
    for i in range(55):
        made = await api.post("/api/v1/customers", headers=who.headers, json={"name": f"列表客户 {i:02d}"})
        assert made.status_code == 201, made.text
    await login(web, who)
    await web.goto("/customers?sort=name")
    rows = web.page.locator("[data-testid=customer-table] tbody tr.ant-table-row")
    await rows.nth(49).wait_for()
    assert await rows.count() == 50
    assert (await rows.first.inner_text()).strip().startswith("列表客户 00")  # after the selection checkbox
    await web.screenshot("customers")
    await web.page.get_by_test_id("next-page").click()
    await web.page.wait_for_url(re.compile(r"cursor="))
    await rows.first.get_by_text("列表客户 50").wait_for()
    assert await rows.count() == 5


async def test_customer_360_logs_a_call_that_appears_in_the_timeline(
    web: Page, account: Any, api: httpx.AsyncClient,
) -> None:
    who: Account = await account()
    made = await api.post("/api/v1/customers", headers=who.headers,
                          json={"name": "深圳市通话记录科技有限公司", "phone": "13800138000", "tags": ["重点"]})
    customer = made.json()
    await login(web, who)
    await web.goto(f"/customers/{customer['id']}")
    await web.page.get_by_test_id("customer-header").get_by_text("深圳市通话记录科技有限公司").wait_for()
    await web.page.get_by_test_id("call-summary").fill("电话沟通报价，客户希望下周看演示")
    await web.page.get_by_test_id("call-submit").click()
    await web.page.get_by_test_id("timeline").get_by_text("电话沟通报价，客户希望下周看演示").wait_for()
    await web.screenshot("customer-360")
    # On a phone (375 px) the page fits the screen: the menu folds away, nothing scrolls sideways.
    await web.page.set_viewport_size({"width": 375, "height": 812})
    await web.page.reload()
    await web.page.get_by_test_id("call-summary").wait_for()
    assert await web.page.evaluate("document.documentElement.scrollWidth") <= 375
    await web.screenshot("customer-360-phone")
    interactions = (await api.get("/api/v1/interactions", headers=who.headers,
                                  params={"customer_id": customer["id"]})).json()["items"]
    assert [(i["channel"], i["summary"]) for i in interactions] == [("phone", "电话沟通报价，客户希望下周看演示")]


async def test_search_palette_finds_a_customer_by_pinyin(web: Page, account: Any, api: httpx.AsyncClient) -> None:
    who: Account = await account()
    made = await api.post("/api/v1/customers", headers=who.headers, json={"name": "腾讯云计算（北京）有限责任公司"})
    customer_id = made.json()["id"]

    async def indexed() -> bool:
        found = await api.get("/api/v1/search", headers=who.headers, params={"q": "tengxun"})
        return any(h["id"] == customer_id for h in found.json()["hits"])

    await eventually(indexed)
    await login(web, who)
    await web.page.keyboard.press("Control+k")
    await web.page.get_by_test_id("search-input").fill("tengxun")
    group = web.page.get_by_test_id("search-group-customer")
    await group.get_by_text("客户").first.wait_for()
    await group.get_by_role("option").filter(has_text="有限责任公司").wait_for()
    await web.screenshot("search")
    await web.page.keyboard.press("Enter")
    await web.page.wait_for_url(f"**/customers/{customer_id}")
    await web.page.get_by_test_id("customer-header").get_by_text("腾讯云计算").wait_for()


async def test_chinese_by_default_english_by_choice_remembered_for_the_user(
    web: Page, browser: Any, live_server: Any, account: Any,
) -> None:
    who: Account = await account()
    await web.goto("/login")
    await web.page.get_by_role("button", name="登录").wait_for()
    await login(web, who)
    await web.page.get_by_test_id("language-switch").click()
    await web.page.get_by_role("heading", name="My day").wait_for()
    assert await web.page.locator("html").get_attribute("lang") == "en"
    await web.goto("/customers/new")
    await web.page.get_by_text("New customer").first.wait_for()
    await web.screenshot("customer-form-en")
    # Another browser (no local choice): after login the user's own choice, English, applies.
    other = await browser.new_context(locale="zh-CN")
    try:
        page = await other.new_page()
        await page.goto(live_server.url + "/login")
        await page.get_by_label("工作区标识").fill(who.slug)
        await page.get_by_label("邮箱").fill(who.email)
        await page.get_by_label("密码").fill(who.password)
        await page.get_by_role("button", name="登录").click()
        await page.get_by_role("heading", name="My day").wait_for()
    finally:
        await other.close()


async def test_invitation_acceptance_page_joins_the_workspace(web: Page, account: Any, api: httpx.AsyncClient) -> None:
    who: Account = await account()
    invited = await api.post("/api/v1/invitations", headers=who.headers,
                             json={"email": f"new-{uuid.uuid4().hex[:6]}@example.com", "name": "新同事"})
    assert invited.status_code == 201, invited.text
    await web.goto(f"/invitation?token={invited.json()['token']}")
    await web.page.get_by_label("密码").fill(PASSWORD)
    await web.page.get_by_test_id("invite-submit").click()
    await web.page.get_by_role("heading", name="我的一天").wait_for()
    me_name = await web.page.get_by_test_id("user-menu").inner_text()
    assert "新同事" in me_name


async def test_password_reset_request_page(web: Page, account: Any) -> None:
    who: Account = await account()
    await web.goto("/login")
    await web.page.get_by_text("忘记密码？").click()
    await web.page.get_by_label("工作区标识").fill(who.slug)
    await web.page.get_by_label("邮箱").fill(who.email)
    await web.page.get_by_test_id("reset-submit").click()
    await web.page.get_by_test_id("reset-done").get_by_text("重置邮件已发出").wait_for()


async def test_suspended_workspace_gets_its_own_page(
    web: Page, account: Any, api: httpx.AsyncClient, settings: Any,
) -> None:
    who: Account = await account()
    suspended = await api.post(f"/api/v1/operator/tenants/{who.tenant_id}/suspend",
                               headers={"Authorization": f"Bearer {settings.operator_token}"},
                               json={"reason": "欠费"})
    assert suspended.status_code == 200, suspended.text
    await web.goto("/login")
    await web.page.get_by_label("工作区标识").fill(who.slug)
    await web.page.get_by_label("邮箱").fill(who.email)
    await web.page.get_by_label("密码").fill(who.password)
    await web.page.get_by_test_id("login-submit").click()
    await web.page.get_by_test_id("suspended").get_by_text("工作区已暂停").wait_for()
    await web.screenshot("suspended")
