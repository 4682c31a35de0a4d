"""The OpenAPI document is true: valid, every body typed, every error problem+json, security per
operation as the server enforces it, and a client built from it round-trips every records entity."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate

PROBLEM = "application/problem+json"
METHODS = ("get", "post", "put", "patch", "delete")
PUBLIC = {
    ("get", "/healthz"), ("get", "/readyz"), ("post", "/api/v1/signup"), ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"), ("post", "/api/v1/auth/password-reset/request"),
    ("post", "/api/v1/auth/password-reset/confirm"), ("post", "/api/v1/invitations/accept"),
}
# Outside the authentication middleware, with a credential of their own.
OWN_CREDENTIAL = {
    ("post", "/api/v1/workflow-hooks/{workflow_id}"): "webhook_secret",
    # The web console's HttpOnly refresh cookie (with its CSRF header).
    ("post", "/api/v1/auth/session/refresh"): "refresh_cookie",
    ("post", "/api/v1/auth/session/logout"): "refresh_cookie",
}
ENTITIES = {  # collection -> (create body schema, answer schema)
    "customers": "CustomerOut", "contacts": "ContactOut", "interactions": "InteractionOut",
    "objections": "ObjectionOut", "tasks": "TaskOut", "opportunities": "OpportunityOut",
}


@pytest.fixture(scope="module")
def document(app: Any) -> dict[str, Any]:
    # The served document, exactly as a client downloads it.
    return app.openapi_schema.to_schema()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()
            if method in METHODS]


def deref(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """The object a ``$ref`` (or a lone ``allOf`` of one) points at, followed to the end."""
    while isinstance(node, dict) and ("$ref" in node or len(node.get("allOf", [])) == 1):
        if "allOf" in node:
            node = node["allOf"][0]
            continue
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


async def test_served_document_is_valid_openapi(client: httpx.AsyncClient, document: dict[str, Any]) -> None:
    served = (await client.get("/schema/openapi.json")).json()
    validate(served)
    assert served["paths"].keys() == document["paths"].keys()


# Bodies whose shape another system decides: an inbound webhook takes whatever JSON object it posts.
FREE_FORM = {("post", "/api/v1/workflow-hooks/{workflow_id}")}


def test_no_request_body_is_a_free_form_object(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        if "requestBody" not in op or (method, path) in FREE_FORM:
            continue
        for media_type, content in op["requestBody"]["content"].items():
            schema = content["schema"]
            options = schema.get("oneOf", [schema])
            typed = [deref(document, s) for s in options if s.get("type") != "null"]
            assert typed, (method, path)
            for target in typed:
                if media_type == "multipart/form-data":
                    continue
                assert target.get("properties"), f"{method.upper()} {path}: free-form body {target}"
                assert target.get("additionalProperties") is False, f"{method.upper()} {path} accepts unknown fields"


def test_uploads_are_documented_as_multipart(document: dict[str, Any]) -> None:
    """The routes that stream a file (imports, attachments) document a multipart/form-data body
    with the binary ``file`` part, not an untyped or JSON one."""
    uploads = [path for method, path, _ in operations(document)
               if method == "post" and (path == "/api/v1/imports" or path.endswith("/attachments"))]
    assert len(uploads) == 5, uploads  # imports, and customers, interactions, objections, opportunities
    for path in uploads:
        body = document["paths"][path]["post"]["requestBody"]
        assert body["required"] is True and list(body["content"]) == ["multipart/form-data"], path
        schema = body["content"]["multipart/form-data"]["schema"]
        assert schema["properties"]["file"] == {**schema["properties"]["file"], "type": "string", "format": "binary"}
        assert "file" in schema["required"] and schema["additionalProperties"] is False, path
        assert {"413", "415", "422"} <= set(document["paths"][path]["post"]["responses"]), path


def test_every_error_is_documented_as_problem_json(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "errors"} <= set(problem["properties"])
    for method, path, op in operations(document):
        errors = {code: deref(document, answer) for code, answer in op["responses"].items() if code[0] in "45"}
        assert {"400", "500", "503"} <= set(errors), (method, path)
        if op.get("requestBody") or method != "get":
            assert "422" in errors, (method, path)
        for code, answer in errors.items():
            assert list(answer["content"]) == [PROBLEM], (method, path, code)
            assert answer["content"][PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_security_is_declared_per_operation(document: dict[str, Any]) -> None:
    assert "security" not in document  # no global default that public routes would inherit
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for method, path, op in operations(document):
        if (method, path) in PUBLIC:
            assert op["security"] == [], (method, path)
        elif (method, path) in OWN_CREDENTIAL:
            assert op["security"] == [{OWN_CREDENTIAL[(method, path)]: []}], (method, path)
        elif path.startswith("/api/v1/operator/"):
            assert op["security"] == [{"operator": []}], (method, path)
        else:
            assert op["security"] == [{"bearer": []}], (method, path)


async def test_security_matches_what_the_server_enforces(client: httpx.AsyncClient, document: dict[str, Any]) -> None:
    """Every operation documented as needing a token answers 401 without one; public ones do not."""
    for method, path, op in operations(document):
        url = path
        for parameter in op.get("parameters", []):  # a value of the parameter's type, so the route matches
            if parameter["in"] == "path":
                value = "1" if parameter.get("schema", {}).get("type") == "integer" else str(uuid.uuid4())
                url = url.replace("{" + parameter["name"] + "}", value)
        url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), url)
        response = await client.request(method.upper(), url, headers={"content-type": "application/json"})
        if op["security"]:
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
        else:
            assert response.status_code != 401, (method, path, response.text)


def example_value(document: dict[str, Any], name: str, schema: dict[str, Any], customer_id: str) -> Any:
    """A value for one required field, from what the document says of it (as a generated client's
    user would fill a form): its example, the first allowed value, else one of its type and format."""
    schema = deref(document, schema)
    if name == "customer_id":
        return customer_id
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    for option in schema.get("oneOf", []):
        if option.get("type") != "null":
            return example_value(document, name, option, customer_id)
    kind, fmt = schema.get("type"), schema.get("format")
    if fmt == "date-time":
        return (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    if fmt == "date":
        return date.today().isoformat()
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    if kind == "array":
        return []
    return f"往返测试 {name} {uuid.uuid4().hex[:6]}"


def create_body(document: dict[str, Any], collection: str, customer_id: str) -> dict[str, Any]:
    schema = deref(document, document["paths"][f"/api/v1/{collection}"]["post"]["requestBody"]["content"][
        "application/json"]["schema"])
    return {name: example_value(document, name, schema["properties"][name], customer_id)
            for name in schema.get("required", [])}


def check_answer(document: dict[str, Any], schema_ref: dict[str, Any], answer: Any) -> None:
    """``answer`` is valid against the documented schema, and documents every field it carries."""
    jsonschema.Draft202012Validator({**schema_ref, "components": document["components"]}).validate(answer)
    target = deref(document, schema_ref)
    if target.get("properties") and "items" not in target["properties"]:
        assert set(answer) <= set(target["properties"]), set(answer) - set(target["properties"])


def answer_schema(document: dict[str, Any], method: str, path: str, status: str) -> dict[str, Any]:
    return document["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]


async def test_a_client_built_from_the_document_round_trips_every_entity(
    client: httpx.AsyncClient, signup: Any, document: dict[str, Any]
) -> None:
    tenant = await signup()
    customer_id = ""
    for collection, out in ENTITIES.items():
        body = create_body(document, collection, customer_id)
        created = await client.post(f"/api/v1/{collection}", json=body, headers=tenant.headers)
        assert created.status_code == 201, (collection, body, created.text)
        check_answer(document, answer_schema(document, "post", f"/api/v1/{collection}", "201"), created.json())
        record_id = created.json()["id"]
        customer_id = customer_id or record_id
        item_path = next(p for p in document["paths"] if re.fullmatch(rf"/api/v1/{collection}/\{{\w+\}}", p))
        read = await client.get(f"/api/v1/{collection}/{record_id}", headers=tenant.headers)
        assert read.status_code == 200, read.text
        schema = answer_schema(document, "get", item_path, "200")
        assert schema == {"$ref": f"#/components/schemas/{out}"}
        check_answer(document, schema, read.json())
        for name, value in body.items():  # what was sent is what is read back
            if name.endswith("_at"):
                assert datetime.fromisoformat(read.json()[name]) == datetime.fromisoformat(value)
            else:
                assert read.json()[name] == value, (collection, name)
        listed = await client.get(f"/api/v1/{collection}", headers=tenant.headers)
        check_answer(document, answer_schema(document, "get", f"/api/v1/{collection}", "200"), listed.json())
        assert record_id in {item["id"] for item in listed.json()["items"]}


async def test_documented_examples_of_entity_bodies_are_accepted(
    client: httpx.AsyncClient, signup: Any, document: dict[str, Any]
) -> None:
    tenant = await signup()
    customer_id = ""
    for collection in ENTITIES:
        schema = document["paths"][f"/api/v1/{collection}"]["post"]["requestBody"]["content"]["application/json"][
            "schema"]
        example = dict(schema["examples"][0])
        if "customer_id" in example:
            example["customer_id"] = customer_id
        created = await client.post(f"/api/v1/{collection}", json=example, headers=tenant.headers)
        assert created.status_code == 201, (collection, created.text)
        customer_id = customer_id or created.json()["id"]


# Operations whose success answer may stay a free-form JSON object. Only things whose shape is
# truly open may stay for good.
FREE_FORM_ANSWERS: set[tuple[str, str]] = {
    # Liveness and readiness: {"status": ...} plus whatever each dependency reports.
    ("get", "/healthz"), ("get", "/readyz"),
}


def test_event_streams_are_documented_as_text_event_stream(document: dict[str, Any]) -> None:
    """A generated client reads the notifications stream as Server-Sent Events, never as JSON."""
    content = deref(document, document["paths"]["/api/v1/notifications/stream"]["get"]["responses"]["200"])["content"]
    assert list(content) == ["text/event-stream"]
    assert content["text/event-stream"]["schema"]["type"] == "string"


def test_search_declares_its_query_parameters(document: dict[str, Any]) -> None:
    """The typed client builds GET /api/v1/search's URL from the parameters the document names."""
    parameters = {p["name"]: p for p in document["paths"]["/api/v1/search"]["get"]["parameters"]
                  if p["in"] == "query"}
    assert set(parameters) == {"q", "types", "limit", "sort", "facets", "owner_id", "lifecycle_stage", "tier",
                               "tag", "status"}
    assert all(p.get("description") for p in parameters.values())
    assert parameters["limit"]["schema"]["type"] == "integer"
    assert parameters["sort"]["schema"]["enum"] == ["relevance", "recent"]


