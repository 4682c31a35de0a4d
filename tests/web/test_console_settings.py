"""The console's settings tabs in real Chromium against the real stack: webhooks and chat robots,
the duplicate and public-pool rules, and the business calendar; what a person sees, in Chinese."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.notifications.receivers import Receiver, allow_private, receivers  # noqa: F401 - fixtures
from tests.shared.test_events import eventually
from tests.web.conftest import Account, Page, login

pytestmark = pytest.mark.slow


async def _save(scope: Any) -> None:
    # Ant Design puts a space between two Chinese characters of a button: "保 存".
    await scope.get_by_role("button", name="保 存").or_(scope.get_by_role("button", name="保存")).first.click()


async def test_webhook_secret_once_test_message_delivered_and_switched_off(
    web: Page, account: Any, api: httpx.AsyncClient, receivers: Any, allow_private: None  # noqa: F811
) -> None:
    who: Account = await account()
    receiver: Receiver = await receivers()
    await login(web, who)
    await web.goto("/admin/webhooks")
    await web.page.get_by_test_id("new-webhook").click()
    dialog = web.page.get_by_role("dialog")
    # A URL that is not http(s): the API's reason stands on the URL field.
    await dialog.get_by_label("URL").fill("ftp://erp.example.com/hook")
    await _save(dialog)
    await dialog.locator(".ant-form-item-explain-error").first.wait_for()
    await dialog.get_by_label("URL").fill(f"{receiver.url}/huike")
    await dialog.get_by_label("说明").fill("ERP 同步")
    await _save(dialog)
    secret = await web.page.get_by_test_id("webhook-secret").locator("code").inner_text()
    assert secret.startswith("whsec_"), secret
    hooks = web.page.get_by_test_id("webhooks")
    await hooks.get_by_text("ERP 同步").wait_for()
    await web.page.reload()  # the secret is never shown again
    await hooks.get_by_text("ERP 同步").wait_for()
    assert secret not in await web.page.content()

    row = hooks.get_by_role("row").filter(has_text="ERP 同步")
    await row.get_by_role("button", name="投递记录").click()
    await web.page.get_by_text("还没有投递").wait_for()
    await web.page.get_by_test_id("webhook-ping").click()
    deliveries = web.page.get_by_test_id("deliveries")
    await deliveries.get_by_text("webhook.ping").wait_for()
    # Sent in the background: the drawer looks again until it is delivered.
    await deliveries.get_by_test_id("delivery-status").filter(has_text="已送达").wait_for(timeout=30_000)
    assert len(receiver.requests) == 1
    assert receiver.requests[0].headers["webhook-signature"].startswith("v1,")
    await web.screenshot("admin-webhooks")
    await web.page.keyboard.press("Escape")

    switch = row.get_by_role("switch")
    assert await switch.get_attribute("aria-checked") == "true"
    await switch.click()
    await eventually(lambda: _attr(switch, "aria-checked", "false"), what="the switch off")
    listed = (await api.get("/api/v1/webhooks", headers=who.headers)).json()["items"]
    assert [w["enabled"] for w in listed] == [False]

    # Another workspace sees none of it.
    other: Account = await account()
    assert (await api.get("/api/v1/webhooks", headers=other.headers)).json()["items"] == []


async def test_chat_robot_refuses_a_bad_secret_on_its_field_then_is_listed(web: Page, account: Any) -> None:
    who: Account = await account()
    await login(web, who)
    await web.goto("/admin/webhooks")
    await web.page.get_by_test_id("new-robot").click()
    dialog = web.page.get_by_role("dialog")
    await dialog.get_by_label("名称").fill("华东销售群")
    await dialog.get_by_label("机器人 Webhook 地址").fill("https://oapi.dingtalk.com/robot/send?access_token=abc123")
    await dialog.get_by_label("加签密钥").fill("not-a-dingtalk-secret")
    await _save(dialog)
    # The API's reason (a 钉钉 secret starts with SEC) stands under the secret field.
    await dialog.locator(".ant-form-item-explain-error").filter(has_text="SEC").wait_for()
    await dialog.get_by_label("加签密钥").fill("SEC0123456789abcdef0123456789abcdef")
    await _save(dialog)
    robots = web.page.get_by_test_id("robots")
    row = robots.get_by_role("row").filter(has_text="华东销售群")
    await row.wait_for()
    assert "钉钉" in await row.inner_text() and "✓" in await row.inner_text()
    await row.get_by_role("button", name="投递记录").click()
    await web.page.get_by_text("还没有投递").wait_for()


async def _attr(locator: Any, name: str, expected: str) -> bool:
    return await locator.get_attribute(name) == expected


async def test_duplicate_and_pool_rules_show_the_apis_reasons_and_save(
    web: Page, account: Any, api: httpx.AsyncClient
) -> None:
    who: Account = await account()
    await login(web, who)
    await web.goto("/admin/rules")
    duplicates = web.page.get_by_test_id("duplicate-rules")
    await duplicates.get_by_label("电话相同").first.click()
    await web.page.get_by_title("阻止保存", exact=True).click()
    threshold = duplicates.get_by_label("名称相似度阈值（0.1-1.0）").first
    await threshold.fill("2")
    await _save(duplicates)
    # Out of range: the API's reason stands under the threshold, nothing is saved.
    await duplicates.locator(".ant-form-item-explain-error").first.wait_for()
    assert (await api.get("/api/v1/duplicate-rules", headers=who.headers)).json()["phone"] != "block"
    await threshold.fill("0.6")
    await _save(duplicates)
    await web.page.get_by_text("已保存").first.wait_for()
    rules = (await api.get("/api/v1/duplicate-rules", headers=who.headers)).json()
    assert (rules["phone"], rules["name_threshold"]) == ("block", 0.6)
    assert "phone" not in rules["follows_settings"]

    pool = web.page.get_by_test_id("pool-rules")
    await pool.get_by_role("switch", name="自动退回公海").click()
    await _save(pool)
    # Switched on without a rule to return customers by: refused, with the reason on the switch.
    await pool.locator(".ant-form-item-explain-error").first.wait_for()
    await pool.get_by_label("多少天无跟进退回").first.fill("30")
    await pool.get_by_label("每人每天最多领取").first.fill("5")
    await _save(pool)
    await eventually(lambda: _pool_saved(api, who), what="the pool rules saved")
    await web.screenshot("admin-rules")
    await web.page.reload()
    assert await pool.get_by_label("多少天无跟进退回").first.input_value() == "30"


async def _pool_saved(api: httpx.AsyncClient, who: Account) -> bool:
    rules = (await api.get("/api/v1/pool/rules", headers=who.headers)).json()
    return (rules["enabled"], rules["no_interaction_days"], rules["max_claims_per_day"]) == (True, 30, 5)


async def test_business_calendar_hours_per_weekday_and_closed_days(
    web: Page, account: Any, api: httpx.AsyncClient
) -> None:
    who: Account = await account()
    await login(web, who)
    await web.goto("/admin/calendar")
    calendar = web.page.get_by_test_id("business-calendar")
    monday = calendar.get_by_label("工作时间 周一", exact=True)
    saturday = calendar.get_by_label("工作时间 周六", exact=True)
    assert await monday.input_value() == "09:00-12:00, 13:30-18:00"  # the defaults
    assert await saturday.input_value() == ""
    await monday.fill("9-12")
    await _save(calendar)
    await calendar.get_by_text("请按 09:00-12:00, 13:30-18:00 的格式填写").wait_for()
    # A span that ends before it starts: the API's reason stands under Monday.
    await monday.fill("12:00-09:00")
    await _save(calendar)
    await calendar.locator(".ant-form-item-explain-error").first.wait_for()
    assert (await api.get("/api/v1/business-calendar", headers=who.headers)).json()["version"] == 0
    await monday.fill("8:30-12:00, 13:00-17:30")
    await saturday.fill("09:00-12:00")
    closed = calendar.get_by_label("公司休息日").first
    await closed.click()
    await closed.press_sequentially("2026-12-31")
    await closed.press("Enter")
    await _save(calendar)
    await web.page.get_by_text("已保存").first.wait_for()
    saved = (await api.get("/api/v1/business-calendar", headers=who.headers)).json()
    assert saved["working_hours"]["mon"] == [["08:30", "12:00"], ["13:00", "17:30"]]
    assert saved["working_hours"]["sat"] == [["09:00", "12:00"]]
    assert saved["closed_days"] == ["2026-12-31"]
    await web.page.reload()
    assert await saturday.input_value() == "09:00-12:00"
    await calendar.get_by_text("2026-12-31").first.wait_for()
    await web.screenshot("admin-calendar")
