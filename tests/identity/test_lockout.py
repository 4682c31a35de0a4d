"""Lockout per (tenant, account) with back-off; per address only at a much higher threshold; a
global limit per process; X-Forwarded-For believed only from trusted proxies; sign-up and
password-reset rate limits. Counters live in PostgreSQL: a second replica sees the same state."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from services.identity.domain import lockout
from tests.identity.conftest import PASSWORD, client_at, random_address

PROXY = "198.51.100.10"  # listed in the replica's HUIKE_TRUSTED_PROXIES (198.51.100.0/24)
SIGNUP_LIMIT = 3


@pytest.fixture(scope="module")
async def replica(settings: Any, runtime: Any) -> AsyncIterator[Any]:
    """Another replica of identity on the same database and NATS, behind trusted proxies and with
    a small sign-up limit."""
    from services.identity.app import service as identity
    from shared.http import create_app
    from shared.runtime import Runtime

    rt = Runtime(settings.model_copy(update={"trusted_proxies": ["198.51.100.0/24"],
                                             "signup_rate_limit": SIGNUP_LIMIT}), (identity,))
    await rt.start()
    yield create_app(rt, manage_runtime=False)
    await rt.stop()


@asynccontextmanager
async def forwarded(app: Any, peer: str, forwarded_for: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_at(app, peer) as client:
        client.headers["X-Forwarded-For"] = forwarded_for
        yield client


async def login(client: httpx.AsyncClient, slug: str, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"tenant": slug, "email": email, "password": password})


def too_many(response: httpx.Response, kind: str) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["type"].endswith(kind)
    wait = int(response.headers["Retry-After"])
    assert wait == response.json()["retry_after"] >= 1
    return wait


async def test_failures_from_a_shared_address_lock_out_no_one_else(app, signup, invite) -> None:
    """An office behind one address: 30 failed logins against accounts of two tenants (more than
    the old address threshold of 20) leave a third tenant's user, and the first tenant's other
    users, free to log in from the same address."""
    first, second, third = await signup(), await signup(), await signup()
    colleague = await invite(first)
    office = random_address()
    async with client_at(app, office) as client:
        for n in range(15):
            for tenant in (first, second):
                answer = await login(client, tenant.slug, f"typo-{n}@example.com", "Wrong-Password-1")
                assert answer.status_code == 401, answer.text
        assert (await login(client, third.slug, third.admin_email, third.admin_password)).status_code == 200
        assert (await login(client, first.slug, colleague.email, PASSWORD)).status_code == 200


async def test_account_lock_backs_off_and_holds_on_every_replica(app, replica, signup, invite, runtime) -> None:
    tenant = await signup()
    member = await invite(tenant)
    key = lockout.account_key(tenant.slug, member.email)

    async def expire_lock() -> None:  # time passing: the lock ran out
        async with runtime.db("identity").system_unit() as unit:
            await unit.execute("UPDATE identity.login_failures SET locked_until = now() - interval '1 second' "
                               "WHERE key = $1", key)

    async with client_at(app, random_address()) as client:
        for _ in range(5):
            assert (await login(client, tenant.slug, member.email, "Wrong-Password-1")).status_code == 401
        waits = [too_many(await login(client, tenant.slug, member.email, PASSWORD), "login-locked")]
        for _ in range(2):
            await expire_lock()
            assert (await login(client, tenant.slug, member.email, "Wrong-Password-1")).status_code == 401
            waits.append(too_many(await login(client, tenant.slug, member.email, PASSWORD), "login-locked"))
        # The account alone is locked: its tenant's admin logs in from the same address.
        assert (await login(client, tenant.slug, tenant.admin_email, tenant.admin_password)).status_code == 200
    assert 25 <= waits[0] <= 30 and 55 <= waits[1] <= 60 and 115 <= waits[2] <= 120, waits
    # The same lock, from another address, on another replica.
    async with client_at(replica, random_address()) as other:
        too_many(await login(other, tenant.slug, member.email, PASSWORD), "login-locked")


async def test_address_locks_only_after_a_hundred_failures(app, signup) -> None:
    tenant = await signup()
    address = random_address()
    async with client_at(app, address) as client:
        for n in range(lockout.ADDRESS.threshold):  # unknown accounts, so only the address counter trips
            answer = await login(client, tenant.slug, f"guess-{n}@example.com", "Guess-Password-1")
            assert answer.status_code == 401, (n, answer.text)
        too_many(await login(client, tenant.slug, tenant.admin_email, tenant.admin_password), "login-locked")
    async with client_at(app, random_address()) as other:
        assert (await login(other, tenant.slug, tenant.admin_email, tenant.admin_password)).status_code == 200


async def test_too_many_logins_at_once_are_refused_quickly(app, signup) -> None:
    tenant = await signup()
    many = 3 * lockout.GLOBAL.limit

    async def attempt(n: int) -> httpx.Response:
        async with client_at(app, random_address()) as client:
            return await login(client, tenant.slug, f"stuffing-{n}@example.com", "Stolen-Password-1")

    answers = await asyncio.gather(*(attempt(n) for n in range(many)))
    statuses = [a.status_code for a in answers]
    assert set(statuses) == {401, 429}, statuses
    assert statuses.count(401) >= lockout.GLOBAL.limit
    for refused in (a for a in answers if a.status_code == 429):
        assert too_many(refused, "login-rate-limited") == 1
    assert lockout.GLOBAL.in_flight == 0
    async with client_at(app, random_address()) as client:
        assert (await login(client, tenant.slug, tenant.admin_email, tenant.admin_password)).status_code == 200


async def _source_of_last_login(client: httpx.AsyncClient, tenant: Any) -> str:
    entries = (await client.get("/api/v1/audit-log", params={"action": "login.*"}, headers=tenant.headers)).json()
    return entries["items"][0]["source_ip"]


async def test_forwarded_for_is_believed_only_from_trusted_proxies(app, replica, client, signup) -> None:
    tenant = await signup()

    async def source_via(target: Any, peer: str, forwarded_for: str) -> str:
        async with forwarded(target, peer, forwarded_for) as c:
            assert (await login(c, tenant.slug, tenant.admin_email, tenant.admin_password)).status_code == 200
        return await _source_of_last_login(client, tenant)

    # A client that is not a trusted proxy cannot choose its address.
    assert await source_via(replica, "203.0.113.50", "192.0.2.77") == "203.0.113.50"
    # Through a trusted proxy: the address it got the request from; whatever the client wrote
    # before that is not believed.
    assert await source_via(replica, PROXY, "6.6.6.6, 192.0.2.88") == "192.0.2.88"
    assert await source_via(replica, PROXY, "192.0.2.99, 198.51.100.11") == "192.0.2.99"
    assert await source_via(replica, PROXY, "not-an-address") == PROXY
    # No trusted proxies configured (the default): the header is ignored altogether.
    assert await source_via(app, PROXY, "192.0.2.55") == PROXY

    # So a client cannot dodge the address counter by writing a new X-Forwarded-For each time.
    address = random_address()
    async with client_at(replica, address) as c:
        for n in range(lockout.ADDRESS.threshold):
            c.headers["X-Forwarded-For"] = f"192.0.2.{n % 250}"
            assert (await login(c, tenant.slug, f"spray-{n}@example.com", "Guess-Password-1")).status_code == 401
        too_many(await login(c, tenant.slug, tenant.admin_email, tenant.admin_password), "login-locked")


async def test_signup_is_rate_limited_per_address(replica, client) -> None:
    def body(slug: str) -> dict[str, str]:
        return {"company_name": f"Limit {slug}", "admin_email": f"admin@{slug}.example.com",
                "admin_password": "Correct-Horse-Battery-9", "admin_name": "Ada", "slug": slug}

    slugs = [f"limit-{uuid.uuid4().hex[:10]}" for _ in range(SIGNUP_LIMIT + 1)]
    async with forwarded(replica, PROXY, "192.0.2.200") as office:
        for slug in slugs[:SIGNUP_LIMIT]:
            assert (await office.post("/api/v1/signup", json=body(slug))).status_code == 201
        refused = await office.post("/api/v1/signup", json=body(slugs[-1]))
        assert 3500 <= too_many(refused, "signup-ip-rate-limited") <= 3600
    # Nothing was made: the slug is still free. Another client behind the same proxy is not limited.
    async with forwarded(replica, PROXY, "192.0.2.201") as neighbour:
        assert (await neighbour.post("/api/v1/signup", json=body(slugs[-1]))).status_code == 201


async def test_password_reset_requests_are_rate_limited(app, signup, events) -> None:
    tenant = await signup()

    async def request(client: httpx.AsyncClient, email: str) -> httpx.Response:
        return await client.post("/api/v1/auth/password-reset/request", json={"tenant": tenant.slug, "email": email})

    # Per account, from any address: 5 an hour (the account need not exist: a 429 reveals nothing).
    for email in (tenant.admin_email, "nobody@example.com"):
        for _ in range(5):
            async with client_at(app, random_address()) as c:
                assert (await request(c, email)).status_code == 202
        async with client_at(app, random_address()) as c:
            assert 3500 <= too_many(await request(c, email), "reset-account-rate-limited") <= 3600
    mails = [e for e in events.of(tenant.id) if e.type == "user.password_reset_requested"]
    assert len(mails) == 1  # and at most one mail a minute reached the account meanwhile

    # Per address, across accounts: 20 an hour.
    address = random_address()
    async with client_at(app, address) as c:
        for n in range(20):
            assert (await request(c, f"who-{n}@example.com")).status_code == 202
        too_many(await request(c, "one-more@example.com"), "reset-ip-rate-limited")
    async with client_at(app, random_address()) as c:
        assert (await request(c, "one-more@example.com")).status_code == 202
