"""What one request may cost is bounded: tenant regex patterns run in linear time (RE2), lists,
definitions and previews have caps, and multipart parts are checked like JSON bodies."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx

PROBLEM = "application/problem+json"


def _problem(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return response.json()


async def _define(client: httpx.AsyncClient, tenant: Any, **body: Any) -> httpx.Response:
    body = {"entity": "customer", "key": f"f_{uuid.uuid4().hex[:8]}", "label": "字段", "type": "text", **body}
    return await client.post("/api/v1/custom-fields", json=body, headers=tenant.headers)


async def test_a_catastrophic_pattern_cannot_freeze_the_server(client: httpx.AsyncClient, signup: Any) -> None:
    """``(a+)+`` with 30 characters took Python's ``re`` about half a minute, blocking every tenant;
    on RE2 the value is judged at once while another tenant's requests are answered."""
    tenant, other = await signup(), await signup()
    field = await _define(client, tenant, key="code", validation={"pattern": "(a+)+", "pattern_message": "只能是 a"})
    assert field.status_code == 201, field.text

    health_answers: list[float] = []
    done = asyncio.Event()

    async def other_tenant_keeps_being_served() -> None:
        while not done.is_set():
            started = time.perf_counter()
            assert (await client.get("/healthz")).status_code == 200
            assert (await client.get("/api/v1/customers", headers=other.headers)).status_code == 200
            health_answers.append(time.perf_counter() - started)
            await asyncio.sleep(0)

    watcher = asyncio.create_task(other_tenant_keeps_being_served())
    started = time.perf_counter()
    try:
        bad = await asyncio.wait_for(client.post("/api/v1/customers", headers=tenant.headers, json={
            "name": "正则测试一", "custom_fields": {"code": "a" * 30 + "b"}}), timeout=20)
        good = await asyncio.wait_for(client.post("/api/v1/customers", headers=tenant.headers, json={
            "name": "正则测试二", "custom_fields": {"code": "a" * 30}}), timeout=20)
    finally:
        done.set()
        await watcher
    elapsed = time.perf_counter() - started
    problem = _problem(bad)
    assert problem["errors"] == [{"field": "custom_fields.code", "message": "只能是 a", "code": "pattern"}]
    assert good.status_code == 201, good.text
    assert good.json()["custom_fields"] == {"code": "a" * 30}
    assert health_answers, "the other tenant was not answered while the patterns ran"
    print(f"two writes with (a+)+ over 30 characters: {elapsed * 1000:.0f} ms; "
          f"{len(health_answers)} answers to another tenant meanwhile, slowest {max(health_answers) * 1000:.0f} ms")


async def test_a_pattern_re2_cannot_run_is_refused_when_the_field_is_defined(client: httpx.AsyncClient,
                                                                             signup: Any) -> None:
    tenant = await signup()
    for pattern, words in ((r"(a)\1", "backreferences"), (r"(?=a)a", "lookaround"), (r"(?<!x)a", "lookaround"),
                           ("a" * 257, "256 characters"), ("(a{1000}){1000}", "repetition"), ("(", "missing")):
        problem = _problem(await _define(client, tenant, key="bad", validation={"pattern": pattern}))
        assert [e["field"] for e in problem["errors"]] == ["validation.pattern"], problem
        assert words in problem["errors"][0]["message"], problem["errors"][0]["message"]
    listed = (await client.get("/api/v1/custom-fields", params={"entity": "customer"}, headers=tenant.headers)).json()
    assert [f["key"] for f in listed["items"]] == []
    # changing a good pattern into one RE2 cannot run is refused too, and the field keeps its rule
    field = (await _define(client, tenant, key="sku", validation={"pattern": "[A-Z]{3}-[0-9]+"})).json()
    problem = _problem(await client.patch(f"/api/v1/custom-fields/{field['id']}", headers=tenant.headers,
                                          json={"validation": {"pattern": r"([A-Z])\1"}}))
    assert problem["errors"][0]["field"] == "validation.pattern"
    kept = (await client.get(f"/api/v1/custom-fields/{field['id']}", headers=tenant.headers)).json()
    assert kept["validation"] == {"pattern": "[A-Z]{3}-[0-9]+"} and kept["version"] == field["version"]
    # the rule still works as written
    refused = await client.post("/api/v1/customers", headers=tenant.headers,
                                json={"name": "编号测试", "custom_fields": {"sku": "abc-1"}})
    assert _problem(refused)["errors"][0]["field"] == "custom_fields.sku"
    accepted = await client.post("/api/v1/customers", headers=tenant.headers,
                                 json={"name": "编号测试", "custom_fields": {"sku": "ABC-12"}})
    assert accepted.status_code == 201, accepted.text


