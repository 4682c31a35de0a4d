"""A grant never exceeds the granter's own rights: roles, user updates, invitations, API keys.

The granter here is a team lead who may manage roles, users and invitations without being an
administrator: CRM reading and updating at department scope, and the customer's phone hidden.
Every refusal is a 403 naming what exceeds, and leaves the data exactly as it was.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.identity.conftest import Member, bearer

TEAM_LEAD = {
    "key": "team_lead",
    "name": "Team lead",
    "permissions": {
        "customer": {"actions": ["read", "update"], "scope": "department"},
        "contact": {"actions": ["read"], "scope": "department"},
        "user": {"actions": ["read", "create", "update"], "scope": "all"},
        "role": {"actions": ["read", "create", "update"], "scope": "all"},
        "department": {"actions": ["read"], "scope": "all"},
        "api_key": {"actions": ["read", "create", "delete"], "scope": "own"},
    },
    "field_rules": {"customer": {"phone": "hidden"}},
}
# What the lead may grant: within every one of their rights, the phone still hidden.
FITTING = {
    "customer": {"actions": ["read"], "scope": "own"},
    "contact": {"actions": ["read"], "scope": "department"},
}


async def _lead(client: httpx.AsyncClient, tenant: Any, invite: Any) -> Member:
    made = await client.post("/api/v1/roles", headers=tenant.headers, json=TEAM_LEAD)
    assert made.status_code == 201, made.text
    return await invite(tenant, roles=["team_lead"])


def _exceeds(response: httpx.Response, *fields: str) -> None:
    """A 403 problem naming exactly these fields as exceeding the granter's rights."""
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"].endswith("grant-exceeds-own-rights")
    assert {e["field"] for e in body["errors"]} == set(fields), body
    assert {e["code"] for e in body["errors"]} == {"exceeds_own_rights"}


async def _roles(client: httpx.AsyncClient, tenant: Any) -> list[dict[str, Any]]:
    return (await client.get("/api/v1/roles", headers=tenant.headers, params={"limit": 100})).json()["items"]


async def test_a_role_never_grants_more_than_its_maker_holds(client: httpx.AsyncClient, signup, invite) -> None:
    tenant = await signup()
    lead = await _lead(client, tenant, invite)
    before = await _roles(client, tenant)

    def role(permissions: dict[str, Any], field_rules: dict[str, Any] | None = None) -> dict[str, Any]:
        return {"name": "Escalated", "permissions": permissions,
                "field_rules": field_rules if field_rules is not None else {"customer": {"phone": "hidden"}}}

    action = await client.post("/api/v1/roles", headers=lead.headers, json=role(
        {"customer": {"actions": ["read", "delete", "export"], "scope": "own"}}))
    _exceeds(action, "permissions.customer.actions")
    assert "delete, export" in action.json()["detail"]
    scope = await client.post("/api/v1/roles", headers=lead.headers, json=role(
        {"customer": {"actions": ["read"], "scope": "all"}}))
    _exceeds(scope, "permissions.customer.scope")
    entity = await client.post("/api/v1/roles", headers=lead.headers, json=role(
        {"audit_log": {"actions": ["read"], "scope": "all"}, "user": {"actions": ["delete"], "scope": "all"}}))
    _exceeds(entity, "permissions.audit_log.actions", "permissions.user.actions")
    star = await client.post("/api/v1/roles", headers=lead.headers, json=role({"*": {"actions": ["read"]}}))
    _exceeds(star, "permissions.*.actions")
    # The phone is hidden from the lead: a role showing it (no rule, or only read-only) is refused.
    visible = await client.post("/api/v1/roles", headers=lead.headers, json=role(FITTING, {}))
    _exceeds(visible, "field_rules.customer.phone")
    read_only = await client.post("/api/v1/roles", headers=lead.headers, json=role(
        FITTING, {"customer": {"phone": "read_only"}}))
    _exceeds(read_only, "field_rules.customer.phone")
    # A rule in a role that does not grant read does not count (see permissions.py): refused too.
    update_only = await client.post("/api/v1/roles", headers=lead.headers, json=role(
        {"customer": {"actions": ["update"], "scope": "own"}}))
    _exceeds(update_only, "field_rules.customer.phone")
    assert await _roles(client, tenant) == before  # nothing was created

    fits = await client.post("/api/v1/roles", headers=lead.headers, json={**role(FITTING), "key": "helper"})
    assert fits.status_code == 201, fits.text
    assert fits.json()["field_rules"] == {"customer": {"phone": "hidden"}}


