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