async def test_select_options_and_definitions_per_entity_are_capped(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    options = [{"key": f"o{i}", "label": f"选项 {i}"} for i in range(201)]
    problem = _problem(await _define(client, tenant, type="single_select", options=options))
    assert problem["errors"][0]["field"] == "options" and "200" in problem["errors"][0]["message"]
    assert (await _define(client, tenant, type="single_select", options=options[:200])).status_code == 201
    for _ in range(99):
        assert (await _define(client, tenant)).status_code == 201
    problem = _problem(await _define(client, tenant, key="one_too_many"))
    assert problem["errors"][0]["field"] == "entity" and "100" in problem["errors"][0]["message"]
    listed = (await client.get("/api/v1/custom-fields", params={"entity": "customer", "limit": 200},
                               headers=tenant.headers)).json()
    assert len(listed["items"]) == 100 and "one_too_many" not in {f["key"] for f in listed["items"]}
    # another entity has its own allowance
    assert (await _define(client, tenant, entity="contact")).status_code == 201


async def test_pool_preview_is_paged_with_totals(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    rules = await client.patch("/api/v1/pool/rules", headers=tenant.headers,
                               json={"enabled": True, "no_interaction_days": 1, "warning_days": 1})
    assert rules.status_code == 200, rules.text
    for index in range(3):
        created = await client.post("/api/v1/customers", headers=tenant.headers, json={"name": f"公海预览 {index}"})
        assert created.status_code == 201
    preview = (await client.get("/api/v1/pool/preview", params={"limit": 1}, headers=tenant.headers)).json()
    assert preview["warnings_total"] + preview["returns_total"] == 3
    assert len(preview["warnings"]) <= 1 and len(preview["returns"]) <= 1
    assert _problem(await client.get("/api/v1/pool/preview", params={"limit": 201},
                                     headers=tenant.headers))["errors"][0]["field"] == "limit"


async def test_nul_in_an_import_form_is_refused_and_nothing_is_imported(client: httpx.AsyncClient,
                                                                        signup: Any) -> None:
    tenant = await signup()
    csv_file = "名称,电话\n导入测试有限公司,13800138000\n".encode()
    cases = [
        ({"entity": "customer"}, "customers\x00.csv", "file_name"),
        ({"entity": "customer\x00"}, "customers.csv", "entity"),
        ({"entity": "customer", "mapping": '{"名称": "name\\u0000"}'}, "customers.csv", "mapping.名称"),
        ({"entity": "customer", "mapping": "[" * 1000 + "]" * 1000}, "customers.csv", "mapping"),
    ]
    for data, filename, field in cases:
        # built by hand: httpx would percent-encode a NUL in the file name
        parts = [f'--b\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
                 for name, value in data.items()]
        parts.append(f'--b\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                     "Content-Type: text/csv\r\n\r\n".encode() + csv_file + b"\r\n--b--\r\n")
        response = await client.post("/api/v1/imports", content=b"".join(parts),
                                     headers={**tenant.headers, "content-type": "multipart/form-data; boundary=b"})
        problem = _problem(response)
        assert [e["field"] for e in problem["errors"]] == [field], problem
    assert (await client.get("/api/v1/imports", headers=tenant.headers)).json()["items"] == []
    assert (await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"] == []