async def test_editing_a_role_cannot_widen_it_beyond_the_editor(client: httpx.AsyncClient, signup, invite) -> None:
    tenant = await signup()
    lead = await _lead(client, tenant, invite)
    # A role the administrator made, already wider than the lead in one entity (audit_log).
    made = await client.post("/api/v1/roles", headers=tenant.headers, json={
        "key": "auditor", "name": "Auditor",
        "permissions": {"audit_log": {"actions": ["read"], "scope": "all"}, **FITTING},
        "field_rules": {"customer": {"phone": "hidden"}},
    })
    assert made.status_code == 201, made.text
    url = f"/api/v1/roles/{made.json()['id']}"

    async def stored() -> dict[str, Any]:
        return (await client.get(url, headers=tenant.headers)).json()

    original = await stored()
    refused = [
        ({"permissions": {**original["permissions"], "customer": {"actions": ["read", "delete"], "scope": "own"}}},
         ["permissions.customer.actions"]),
        ({"permissions": {**original["permissions"], "contact": {"actions": ["read"], "scope": "all"}}},
         ["permissions.contact.scope"]),
        ({"permissions": {**original["permissions"], "user": {"actions": ["delete"], "scope": "all"}}},
         ["permissions.user.actions"]),
        ({"field_rules": {}}, ["field_rules.customer.phone"]),
        ({"field_rules": {"customer": {"phone": "read_only"}}}, ["field_rules.customer.phone"]),
    ]
    for body, fields in refused:
        _exceeds(await client.patch(url, headers=lead.headers, json=body), *fields)
    assert await stored() == original  # same grants, same version

    # What the lead holds may be changed; the audit_log grant someone wider made stays as it is.
    narrowed = {**original["permissions"], "customer": {"actions": ["read", "update"], "scope": "department"}}
    changed = await client.patch(url, headers=lead.headers, json={"permissions": narrowed, "name": "Auditor 2"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["permissions"]["audit_log"] == {"actions": ["read"], "scope": "all"}
    assert changed.json()["permissions"]["customer"]["actions"] == ["read", "update"]


async def test_giving_or_taking_roles_needs_their_rights(client: httpx.AsyncClient, signup, invite) -> None:
    tenant = await signup()
    lead = await _lead(client, tenant, invite)
    member = await invite(tenant, roles=["read_only"])
    second_admin = await invite(tenant, roles=["admin"])
    by_key = {r["key"]: r["id"] for r in await _roles(client, tenant)}
    helper = await client.post("/api/v1/roles", headers=lead.headers, json={
        "key": "helper", "name": "Helper", "permissions": FITTING, "field_rules": {"customer": {"phone": "hidden"}}})
    assert helper.status_code == 201, helper.text

    async def role_keys(user: Member) -> list[str]:
        found = (await client.get(f"/api/v1/users/{user.id}", headers=tenant.headers)).json()
        return sorted(r["key"] for r in found["roles"])

    async def version(user: Member) -> int:
        return (await client.get(f"/api/v1/users/{user.id}", headers=tenant.headers)).json()["version"]

    member_version = await version(member)
    # The admin role to someone else, and to the lead themself; support (reads every customer).
    for target, keys in ((member, ["read_only", "admin"]), (lead, ["team_lead", "admin"]),
                         (member, ["support"])):
        response = await client.patch(f"/api/v1/users/{target.id}", headers=lead.headers,
                                      json={"role_ids": [by_key[k] for k in keys]})
        _exceeds(response, "role_ids")
    # Taking a wider role away: read_only reads every customer, admin everything.
    taken = await client.patch(f"/api/v1/users/{member.id}", headers=lead.headers,
                               json={"role_ids": [helper.json()["id"]]})
    _exceeds(taken, "role_ids")
    assert "read_only" in taken.json()["detail"]
    demoted = await client.patch(f"/api/v1/users/{second_admin.id}", headers=lead.headers, json={"role_ids": []})
    _exceeds(demoted, "role_ids")
    assert await role_keys(member) == ["read_only"] and await version(member) == member_version
    assert await role_keys(lead) == ["team_lead"]
    assert await role_keys(second_admin) == ["admin"]
    # Still denied on another service: the lead's own token cannot do what admin could.
    assert (await client.get("/api/v1/audit-log", headers=lead.headers)).status_code == 403

    added = await client.patch(f"/api/v1/users/{member.id}", headers=lead.headers,
                               json={"role_ids": [by_key["read_only"], helper.json()["id"]]})
    assert added.status_code == 200, added.text
    assert await role_keys(member) == ["helper", "read_only"]


async def test_invitations_only_give_roles_within_the_inviters_rights(client: httpx.AsyncClient, signup, invite) -> None:
    tenant = await signup()
    lead = await _lead(client, tenant, invite)
    by_key = {r["key"]: r["id"] for r in await _roles(client, tenant)}
    for body, field in (({"roles": ["admin"]}, "roles"), ({"roles": ["manager"]}, "roles"),
                        ({"role_ids": [by_key["support"]]}, "role_ids"),
                        ({}, "roles")):  # no role named: the default read_only reads every customer
        response = await client.post("/api/v1/invitations", headers=lead.headers,
                                     json={"email": "newcomer@example.com", "name": "新人", **body})
        _exceeds(response, field)
    listed = (await client.get("/api/v1/invitations", headers=tenant.headers)).json()["items"]
    assert [i["email"] for i in listed] == [lead.email]  # only the lead's own, accepted

    await client.post("/api/v1/roles", headers=lead.headers, json={
        "key": "helper", "name": "Helper", "permissions": FITTING, "field_rules": {"customer": {"phone": "hidden"}}})
    fits = await client.post("/api/v1/invitations", headers=lead.headers,
                             json={"email": "newcomer@example.com", "name": "新人", "roles": ["helper"]})
    assert fits.status_code == 201, fits.text
    accepted = await client.post("/api/v1/invitations/accept",
                                 json={"token": fits.json()["token"], "password": "Plum-Orbit-Lantern-42"})
    me = (await client.get("/api/v1/me", headers=bearer(accepted.json()["access_token"]))).json()
    assert [r["key"] for r in me["roles"]] == ["helper"]


async def test_api_key_scopes_never_exceed_their_maker(client: httpx.AsyncClient, signup, invite) -> None:
    tenant = await signup()
    lead = await _lead(client, tenant, invite)
    for scopes, fields in ((["customer:delete"], ["scopes[0]"]), (["customer:read", "*"], ["scopes[1]"]),
                           (["audit_log:read", "customer:*"], ["scopes[0]", "scopes[1]"]),
                           (["*:read"], ["scopes[0]"])):
        _exceeds(await client.post("/api/v1/api-keys", headers=lead.headers,
                                   json={"name": "wide", "scopes": scopes}), *fields)
    assert (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["items"] == []
    fits = await client.post("/api/v1/api-keys", headers=lead.headers,
                             json={"name": "reader", "scopes": ["customer:read", "customer:update", "user:read"]})
    assert fits.status_code == 201, fits.text


async def test_a_granter_acting_through_an_api_key_is_narrowed_by_its_scopes(
    client: httpx.AsyncClient, signup
) -> None:
    tenant = await signup()
    key = (await client.post("/api/v1/api-keys", headers=tenant.headers,
                             json={"name": "role admin", "scopes": ["role:*"]})).json()["key"]
    before = await _roles(client, tenant)
    wide = await client.post("/api/v1/roles", headers=bearer(key), json={
        "name": "Readers", "permissions": {"customer": {"actions": ["read"], "scope": "all"}}})
    _exceeds(wide, "permissions.customer.actions")
    assert await _roles(client, tenant) == before
    fits = await client.post("/api/v1/roles", headers=bearer(key), json={
        "name": "Role readers", "permissions": {"role": {"actions": ["read"], "scope": "all"}}})
    assert fits.status_code == 201, fits.text
