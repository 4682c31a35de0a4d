"""A pending approval guards fields (records.record_locks): every path that changes them answers
409 naming the approval — PATCH, transfer, claim, release, merge — and a handover skips the locked
customer and reports it instead of failing the whole book. Locks are set as workflows sets them,
over the command RPC (op ``lock``)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conftest import SignUp, Tenant
from tests.records.test_commands import command


async def lock(runtime: Any, tenant: Tenant, customer_id: str, *fields: str) -> str:
    approval_id = str(uuid.uuid4())
    answer = await command(runtime, tenant, "lock", "customer", record_id=customer_id, approval_id=approval_id,
                           fields=list(fields))
    assert answer["status"] == 200, answer
    return approval_id


async def unlock(runtime: Any, tenant: Tenant, customer_id: str, approval_id: str) -> None:
    answer = await command(runtime, tenant, "unlock", "customer", record_id=customer_id, approval_id=approval_id)
    assert answer["status"] == 200, answer


def pending(answer: httpx.Response, approval_id: str) -> bool:
    body = answer.json()
    return answer.status_code == 409 and body["type"].endswith("approval-pending") and body["approval_id"] == approval_id


async def test_claim_and_release_wait_for_the_approval_guarding_the_owner(
    client: httpx.AsyncClient, signup: SignUp, customer: Any, invite: Any, in_directory: Any, runtime: Any
) -> None:
    tenant = await signup()
    ann = await invite(tenant, roles=["sales"])
    await in_directory(tenant.id, ann.id)
    made = await customer(tenant, name="审批中的公海客户")
    held = await lock(runtime, tenant, made["id"], "owner_id")
    release = await client.post(f"/api/v1/customers/{made['id']}/release", headers=tenant.headers)
    assert pending(release, held), release.text
    await unlock(runtime, tenant, made["id"], held)
    assert (await client.post(f"/api/v1/customers/{made['id']}/release", headers=tenant.headers)).status_code == 204
    held = await lock(runtime, tenant, made["id"], "owner_id")
    claim = await client.post(f"/api/v1/pool/{made['id']}/claim", headers=ann.headers)
    assert pending(claim, held), claim.text
    assert (await client.get(f"/api/v1/customers/{made['id']}", headers=tenant.headers)).json()["owner_id"] is None
    await unlock(runtime, tenant, made["id"], held)
    claim = await client.post(f"/api/v1/pool/{made['id']}/claim", headers=ann.headers)
    assert claim.status_code == 200 and claim.json()["owner_id"] == ann.id


async def test_handover_skips_and_reports_a_customer_whose_owner_is_guarded(
    client: httpx.AsyncClient, signup: SignUp, customer: Any, invite: Any, in_directory: Any, runtime: Any
) -> None:
    tenant = await signup()
    leaver = await invite(tenant, roles=["sales"])
    heir = await invite(tenant, roles=["sales"])
    for member in (leaver, heir):
        await in_directory(tenant.id, member.id)
    free = await customer(leaver, name="可交接的客户")
    guarded = await customer(leaver, name="审批中的客户")
    held = await lock(runtime, tenant, guarded["id"], "owner_id")
    done = await client.post("/api/v1/handovers", headers=tenant.headers,
                             json={"from_user_id": leaver.id, "to_user_id": heir.id})
    assert done.status_code == 201, done.text
    report = done.json()["report"]
    assert report["customers"] == 1
    assert report["skipped"] == [{"customer_id": guarded["id"], "reason": "approval-pending", "approval_id": held}]
    owners = {c["id"]: (await client.get(f"/api/v1/customers/{c['id']}", headers=tenant.headers)).json()["owner_id"]
              for c in (free, guarded)}
    assert owners == {free["id"]: heir.id, guarded["id"]: leaver.id}


async def test_merge_refuses_a_guarded_survivor_field_or_a_guarded_merged_customer(
    client: httpx.AsyncClient, signup: SignUp, customer: Any, runtime: Any
) -> None:
    tenant = await signup()
    survivor = await customer(tenant, name="合并保留方")
    other = await customer(tenant, name="合并被并方", industry="制造业")
    url = f"/api/v1/customers/{survivor['id']}/merge"
    # The merge would fill the survivor's empty industry: guarded there, it waits.
    held = await lock(runtime, tenant, survivor["id"], "industry")
    refused = await client.post(url, headers=tenant.headers, json={"merge_ids": [other["id"]]})
    assert pending(refused, held), refused.text
    await unlock(runtime, tenant, survivor["id"], held)
    # A merged customer disappears into the survivor: any pending approval on it refuses the merge.
    held = await lock(runtime, tenant, other["id"], "tier")
    refused = await client.post(url, headers=tenant.headers, json={"merge_ids": [other["id"]]})
    assert pending(refused, held), refused.text
    assert (await client.get(f"/api/v1/customers/{other['id']}", headers=tenant.headers)).json()["id"] == other["id"]
    await unlock(runtime, tenant, other["id"], held)
    merged = await client.post(url, headers=tenant.headers, json={"merge_ids": [other["id"]]})
    assert merged.status_code in (200, 201), merged.text
