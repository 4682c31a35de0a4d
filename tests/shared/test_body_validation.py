"""One typed path for request bodies: every bad field listed, in the caller's language."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared import i18n
from shared.errors import Problem

PROBLEM = "application/problem+json"
ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")


async def create_customer(client: httpx.AsyncClient, tenant: Any, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/customers", json=fields, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    return response.json()


async def test_a_records_body_with_three_bad_fields_lists_all_three(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    response = await client.post("/api/v1/customers", headers=tenant.headers,
                                 json={"name": 42, "tags": "vip", "colour": "red"})
    body = problem(response, 422)
    codes = {e["field"]: e["code"] for e in body["errors"]}
    assert codes == {"name": "wrong_type", "tags": "wrong_type", "colour": "unknown_field"}
    assert all(e["field"] in body["detail"] for e in body["errors"])
    listed = (await client.get("/api/v1/customers", headers=tenant.headers)).json()
    assert listed["items"] == []  # nothing was written


async def test_an_identity_body_with_three_bad_fields_lists_all_three(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/signup", json={
        "company_name": 42, "admin_email": "a@example.com", "admin_password": "x" * 200, "admin_name": "",
        "colour": "red",
    })
    body = problem(response, 422)
    codes = {e["field"]: e["code"] for e in body["errors"]}
    assert codes == {"company_name": "wrong_type", "admin_password": "too_long", "admin_name": "empty",
                     "colour": "unknown_field"}
    assert "128" in next(e["message"] for e in body["errors"] if e["field"] == "admin_password")


async def test_nested_bad_fields_are_named_by_their_path(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    response = await client.post("/api/v1/pipelines", headers=tenant.headers, json={"name": "Deals", "stages": [
        {"name": "New", "probability": 10}, {"name": "Won", "probability": 100, "kind": "done"},
        {"probability": 101},
    ]})
    body = problem(response, 422)
    codes = {e["field"]: e["code"] for e in body["errors"]}
    assert codes == {"stages[1].kind": "not_one_of", "stages[2].name": "required", "stages[2].probability": "out_of_range"}
    assert "open, won, lost" in next(e["message"] for e in body["errors"] if e["field"] == "stages[1].kind")
    response = await client.post("/api/v1/customers", headers=tenant.headers,
                                 json={"name": "Acme", "phones": [{"value": "+8613800000000"}, {"number": 1}]})
    codes = {e["field"]: e["code"] for e in problem(response, 422)["errors"]}
    assert codes == {"phones[1].number": "unknown_field", "phones[1].value": "required"}


@pytest.mark.parametrize("path", ["/api/v1/customers/{id}", "/api/v1/users/{id}"])
async def test_a_patch_without_a_body_names_the_body(client: httpx.AsyncClient, signup: Any, path: str) -> None:
    tenant = await signup()
    record = await create_customer(client, tenant, name="Acme")
    url = path.format(id=record["id"] if "customers" in path else tenant.admin_id)
    for content in (None, b"", b"  "):
        response = await client.patch(url, content=content, headers={**tenant.headers,
                                                                      "content-type": "application/json"})
        body = problem(response, 422)
        assert body["errors"] == [{"field": "body", "message": "a JSON object with the fields to change is required",
                                   "code": "body_required"}]
    assert (await client.get(f"/api/v1/customers/{record['id']}", headers=tenant.headers)).json()["version"] == 1


async def test_a_body_that_is_not_an_object_says_so(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    for value in (b"[1, 2]", b'"text"', b"5", b"null"):
        response = await client.post("/api/v1/tasks", content=value, headers={
            **tenant.headers, "content-type": "application/json"})
        body = problem(response, 422)
        assert [e["field"] for e in body["errors"]] == ["body"] and body["errors"][0]["code"] == "wrong_type"


async def test_patch_keeps_absent_apart_from_null(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    record = await create_customer(client, tenant, name="Acme", website="https://acme.example", industry="制造业")
    url = f"/api/v1/customers/{record['id']}"
    changed = await client.patch(url, json={"website": None}, headers=tenant.headers)
    assert changed.status_code == 200, changed.text
    assert changed.json()["website"] is None and changed.json()["industry"] == "制造业"


async def test_zh_cn_gets_chinese_titles_details_and_messages(client: httpx.AsyncClient, signup: Any) -> None:
    tenant = await signup()
    for language in ("zh-CN", "zh", "zh-Hans-CN", "en;q=0.5, zh-CN;q=0.9"):
        response = await client.post("/api/v1/customers", json={"name": 42, "tags": "vip", "colour": "red"},
                                     headers={**tenant.headers, "Accept-Language": language})
        body = problem(response, 422)
        assert body["title"] == "输入无效"
        assert CJK.search(body["detail"])
        assert len(body["errors"]) == 3 and all(CJK.search(e["message"]) for e in body["errors"]), body
        assert response.headers["content-language"] == "zh-CN"
    english = await client.post("/api/v1/customers", json={"name": 42}, headers={
        **tenant.headers, "Accept-Language": "en-US,zh;q=0.5"})
    assert problem(english, 422)["title"] == "Invalid input" and not CJK.search(english.text)
    missing = await client.get("/api/v1/no-such-thing", headers={"Accept-Language": "zh-CN"})
    body = problem(missing, 404)
    assert body["title"] == "未找到" and CJK.search(body["detail"])
    anonymous = await client.get("/api/v1/me", headers={"Accept-Language": "zh-CN"})
    assert problem(anonymous, 401)["title"] == "缺少身份凭证"


def test_accept_language_is_read_by_preference() -> None:
    assert i18n.language_of("zh-CN") == "zh"
    assert i18n.language_of("zh-TW,en;q=0.8") == "zh"
    assert i18n.language_of("en-US,zh-CN;q=0.9") == "en"
    assert i18n.language_of("fr, zh-CN;q=0.3") == "zh"
    assert i18n.language_of("zh-CN;q=0") == "en"
    assert i18n.language_of("") == "en" and i18n.language_of(None) == "en"


def _sources() -> list[ast.Module]:
    return [ast.parse(path.read_text(), str(path))
            for base in ("services", "shared") for path in (ROOT / base).rglob("*.py")]


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def test_every_problem_kind_has_a_chinese_title() -> None:
    kinds = {"http-error"}
    for module in _sources():
        for node in ast.walk(module):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                for keyword in node.keywords:
                    if keyword.arg == "kind" and name not in ("Actor", "_Actor") and (value := _string(keyword.value)):
                        kinds.add(value)
    classes = [Problem, *Problem.__subclasses__()]
    kinds |= {c.kind for c in classes}
    actors = {"user", "system", "api_key", "operator", "session", "transfer", "handover", "anonymous"}
    missing = sorted(k for k in kinds - actors if k not in i18n.TITLES_ZH)
    assert not missing, f"add Chinese titles to shared/i18n.py TITLES_ZH: {missing}"


def test_every_validation_code_has_a_chinese_message() -> None:
    codes: set[str] = set()
    for module in _sources():
        for node in ast.walk(module):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in ("FieldError", "one", "add", "Invalid"):
                position = {"FieldError": 2, "one": 2, "add": 2, "Invalid": 1}[name]
                arg = node.args[position] if len(node.args) > position else None
                arg = arg or next((k.value for k in node.keywords if k.arg == "code"), None)
                if (value := _string(arg)) and re.fullmatch(r"[a-z_]+", value):
                    codes.add(value)
    assert {"required", "unknown_field", "wrong_type", "too_long", "invalid"} <= codes
    missing = sorted(c for c in codes if c not in i18n.GENERIC_ZH)
    assert not missing, f"add Chinese messages to shared/i18n.py GENERIC_ZH: {missing}"
