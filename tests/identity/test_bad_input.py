"""Bad input and attacks: each answers the right 4xx problem naming the field or reason, and
writes nothing."""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest

from shared.auth import issue_access_token
from tests.identity.conftest import bearer

PROBLEM = "application/problem+json"


def problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def fields(body: dict) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


def signup_body(**overrides) -> dict:
    suffix = uuid.uuid4().hex[:8]
    return {
        "company_name": f"Bad Input {suffix}",
        "admin_email": f"bad-{suffix}@example.com",
        "admin_password": "Correct-Horse-Battery-9",
        "admin_name": "Bea",
        **overrides,
    }


async def tenant_count(runtime) -> int:
    async with runtime.db("identity").system_unit() as unit:
        return await unit.fetchval("SELECT count(*) FROM identity.tenants")


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"company_name": None}, "company_name"),
        ({"company_name": 42}, "company_name"),
        ({"company_name": ""}, "company_name"),
        ({"company_name": "   "}, "company_name"),
        ({"company_name": "x" * 201}, "company_name"),
        ({"admin_email": "not-an-email"}, "admin_email"),
        ({"admin_email": "a@b"}, "admin_email"),
        ({"admin_email": ["a@example.com"]}, "admin_email"),
        ({"admin_password": "short1!"}, "admin_password"),
        ({"admin_password": "password1234"}, "admin_password"),
        ({"admin_password": "P@ssw0rd2024!"}, "admin_password"),
        ({"admin_password": "qwertyuiop123"}, "admin_password"),
        ({"admin_password": "aaaaaaaaaaaa"}, "admin_password"),
        ({"admin_password": "x" * 129}, "admin_password"),
        ({"admin_name": "n" * 101}, "admin_name"),
        ({"admin_name": "bad\x00name"}, "admin_name"),
        ({"slug": "Has Spaces"}, "slug"),
        ({"slug": "ab"}, "slug"),
        ({"slug": "-edgy-"}, "slug"),
        ({"slug": "admin"}, "slug"),
        ({"unexpected": "field"}, "unexpected"),
    ],
)
async def test_bad_signup_answers_422_naming_the_field_and_writes_nothing(
    client: httpx.AsyncClient, runtime, overrides: dict, field: str
) -> None:
    before = await tenant_count(runtime)
    body = problem(await client.post("/api/v1/signup", json=signup_body(**overrides)), 422)
    assert field in fields(body), body
    assert await tenant_count(runtime) == before


async def test_missing_fields_are_named(client: httpx.AsyncClient) -> None:
    body = problem(await client.post("/api/v1/signup", json={"company_name": "Only a name"}), 422)
    assert fields(body) & {"admin_email", "admin_password", "admin_name"}


async def test_password_equal_to_email_is_weak(client: httpx.AsyncClient) -> None:
    email = f"someone.long-{uuid.uuid4().hex[:6]}@example.com"
    body = problem(await client.post("/api/v1/signup", json=signup_body(admin_email=email, admin_password=email)), 422)
    assert fields(body) == {"admin_password"}


async def test_login_missing_field_is_named(client: httpx.AsyncClient) -> None:
    assert "password" in fields(
        problem(await client.post("/api/v1/auth/login", json={"tenant": "x", "email": "a@b.c"}), 422)
    )


async def test_login_with_wrong_types_or_over_long_fields(client: httpx.AsyncClient) -> None:
    assert "tenant" in fields(
        problem(await client.post("/api/v1/auth/login", json={"tenant": 1, "email": "a@b.c", "password": "x"}), 422)
    )
    assert "password" in fields(
        problem(
            await client.post("/api/v1/auth/login", json={"tenant": "x", "email": "a@b.c", "password": "p" * 2000}), 422
        )
    )


