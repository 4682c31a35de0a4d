"""Every operation of the OpenAPI document, sent each class of hostile input, answers a 4xx
problem+json, never a 5xx: JSON nested 1,000 deep, NUL in a body string and in each query
parameter, times and numbers beyond what Python and PostgreSQL hold, malformed cursors; and for
multipart uploads (imports, attachments), malformed, truncated and hostile multipart bodies.

The operations come from /schema/openapi.json, so a new endpoint is covered the day it is added.
Path parameters are random ids, except ``customer_id`` (a real customer, so handlers that load it
go on to use the hostile values). Query parameters the document does not list but the operation
reads (search's free-form filters, custom-field filters) are added by hand below.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec

PROBLEM = "application/problem+json"
NUL = "a\u0000b"
DEEP = "[" * 1000 + "]" * 1000
OVERFLOWING_TIMES = ("9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00")
EDGE_DATES = ("0001-01-01", "9999-12-31")
HUGE_NUMBERS = ("99999999999999999999999", "-99999999999999999999999")
EDGE_NUMBERS = ("2147483648", "-2147483649", "9223372036854775807", "0", "-1")


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(value)).decode().rstrip("=")


MALFORMED_CURSORS = (
    "!!!", "%%", "a" * 5000, _cursor("x"), _cursor([]), _cursor({"a": 1}), _cursor([[[[[[1]]]]]]),
    _cursor(["[" * 500]), _cursor([1, 2, 3, 4, 5, 6, 7]),
    _cursor(["-created_at", "9999-99-99", str(uuid.uuid4())]),
    _cursor(["-created_at", "9999-12-31T23:59:59-12:00", str(uuid.uuid4())]),
    _cursor(["9999-12-31T23:59:59-12:00", str(uuid.uuid4())]),
    _cursor(["2025-01-01T00:00:00+00:00", 10**30]), _cursor(["2025-01-01T00:00:00+00:00", "x"]),
    _cursor(["2025-01-01T00:00:00", str(uuid.uuid4())]), _cursor(["2025-01-01T00:00:00+00:00", NUL]),
    _cursor([NUL, 1, str(uuid.uuid4())]), _cursor(["customer", 2**40, str(uuid.uuid4())]),
    _cursor(["-amount", "1e999999", str(uuid.uuid4())]), _cursor(["amount", "NaN", str(uuid.uuid4())]),
    _cursor(["expected_close_date", "99999-01-01", str(uuid.uuid4())]), _cursor([10**30]), _cursor([NUL]),
    _cursor(["2025-01-01T00:00:00+00:00", "interaction", NUL]),
)

# Parameters read from the raw query string, which the document cannot list.
EXTRA_QUERY = {
    ("get", "/api/v1/search"): {"q": "string", "types": "string", "sort": "string", "facets": "string",
                                "limit": "integer", "owner_id": "string", "tags": "string"},
    ("get", "/api/v1/customers"): {"cf.note": "string"},
}


def _problem_or_none(response: httpx.Response, what: str, *, allow_success: bool = False) -> str | None:
    """None when ``response`` is a 4xx problem+json (or, with ``allow_success``, a 2xx/3xx);
    otherwise what is wrong with it."""
    status = response.status_code
    if allow_success and status < 400:
        return None
    if not 400 <= status < 500:
        return f"{what}: {status} {response.text[:200]}"
    if not response.headers["content-type"].startswith(PROBLEM):
        return f"{what}: {status} with {response.headers['content-type']}"
    body = response.json()
    if body.get("status") != status or not body.get("detail"):
        return f"{what}: {status} without a problem body: {response.text[:200]}"
    return None


def _resolve(document: dict[str, Any], schema: dict[str, Any] | None) -> dict[str, Any]:
    while schema and "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema or {}


def _kinds(document: dict[str, Any], schema: dict[str, Any]) -> set[tuple[str, str]]:
    """(type, format) of every non-null alternative of a parameter or property schema."""
    schema = _resolve(document, schema)
    found: set[tuple[str, str]] = set()
    for option in [*schema.get("oneOf", []), *schema.get("anyOf", [])]:
        found |= _kinds(document, option)
    types = schema.get("type")
    for name in types if isinstance(types, list) else [types] if types else []:
        if name != "null":
            found.add((name, schema.get("format", "")))
    return found


def _body_schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    schema = _resolve(document, content["application/json"].get("schema"))
    for option in schema.get("oneOf", []):  # ``Body | None``
        if _resolve(document, option).get("type") == "object":
            return _resolve(document, option)
    return schema


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def _hostile_multipart(document: dict[str, Any], operation: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    """(Content-Type, body) pairs a multipart upload must refuse with a 4xx: JSON instead, no
    boundary, a body cut short or malformed, NUL in names, unknown parts, the file part twice,
    deep JSON or NUL in a text part."""
    schema = _resolve(document, operation["requestBody"]["content"]["multipart/form-data"]["schema"])
    texts = [name for name, prop in schema.get("properties", {}).items() if prop.get("format") != "binary"]
    form = "multipart/form-data; boundary=b"

    def part(name: str, value: bytes, filename: str | None = None) -> bytes:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        return f"--b\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"

    end = b"--b--\r\n"
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452")
    yield "application/json", b"{}"
    yield "multipart/form-data", part("file", png, "a.png") + end
    yield form, b"garbage without any boundary"
    yield form, part("file", png, "a.png")  # never closed
    yield form, b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n" + end  # a part without a name
    yield form, part("file", png, "a\x00b.png") + end
    yield form, part("fi\x00le", png, "a.png") + end
    yield form, part("unknown", b"x") + end
    yield form, part("file", png, "a.png") + part("file", png, "b.png") + end
    yield form, end
    for name in texts:
        yield form, part(name, DEEP.encode()) + part("file", png, "a.png") + end
        yield form, part(name, NUL.encode()) + part("file", png, "a.png") + end


async def test_every_operation_answers_hostile_input_with_a_4xx_problem(
    client: httpx.AsyncClient, signup: Any, settings: Any,
) -> None:
    tenant = await signup()
    created = await client.post("/api/v1/customers", json={"name": "恶意输入测试有限公司"}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    real = {"customer_id": created.json()["id"], "user_id": tenant.admin_id}
    document = (await client.get("/schema/openapi.json")).json()
    sent = 0
    failures: list[str] = []

    def _assert_problem(response: httpx.Response, what: str, *, allow_success: bool = False) -> None:
        failure = _problem_or_none(response, what, allow_success=allow_success)
        if failure:
            failures.append(failure)

    for method, template, operation in _operations(document):
        path = template
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                value = real.get(parameter["name"], str(uuid.uuid4()))
                path = path.replace("{" + parameter["name"] + "}", value)
        headers = dict(tenant.headers)
        if template.startswith("/api/v1/operator/"):
            headers["Authorization"] = f"Bearer {settings.operator_token}"
        what = f"{method.upper()} {template}"

        async def send(params: dict[str, Any] | None = None, content: bytes | None = None, *, method: str = method,
                       path: str = path, headers: dict[str, str] = headers) -> httpx.Response:
            nonlocal sent
            sent += 1
            extra = {"content-type": "application/json"} if content is not None else {}
            return await client.request(method, path, params=params, content=content, headers={**headers, **extra})

        query = {p["name"]: _kinds(document, p.get("schema", {}))
                 for p in operation.get("parameters", []) if p["in"] == "query"}
        for name, kind in EXTRA_QUERY.get((method, template), {}).items():
            query[name] = {(kind, "")}
        for name, kinds in query.items():
            _assert_problem(await send({name: NUL}), f"{what} ?{name}=NUL")
            formats = {fmt for _, fmt in kinds}
            types = {t for t, _ in kinds}
            if "date-time" in formats:
                for value in OVERFLOWING_TIMES:
                    _assert_problem(await send({name: value}), f"{what} ?{name}={value}")
            if formats & {"date", "date-time"}:
                for value in EDGE_DATES:
                    _assert_problem(await send({name: value}), f"{what} ?{name}={value}", allow_success=True)
            if types & {"integer", "number"}:
                for value in HUGE_NUMBERS:
                    _assert_problem(await send({name: value}), f"{what} ?{name}={value}")
                for value in EDGE_NUMBERS:
                    _assert_problem(await send({name: value}), f"{what} ?{name}={value}", allow_success=True)
            if types == {"boolean"}:
                for value in ("true", "false", "maybe"):
                    _assert_problem(await send({name: value}), f"{what} ?{name}={value}", allow_success=True)
            if name == "cursor":
                for value in MALFORMED_CURSORS:
                    _assert_problem(await send({name: value}), f"{what} ?cursor={value[:40]}")

        if "multipart/form-data" in operation.get("requestBody", {}).get("content", {}):
            for content_type, body in _hostile_multipart(document, operation):
                sent += 1
                response = await client.request(method, path, content=body,
                                                 headers={**headers, "content-type": content_type})
                _assert_problem(response, f"{what} multipart {content_type[:40]} {body[:60]!r}")
            continue
        schema = _body_schema(document, operation)
        if schema is None:
            continue
        _assert_problem(await send(content=DEEP.encode()), f"{what} deep array body")
        _assert_problem(await send(content=('{"a":' * 1000 + "1" + "}" * 1000).encode()), f"{what} deep object body")
        properties = {name: _kinds(document, prop) for name, prop in schema.get("properties", {}).items()}
        strings = {name: NUL for name, kinds in properties.items() if any(t == "string" for t, _ in kinds)}
        _assert_problem(await send(content=msgspec.json.encode(strings or {"name": NUL, "custom_fields": {"x": NUL}})),
                        f"{what} NUL in body strings")
        for name, kinds in properties.items():
            formats = {fmt for _, fmt in kinds}
            if "date-time" in formats:
                for value in OVERFLOWING_TIMES:
                    _assert_problem(await send(content=msgspec.json.encode({name: value})), f"{what} {name}={value}")
            if formats & {"date", "date-time"}:
                for value in EDGE_DATES:
                    _assert_problem(await send(content=msgspec.json.encode({name: value})), f"{what} {name}={value}",
                                    allow_success=True)
            if {t for t, _ in kinds} & {"integer", "number"}:
                for number in (10**30, -(10**30), 2**31, 1e308):
                    _assert_problem(await send(content=msgspec.json.encode({name: number})),
                                    f"{what} {name}={number}", allow_success=True)

    assert not failures, "\n".join(failures)
    assert sent > 500, sent  # the document really was walked


# --- each class by hand, with what the answer must say --------------------------------------------


def _problem(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return response.json()


async def test_deep_json_is_refused_before_authentication(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/auth/login", "/api/v1/signup"):
        for body in (DEEP, '{"email":' + "[" * 1000 + "]" * 1000 + "}"):
            problem = _problem(await client.post(path, content=body, headers={"content-type": "application/json"}))
            assert problem["errors"][0]["field"] == "body"
            assert "32 levels" in problem["errors"][0]["message"]
    # 32 levels are still JSON the handlers judge (here: not a login body)
    shallow = "[" * 32 + "]" * 32
    problem = _problem(await client.post("/api/v1/auth/login", content=shallow,
                                         headers={"content-type": "application/json"}))
    assert problem["errors"][0]["message"] == "must be an object (got an array)"


async def test_nul_is_refused_naming_the_field_and_nothing_is_written(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    problem = _problem(await client.post("/api/v1/customers", headers=tenant.headers,
                                         json={"name": "正常名称", "notes": "x", "custom_fields": {"note": NUL},
                                               "tags": ["ok", NUL]}))
    fields = {e["field"] for e in problem["errors"]}
    assert {"custom_fields.note", "tags[1]"} <= fields, fields
    assert all("NUL" in e["message"] for e in problem["errors"])
    listed = (await client.get("/api/v1/customers", headers=tenant.headers)).json()
    assert listed["items"] == []
    problem = _problem(await client.get("/api/v1/customers", params={"tag": NUL}, headers=tenant.headers))
    assert problem["errors"][0]["field"] == "tag"
    # a path that cannot name a record is no route at all
    _problem(await client.get("/api/v1/customers/a%00b", headers=tenant.headers), 404)
    # the escape of a backslash followed by the text "u0000" is ordinary text
    created = await client.post("/api/v1/customers", headers=tenant.headers, json={"name": "路径 C:\\u0000"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "路径 C:\\u0000"


async def test_times_out_of_range_name_the_field(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    customer = (await client.post("/api/v1/customers", json={"name": "时间边界有限公司"}, headers=tenant.headers)).json()
    problem = _problem(await client.post("/api/v1/tasks", headers=tenant.headers, json={
        "customer_id": customer["id"], "title": "回访", "due_at": "9999-12-31T23:59:59-12:00"}))
    assert [e["field"] for e in problem["errors"]] == ["due_at"]
    tasks = (await client.get("/api/v1/tasks", params={"customer_id": customer["id"]}, headers=tenant.headers)).json()
    assert tasks["items"] == []
    # the same instant written in UTC is a time Python and PostgreSQL hold
    fine = await client.post("/api/v1/tasks", headers=tenant.headers, json={
        "customer_id": customer["id"], "title": "回访", "due_at": "9999-12-31T23:59:59+00:00"})
    assert fine.status_code == 201, fine.text
    problem = _problem(await client.get("/api/v1/customers", params={"created_after": "0001-01-01T00:00:00+14:00"},
                                        headers=tenant.headers))
    assert problem["errors"][0]["field"] == "created_after"
    for name in ("interactions", "objections"):
        problem = _problem(await client.get(f"/api/v1/reports/{name}", params={"to": "0001-01-01"},
                                            headers=tenant.headers))
        assert problem["errors"][0]["field"] == "to"
        assert "1900-01-01" in problem["errors"][0]["message"]


async def test_malformed_cursors_of_every_list_name_the_cursor(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    opportunity_sorts = ("created_at", "-updated_at", "name", "expected_close_date", "-amount")
    for sort in opportunity_sorts:
        for value in ("not a time", "9999-99-99", "NaN", "1e999999", "99999-01-01"):
            response = await client.get("/api/v1/opportunities", headers=tenant.headers,
                                        params={"sort": sort, "cursor": _cursor([sort, value, str(uuid.uuid4())])})
            if response.status_code == 200:  # a value the sort's type can hold (a name sorts any text)
                assert sort == "name", (sort, value)
                continue
            problem = _problem(response)
            assert problem["errors"][0]["field"] == "cursor"


async def test_patch_without_a_body_says_the_body_is_required(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    customer = (await client.post("/api/v1/customers", json={"name": "无正文有限公司"}, headers=tenant.headers)).json()
    problem = _problem(await client.patch(f"/api/v1/customers/{customer['id']}", headers=tenant.headers))
    assert problem["errors"] == [{"field": "body", "message": "a JSON object with the fields to change is required",
                                  "code": "body_required"}]


async def test_oversized_lists_and_strings_are_refused_naming_them(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    problem = _problem(await client.post("/api/v1/customers", headers=tenant.headers,
                                         json={"name": "长列表", "tags": ["x"] * 1001}))
    assert problem["errors"][0]["field"] == "tags"
    assert "1000" in problem["errors"][0]["message"]
    problem = _problem(await client.post("/api/v1/customers", headers=tenant.headers,
                                         json={"name": "别名", "aliases": [f"别名{i}" for i in range(21)]}))
    assert problem["errors"][0]["field"] == "aliases" and "20" in problem["errors"][0]["message"]
    problem = _problem(await client.post("/api/v1/customers", headers=tenant.headers,
                                         json={"name": "长文本", "notes": "长" * 100_001}))
    assert problem["errors"][0]["field"] == "notes"
    many = {f"k{i}": "x" for i in range(5000)}  # 5,000 unknown fields: the answer lists the first 50
    problem = _problem(await client.post("/api/v1/customers", headers=tenant.headers,
                                         json={"name": "多字段", "custom_fields": dict(list(many.items())[:999])}))
    assert len(problem["errors"]) == 50
    assert (await client.get("/api/v1/customers", headers=tenant.headers)).json()["items"] == []


async def test_database_data_errors_are_a_422_safety_net(database: Any) -> None:
    """A value that slips past the edge and that PostgreSQL refuses is the client's 422, not a 500."""
    import asyncpg
    from litestar import Request

    from shared.errors import problem_from_exception

    caught: list[Exception] = []
    async with database.pool.acquire() as connection:
        for sql, argument in (("SELECT $1::text::jsonb", '"a\\u0000b"'), ("SELECT $1::int4", 2**40),
                              ("SELECT $1::text", "a\x00b"), ("SELECT $1::numeric::int2", "99999")):
            try:
                await connection.fetchval(sql, argument)
            except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                caught.append(exc)
    assert len(caught) == 4, caught
    request = Request({"type": "http", "method": "POST", "path": "/api/v1/customers", "headers": [],
                       "query_string": b"", "root_path": "", "scheme": "http", "server": ("x", 80)})
    for exc in caught:
        response = problem_from_exception(request, exc)
        assert response.status_code == 422, exc
        assert response.media_type == PROBLEM
    assert problem_from_exception(request, OverflowError("date value out of range")).status_code == 422
    assert problem_from_exception(request, RuntimeError("a bug")).status_code == 500
