"""Pipelines and their ordered stages: the lazy default, stage editing rules, bad input, isolation."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

STAGES = [
    {"name": "Lead", "probability": 5},
    {"name": "Demo", "probability": 40, "required_fields": ["amount", "currency"]},
    {"name": "Signed", "probability": 100, "kind": "won"},
    {"name": "Dropped", "probability": 0, "kind": "lost"},
]


async def make_pipeline(client: httpx.AsyncClient, who: Any, name: str = "Projects", **extra: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/pipelines", json={"name": name, "stages": STAGES, **extra},
                                 headers=who.headers)
    assert response.status_code == 201, response.text
    return response.json()


def fields_of(response: httpx.Response) -> set[str]:
    return {e["field"] for e in response.json()["errors"]}


async def test_default_pipeline_appears_once_with_the_standard_stages(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    answers = await asyncio.gather(*(client.get("/api/v1/pipelines", headers=tenant.headers) for _ in range(5)))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    listed = (await client.get("/api/v1/pipelines", headers=tenant.headers)).json()["items"]
    assert len(listed) == 1
    sales = listed[0]
    assert sales["name"] == "Sales" and sales["is_default"] is True
    assert [(s["name"], s["probability"], s["kind"], s["position"]) for s in sales["stages"]] == [
        ("Qualification", 10, "open", 1), ("Needs analysis", 30, "open", 2), ("Proposal", 60, "open", 3),
        ("Negotiation", 80, "open", 4), ("Won", 100, "won", 5), ("Lost", 0, "lost", 6),
    ]
    one = await client.get(f"/api/v1/pipelines/{sales['id']}", headers=tenant.headers)
    assert one.status_code == 200 and one.headers["etag"] == f'"{sales["version"]}"'


async def test_create_pipeline_and_make_it_the_default(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    created = await make_pipeline(client, tenant)
    assert [s["name"] for s in created["stages"]] == ["Lead", "Demo", "Signed", "Dropped"]
    assert created["stages"][1]["required_fields"] == ["amount", "currency"]
    assert created["is_default"] is False
    made_default = await client.patch(f"/api/v1/pipelines/{created['id']}", json={"is_default": True},
                                      headers=tenant.headers)
    assert made_default.status_code == 200 and made_default.json()["is_default"] is True
    listed = (await client.get("/api/v1/pipelines", headers=tenant.headers)).json()["items"]
    assert {p["name"]: p["is_default"] for p in listed} == {"Sales": False, "Projects": True}
    # A tenant always keeps a default pipeline.
    unset = await client.patch(f"/api/v1/pipelines/{created['id']}", json={"is_default": False},
                               headers=tenant.headers)
    assert unset.status_code == 422 and fields_of(unset) == {"is_default"}
    gone = await client.delete(f"/api/v1/pipelines/{created['id']}", headers=tenant.headers)
    assert gone.status_code == 409
    sales = next(p for p in listed if p["name"] == "Sales")
    assert (await client.delete(f"/api/v1/pipelines/{sales['id']}", headers=tenant.headers)).status_code == 204
    assert (await client.get(f"/api/v1/pipelines/{sales['id']}", headers=tenant.headers)).status_code == 404


async def test_bad_pipeline_input_names_every_field_and_writes_nothing(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    bad = await client.post("/api/v1/pipelines", headers=tenant.headers, json={
        "name": "Broken",
        "stages": [
            {"name": "A", "probability": 101},
            {"name": "B", "probability": 10, "kind": "maybe"},
            {"name": "C", "probability": 10, "required_fields": ["budget_owner", "amount", "amount"]},
            {"name": "c", "probability": 10},
            {"name": "D", "probability": 10, "required_fields": ["custom_fields.not_defined"]},
        ],
    })
    assert bad.status_code == 422, bad.text
    assert {"stages[0].probability", "stages[1].kind"} <= fields_of(bad)
    fixed_types = await client.post("/api/v1/pipelines", headers=tenant.headers, json={
        "name": "Broken",
        "stages": [
            {"name": "C", "probability": 10, "required_fields": ["budget_owner", "amount", "amount"]},
            {"name": "c", "probability": 10},
        ],
    })
    assert fixed_types.status_code == 422
    assert fields_of(fixed_types) == {"stages[0].required_fields[0]", "stages[0].required_fields[2]", "stages[1].name"}
    unknown_custom = await client.post("/api/v1/pipelines", headers=tenant.headers, json={
        "name": "Broken", "stages": [{"name": "D", "probability": 10, "required_fields": ["custom_fields.nope"]}]})
    assert unknown_custom.status_code == 422 and fields_of(unknown_custom) == {"stages[0].required_fields[0]"}
    for body, field in (({"name": "No stages", "stages": []}, "stages"),
                        ({"stages": [{"name": "A", "probability": 1}]}, "name"),
                        ({"name": "X", "stages": [{"name": "A", "probability": 1}], "colour": "red"}, "colour")):
        response = await client.post("/api/v1/pipelines", json=body, headers=tenant.headers)
        assert response.status_code == 422 and field in fields_of(response), response.text
    listed = (await client.get("/api/v1/pipelines", headers=tenant.headers)).json()["items"]
    assert [p["name"] for p in listed] == ["Sales"]
    await make_pipeline(client, tenant, name="Renewals")
    taken = await client.post("/api/v1/pipelines", json={"name": "renewals", "stages": STAGES}, headers=tenant.headers)
    assert taken.status_code == 409 and fields_of(taken) == {"name"}


async def test_stages_are_added_renamed_reordered_and_versioned(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    pipeline = await make_pipeline(client, tenant)
    base = f"/api/v1/pipelines/{pipeline['id']}"
    added = await client.post(f"{base}/stages", json={"name": "Trial", "probability": 25, "position": 2},
                              headers={**tenant.headers, "If-Match": f'"{pipeline["version"]}"'})
    assert added.status_code == 201, added.text
    after_add = added.json()
    assert [s["name"] for s in after_add["stages"]] == ["Lead", "Trial", "Demo", "Signed", "Dropped"]
    assert [s["position"] for s in after_add["stages"]] == [1, 2, 3, 4, 5]
    assert after_add["version"] == pipeline["version"] + 1
    # The version the client held is now stale: nothing changes.
    stale = await client.post(f"{base}/stages", json={"name": "Late", "probability": 1},
                              headers={**tenant.headers, "If-Match": f'"{pipeline["version"]}"'})
    assert stale.status_code == 412
    trial = after_add["stages"][1]
    renamed = await client.patch(f"{base}/stages/{trial['id']}", headers=tenant.headers,
                                 json={"name": "Pilot", "probability": 35, "required_fields": ["expected_close_date"],
                                       "position": 4})
    assert renamed.status_code == 200, renamed.text
    stages = renamed.json()["stages"]
    assert [s["name"] for s in stages] == ["Lead", "Demo", "Signed", "Pilot", "Dropped"]
    pilot = stages[3]
    assert (pilot["probability"], pilot["required_fields"]) == (35, ["expected_close_date"])
    reversed_ids = [s["id"] for s in reversed(stages)]
    reordered = await client.put(f"{base}/stages/order", json={"stage_ids": reversed_ids}, headers=tenant.headers)
    assert reordered.status_code == 200
    assert [s["name"] for s in reordered.json()["stages"]] == ["Dropped", "Pilot", "Signed", "Demo", "Lead"]
    not_all = await client.put(f"{base}/stages/order", json={"stage_ids": reversed_ids[:-1]}, headers=tenant.headers)
    assert not_all.status_code == 422 and fields_of(not_all) == {"stage_ids"}
    bad_probability = await client.patch(f"{base}/stages/{pilot['id']}", json={"probability": -1},
                                         headers=tenant.headers)
    assert bad_probability.status_code == 422 and fields_of(bad_probability) == {"probability"}
    out_of_range = await client.patch(f"{base}/stages/{pilot['id']}", json={"position": 9}, headers=tenant.headers)
    assert out_of_range.status_code == 422 and fields_of(out_of_range) == {"position"}
    duplicate = await client.patch(f"{base}/stages/{pilot['id']}", json={"name": "LEAD"}, headers=tenant.headers)
    assert duplicate.status_code == 409 and fields_of(duplicate) == {"name"}
    deleted = await client.delete(f"{base}/stages/{pilot['id']}", headers=tenant.headers)
    assert deleted.status_code == 200
    assert [(s["name"], s["position"]) for s in deleted.json()["stages"]] == [
        ("Dropped", 1), ("Signed", 2), ("Demo", 3), ("Lead", 4)]
    final = (await client.get(base, headers=tenant.headers)).json()
    assert final == deleted.json()


async def test_roles_and_other_tenants(client: httpx.AsyncClient, signup: Any, invite: Any) -> None:
    tenant, other = await signup(), await signup()
    pipeline = await make_pipeline(client, tenant)
    base = f"/api/v1/pipelines/{pipeline['id']}"
    stage = pipeline["stages"][0]["id"]
    # Another tenant cannot tell the pipeline exists.
    for method, path, body in (("GET", base, None), ("PATCH", base, {"name": "Mine"}), ("DELETE", base, None),
                               ("POST", f"{base}/stages", {"name": "X", "probability": 1}),
                               ("PATCH", f"{base}/stages/{stage}", {"name": "X"}),
                               ("PUT", f"{base}/stages/order", {"stage_ids": [stage]}),
                               ("DELETE", f"{base}/stages/{stage}", None)):
        response = await client.request(method, path, json=body, headers=other.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert (await client.get(base, headers=tenant.headers)).json()["version"] == pipeline["version"]
    # Sales people see the stages they work in, but do not change them.
    sales = await invite(tenant, roles=["sales"])
    assert (await client.get(base, headers=sales.headers)).status_code == 200
    refused = await client.post("/api/v1/pipelines", json={"name": "Mine", "stages": STAGES}, headers=sales.headers)
    assert refused.status_code == 403
    assert (await client.patch(base, json={"name": "Mine"}, headers=sales.headers)).status_code == 403
    assert (await client.get("/api/v1/pipelines")).status_code == 401
