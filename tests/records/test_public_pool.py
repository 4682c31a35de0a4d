"""The public pool (公海): claims and their limits, races, rules, preview, the return run, the log."""

from __future__ import annotations

import asyncio
import uuid

from services.records.jobs_data_quality import pool_run_all
from shared.tenancy import scope_for_system


async def _member(invite, in_directory, tenant, roles=("sales",)):
    member = await invite(tenant, roles=list(roles))
    await in_directory(tenant.id, member.id)
    return member


async def _sql(runtime, tenant, sql: str, *args) -> None:
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        await unit.execute(sql, *args)


async def test_release_and_claim_with_a_race_exactly_one_wins(client, signup, customer, invite, in_directory) -> None:
    tenant = await signup()
    ann = await _member(invite, in_directory, tenant)
    bob = await _member(invite, in_directory, tenant)
    made = await customer(tenant, name="公海客户")
    assert (await client.post(f"/api/v1/customers/{made['id']}/release", headers=tenant.headers)).status_code == 204
    pool = (await client.get("/api/v1/pool", headers=ann.headers)).json()["items"]
    assert [c["id"] for c in pool] == [made["id"]] and pool[0]["owner_id"] is None
    answers = await asyncio.gather(*(client.post(f"/api/v1/pool/{made['id']}/claim", headers=who.headers)
                                     for who in (ann, bob)))
    assert sorted(a.status_code for a in answers) == [200, 409]
    winner = next(a for a in answers if a.status_code == 200).json()["owner_id"]
    assert winner in (ann.id, bob.id)
    assert (await client.get("/api/v1/pool", headers=ann.headers)).json()["items"] == []
    log = (await client.get("/api/v1/pool/log", headers=tenant.headers, params={"customer_id": made["id"]})).json()
    assert [(e["action"], e["user_id"]) for e in log["items"]] == [("claimed", winner), ("released", tenant.admin_id)]
    missing = await client.post(f"/api/v1/pool/{uuid.uuid4()}/claim", headers=ann.headers)
    assert missing.status_code == 404


async def test_claim_limits_and_cooldown(client, signup, customer, invite, in_directory) -> None:
    tenant = await signup()
    ann = await _member(invite, in_directory, tenant)
    rules = await client.patch("/api/v1/pool/rules", headers=tenant.headers,
                               json={"max_claims_per_day": 1, "cooldown_days": 7})
    assert rules.status_code == 200 and rules.json()["version"] == 1
    first, second = await customer(tenant, name="一号"), await customer(tenant, name="二号")
    for c in (first, second):
        await client.post(f"/api/v1/customers/{c['id']}/release", headers=tenant.headers)
    assert (await client.post(f"/api/v1/pool/{first['id']}/claim", headers=ann.headers)).status_code == 200
    limited = await client.post(f"/api/v1/pool/{second['id']}/claim", headers=ann.headers)
    assert limited.status_code == 409 and limited.json()["type"].endswith("claim-limit-reached")
    # Ann gives the first one back: she may not claim it again during the cooldown.
    await client.patch("/api/v1/pool/rules", headers=tenant.headers, json={"max_claims_per_day": None})
    assert (await client.post(f"/api/v1/customers/{first['id']}/release", headers=ann.headers)).status_code == 204
    cooling = await client.post(f"/api/v1/pool/{first['id']}/claim", headers=ann.headers)
    assert cooling.status_code == 409 and cooling.json()["type"].endswith("claim-cooldown")
    # Held limit.
    await client.patch("/api/v1/pool/rules", headers=tenant.headers, json={"max_customers_held": 0})
    held = await client.post(f"/api/v1/pool/{second['id']}/claim", headers=ann.headers)
    assert held.status_code == 409 and held.json()["type"].endswith("held-limit-reached")
    bad = await client.patch("/api/v1/pool/rules", headers=tenant.headers,
                             json={"cooldown_days": -1, "warning_days": 1000, "enabled": True})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"cooldown_days", "warning_days"}
    denied = await client.patch("/api/v1/pool/rules", headers=ann.headers, json={"cooldown_days": 1})
    assert denied.status_code == 403


async def test_rules_preview_warn_and_return(client, runtime, signup, customer, invite, in_directory,
                                             records_events) -> None:
    tenant = await signup()
    ann = await _member(invite, in_directory, tenant)
    stale = await customer(ann, name="久未联系")
    soon = await customer(ann, name="快到期")
    fresh = await customer(ann, name="刚联系")
    await _sql(runtime, tenant, "UPDATE records.customers SET created_at = now() - interval '40 days' WHERE id = $1",
               uuid.UUID(stale["id"]))
    await _sql(runtime, tenant, "UPDATE records.customers SET created_at = now() - interval '28 days' WHERE id = $1",
               uuid.UUID(soon["id"]))
    off = await client.patch("/api/v1/pool/rules", headers=tenant.headers, json={"enabled": True})
    assert off.status_code == 422 and off.json()["errors"][0]["field"] == "enabled"
    on = await client.patch("/api/v1/pool/rules", headers=tenant.headers,
                            json={"enabled": True, "no_interaction_days": 30, "warning_days": 5, "cooldown_days": 3})
    assert on.status_code == 200
    preview = (await client.get("/api/v1/pool/preview", headers=tenant.headers)).json()
    assert [(r["customer_id"], r["reason"]) for r in preview["returns"]] == [(stale["id"], "no_interaction")]
    assert [w["customer_id"] for w in preview["warnings"]] == [soon["id"]]
    assert fresh["id"] not in str(preview)
    totals = await pool_run_all(runtime.db("records"))
    assert totals["returned"] >= 1 and totals["warned"] >= 1
    pool = (await client.get("/api/v1/pool", headers=tenant.headers)).json()["items"]
    assert [c["id"] for c in pool] == [stale["id"]]
    warning = await records_events.wait_for(tenant.id, "customer.pool_warning")
    assert warning.entity_id == soon["id"] and warning.data["owner_id"] == ann.id
    returned = await records_events.wait_for(tenant.id, "customer.returned_to_pool")
    assert returned.entity_id == stale["id"] and returned.data["previous_owner_id"] == ann.id
    # A second run warns nobody twice and returns nothing new.
    async with runtime.db("records").tenant_unit(scope_for_system(uuid.UUID(tenant.id))) as unit:
        from services.records.domain import public_pool

        assert await public_pool.run_tenant(unit) == {"warned": 0, "returned": 0}
    # The previous owner waits for the cooldown; someone else may claim it.
    again = await client.post(f"/api/v1/pool/{stale['id']}/claim", headers=ann.headers)
    assert again.status_code == 409
    log = (await client.get("/api/v1/pool/log", headers=tenant.headers)).json()["items"]
    assert {(e["action"], e["customer_id"]) for e in log} == {("returned", stale["id"]), ("warned", soon["id"])}
    assert next(e for e in log if e["action"] == "returned")["reason"] == "no_interaction"
