"""/me, users, invitations, updates with If-Match, deactivation."""

from __future__ import annotations

import uuid

import httpx

from shared.tenancy import scope_for_system
from tests.identity.conftest import PASSWORD, EventLog, bearer, eventually


async def test_me_shows_user_tenant_roles_and_permissions(client: httpx.AsyncClient, signup, invite) -> None:
    tenant = await signup()
    me = await client.get("/api/v1/me", headers=tenant.headers)
    assert me.status_code == 200
    body = me.json()
    assert me.headers["ETag"] == f'"{body["user"]["version"]}"'
    assert body["user"]["id"] == tenant.admin_id
    assert body["tenant"] == {**body["tenant"], "id": tenant.id, "slug": tenant.slug, "status": "active"}
    assert [r["key"] for r in body["roles"]] == ["admin"]
    assert body["permissions"]["entities"]["*"]["scope"] == "all"
    assert body["api_key"] is None

    sales = await invite(tenant, roles=["sales"])
    perms = (await client.get("/api/v1/me", headers=sales.headers)).json()["permissions"]["entities"]
    assert perms["customer"] == {"actions": ["read", "create", "update"], "scope": "own"}
    assert "audit_log" not in perms


async def test_list_and_get_users(client: httpx.AsyncClient, signup, invite) -> None:
    tenant = await signup()
    members = [await invite(tenant) for _ in range(2)]
    first = await client.get("/api/v1/users", params={"limit": 2}, headers=tenant.headers)
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = (
        await client.get("/api/v1/users", params={"limit": 2, "cursor": page["next_cursor"]}, headers=tenant.headers)
    ).json()
    ids = [u["id"] for u in page["items"] + rest["items"]]
    assert ids == [tenant.admin_id, members[0].id, members[1].id]
    assert rest["next_cursor"] is None
    one = await client.get(f"/api/v1/users/{members[1].id}", headers=tenant.headers)
    assert one.status_code == 200 and one.headers["ETag"] == f'"{one.json()["version"]}"'


async def test_invitation_accept_expiry_and_reuse(client: httpx.AsyncClient, signup, runtime, events: EventLog) -> None:
    tenant = await signup()
    departments = (await client.get("/api/v1/departments", headers=tenant.headers)).json()["items"]
    invited = await client.post(
        "/api/v1/invitations",
        headers=tenant.headers,
        json={
            "email": "New.Person@Example.com",
            "name": "新同事",
            "roles": ["support"],
            "department_id": departments[0]["id"],
        },
    )
    assert invited.status_code == 201, invited.text
    invitation = invited.json()
    assert invitation["status"] == "pending" and invitation["token"].startswith("hki_")
    assert invitation["email"] == "new.person@example.com"
    listed = (await client.get("/api/v1/invitations", headers=tenant.headers)).json()["items"]
    assert [i["id"] for i in listed] == [invitation["id"]] and "token" not in listed[0]

    accepted = await client.post(
        "/api/v1/invitations/accept", json={"token": invitation["token"], "password": PASSWORD}
    )
    assert accepted.status_code == 201, accepted.text
    me = (await client.get("/api/v1/me", headers=bearer(accepted.json()["access_token"]))).json()
    assert me["user"]["name"] == "新同事" and [r["key"] for r in me["roles"]] == ["support"]
    assert me["user"]["department_id"] == departments[0]["id"]
    await events.wait_for(tenant.id, "invitation.accepted")
    created = next(e for e in events.of(tenant.id) if e.type == "user.created" and e.entity_id == me["user"]["id"])
    assert created.data["email"] == "new.person@example.com" and created.data["roles"] == ["support"]

    reused = await client.post("/api/v1/invitations/accept", json={"token": invitation["token"], "password": PASSWORD})
    assert reused.status_code == 401

    # An expired invitation cannot be accepted.
    late = (await client.post("/api/v1/invitations", headers=tenant.headers, json={"email": "late@example.com"})).json()
    async with runtime.db("identity").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        await unit.execute(
            "UPDATE identity.invitations SET expires_at = now() - interval '1 second' WHERE id = $1",
            uuid.UUID(late["id"]),
        )
    expired = await client.post("/api/v1/invitations/accept", json={"token": late["token"], "password": PASSWORD})
    assert expired.status_code == 401 and expired.json()["type"].endswith("invitation-expired")


