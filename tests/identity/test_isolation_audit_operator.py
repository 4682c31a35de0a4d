"""Cross-tenant access, the audit log, and the operator's tenant lifecycle."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from services.identity.domain.tenants import purge_due_tenants
from shared.tenancy import scope_for_system
from tests.identity.conftest import EventLog, bearer, client_at, eventually, random_address


async def test_another_tenants_objects_answer_404_like_missing_ones(client: httpx.AsyncClient, signup, invite) -> None:
    a, b = await signup(), await signup()
    b_member = await invite(b)
    b_role = (await client.get("/api/v1/roles", headers=b.headers)).json()["items"][0]
    b_department = (await client.get("/api/v1/departments", headers=b.headers)).json()["items"][0]
    b_key = (await client.post("/api/v1/api-keys", headers=b.headers, json={"name": "k", "scopes": ["*"]})).json()
    b_invitation = (await client.post("/api/v1/invitations", headers=b.headers, json={"email": "x@example.com"})).json()
    missing = str(uuid.uuid4())
    for path, method in [
        ("/api/v1/users/{}", "GET"),
        ("/api/v1/roles/{}", "GET"),
        ("/api/v1/departments/{}", "GET"),
        ("/api/v1/api-keys/{}", "DELETE"),
        ("/api/v1/invitations/{}", "DELETE"),
        ("/api/v1/users/{}/deactivate", "POST"),
        ("/api/v1/roles/{}", "DELETE"),
    ]:
        target = {
            "users": b_member.id,
            "roles": b_role["id"],
            "departments": b_department["id"],
            "api-keys": b_key["id"],
            "invitations": b_invitation["id"],
        }[path.split("/")[3]]
        theirs = await client.request(method, path.format(target), headers=a.headers)
        nothing = await client.request(method, path.format(missing), headers=a.headers)
        assert theirs.status_code == nothing.status_code == 404, (path, theirs.text)
        assert theirs.json()["detail"].replace(target, "?") == nothing.json()["detail"].replace(missing, "?")
        assert theirs.json()["type"] == nothing.json()["type"]
    # and nothing of B changed
    assert (await client.get(f"/api/v1/users/{b_member.id}", headers=b.headers)).json()["status"] == "active"
    assert (await client.get("/api/v1/me", headers=bearer(b_key["key"]))).status_code == 200
    listed = (await client.get("/api/v1/users", headers=a.headers)).json()["items"]
    assert [u["id"] for u in listed] == [a.admin_id]


async def test_audit_log_records_security_actions_newest_first(app, client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    async with client_at(app, "198.51.100.23") as elsewhere:
        await elsewhere.post(
            "/api/v1/auth/login",
            json={"tenant": tenant.slug, "email": tenant.admin_email, "password": "Wrong-Password-0"},
        )
        await elsewhere.post(
            "/api/v1/auth/login",
            json={"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.admin_password},
        )
    key = (await client.post("/api/v1/api-keys", headers=tenant.headers, json={"name": "k", "scopes": ["*"]})).json()
    await client.delete(f"/api/v1/api-keys/{key['id']}", headers=tenant.headers)

    entries = (await client.get("/api/v1/audit-log", headers=tenant.headers)).json()["items"]
    actions = [e["action"] for e in entries]
    assert actions[:4] == ["api_key.revoked", "api_key.created", "login.succeeded", "login.failed"]
    assert actions[-1] == "tenant.created"
    failed = entries[3]
    assert failed["source_ip"] == "198.51.100.23" and failed["actor"]["kind"] == "anonymous"
    assert failed["details"] == {"email": tenant.admin_email, "reason": "wrong_password"}
    assert entries[0]["actor"] == {"kind": "user", "id": tenant.admin_id}

    only_logins = (await client.get("/api/v1/audit-log", params={"action": "login.*"}, headers=tenant.headers)).json()
    assert [e["action"] for e in only_logins["items"]] == ["login.succeeded", "login.failed"]
    first = (await client.get("/api/v1/audit-log", params={"limit": 2}, headers=tenant.headers)).json()
    second = (
        await client.get(
            "/api/v1/audit-log", params={"limit": 2, "cursor": first["next_cursor"]}, headers=tenant.headers
        )
    ).json()
    assert [e["action"] for e in first["items"] + second["items"]] == actions[:4]


async def test_audit_log_is_append_only_even_for_the_runtime_role(signup, runtime) -> None:
    tenant = await signup()
    db = runtime.db("identity")
    for statement in (
        "UPDATE identity.audit_log SET action = 'nothing happened'",
        "DELETE FROM identity.audit_log",
        "TRUNCATE identity.audit_log",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
                await unit.execute(statement)
    async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        assert await unit.fetchval("SELECT count(*) FROM identity.audit_log") >= 1


async def test_audit_log_trigger_stops_even_the_owner(signup, settings) -> None:
    tenant = await signup()
    conn = await asyncpg.connect(settings.database_owner_url)
    try:
        await conn.execute("SELECT set_config('app.tenant_id', $1, false)", tenant.id)
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute("DELETE FROM identity.audit_log WHERE tenant_id = $1", uuid.UUID(tenant.id))
    finally:
        await conn.close()


def operator(settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.operator_token}"}


async def test_operator_api_needs_the_operator_token(client: httpx.AsyncClient, signup, settings) -> None:
    tenant = await signup()
    assert (await client.get("/api/v1/operator/tenants")).status_code == 401
    assert (await client.get("/api/v1/operator/tenants", headers=tenant.headers)).status_code == 401
    assert (await client.get("/api/v1/operator/tenants", headers={"Authorization": "Bearer wrong"})).status_code == 401
    listed = await client.get(
        "/api/v1/operator/tenants", params={"limit": 200, "status": "active"}, headers=operator(settings)
    )
    assert listed.status_code == 200


async def test_suspend_answers_403_then_reactivate(
    client: httpx.AsyncClient, signup, settings, events: EventLog
) -> None:
    tenant = await signup()
    assert (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 200
    suspended = await client.post(
        f"/api/v1/operator/tenants/{tenant.id}/suspend", headers=operator(settings), json={"reason": "unpaid invoice"}
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["status"] == "suspended"
    await events.wait_for(tenant.id, "tenant.suspended")

    async def forbidden() -> bool:
        response = await client.get("/api/v1/me", headers=tenant.headers)
        return response.status_code == 403 and response.json()["type"].endswith("tenant-suspended")

    await eventually(forbidden)
    assert "unpaid invoice" in (await client.get("/api/v1/me", headers=tenant.headers)).json()["detail"]
    login = await client.post(
        "/api/v1/auth/login",
        json={"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.admin_password},
    )
    assert login.status_code == 403
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert refresh.status_code == 403

    back = await client.post(f"/api/v1/operator/tenants/{tenant.id}/reactivate", headers=operator(settings))
    assert back.status_code == 200 and back.json()["status"] == "active"

    async def allowed() -> bool:
        return (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 200

    await eventually(allowed)
    audit = (await client.get("/api/v1/audit-log", params={"action": "tenant.*"}, headers=tenant.headers)).json()
    assert [e["action"] for e in audit["items"]][:2] == ["tenant.reactivated", "tenant.suspended"]
    assert audit["items"][0]["actor"]["kind"] == "operator"


async def test_schedule_deletion_exports_then_purge_deletes(
    app, client: httpx.AsyncClient, signup, invite, settings, runtime, events: EventLog
) -> None:
    company = f"Gone Trading {uuid.uuid4().hex[:6]}"
    tenant = await signup(company_name=company)
    await invite(tenant)
    response = await client.delete(f"/api/v1/operator/tenants/{tenant.id}", headers=operator(settings))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["tenant"]["status"] == "pending_deletion" and body["tenant"]["deletion_scheduled_at"]
    export = await client.get(body["export_url"], headers=operator(settings))
    assert export.status_code == 200, export.text
    data = export.json()
    assert data["tenant"]["id"] == tenant.id and len(data["users"]) == 2
    assert "password_hash" not in export.text and "key_hash" not in export.text
    await events.wait_for(tenant.id, "tenant.deletion_scheduled")

    async def forbidden() -> bool:
        return (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 403

    await eventually(forbidden)

    db = runtime.db("identity")
    assert tenant.id not in map(str, await purge_due_tenants(db, settings))  # still in its grace period
    async with db.system_unit() as unit:
        await unit.execute(
            "UPDATE identity.tenants SET deletion_scheduled_at = now() - interval '1 second' WHERE id = $1",
            uuid.UUID(tenant.id),
        )
    await purge_due_tenants(db, settings)  # (or the deletion worker, if its run came first)
    await events.wait_for(tenant.id, "tenant.deleted")
    async with db.tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        for table in ("users", "roles", "departments", "sessions", "audit_log"):
            assert await unit.fetchval(f"SELECT count(*) FROM identity.{table}") == 0, table
        assert (
            await unit.fetchval("SELECT status FROM identity.tenants WHERE id = $1", uuid.UUID(tenant.id)) == "deleted"
        )
    # The trigger is back in force for everyone else.
    other = await signup()
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with db.tenant_unit(scope_for_system(uuid.UUID(other.id))) as unit:
            await unit.execute("DELETE FROM identity.audit_log")
    assert (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 401
    async with client_at(app, random_address()) as fresh:
        login = await fresh.post(
            "/api/v1/auth/login",
            json={"tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.admin_password},
        )
    assert login.status_code == 401

    # The slug stays with the deleted tenant for good: the same company signing up again gets
    # another one, and asking for it by name answers 409.
    again = await signup(company_name=company, admin_email=tenant.admin_email)
    assert again.slug != tenant.slug and again.slug.startswith(tenant.slug + "-")
    taken = await client.post("/api/v1/signup", json={
        "company_name": company, "admin_email": tenant.admin_email, "admin_password": tenant.admin_password,
        "admin_name": "Ada Admin", "slug": tenant.slug})
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "slug"
    async with db.system_unit() as unit:
        holder = await unit.fetchrow("SELECT id, status FROM identity.tenants WHERE slug = $1", tenant.slug)
    assert (str(holder["id"]), holder["status"]) == (tenant.id, "deleted")
    async with client_at(app, random_address()) as fresh:
        old_slug = await fresh.post("/api/v1/auth/login", json={
            "tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.admin_password})
    assert old_slug.status_code == 401  # the new workspace is not reachable under the old name


async def test_housekeeping_forgets_long_ended_sessions(client: httpx.AsyncClient, signup, runtime) -> None:
    from services.identity.jobs import Housekeeping

    tenant = await signup()
    await client.post("/api/v1/auth/logout", headers=tenant.headers)
    db = runtime.db("identity")
    scope = scope_for_system(uuid.UUID(tenant.id))
    async with db.tenant_unit(scope) as unit:
        await unit.execute("UPDATE identity.sessions SET revoked_at = now() - interval '30 days'")
    await Housekeeping(runtime).run_once()
    async with db.tenant_unit(scope) as unit:
        assert await unit.fetchval("SELECT count(*) FROM identity.sessions") == 0
        assert await unit.fetchval("SELECT count(*) FROM identity.refresh_tokens") == 0
    async with db.system_unit() as unit:
        left = await unit.fetchval(
            "SELECT count(*) FROM identity.refresh_token_index WHERE tenant_id = $1", uuid.UUID(tenant.id)
        )
    assert left == 0
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert refreshed.status_code == 401
