"""Records' writes as NATS commands (``huike.rpc.records.command``), as workflows send them: the
same declaration per entity as the HTTP API, so the same validation (every bad field in one 422),
permissions, answers and idempotency."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import msgspec

from services.records.commands import COMMAND_SUBJECT
from tests.conftest import SignUp, Tenant

WORKFLOW = str(uuid.uuid4())


async def command(runtime: Any, tenant: Tenant, op: str, entity: str, *, author: str | None = None,
                  record_id: str | None = None, key: str | None = None, workflow_id: str = WORKFLOW,
                  **fields: Any) -> dict[str, Any]:
    body = {"tenant_id": tenant.id, "author_id": author or tenant.admin_id, "workflow_id": workflow_id,
            "run_id": str(uuid.uuid4()), "key": key or uuid.uuid4().hex, "op": op, "entity": entity,
            "fields": fields}
    if record_id:
        body["record_id"] = record_id
    msg = await runtime.bus.nc.request(COMMAND_SUBJECT, msgspec.json.encode(body), timeout=10)
    return msgspec.json.decode(msg.data)


async def test_a_bad_command_names_every_bad_field_at_once_like_http(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any, customer: Any
) -> None:
    tenant = await signup()
    owner = await customer(tenant)
    bad = {"customer_id": owner["id"], "title": 7, "due_at": "tomorrow", "colour": "red"}
    answer = await command(runtime, tenant, "create", "task", **bad)
    over_http = await client.post("/api/v1/tasks", json=bad, headers=tenant.headers)
    assert answer["status"] == over_http.status_code == 422, answer
    named = {e["field"] for e in answer["problem"]["errors"]}
    assert named == {"title", "due_at", "colour"}
    assert named == {e["field"] for e in over_http.json()["errors"]}
    # A patch too: both bad fields of one update, nothing written.
    task = (await client.post("/api/v1/tasks", json={"customer_id": owner["id"], "title": "回访"},
                              headers=tenant.headers)).json()
    answer = await command(runtime, tenant, "update", "task", record_id=task["id"], title=5, status="maybe")
    assert answer["status"] == 422 and {e["field"] for e in answer["problem"]["errors"]} == {"title", "status"}
    assert (await client.get(f"/api/v1/tasks/{task['id']}", headers=tenant.headers)).json()["version"] == 1


async def test_a_command_answers_as_the_route_and_replays_under_its_key(
    client: httpx.AsyncClient, signup: SignUp, runtime: Any, customer: Any
) -> None:
    tenant = await signup()
    owner = await customer(tenant)
    key = uuid.uuid4().hex
    made = await command(runtime, tenant, "create", "contact", key=key, customer_id=owner["id"], name="王芳")
    assert made["status"] == 201, made
    again = await command(runtime, tenant, "create", "contact", key=key, customer_id=owner["id"], name="王芳")
    assert again == made  # replayed: one contact, not two
    listed = (await client.get(f"/api/v1/contacts?customer_id={owner['id']}", headers=tenant.headers)).json()
    assert [c["id"] for c in listed["items"]] == [made["record"]["id"]]
    read = (await client.get(f"/api/v1/contacts/{made['record']['id']}", headers=tenant.headers)).json()
    assert read == made["record"]
    reused = await command(runtime, tenant, "create", "contact", key=key, customer_id=owner["id"], name="李雷")
    assert reused["status"] == 422 and reused["problem"]["errors"][0]["field"] == "Idempotency-Key"
    tagged = await command(runtime, tenant, "add_tags", "customer", record_id=owner["id"], tags=["重点", 3])
    assert tagged["status"] == 422 and tagged["problem"]["errors"][0]["field"].startswith("tags")
