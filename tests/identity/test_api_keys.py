"""API keys: shown once, stored hashed, checksummed, scoped, revocable, last use recorded."""

from __future__ import annotations

import uuid

import httpx

from shared.auth import RESOLVE_SUBJECT, hash_api_key, new_api_key
from shared.tenancy import scope_for_system
from tests.identity.conftest import EventLog, bearer, eventually


async def test_create_list_use_and_revoke(client: httpx.AsyncClient, signup, runtime, events: EventLog) -> None:
    tenant = await signup()
    created = await client.post(
        "/api/v1/api-keys",
        headers=tenant.headers,
        json={"name": "ERP sync", "scopes": ["customer:read", "*:export", "customer:read"]},
    )
    assert created.status_code == 201, created.text
    key = created.json()
    assert key["key"].startswith("huike_") and key["key"].startswith(key["prefix"])
    assert key["scopes"] == ["*:export", "customer:read"] and key["status"] == "active"

    listed = await client.get("/api/v1/api-keys", headers=tenant.headers)
    item = listed.json()["items"][0]
    assert item["id"] == key["id"] and "key" not in item and key["key"] not in listed.text
    async with runtime.db("identity").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        stored = await unit.fetchval("SELECT key_hash FROM identity.api_keys WHERE id = $1", uuid.UUID(key["id"]))
    assert stored == hash_api_key(key["key"]) and key["key"] not in stored

    me = await client.get("/api/v1/me", headers=bearer(key["key"]))
    assert me.status_code == 200, me.text
    assert me.json()["api_key"] == {"id": key["id"], "scopes": ["*:export", "customer:read"]}
    used = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["items"][0]
    assert used["last_used_at"] is not None

    assert (await client.delete(f"/api/v1/api-keys/{key['id']}", headers=tenant.headers)).status_code == 204
    await events.wait_for(tenant.id, "api_key.revoked")

    async def revoked() -> bool:
        response = await client.get("/api/v1/me", headers=bearer(key["key"]))
        return response.status_code == 401 and "revoked" in response.json()["detail"]

    assert await eventually(revoked) < 2.0


async def test_scopes_narrow_what_a_key_may_do(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    narrow = (
        await client.post(
            "/api/v1/api-keys", headers=tenant.headers, json={"name": "reader", "scopes": ["customer:read"]}
        )
    ).json()
    assert (await client.get("/api/v1/users", headers=bearer(narrow["key"]))).status_code == 403
    wide = (
        await client.post("/api/v1/api-keys", headers=tenant.headers, json={"name": "users", "scopes": ["user:read"]})
    ).json()
    assert (await client.get("/api/v1/users", headers=bearer(wide["key"]))).status_code == 200
    # Keys cannot make keys.
    again = await client.post("/api/v1/api-keys", headers=bearer(wide["key"]), json={"name": "x", "scopes": ["*"]})
    assert again.status_code == 403 and again.json()["type"].endswith("session-required") and "key" not in again.json()
    listed = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["items"]
    assert sorted(k["name"] for k in listed) == ["reader", "users"]


async def test_key_acts_as_its_user_and_sees_only_own_keys(client: httpx.AsyncClient, signup, invite) -> None:
    tenant = await signup()
    member = await invite(tenant, roles=["sales"])
    key = (await client.post("/api/v1/api-keys", headers=member.headers,
                             json={"name": "mine", "scopes": ["customer:read", "user:read"]})).json()
    assert (await client.get("/api/v1/users", headers=bearer(key["key"]))).status_code == 200
    # The key acts as its user: when the user loses a right, so does the key.
    limited = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "name": "Customers only", "permissions": {"customer": {"actions": ["read"], "scope": "own"},
                                                  "api_key": {"actions": ["read", "delete"], "scope": "own"}}})
    changed = await client.patch(f"/api/v1/users/{member.id}", headers=tenant.headers,
                                 json={"role_ids": [limited.json()["id"]]})
    assert changed.status_code == 200, changed.text

    async def users_refused() -> bool:
        return (await client.get("/api/v1/users", headers=bearer(key["key"]))).status_code == 403

    await eventually(users_refused)
    admin_key = (
        await client.post("/api/v1/api-keys", headers=tenant.headers, json={"name": "admin", "scopes": ["*"]})
    ).json()
    own = (await client.get("/api/v1/api-keys", headers=member.headers)).json()["items"]
    assert [k["id"] for k in own] == [key["id"]]
    everyone = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["items"]
    assert {k["id"] for k in everyone} == {key["id"], admin_key["id"]}
    # Someone else's key is as good as missing.
    assert (await client.delete(f"/api/v1/api-keys/{admin_key['id']}", headers=member.headers)).status_code == 404


async def test_mistyped_key_is_refused_without_asking_identity(client: httpx.AsyncClient, runtime) -> None:
    """A key whose checksum does not match is refused on the spot: no resolve request reaches
    identity (the only place a key is looked up in the database). A listener on the resolve
    subject sees every such request; the well-formed unknown key shows that it does."""
    asked: list[bytes] = []

    async def heard(msg) -> None:
        asked.append(msg.data)

    listener = await runtime.bus.nc.subscribe(RESOLVE_SUBJECT, cb=heard)
    try:
        good_shape = new_api_key()
        for broken in (good_shape[:-1] + ("A" if good_shape[-1] != "A" else "B"),  # last checksum character
                       good_shape[:10] + ("x" if good_shape[10] != "x" else "y") + good_shape[11:]):  # body typo
            bad = await client.get("/api/v1/me", headers=bearer(broken))
            assert bad.status_code == 401 and "checksum" in bad.json()["detail"]
        await runtime.bus.nc.flush()
        assert asked == []
        unknown = await client.get("/api/v1/me", headers=bearer(good_shape))
        assert unknown.status_code == 401 and "checksum" not in unknown.json()["detail"]

        async def looked_up() -> bool:
            return hash_api_key(good_shape).encode() in b"".join(asked)

        await eventually(looked_up)
    finally:
        await listener.unsubscribe()


async def test_invalid_scopes_and_expiry_answer_422(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    response = await client.post(
        "/api/v1/api-keys",
        headers=tenant.headers,
        json={"name": "bad", "scopes": ["customer:read", "customer", "rocket:launch", "*:*"]},
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"scopes[1]", "scopes[2]", "scopes[3]"}
    empty = await client.post("/api/v1/api-keys", headers=tenant.headers, json={"name": "bad", "scopes": []})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "scopes"
    past = await client.post(
        "/api/v1/api-keys",
        headers=tenant.headers,
        json={"name": "old", "scopes": ["*"], "expires_at": "2020-01-01T00:00:00Z"},
    )
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "expires_at"
    assert (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["items"] == []


async def test_expired_key_answers_401(client: httpx.AsyncClient, signup, runtime) -> None:
    tenant = await signup()
    key = (
        await client.post(
            "/api/v1/api-keys",
            headers=tenant.headers,
            json={"name": "short", "scopes": ["*"], "expires_at": "2099-01-01T00:00:00+08:00"},
        )
    ).json()
    async with runtime.db("identity").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        await unit.execute(
            "UPDATE identity.api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", uuid.UUID(key["id"])
        )
    response = await client.get("/api/v1/me", headers=bearer(key["key"]))
    assert response.status_code == 401 and "expired" in response.json()["detail"]
