"""Login, rotating refresh tokens, logout, lockout, password change and reset."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from shared.sealed import SealError, sealed_context, unseal
from shared.settings import Settings
from shared.tenancy import scope_for_system
from tests.identity.conftest import EventLog, bearer, client_at, eventually, random_address


async def login(
    client: httpx.AsyncClient, tenant, password: str | None = None, email: str | None = None
) -> httpx.Response:
    return await client.post(
        "/api/v1/auth/login",
        json={
            "tenant": tenant.slug,
            "email": email or tenant.admin_email,
            "password": password or tenant.admin_password,
        },
    )


async def test_login_answers_tokens(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    response = await login(client, tenant, email=tenant.admin_email.upper())  # e-mail is case-insensitive
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "expires_in", "token_type"}
    me = await client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["user"]["last_login_at"] is not None


async def test_wrong_password_unknown_email_and_unknown_tenant_answer_the_same(app, signup) -> None:
    tenant = await signup()
    async with client_at(app, random_address()) as client:
        answers = [
            await login(client, tenant, password="Not-The-Password-1"),
            await login(client, tenant, email="nobody@example.com"),
            await client.post(
                "/api/v1/auth/login",
                json={
                    "tenant": "no-such-tenant-" + uuid.uuid4().hex[:6],
                    "email": tenant.admin_email,
                    "password": "whatever-it-is",
                },
            ),
        ]
    assert {a.status_code for a in answers} == {401}
    assert len({(a.json()["type"], a.json()["detail"]) for a in answers}) == 1


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, signup, events: EventLog
) -> None:
    tenant = await signup()
    first = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != tenant.refresh_token
    assert (await client.get("/api/v1/me", headers=bearer(rotated["access_token"]))).status_code == 200

    # The old token again: someone copied it. The whole family ends, the new tokens included.
    reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert reuse.status_code == 401
    assert reuse.json()["type"].endswith("refresh-token-reused")
    revoked = await events.wait_for(tenant.id, "session.revoked")
    assert revoked.data["reason"] == "refresh_token_reuse"
    again = await client.post("/api/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401

    async def access_token_dead() -> bool:
        return (await client.get("/api/v1/me", headers=bearer(rotated["access_token"]))).status_code == 401

    await eventually(access_token_dead)


async def test_refresh_with_garbage_answers_401(client: httpx.AsyncClient) -> None:
    for token in ("nonsense", "hkr_" + "x" * 43):
        response = await client.post("/api/v1/auth/refresh", json={"refresh_token": token})
        assert response.status_code == 401


async def test_logout_kills_the_access_token_at_once(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    assert (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 200  # cached now
    assert (await client.post("/api/v1/auth/logout", headers=tenant.headers)).status_code == 204

    async def dead() -> bool:
        return (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 401

    await eventually(dead)
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert refreshed.status_code == 401


async def test_account_lockout_backs_off_even_for_the_right_password(app, signup) -> None:
    tenant = await signup()
    async with client_at(app, random_address()) as client:
        for _ in range(5):
            assert (await login(client, tenant, password="Wrong-Password-123")).status_code == 401
        locked = await login(client, tenant)  # the right password, too late
        assert locked.status_code == 429
        assert 1 <= int(locked.headers["Retry-After"]) <= 30
        assert locked.json()["retry_after"] == int(locked.headers["Retry-After"])
    # Another address does not unlock the account.
    async with client_at(app, random_address()) as elsewhere:
        assert (await login(elsewhere, tenant)).status_code == 429


async def test_password_change_revokes_other_sessions(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    other = (await login(client, tenant)).json()
    new_password = "Velvet-Mountain-Kettle-7"
    wrong = await client.post(
        "/api/v1/auth/password",
        headers=tenant.headers,
        json={"current_password": "Not-It-At-All-1", "new_password": new_password},
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "current_password"
    assert (await client.get("/api/v1/me", headers=bearer(other["access_token"]))).status_code == 200
    assert (await login(client, tenant, password=new_password)).status_code == 401  # still the old password
    changed = await client.post(
        "/api/v1/auth/password",
        headers=tenant.headers,
        json={"current_password": tenant.admin_password, "new_password": new_password},
    )
    assert changed.status_code == 204, changed.text

    async def other_dead() -> bool:
        return (await client.get("/api/v1/me", headers=bearer(other["access_token"]))).status_code == 401

    await eventually(other_dead)
    assert (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 200  # this session lives on
    assert (await login(client, tenant)).status_code == 401
    assert (await login(client, tenant, password=new_password)).status_code == 200


async def test_password_reset_by_request_event_and_confirm(client: httpx.AsyncClient, signup, events: EventLog,
                                                            settings: Settings) -> None:
    tenant = await signup()
    unknown = await client.post(
        "/api/v1/auth/password-reset/request", json={"tenant": tenant.slug, "email": "nobody@example.com"}
    )
    known = await client.post(
        "/api/v1/auth/password-reset/request", json={"tenant": tenant.slug, "email": tenant.admin_email}
    )
    assert unknown.status_code == known.status_code == 202
    assert unknown.json() == known.json()
    requested = await events.wait_for(tenant.id, "user.password_reset_requested")
    # The stream holds the token sealed only (shared/sealed.py), bound to the tenant and the user.
    assert "token" not in requested.data
    token = unseal(settings.jwt_secret, requested.data["token_sealed"],
                   context=sealed_context(tenant.id, "user", requested.entity_id))
    assert token.startswith("hkp_") and token not in json.dumps(requested.data)
    with pytest.raises(SealError):
        unseal(settings.jwt_secret, requested.data["token_sealed"], context=sealed_context(tenant.id, "user", tenant.id))
    assert requested.data["email"] == tenant.admin_email

    weak = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": "password123"}
    )
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "new_password"
    new_password = "Harbor-Cactus-Ribbon-3"
    done = await client.post("/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": new_password})
    assert done.status_code == 204, done.text
    again = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": new_password}
    )
    assert again.status_code == 401 and again.json()["type"].endswith("token-used")
    assert (await login(client, tenant, password=new_password)).status_code == 200

    async def old_session_dead() -> bool:
        return (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 401

    await eventually(old_session_dead)


async def test_admin_issued_reset_token(client: httpx.AsyncClient, signup, invite, runtime) -> None:
    tenant = await signup()
    member = await invite(tenant)
    issued = await client.post(f"/api/v1/users/{member.id}/password-reset", headers=tenant.headers)
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    forbidden = await client.post(f"/api/v1/users/{tenant.admin_id}/password-reset", headers=member.headers)
    assert forbidden.status_code == 403 and "token" not in forbidden.json()
    async with runtime.db("identity").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        issued_for = await unit.fetch("SELECT user_id FROM identity.password_resets")
    assert [str(r["user_id"]) for r in issued_for] == [member.id]  # none for the admin
    confirmed = await client.post(
        "/api/v1/auth/password-reset/confirm", json={"token": token, "new_password": "Saffron-Glacier-Tulip-8"}
    )
    assert confirmed.status_code == 204
    relogin = await client.post(
        "/api/v1/auth/login", json={"tenant": tenant.slug, "email": member.email, "password": "Saffron-Glacier-Tulip-8"}
    )
    assert relogin.status_code == 200


async def test_expired_reset_token_answers_401(client: httpx.AsyncClient, signup, runtime) -> None:
    tenant = await signup()
    issued = (await client.post(f"/api/v1/users/{tenant.admin_id}/password-reset", headers=tenant.headers)).json()
    async with runtime.db("identity").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        await unit.execute("UPDATE identity.password_resets SET expires_at = now() - interval '1 second'")
    response = await client.post(
        "/api/v1/auth/password-reset/confirm",
        json={"token": issued["token"], "new_password": "Saffron-Glacier-Tulip-8"},
    )
    assert response.status_code == 401 and response.json()["type"].endswith("token-expired")
