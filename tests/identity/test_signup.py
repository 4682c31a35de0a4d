"""Sign-up: one transaction makes a tenant, default roles and department, and its administrator."""

from __future__ import annotations

import uuid

import httpx

from tests.identity.conftest import EventLog, bearer


async def test_signup_answers_tenant_user_and_tokens(client: httpx.AsyncClient, events: EventLog) -> None:
    suffix = uuid.uuid4().hex[:8]
    response = await client.post(
        "/api/v1/signup",
        json={
            "company_name": f"Acme Trading {suffix}",
            "admin_email": f"Ada.{suffix}@Example.COM",
            "admin_password": "Correct-Horse-Battery-9",
            "admin_name": "  Ada   Admin ",
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["tenant"]["slug"] == f"acme-trading-{suffix}"
    assert body["tenant"]["status"] == "active"
    assert {"id", "name", "created_at", "updated_at", "version"} <= set(body["tenant"])
    assert body["user"]["email"] == f"ada.{suffix}@example.com"
    assert body["user"]["name"] == "Ada Admin"
    assert [r["key"] for r in body["user"]["roles"]] == ["admin"]
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    assert body["refresh_token"].startswith("hkr_")

    me = await client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["tenant"]["slug"] == body["tenant"]["slug"]

    tenant_id = body["tenant"]["id"]
    created = await events.wait_for(tenant_id, "tenant.created")
    assert created.data["slug"] == body["tenant"]["slug"]
    user_created = await events.wait_for(tenant_id, "user.created")
    assert user_created.entity_id == body["user"]["id"]
    assert user_created.data["roles"] == ["admin"]
    assert "password" not in str(user_created.data)


async def test_signup_makes_default_roles_and_department(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    roles = (await client.get("/api/v1/roles", headers=tenant.headers)).json()["items"]
    assert {r["key"] for r in roles} == {"admin", "manager", "sales", "support", "read_only"}
    assert all(r["builtin"] for r in roles)
    departments = (await client.get("/api/v1/departments", headers=tenant.headers)).json()["items"]
    assert len(departments) == 1 and departments[0]["parent_id"] is None
    me = (await client.get("/api/v1/me", headers=tenant.headers)).json()
    assert me["user"]["department_id"] == departments[0]["id"]


async def test_chinese_company_names_get_pinyin_slugs_made_unique(signup) -> None:
    name = "汇客科技" + uuid.uuid4().hex[:4]
    first = await signup(company_name=name)
    second = await signup(company_name=name)
    assert first.slug.startswith("huikekeji")
    assert second.slug.startswith(first.slug + "-")
    assert first.slug != second.slug


async def test_chosen_slug_that_is_taken_answers_409_naming_slug(
    client: httpx.AsyncClient, signup, runtime
) -> None:
    tenant = await signup()
    company = f"Copycat {uuid.uuid4().hex[:8]}"
    response = await client.post(
        "/api/v1/signup",
        json={
            "company_name": company,
            "admin_email": "copy@example.com",
            "admin_password": "Correct-Horse-Battery-9",
            "admin_name": "Cat",
            "slug": tenant.slug,
        },
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "slug"
    async with runtime.db("identity").system_unit() as unit:  # no workspace under another slug either
        assert await unit.fetchval("SELECT count(*) FROM identity.tenants WHERE name = $1", company) == 0