async def test_duplicate_email_answers_409_naming_email(client: httpx.AsyncClient, signup, invite) -> None:
    tenant = await signup()
    taken = await client.post("/api/v1/invitations", headers=tenant.headers, json={"email": tenant.admin_email.upper()})
    assert taken.status_code == 409 and taken.json()["errors"][0]["field"] == "email"
    await client.post("/api/v1/invitations", headers=tenant.headers, json={"email": "twice@example.com"})
    pending = await client.post("/api/v1/invitations", headers=tenant.headers, json={"email": "twice@example.com"})
    assert pending.status_code == 409 and pending.json()["errors"][0]["field"] == "email"
    listed = (await client.get("/api/v1/invitations", headers=tenant.headers)).json()["items"]
    assert [i["email"] for i in listed] == ["twice@example.com"]


async def test_revoked_invitation_cannot_be_accepted(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    invitation = (
        await client.post("/api/v1/invitations", headers=tenant.headers, json={"email": "gone@example.com"})
    ).json()
    assert (await client.delete(f"/api/v1/invitations/{invitation['id']}", headers=tenant.headers)).status_code == 204
    response = await client.post(
        "/api/v1/invitations/accept", json={"token": invitation["token"], "password": PASSWORD}
    )
    assert response.status_code == 401 and response.json()["type"].endswith("invitation-revoked")
    users = (await client.get("/api/v1/users", headers=tenant.headers)).json()["items"]
    assert [u["email"] for u in users] == [tenant.admin_email]


async def test_patch_user_with_if_match(client: httpx.AsyncClient, signup, invite, events: EventLog) -> None:
    tenant = await signup()
    member = await invite(tenant)
    current = await client.get(f"/api/v1/users/{member.id}", headers=tenant.headers)
    etag = current.headers["ETag"]
    updated = await client.patch(
        f"/api/v1/users/{member.id}",
        headers={**tenant.headers, "If-Match": etag},
        json={"name": "王小明", "phone": "138 0013 8000", "locale": "en-US"},
    )
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert body["phone"] == "+8613800138000" and body["name"] == "王小明" and body["locale"] == "en-US"
    assert body["version"] == current.json()["version"] + 1
    assert updated.headers["ETag"] == f'"{body["version"]}"'
    stale = await client.patch(
        f"/api/v1/users/{member.id}", headers={**tenant.headers, "If-Match": etag}, json={"name": "Someone Else"}
    )
    assert stale.status_code == 412
    after = (await client.get(f"/api/v1/users/{member.id}", headers=tenant.headers)).json()
    assert after == body  # nothing changed, the version neither
    event = await events.wait_for(tenant.id, "user.updated")
    assert event.data["changes"]["phone"] == "+8613800138000"


async def test_users_edit_themselves_but_not_others(client: httpx.AsyncClient, signup, invite) -> None:
    tenant = await signup()
    member = await invite(tenant)
    own = await client.patch(f"/api/v1/users/{member.id}", headers=member.headers, json={"name": "Me Myself"})
    assert own.status_code == 200
    admin_before = (await client.get(f"/api/v1/users/{tenant.admin_id}", headers=tenant.headers)).json()
    other = await client.patch(f"/api/v1/users/{tenant.admin_id}", headers=member.headers, json={"name": "Hacked"})
    assert other.status_code == 403 and other.json()["type"].endswith("permission-denied")
    assert (await client.get(f"/api/v1/users/{tenant.admin_id}", headers=tenant.headers)).json() == admin_before
    roles = (await client.get("/api/v1/me", headers=tenant.headers)).json()["roles"]
    member_before = (await client.get(f"/api/v1/users/{member.id}", headers=tenant.headers)).json()
    escalate = await client.patch(
        f"/api/v1/users/{member.id}", headers=member.headers, json={"role_ids": [roles[0]["id"]]}
    )
    assert escalate.status_code == 403
    after = (await client.get(f"/api/v1/users/{member.id}", headers=tenant.headers)).json()
    assert after == member_before and [r["key"] for r in after["roles"]] == ["sales"]


async def test_role_change_takes_effect_within_two_seconds(
    client: httpx.AsyncClient, signup, invite, events: EventLog
) -> None:
    tenant = await signup()
    member = await invite(tenant, roles=["read_only"])
    assert (await client.get("/api/v1/audit-log", headers=member.headers)).status_code == 403
    admin_role = next(
        r for r in (await client.get("/api/v1/roles", headers=tenant.headers)).json()["items"] if r["key"] == "admin"
    )
    changed = await client.patch(
        f"/api/v1/users/{member.id}", headers=tenant.headers, json={"role_ids": [admin_role["id"]]}
    )
    assert changed.status_code == 200, changed.text
    assert [r["key"] for r in changed.json()["roles"]] == ["admin"]

    async def allowed() -> bool:
        return (await client.get("/api/v1/audit-log", headers=member.headers)).status_code == 200

    assert await eventually(allowed) < 2.0
    event = await events.wait_for(tenant.id, "user.roles_changed")
    assert event.data == {"before": ["read_only"], "after": ["admin"]}


async def test_deactivated_user_token_answers_401_within_two_seconds(
    client: httpx.AsyncClient, signup, invite, events: EventLog
) -> None:
    tenant = await signup()
    member = await invite(tenant)
    successor = await invite(tenant)
    key = (await client.post("/api/v1/api-keys", headers=member.headers,
                             json={"name": "bot", "scopes": ["customer:read"]})).json()
    assert (await client.get("/api/v1/me", headers=member.headers)).status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer(key["key"]))).status_code == 200

    response = await client.post(
        f"/api/v1/users/{member.id}/deactivate", headers=tenant.headers, json={"successor_id": successor.id}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "deactivated"

    async def locked_out() -> bool:
        me = await client.get("/api/v1/me", headers=member.headers)
        via_key = await client.get("/api/v1/me", headers=bearer(key["key"]))
        return me.status_code == 401 and via_key.status_code == 401

    assert await eventually(locked_out) < 2.0
    event = await events.wait_for(tenant.id, "user.deactivated")
    assert event.data["successor_id"] == successor.id
    login = await client.post(
        "/api/v1/auth/login", json={"tenant": tenant.slug, "email": member.email, "password": PASSWORD}
    )
    assert login.status_code == 401
    refresh = await client.post("/api/v1/auth/refresh", json={"refresh_token": member.refresh_token})
    assert refresh.status_code == 401

    back = await client.post(f"/api/v1/users/{member.id}/reactivate", headers=tenant.headers)
    assert back.status_code == 200 and back.json()["status"] == "active"
    await events.wait_for(tenant.id, "user.reactivated")
    login = await client.post(
        "/api/v1/auth/login", json={"tenant": tenant.slug, "email": member.email, "password": PASSWORD}
    )
    assert login.status_code == 200


async def test_admin_cannot_deactivate_self_or_drop_the_last_admin(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    self_deactivate = await client.post(f"/api/v1/users/{tenant.admin_id}/deactivate", headers=tenant.headers)
    assert self_deactivate.status_code == 409
    assert (await client.get("/api/v1/me", headers=tenant.headers)).json()["user"]["status"] == "active"
    sales = next(
        r for r in (await client.get("/api/v1/roles", headers=tenant.headers)).json()["items"] if r["key"] == "sales"
    )
    demote = await client.patch(
        f"/api/v1/users/{tenant.admin_id}", headers=tenant.headers, json={"role_ids": [sales["id"]]}
    )
    assert demote.status_code == 409 and demote.json()["type"].endswith("last-admin")
    assert [r["key"] for r in (await client.get("/api/v1/me", headers=tenant.headers)).json()["roles"]] == ["admin"]