async def test_tampered_and_expired_tokens_answer_401(client: httpx.AsyncClient, signup, settings) -> None:
    tenant = await signup()
    header, payload, signature = tenant.access_token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert problem(await client.get("/api/v1/me", headers=bearer(tampered)), 401)
    claims = jwt.decode(tenant.access_token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "tid": str(uuid.uuid4())}, "not-the-secret-" + "x" * 32, algorithm="HS256")
    assert problem(await client.get("/api/v1/me", headers=bearer(forged)), 401)
    none_alg = jwt.encode(claims, key=None, algorithm="none")
    assert problem(await client.get("/api/v1/me", headers=bearer(none_alg)), 401)
    expired = jwt.encode(
        {**claims, "iat": int(time.time()) - 3600, "exp": int(time.time()) - 60}, settings.jwt_secret, algorithm="HS256"
    )
    body = problem(await client.get("/api/v1/me", headers=bearer(expired)), 401)
    assert "expired" in body["detail"]


async def test_token_naming_another_tenant_is_refused(client: httpx.AsyncClient, signup, settings) -> None:
    a, b = await signup(), await signup()
    claims = jwt.decode(a.access_token, options={"verify_signature": False})
    # A validly signed token whose session belongs to A but claims tenant B: no such session in B.
    token, _ = issue_access_token(
        settings.jwt_secret,
        tenant_id=uuid.UUID(b.id),
        user_id=uuid.UUID(a.admin_id),
        session_id=uuid.UUID(claims["sid"]),
        ttl_seconds=60,
    )
    problem(await client.get("/api/v1/me", headers=bearer(token)), 401)


async def test_bad_ids_limits_cursors_and_if_match(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    problem(await client.get("/api/v1/users/not-a-uuid", headers=tenant.headers), 404)
    assert "limit" in fields(
        problem(await client.get("/api/v1/users", params={"limit": 0}, headers=tenant.headers), 422)
    )
    assert "limit" in fields(
        problem(await client.get("/api/v1/users", params={"limit": 10_000}, headers=tenant.headers), 422)
    )
    assert "cursor" in fields(
        problem(await client.get("/api/v1/users", params={"cursor": "garbage!"}, headers=tenant.headers), 422)
    )
    body = problem(
        await client.patch(
            f"/api/v1/users/{tenant.admin_id}", json={"name": "X"}, headers={**tenant.headers, "If-Match": "yesterday"}
        ),
        422,
    )
    assert "If-Match" in fields(body)


async def test_bad_patch_values_name_the_field_and_change_nothing(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    before = (await client.get(f"/api/v1/users/{tenant.admin_id}", headers=tenant.headers)).json()
    for patch, field in [
        ({"phone": "12345"}, "phone"),
        ({"locale": "klingon!"}, "locale"),
        ({"department_id": str(uuid.uuid4())}, "department_id"),
        ({"role_ids": [str(uuid.uuid4())]}, "role_ids"),
        ({"name": ""}, "name"),
        ({"name": "ok", "phone": 13800138000}, "phone"),
        ({"status": "deactivated"}, "status"),
    ]:
        body = problem(await client.patch(f"/api/v1/users/{tenant.admin_id}", json=patch, headers=tenant.headers), 422)
        assert field in fields(body), (patch, body)
    after = (await client.get(f"/api/v1/users/{tenant.admin_id}", headers=tenant.headers)).json()
    assert after == before


async def test_bad_invitations(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    assert "email" in fields(
        problem(await client.post("/api/v1/invitations", headers=tenant.headers, json={"email": "nope"}), 422)
    )
    assert "roles" in fields(
        problem(
            await client.post(
                "/api/v1/invitations", headers=tenant.headers, json={"email": "r@example.com", "roles": ["wizard"]}
            ),
            422,
        )
    )
    assert (await client.get("/api/v1/invitations", headers=tenant.headers)).json()["items"] == []
    for token in ("hki_forged", "something-else"):
        problem(
            await client.post("/api/v1/invitations/accept", json={"token": token, "password": "Orchid-Pebble-55"}), 401
        )


async def test_operator_routes_refuse_tenant_credentials(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    response = await client.post(f"/api/v1/operator/tenants/{tenant.id}/suspend", headers=tenant.headers, json={})
    problem(response, 401)
    assert (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 200
