"""Outgoing webhooks end to end: records' events through real NATS and PostgreSQL to a local HTTP
receiver that verifies each delivery with the Standard Webhooks reference library."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from standardwebhooks import Webhook

from services.notifications.domain.signing import sign
from shared.tenancy import scope_for_system
from tests.conftest import SignUp, Tenant
from tests.identity.conftest import eventually, invite  # noqa: F401 - fixture
from tests.notifications.receivers import Receiver, allow_private, receivers  # noqa: F401 - fixtures

pytestmark = __import__("pytest").mark.usefixtures("allow_private")


async def make_webhook(client: httpx.AsyncClient, who: Tenant, url: str, events: list[str] | None = None
                       ) -> dict[str, Any]:
    answer = await client.post("/api/v1/webhooks", json={"url": url, "events": events or ["customer.*"],
                                                        "description": "ERP 同步"}, headers=who.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def make_customer(client: httpx.AsyncClient, who: Tenant, name: str | None = None) -> dict[str, Any]:
    answer = await client.post("/api/v1/customers", json={"name": name or f"客户 {uuid.uuid4().hex[:6]}"},
                               headers=who.headers)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def deliveries(client: httpx.AsyncClient, who: Tenant, hook_id: str) -> list[dict[str, Any]]:
    answer = await client.get(f"/api/v1/webhooks/{hook_id}/deliveries", headers=who.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


async def received(receiver: Receiver, count: int, timeout: float = 15.0) -> None:
    async def enough() -> bool:
        return len(receiver.requests) >= count
    await eventually(enough, timeout=timeout)


def test_signing_matches_the_specifications_test_vector() -> None:
    # https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
    assert sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                b'{"test": 2432232314}') == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_a_new_customer_reaches_the_endpoint_signed_per_standard_webhooks(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver = await receivers()
    tenant = await signup()
    hook = await make_webhook(client, tenant, receiver.url + "/hooks")
    assert hook["secret"].startswith("whsec_")
    customer = await make_customer(client, tenant, "深圳市腾讯计算机系统有限公司")

    await received(receiver, 1)
    request = receiver.requests[0]
    payload = Webhook(hook["secret"]).verify(request.body, request.headers)
    assert request.path == "/hooks"
    assert payload["type"] == "customer.created"
    assert payload["tenant_id"] == tenant.id
    assert payload["entity_id"] == customer["id"]
    assert payload["data"]["record"]["name"] == "深圳市腾讯计算机系统有限公司"
    assert request.headers["webhook-id"] == payload["id"]

    async def logged() -> bool:
        items = await deliveries(client, tenant, hook["id"])
        return bool(items) and items[0]["status"] == "succeeded"
    await eventually(logged)
    [delivery] = await deliveries(client, tenant, hook["id"])
    assert delivery["event_id"] == payload["id"]
    [attempt] = delivery["attempt_log"]
    assert attempt["succeeded"] and attempt["status_code"] == 200 and attempt["response_excerpt"] == '{"ok": true}'
    # The secret is shown once.
    again = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=tenant.headers)).json()
    assert again.get("secret") is None and again["url"] == receiver.url + "/hooks"
    listed = (await client.get("/api/v1/webhooks", headers=tenant.headers)).json()["items"]
    assert [h["id"] for h in listed] == [hook["id"]] and listed[0].get("secret") is None


async def test_a_500_is_retried_with_back_off_and_then_delivered(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any, runtime: Any) -> None:
    receiver = await receivers()
    receiver.answers.append((500, b"database is down", {}))
    tenant = await signup()
    hook = await make_webhook(client, tenant, receiver.url)
    await make_customer(client, tenant)

    async def failed_once() -> bool:
        items = await deliveries(client, tenant, hook["id"])
        return bool(items) and len(items[0]["attempt_log"]) == 1
    await eventually(failed_once)
    [delivery] = await deliveries(client, tenant, hook["id"])
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert delivery["attempt_log"][0]["status_code"] == 500
    assert delivery["attempt_log"][0]["response_excerpt"] == "database is down"
    first = datetime.fromisoformat(delivery["attempt_log"][0]["attempted_at"])
    assert datetime.fromisoformat(delivery["next_attempt_at"]) >= first + timedelta(seconds=4)
    # Five seconds pass: the retry is due.
    async with runtime.db("notifications").system_unit() as unit:
        await unit.execute("UPDATE notifications.hook_queue SET due_at = now() WHERE id = $1",
                           uuid.UUID(delivery["id"]))

    async def delivered() -> bool:
        return (await deliveries(client, tenant, hook["id"]))[0]["status"] == "succeeded"
    await eventually(delivered)
    assert len(receiver.requests) == 2
    # The same message both times: the receiver can drop a repeat by webhook-id.
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]
    for request in receiver.requests:
        Webhook(hook["secret"]).verify(request.body, request.headers)


async def test_replay_one_delivery_and_everything_since_a_time(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver = await receivers()
    tenant = await signup()
    hook = await make_webhook(client, tenant, receiver.url)
    start = datetime.now(UTC) - timedelta(seconds=1)
    await make_customer(client, tenant)
    await make_customer(client, tenant)
    await received(receiver, 2)

    async def both_logged() -> bool:
        return [d["status"] for d in await deliveries(client, tenant, hook["id"])] == ["succeeded"] * 2
    await eventually(both_logged)
    first = (await deliveries(client, tenant, hook["id"]))[-1]
    answer = await client.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{first['id']}/replay",
                               headers=tenant.headers)
    assert answer.status_code == 202, answer.text
    await received(receiver, 3)
    assert receiver.requests[2].headers["webhook-id"] == first["event_id"]
    Webhook(hook["secret"]).verify(receiver.requests[2].body, receiver.requests[2].headers)

    answer = await client.post(f"/api/v1/webhooks/{hook['id']}/replay", json={"since": start.isoformat()},
                               headers=tenant.headers)
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"queued": 2}
    await received(receiver, 5)
    assert sorted(r.headers["webhook-id"] for r in receiver.requests[3:]) == sorted(
        r.headers["webhook-id"] for r in receiver.requests[:2])

    future = datetime.now(UTC) + timedelta(hours=1)
    answer = await client.post(f"/api/v1/webhooks/{hook['id']}/replay", json={"since": future.isoformat()},
                               headers=tenant.headers)
    assert answer.json() == {"queued": 0}
    bad = await client.post(f"/api/v1/webhooks/{hook['id']}/replay", json={"since": "yesterday"},
                            headers=tenant.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "since"


async def test_a_rotated_secret_signs_alongside_the_old_one(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any, runtime: Any) -> None:
    receiver = await receivers()
    tenant = await signup()
    hook = await make_webhook(client, tenant, receiver.url)
    rotated = await client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=tenant.headers)
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != hook["secret"]
    assert rotated.json()["previous_secret_expires_at"] is not None

    ping = await client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=tenant.headers)
    assert ping.status_code == 202, ping.text
    await received(receiver, 1)
    request = receiver.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert Webhook(new_secret).verify(request.body, request.headers)["type"] == "webhook.ping"
    assert Webhook(hook["secret"]).verify(request.body, request.headers)["type"] == "webhook.ping"

    # Once the overlap is over, only the new secret signs.
    async with runtime.db("notifications").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        await unit.execute("UPDATE notifications.webhook_endpoints SET previous_secret_expires_at = now() "
                           "WHERE id = $1", uuid.UUID(hook["id"]))
    await client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=tenant.headers)
    await received(receiver, 2)
    later = receiver.requests[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    Webhook(new_secret).verify(later.body, later.headers)
    try:
        Webhook(hook["secret"]).verify(later.body, later.headers)
    except Exception:  # noqa: BLE001 - the old secret no longer verifies: expected
        pass
    else:
        raise AssertionError("the old secret still signs after the overlap")


async def test_an_endpoint_failing_for_days_is_disabled_and_admins_are_told(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any, runtime: Any) -> None:
    receiver = await receivers()
    receiver.default = (503, b"maintenance", {})
    tenant = await signup()
    hook = await make_webhook(client, tenant, receiver.url)
    told: list[Any] = []

    async def tell(msg: Any) -> None:
        told.append(msg)
    subscription = await runtime.bus.nc.subscribe(f"crm.notifications.{tenant.id}.webhook.disabled", cb=tell)
    try:
        async with runtime.db("notifications").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
            await unit.execute("UPDATE notifications.webhook_endpoints SET failing_since = now() - interval '6 days' "
                               "WHERE id = $1", uuid.UUID(hook["id"]))
        await client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=tenant.headers)

        async def disabled() -> bool:
            return bool(told)
        await eventually(disabled, timeout=8)
    finally:
        await subscription.unsubscribe()
    event = __import__("json").loads(told[0].data)
    assert event["type"] == "webhook.disabled" and event["entity_id"] == hook["id"]
    assert "503" in event["data"]["reason"]
    now = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=tenant.headers)).json()
    assert now["enabled"] is False and "503" in now["disabled_reason"]
    # Nothing more is sent to it; switched on again, its failures start over.
    await make_customer(client, tenant)
    on = await client.patch(f"/api/v1/webhooks/{hook['id']}", json={"enabled": True}, headers=tenant.headers)
    assert on.status_code == 200 and on.json()["enabled"] is True and on.json()["failing_since"] is None
    assert len(receiver.requests) == 1


async def test_tenant_b_never_receives_tenant_a_events_nor_reaches_its_webhooks(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver_a, receiver_b = await receivers(), await receivers()
    a, b = await signup(), await signup()
    hook_a = await make_webhook(client, a, receiver_a.url, ["*"])
    hook_b = await make_webhook(client, b, receiver_b.url, ["*"])
    await make_customer(client, a, "甲公司的客户")
    await make_customer(client, b, "乙公司的客户")
    await received(receiver_a, 1)
    await received(receiver_b, 1)
    await make_customer(client, a, "甲公司的第二个客户")
    await received(receiver_a, 2)
    for receiver, tenant, hook in ((receiver_a, a, hook_a), (receiver_b, b, hook_b)):
        for request in receiver.requests:
            payload = Webhook(hook["secret"]).verify(request.body, request.headers)
            assert payload["tenant_id"] == tenant.id
    assert all("甲公司" not in r.body.decode() for r in receiver_b.requests)

    [delivery_a, *_] = await deliveries(client, a, hook_a["id"])
    base = f"/api/v1/webhooks/{hook_a['id']}"
    for method, path, body in (("GET", base, None), ("PATCH", base, {"enabled": False}),
                               ("GET", f"{base}/deliveries", None), ("POST", f"{base}/ping", None),
                               ("POST", f"{base}/rotate-secret", None),
                               ("POST", f"{base}/deliveries/{delivery_a['id']}/replay", None),
                               ("POST", f"{base}/replay", {"since": "2020-01-01T00:00:00Z"}),
                               ("POST", f"/api/v1/webhooks/{hook_b['id']}/deliveries/{delivery_a['id']}/replay", None),
                               ("DELETE", base, None)):
        answer = await client.request(method, path, json=body, headers=b.headers)
        assert answer.status_code == 404, (method, path, answer.text)
    listed = (await client.get("/api/v1/webhooks", headers=b.headers)).json()["items"]
    assert [h["id"] for h in listed] == [hook_b["id"]]
    still = await client.get(base, headers=a.headers)
    assert still.status_code == 200 and still.json()["enabled"] is True


async def test_bad_webhooks_are_refused_naming_the_field_and_nothing_is_saved(
        client: httpx.AsyncClient, signup: SignUp, runtime: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(runtime, "settings", runtime.settings.model_copy(update={"webhook_allow_private": False}))
    tenant = await signup()
    cases = [
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url", "invalid_url"),
        ({"url": "https://example.com/" + "a" * 3000, "events": ["*"]}, "url", None),
        ({"url": "http://127.0.0.1:8080/", "events": ["*"]}, "url", "private_address"),
        ({"url": "https://example.com/h", "events": ["customer.exploded"]}, "events[0]", "unknown_event_type"),
        ({"url": "https://example.com/h", "events": ["customer.created", "nothing.*"]}, "events[1]",
         "unknown_event_type"),
        ({"url": "https://example.com/h", "events": []}, "events", None),
    ]
    for body, field, code in cases:
        answer = await client.post("/api/v1/webhooks", json=body, headers={**tenant.headers,
                                                                           "Accept-Language": "zh-CN"})
        assert answer.status_code == 422, (body, answer.text)
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert [e["field"] for e in problem["errors"]] == [field], problem
        if code is not None:
            assert problem["errors"][0]["code"] == code
    assert (await client.get("/api/v1/webhooks", headers=tenant.headers)).json()["items"] == []
    # A change is checked the same way, and a stale If-Match changes nothing.
    hook = await make_webhook(client, tenant, "https://hooks.example.com/huike")
    for body, field in (({"url": "http://10.0.0.8/"}, "url"), ({"url": "gopher://x"}, "url"),
                        ({"events": ["*", "deal.won"]}, "events[1]")):
        answer = await client.patch(f"/api/v1/webhooks/{hook['id']}", json=body, headers=tenant.headers)
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == [field]
    stale = await client.patch(f"/api/v1/webhooks/{hook['id']}", json={"description": "新"},
                               headers={**tenant.headers, "If-Match": '"99"'})
    assert stale.status_code == 412, stale.text
    now = (await client.get(f"/api/v1/webhooks/{hook['id']}", headers=tenant.headers)).json()
    assert (now["url"], now["events"], now["description"], now["version"]) == (
        "https://hooks.example.com/huike", ["customer.*"], "ERP 同步", 1)
    answer = await client.patch(f"/api/v1/webhooks/{uuid.uuid4()}", json={"url": "https://example.com/"},
                                headers=tenant.headers)
    assert answer.status_code == 404


INTEGRATOR = {
    "key": "integrator", "name": "Integrator",
    "permissions": {"customer": {"actions": ["read"], "scope": "all"},
                    "contact": {"actions": ["read"], "scope": "own"},
                    "webhook": {"actions": ["read", "create", "update", "delete"], "scope": "all"}},
    "field_rules": {"customer": {"phone": "hidden"}},
}


async def test_an_endpoint_is_sent_only_what_its_creator_may_see(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any, invite: Any) -> None:
    receiver = await receivers()
    tenant = await signup()
    made = await client.post("/api/v1/roles", headers=tenant.headers, json=INTEGRATOR)
    assert made.status_code == 201, made.text
    member = await invite(tenant, roles=["integrator"])
    # Contacts: the role reads only its own, so it may not subscribe to all of them.
    refused = await client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["customer.created", "*"]},
                                headers=member.headers)
    assert refused.status_code == 422
    assert [(e["field"], e["code"]) for e in refused.json()["errors"]] == [("events[1]", "not_allowed")]
    hook = await make_webhook(client, member, receiver.url, ["customer.created"])  # type: ignore[arg-type]

    answer = await client.post("/api/v1/customers", json={"name": "有电话的客户", "phone": "+8613800138000"},
                               headers=tenant.headers)
    assert answer.status_code == 201, answer.text
    assert answer.json()["phone"]  # the admin sees it
    await received(receiver, 1)
    payload = Webhook(hook["secret"]).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert payload["data"]["record"]["name"] == "有电话的客户"
    assert "phone" not in payload["data"]["record"] and "phones" not in payload["data"]["record"]
    assert "13800138000" not in receiver.requests[0].body.decode()
    assert "origin" not in payload["data"]


async def test_a_huge_answer_is_read_only_up_to_the_cap(
        client: httpx.AsyncClient, signup: SignUp, receivers: Any) -> None:
    receiver = await receivers()
    receiver.default = (200, b"x" * (8 * 1024 * 1024), {})  # 8 MiB: read 64 KiB, keep 1,000 characters
    tenant = await signup()
    hook = await make_webhook(client, tenant, receiver.url)
    await client.post(f"/api/v1/webhooks/{hook['id']}/ping", headers=tenant.headers)

    async def done() -> bool:
        items = await deliveries(client, tenant, hook["id"])
        return bool(items) and items[0]["status"] == "succeeded"
    await eventually(done)
    [attempt] = (await deliveries(client, tenant, hook["id"]))[0]["attempt_log"]
    assert attempt["response_excerpt"] == "x" * 1000