def free_form(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """An object answer that says nothing of its members: no ``properties`` (``{}``, a bare
    ``object``, or ``additionalProperties`` only), in itself or in one of its ``oneOf`` options."""
    target = deref(document, schema)
    options = [deref(document, s) for s in target.get("oneOf", target.get("anyOf", [target]))]
    return any(not option.get("properties") and option.get("type") in (None, "object")
               for option in options if option.get("type") != "null")


def test_every_answer_body_is_typed(document: dict[str, Any]) -> None:
    """A client generated from the document gets a type for every JSON success answer (issue 16)."""
    untyped = set()
    for method, path, op in operations(document):
        for code, answer in op["responses"].items():
            content = deref(document, answer).get("content", {}).get("application/json")
            if code.startswith("2") and content is not None and free_form(document, content.get("schema", {})):
                untyped.add((method, path))
    assert not untyped - FREE_FORM_ANSWERS, sorted(untyped - FREE_FORM_ANSWERS)
    # A typed answer leaves the list, so the list never hides a regression.
    assert not FREE_FORM_ANSWERS - untyped, sorted(FREE_FORM_ANSWERS - untyped)


async def test_typed_answers_match_what_the_server_sends(
    client: httpx.AsyncClient, signup: Any, document: dict[str, Any]
) -> None:
    """The answers typed for issue 16 are what the API really sends: each validates against its
    documented schema and carries no member the schema does not name."""
    tenant = await signup()
    h = tenant.headers

    async def check(method: str, path: str, url: str, status: int, **kwargs: Any) -> Any:
        response = await client.request(method.upper(), url, headers=h, **kwargs)
        assert response.status_code == status, (url, response.text)
        check_answer(document, answer_schema(document, method, path, str(status)), response.json())
        return response.json()

    field = await check("post", "/api/v1/custom-fields", "/api/v1/custom-fields", 201, json={
        "entity": "customer", "key": "grade", "label": "等级", "type": "single_select",
        "options": [{"key": "a", "label": "A"}]})
    await check("get", "/api/v1/custom-fields/{field_id}", f"/api/v1/custom-fields/{field['id']}", 200)
    await check("get", "/api/v1/custom-fields", "/api/v1/custom-fields", 200)
    first = (await client.post("/api/v1/customers", headers=h, json={"name": "类型测试甲", "phone": "13800138000"})).json()
    second = (await client.post("/api/v1/customers", headers=h, json={"name": "类型测试乙"})).json()
    await client.post("/api/v1/interactions", headers=h, json={
        "customer_id": first["id"], "channel": "phone", "summary": "首次沟通",
        "occurred_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat()})
    await check("post", "/api/v1/duplicates/check", "/api/v1/duplicates/check", 200,
                json={"entity": "customer", "record": {"phone": "13800138000"}})
    for report in ("objections", "interactions", "customers-without-interaction", "pipeline-value", "satisfaction"):
        await check("get", f"/api/v1/reports/{report}", f"/api/v1/reports/{report}", 200)
    timeline = await check("get", "/api/v1/customers/{customer_id}/timeline",
                           f"/api/v1/customers/{first['id']}/timeline", 200)
    assert timeline["items"], timeline
    history = await check("get", "/api/v1/customers/{customer_id}/history",
                          f"/api/v1/customers/{first['id']}/history", 200)
    assert "last_interaction_at" in {change["field"] for change in history["items"]}, history  # the interaction
    await check("get", "/api/v1/settings/records", "/api/v1/settings/records", 200)
    await check("get", "/api/v1/duplicate-rules", "/api/v1/duplicate-rules", 200)
    await check("patch", "/api/v1/duplicate-rules", "/api/v1/duplicate-rules", 200, json={"name": "off"})
    await check("get", "/api/v1/pool/rules", "/api/v1/pool/rules", 200)
    await check("patch", "/api/v1/pool/rules", "/api/v1/pool/rules", 200, json={"cooldown_days": 0})
    assert (await client.post(f"/api/v1/customers/{second['id']}/release", headers=h)).status_code == 204
    pool = await check("get", "/api/v1/pool", "/api/v1/pool", 200)
    assert [c["id"] for c in pool["items"]] == [second["id"]]
    await check("post", "/api/v1/pool/{customer_id}/claim", f"/api/v1/pool/{second['id']}/claim", 200)
    log = await check("get", "/api/v1/pool/log", "/api/v1/pool/log", 200)
    assert [e["action"] for e in log["items"]] == ["claimed", "released"]
    merged = await check("post", "/api/v1/customers/{customer_id}/merge", f"/api/v1/customers/{first['id']}/merge",
                         200, json={"merge_ids": [second["id"]], "fields": {}})
    await check("post", "/api/v1/merges/{merge_id}/undo", f"/api/v1/merges/{merged['merge_id']}/undo", 200)
    export = await check("post", "/api/v1/exports", "/api/v1/exports", 202, json={"entity": "customer"})
    await check("get", "/api/v1/exports/{export_id}", f"/api/v1/exports/{export['id']}", 200)
    await check("get", "/api/v1/imports", "/api/v1/imports", 200)
    await check("get", "/api/v1/imports/mappings", "/api/v1/imports/mappings", 200)


async def test_the_last_typed_answers_match_what_the_server_sends(
    client: httpx.AsyncClient, signup: Any, document: dict[str, Any], settings: Any
) -> None:
    """The answers typed last (issue 13: handovers, histories, the pool preview, duplicate scans,
    the password-reset request, search reindex runs, dead-letter replay) are what the API sends."""
    tenant = await signup()

    async def check(method: str, path: str, url: str, status: int, headers: dict[str, str] | None = None,
                    **kwargs: Any) -> Any:
        response = await client.request(method.upper(), url, headers=tenant.headers if headers is None else headers,
                                         **kwargs)
        assert response.status_code == status, (url, response.text)
        check_answer(document, answer_schema(document, method, path, str(status)), response.json())
        return response.json()

    h = tenant.headers
    customer = (await client.post("/api/v1/customers", headers=h, json={"name": "类型测试丙"})).json()
    objection = (await client.post("/api/v1/objections", headers=h, json={
        "customer_id": customer["id"], "category": "price", "severity": "high", "description": "太贵"})).json()
    await client.patch(f"/api/v1/objections/{objection['id']}", headers=h, json={"status": "in_progress"})
    moves = await check("get", "/api/v1/objections/{objection_id}/status-history",
                        f"/api/v1/objections/{objection['id']}/status-history", 200)
    assert [(m["from_status"], m["to_status"]) for m in moves["items"]] == [(None, "open"), ("open", "in_progress")]
    deal = (await client.post("/api/v1/opportunities", headers=h, json={
        "customer_id": customer["id"], "name": "类型测试商机", "amount": "1000", "currency": "CNY"})).json()
    await client.patch(f"/api/v1/opportunities/{deal['id']}", headers=h, json={"amount": "2000"})
    stages = await check("get", "/api/v1/opportunities/{opportunity_id}/stage-history",
                         f"/api/v1/opportunities/{deal['id']}/stage-history", 200)
    assert stages["items"] and stages["items"][0]["amount"] == "1000.00"
    changes = await check("get", "/api/v1/opportunities/{opportunity_id}/history",
                          f"/api/v1/opportunities/{deal['id']}/history", 200)
    assert "amount" in {c["field"] for c in changes["items"]}
    await check("get", "/api/v1/pool/preview", "/api/v1/pool/preview", 200)
    scan = await check("post", "/api/v1/duplicate-scans", "/api/v1/duplicate-scans", 202)
    await check("get", "/api/v1/duplicate-scans/{scan_id}", f"/api/v1/duplicate-scans/{scan['id']}", 200)
    run = await check("post", "/api/v1/search/reindex", "/api/v1/search/reindex", 202)
    await check("get", "/api/v1/search/reindex/{run_id}", f"/api/v1/search/reindex/{run['id']}", 200)
    operator = {"Authorization": f"Bearer {settings.operator_token}"}
    await check("post", "/api/v1/operator/search/reindex/{tenant_id}",
                f"/api/v1/operator/search/reindex/{tenant.id}", 202, headers=operator)
    await check("post", "/api/v1/operator/dead-letters/replay", "/api/v1/operator/dead-letters/replay", 200,
                headers=operator)
    await check("post", "/api/v1/auth/password-reset/request", "/api/v1/auth/password-reset/request", 202,
                headers={}, json={"tenant": "no-such-workspace", "email": "nobody@example.com"})
    # Last, as it empties the admin's book into the pool.
    done = await check("post", "/api/v1/handovers", "/api/v1/handovers", 201,
                       json={"from_user_id": tenant.admin_id, "to_pool": True})
    assert done["report"]["customers"] == 1 and done["report"]["opportunities"] == 1
    listed = await check("get", "/api/v1/handovers", "/api/v1/handovers", 200)
    assert [item["id"] for item in listed["items"]] == [done["id"]]
