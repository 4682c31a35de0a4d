"""SSRF: webhooks and robots never reach this network or a cloud's metadata service unless the
operator allows it; checked at creation, after DNS resolution at send time, and on redirects."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

import httpx
import pytest

from services.notifications.domain.ssrf import check_url, forbidden_reason
from tests.conftest import SignUp
from tests.identity.conftest import eventually
from tests.notifications.receivers import Receiver, receivers  # noqa: F401 - fixtures


@pytest.fixture
def refuse_private(runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"webhook_allow_private": False}))


@pytest.mark.parametrize("address", [
    "127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "169.254.1.1",
    "fd00:ec2::254", "fc00::1", "fe80::1", "100.64.0.1", "100.127.255.254", "224.0.0.1", "ff02::1", "0.0.0.0",
    "240.0.0.1", "255.255.255.255", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1",
    "192.0.2.1", "198.18.0.1", "100.100.100.200",
])
def test_forbidden_addresses(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "140.205.60.46", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize("url", ["http://[::1]:80/", "http://metadata.google.internal/computeMetadata/v1/",
                                 "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
                                 "https://10.0.0.5/hook", "http://0x7f000001/", "http://2130706433/",
                                 "http://127.1/", "http://0177.0.0.1/"])
def test_urls_on_forbidden_addresses_are_refused_when_saved(url: str) -> None:
    errors = check_url(url, "url", allow_private=False)
    assert [e.field for e in errors] == ["url"] and errors[0].code in ("private_address", "invalid_url"), errors
    assert check_url(url, "url", allow_private=True) == []


async def test_creation_refuses_private_metadata_and_resolved_loopback_names(
        client: httpx.AsyncClient, signup: SignUp, refuse_private: None) -> None:
    tenant = await signup()
    for url in ("http://127.0.0.1:9000/", "http://[::1]/", "http://192.168.0.10/hook", "http://169.254.169.254/",
                "http://metadata.google.internal/", "http://[fd00:ec2::254]/", "http://100.64.1.1/",
                "http://localhost:9000/hook"):  # localhost: a name that resolves to 127.0.0.1
        answer = await client.post("/api/v1/webhooks", json={"url": url, "events": ["*"]}, headers=tenant.headers)
        assert answer.status_code == 422, (url, answer.text)
        [error] = answer.json()["errors"]
        assert error["field"] == "url" and error["code"] == "private_address", (url, error)
    robot = await client.post("/api/v1/chat-robots", headers=tenant.headers, json={
        "platform": "dingtalk", "name": "群", "webhook_url": "http://127.0.0.1/robot/send?access_token=x",
        "events": ["*"]})
    assert robot.status_code == 422
    assert [e["field"] for e in robot.json()["errors"]] == ["webhook_url"]
    assert (await client.get("/api/v1/webhooks", headers=tenant.headers)).json()["items"] == []


async def test_a_name_resolving_to_loopback_is_refused_at_send_time(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any, runtime: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Saved while the operator allowed private targets (or while the name pointed elsewhere):
    when sending, the name resolves to 127.0.0.1 and nothing is sent."""
    receiver: Receiver = await receivers()
    tenant = await signup()
    allowed = runtime.settings.model_copy(update={"webhook_allow_private": True})
    monkeypatch.setattr(runtime, "settings", allowed)
    hook = (await client.post("/api/v1/webhooks", json={"url": f"http://localhost:{receiver.port}/",
                                                        "events": ["customer.*"]},
                              headers=tenant.headers)).json()
    monkeypatch.setattr(runtime, "settings", allowed.model_copy(update={"webhook_allow_private": False}))
    ping = await client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=tenant.headers)
    assert ping.status_code == 202, ping.text

    async def attempted() -> bool:
        items = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=tenant.headers)).json()["items"]
        return bool(items and items[0]["attempt_log"])
    await eventually(attempted)
    [delivery] = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=tenant.headers)).json()["items"]
    error = delivery["attempt_log"][0]["error"]
    assert "refused" in error and "127.0.0.1" in error and "loopback" in error, error
    assert delivery["status"] == "pending" and delivery["attempts"] == 1  # retried later, like any failure
    assert receiver.requests == []


async def test_a_redirect_is_followed_only_for_307_and_308_and_each_hop_is_checked(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any, runtime: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    first: Receiver = await receivers()
    second: Receiver = await receivers()
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"webhook_allow_private": True}))
    tenant = await signup()
    first.answers.append((308, b"", {"location": f"{second.url}/moved"}))
    first.answers.append((302, b"", {"location": f"{second.url}/found"}))
    hook = (await client.post("/api/v1/webhooks", json={"url": first.url, "events": ["customer.*"]},
                              headers=tenant.headers)).json()
    await client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=tenant.headers)

    async def arrived() -> bool:
        return len(second.requests) == 1
    await eventually(arrived)
    assert second.requests[0].path == "/moved" and second.requests[0].method == "POST"
    await client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=tenant.headers)

    async def refused() -> bool:
        items = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=tenant.headers)).json()["items"]
        return len(items) == 2 and bool(items[0]["attempt_log"])
    await eventually(refused)
    newest = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=tenant.headers)).json()["items"][0]
    assert "302" in newest["attempt_log"][0]["error"]
    assert len(second.requests) == 1

    # A 307 towards a loopback address, once private targets are refused, is not followed.
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"webhook_allow_private": False}))
    from services.notifications.delivery import post

    sent = await post(_Redirecting(), "https://hooks.example.com/", b"{}", {}, allow_private=False)
    assert not sent.succeeded and "redirect to http://127.0.0.1" in (sent.error or "")
    assert uuid.UUID(hook["id"])


class _Redirecting(httpx.AsyncClient):
    """An HTTP client whose every answer is a 307 to a loopback address (no network needed)."""

    def __init__(self) -> None:
        super().__init__(transport=httpx.MockTransport(
            lambda request: httpx.Response(307, headers={"location": "http://127.0.0.1:6379/"}, stream=_Empty())))


class _Empty(httpx.AsyncByteStream):
    async def __aiter__(self) -> Any:
        for chunk in ():
            yield chunk
