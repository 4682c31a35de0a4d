"""Chat robots: 钉钉, 飞书 and 企业微信 group robots fed a tenant's events, against local receivers
that check the signatures as those platforms document them, and the platforms' rate limits."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import SignUp, Tenant
from tests.identity.conftest import eventually
from tests.notifications.receivers import Answer, Received, Receiver, allow_private, receivers  # noqa: F401

pytestmark = pytest.mark.usefixtures("allow_private")

DINGTALK_SECRET = "SEC" + "0123456789abcdef" * 4
FEISHU_SECRET = "qJ8bJ0N1hVd5WvXoFmS1de"
OK = (200, b'{"errcode": 0, "errmsg": "ok"}', {})


def dingtalk_check(request: Received) -> Answer:
    """What 钉钉 does (open.dingtalk.com 自定义机器人安全设置, 加签): the timestamp (ms) is within an hour,
    and sign = urlencode(base64(HmacSHA256(key=secret, timestamp + "\\n" + secret)))."""
    timestamp = request.query.get("timestamp", "")
    string_to_sign = f"{timestamp}\n{DINGTALK_SECRET}".encode()
    expected = base64.b64encode(hmac.new(DINGTALK_SECRET.encode(), string_to_sign, hashlib.sha256).digest()).decode()
    fresh = timestamp.isdigit() and abs(time.time() * 1000 - int(timestamp)) < 3_600_000
    if not fresh or request.query.get("sign") != expected or request.query.get("access_token") != "abc":
        return 200, b'{"errcode": 310000, "errmsg": "sign not match"}', {}
    return OK


def feishu_check(request: Received) -> Answer:
    """What 飞书 does (自定义机器人 签名校验): the body's timestamp (s) is within an hour, and
    sign = base64(HmacSHA256(key=timestamp + "\\n" + secret, empty message))."""
    body = request.json()
    timestamp = str(body.get("timestamp", ""))
    expected = base64.b64encode(hmac.new(f"{timestamp}\n{FEISHU_SECRET}".encode(), b"",
                                         hashlib.sha256).digest()).decode()
    fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < 3600
    if not fresh or body.get("sign") != expected:
        return 200, json.dumps({"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}).encode(), {}
    return 200, b'{"code": 0, "msg": "success", "data": {}}', {}


async def make_robot(client: httpx.AsyncClient, who: Tenant, **body: Any) -> dict[str, Any]:
    answer = await client.post("/api/v1/chat-robots", json={"name": "华东销售群", "events": ["customer.created"], **body},
                               headers=who.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def make_customer(client: httpx.AsyncClient, who: Tenant, name: str) -> None:
    answer = await client.post("/api/v1/customers", json={"name": name}, headers=who.headers)
    assert answer.status_code == 201, answer.text


async def robot_deliveries(client: httpx.AsyncClient, who: Tenant, robot_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/v1/chat-robots/{robot_id}/deliveries?limit=200", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def received(receiver: Receiver, count: int, timeout: float = 5.0) -> None:
    async def enough() -> bool:
        return len(receiver.requests) >= count
    await eventually(enough, timeout=timeout)


async def test_dingtalk_robot_gets_a_signed_markdown_message_in_chinese(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver: Receiver = await receivers()
    receiver.respond = dingtalk_check
    tenant = await signup()
    robot = await make_robot(client, tenant, platform="dingtalk", secret=DINGTALK_SECRET,
                             webhook_url=f"{receiver.url}/robot/send?access_token=abc")
    assert robot["has_secret"] is True and "secret" not in robot
    await make_customer(client, tenant, "杭州阿里巴巴")
    await received(receiver, 1)
    message = receiver.requests[0].json()
    assert message["msgtype"] == "markdown"
    assert message["markdown"]["title"] == "客户新建"
    assert "杭州阿里巴巴" in message["markdown"]["text"] and "北京时间" in message["markdown"]["text"]

    async def delivered() -> bool:
        items = await robot_deliveries(client, tenant, robot["id"])
        return bool(items) and items[0]["status"] == "succeeded"
    await eventually(delivered)


async def test_a_dingtalk_refusal_is_a_failed_attempt_and_retried(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver: Receiver = await receivers()
    receiver.respond = dingtalk_check
    tenant = await signup()
    # Signed with another secret than the one 钉钉 knows: it answers 200 with an errcode.
    robot = await make_robot(client, tenant, platform="dingtalk", secret="SEC" + "f" * 64,
                             webhook_url=f"{receiver.url}/robot/send?access_token=abc")
    await make_customer(client, tenant, "错误签名")

    async def attempted() -> bool:
        items = await robot_deliveries(client, tenant, robot["id"])
        return bool(items) and bool(items[0]["attempt_log"])
    await eventually(attempted)
    [delivery] = await robot_deliveries(client, tenant, robot["id"])
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert "310000" in delivery["attempt_log"][0]["error"]


async def test_feishu_bot_gets_a_signed_interactive_card(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver: Receiver = await receivers()
    receiver.respond = feishu_check
    tenant = await signup()
    robot = await make_robot(client, tenant, platform="feishu", secret=FEISHU_SECRET,
                             webhook_url=f"{receiver.url}/open-apis/bot/v2/hook/{uuid.uuid4()}")
    await make_customer(client, tenant, "北京字节跳动")
    await received(receiver, 1)
    card = receiver.requests[0].json()
    assert card["msg_type"] == "interactive"
    assert card["card"]["header"]["title"]["content"] == "客户新建"
    assert "北京字节跳动" in card["card"]["elements"][0]["text"]["content"]

    async def delivered() -> bool:
        items = await robot_deliveries(client, tenant, robot["id"])
        return bool(items) and items[0]["status"] == "succeeded"
    await eventually(delivered)


async def test_wecom_robot_gets_markdown_without_signing(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver: Receiver = await receivers()
    receiver.default = OK
    tenant = await signup()
    await make_robot(client, tenant, platform="wecom", webhook_url=f"{receiver.url}/cgi-bin/webhook/send?key=k-1")
    await make_customer(client, tenant, "深圳腾讯")
    await received(receiver, 1)
    request = receiver.requests[0]
    assert request.query == {"key": "k-1"}
    message = request.json()
    assert message["msgtype"] == "markdown" and "深圳腾讯" in message["markdown"]["content"]
    assert "timestamp" not in message and "sign" not in message


async def test_a_dingtalk_robot_sends_at_most_20_messages_a_minute(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver: Receiver = await receivers()
    receiver.respond = dingtalk_check
    tenant = await signup()
    robot = await make_robot(client, tenant, platform="dingtalk", secret=DINGTALK_SECRET,
                             webhook_url=f"{receiver.url}/robot/send?access_token=abc")
    for index in range(23):
        await make_customer(client, tenant, f"批量客户 {index}")

    async def settled() -> bool:
        items = await robot_deliveries(client, tenant, robot["id"])
        waiting = [d for d in items if d["status"] == "pending" and not d["attempt_log"] and d["next_attempt_at"]
                   and datetime.fromisoformat(d["next_attempt_at"]) > datetime.fromisoformat(d["created_at"])
                   + timedelta(seconds=30)]
        return len(items) == 23 and len(waiting) == 3
    await eventually(settled, timeout=15)
    items = await robot_deliveries(client, tenant, robot["id"])
    sent = [d for d in items if d["status"] == "succeeded"]
    assert len(sent) == 20 and len(receiver.requests) == 20
    first = min(datetime.fromisoformat(d["attempt_log"][0]["attempted_at"]) for d in sent)
    for waiting in (d for d in items if d["status"] == "pending"):
        assert waiting["attempts"] == 0  # waiting for the window spends no attempt
        assert datetime.fromisoformat(waiting["next_attempt_at"]) >= first + timedelta(seconds=59)


async def test_a_department_robot_hears_only_of_its_department(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver: Receiver = await receivers()
    receiver.default = OK
    tenant = await signup()
    robot = await make_robot(client, tenant, platform="wecom", department_id=str(uuid.uuid4()),
                             webhook_url=f"{receiver.url}/cgi-bin/webhook/send?key=k-2")
    other = await make_robot(client, tenant, platform="wecom", webhook_url=f"{receiver.url}/cgi-bin/webhook/send?key=all")
    await make_customer(client, tenant, "不属于该部门")
    await received(receiver, 1)
    assert [r.query["key"] for r in receiver.requests] == ["all"]
    assert await robot_deliveries(client, tenant, robot["id"]) == []
    assert len(await robot_deliveries(client, tenant, other["id"])) == 1


async def test_bad_robots_are_refused_naming_the_field(
        client: httpx.AsyncClient, signup: SignUp, runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"webhook_allow_private": False}))
    tenant = await signup()
    good_url = {"dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=abc",
                "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/x",
                "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k"}
    cases = [
        ({"platform": "dingtalk", "webhook_url": good_url["dingtalk"], "secret": "0123456789abcdef0123"},
         "secret", "invalid_secret"),
        ({"platform": "feishu", "webhook_url": good_url["feishu"], "secret": "has spaces and 中文"}, "secret",
         "invalid_secret"),
        ({"platform": "wecom", "webhook_url": good_url["wecom"], "secret": "SEC0123456789abcdef"}, "secret",
         "not_allowed"),
        ({"platform": "dingtalk", "webhook_url": "https://evil.example.com/robot/send"}, "webhook_url", "wrong_host"),
        ({"platform": "feishu", "webhook_url": "http://open.feishu.cn/open-apis/bot/v2/hook/x"}, "webhook_url",
         "invalid_url"),
        ({"platform": "slack", "webhook_url": good_url["wecom"]}, "platform", None),
        ({"platform": "wecom", "webhook_url": good_url["wecom"], "events": ["customer.eaten"]}, "events[0]",
         "unknown_event_type"),
    ]
    for body, field, code in cases:
        answer = await client.post("/api/v1/chat-robots", json={"name": "群", "events": ["*"], **body},
                                   headers=tenant.headers)
        assert answer.status_code == 422, (body, answer.text)
        errors = answer.json()["errors"]
        assert [e["field"] for e in errors] == [field], errors
        if code is not None:
            assert errors[0]["code"] == code
    assert (await client.get("/api/v1/chat-robots", headers=tenant.headers)).json()["items"] == []
    for platform, url in good_url.items():
        body = {"name": "群", "events": ["*"], "platform": platform, "webhook_url": url}
        if platform == "dingtalk":
            body["secret"] = DINGTALK_SECRET
        answer = await client.post("/api/v1/chat-robots", json=body, headers=tenant.headers)
        assert answer.status_code == 201, answer.text


async def test_another_tenants_robots_are_unreachable_and_never_fed(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver: Receiver = await receivers()
    receiver.default = OK
    a, b = await signup(), await signup()
    robot_b = await make_robot(client, b, platform="wecom", webhook_url=f"{receiver.url}/cgi-bin/webhook/send?key=b")
    await make_customer(client, a, "甲的客户")
    await make_customer(client, b, "乙的客户")
    await received(receiver, 1)
    for path, method in ((f"/api/v1/chat-robots/{robot_b['id']}", "GET"),
                         (f"/api/v1/chat-robots/{robot_b['id']}", "PATCH"),
                         (f"/api/v1/chat-robots/{robot_b['id']}/deliveries", "GET"),
                         (f"/api/v1/chat-robots/{robot_b['id']}", "DELETE")):
        answer = await client.request(method, path, json={"name": "x"} if method == "PATCH" else None,
                                      headers=a.headers)
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await client.get("/api/v1/chat-robots", headers=a.headers)).json()["items"] == []
    assert all("甲的客户" not in r.body.decode() for r in receiver.requests)
    assert any("乙的客户" in r.body.decode() for r in receiver.requests)


async def test_a_feishu_bot_sends_at_most_5_messages_a_second(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver: Receiver = await receivers()
    receiver.respond = feishu_check
    tenant = await signup()
    robot = await make_robot(client, tenant, platform="feishu", secret=FEISHU_SECRET,
                             webhook_url=f"{receiver.url}/open-apis/bot/v2/hook/{uuid.uuid4()}")
    await asyncio.gather(*(make_customer(client, tenant, f"飞书客户 {index}") for index in range(8)))
    await received(receiver, 8, timeout=10)

    async def all_sent() -> bool:
        items = await robot_deliveries(client, tenant, robot["id"])
        return len(items) == 8 and all(d["status"] == "succeeded" for d in items)
    await eventually(all_sent)
    times = sorted(datetime.fromisoformat(d["attempt_log"][0]["attempted_at"])
                   for d in await robot_deliveries(client, tenant, robot["id"]))
    for index in range(len(times) - 5):  # any six consecutive sends span at least a second
        assert times[index + 5] - times[index] >= timedelta(seconds=1), times


async def test_the_rate_limit_holds_across_replicas(client: httpx.AsyncClient, signup: SignUp, receivers: Any,
                                                    runtime: Any) -> None:
    """A second delivery worker on the same database (another replica) sending to the same robot:
    together they still send at most 20 messages a minute."""
    from services.notifications.delivery import DeliveryWorker

    receiver: Receiver = await receivers()
    receiver.respond = dingtalk_check
    tenant = await signup()
    robot = await make_robot(client, tenant, platform="dingtalk", secret=DINGTALK_SECRET,
                             webhook_url=f"{receiver.url}/robot/send?access_token=abc")
    other = await DeliveryWorker(runtime).start()
    try:
        for index in range(24):
            await make_customer(client, tenant, f"两个副本的客户 {index}")
            other.wake()

        async def settled() -> bool:
            items = await robot_deliveries(client, tenant, robot["id"])
            waiting = [d for d in items if d["status"] == "pending" and not d["attempt_log"]
                       and d["next_attempt_at"] and datetime.fromisoformat(d["next_attempt_at"])
                       > datetime.fromisoformat(d["created_at"]) + timedelta(seconds=30)]
            return len(items) == 24 and len(waiting) == 4
        await eventually(settled, timeout=20)
    finally:
        await other.stop()
    assert len(receiver.requests) == 20
