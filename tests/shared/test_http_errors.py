"""Every error the API can give is RFC 9457 problem+json, the framework's own included."""

from __future__ import annotations

import httpx
import pytest

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status
    assert body["type"].startswith("urn:huike:problem:")
    assert body["title"] and body["detail"]
    return body


async def test_unknown_route(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/no-such-thing"), 404)
    assert "/api/v1/no-such-thing" in body["detail"]


async def test_wrong_method(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.delete("/api/v1/signup"), 405)
    assert "DELETE" in body["detail"]


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/signup", content=b'{"company_name": "Acme",', headers={"content-type": "application/json"}
    )
    body = assert_problem(response, 400)
    assert "JSON" in body["detail"]


async def test_wrong_content_type(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/signup", content=b"company_name=Acme", headers={"content-type": "text/plain"})
    body = assert_problem(response, 415)
    assert "application/json" in body["detail"]


async def test_oversized_body(client: httpx.AsyncClient, settings) -> None:
    big = b'{"company_name": "' + b"x" * (settings.max_request_bytes + 10) + b'"}'
    assert_problem(await client.post("/api/v1/signup", content=big, headers={"content-type": "application/json"}), 413)


async def test_validation_names_every_bad_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/signup", json={"company_name": 42, "admin_email": "a@example.com"})
    body = assert_problem(response, 422)
    fields = {e["field"] for e in body["errors"]}
    assert "company_name" in fields or "admin_password" in fields
    assert all(e["message"] for e in body["errors"])


@pytest.mark.parametrize("header", [None, "Bearer", "Basic dXNlcjpwYXNz", "Bearer not-a-jwt",
                                    "Bearer huike_0000000000000000000000000000000000000"])
async def test_missing_or_bad_credentials_answer_401(client: httpx.AsyncClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    body = assert_problem(await client.get("/api/v1/me", headers=headers), 401)
    assert "authorization" in body["detail"].lower() or "token" in body["detail"].lower() or "key" in body["detail"].lower() or "bearer" in body["detail"].lower()


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert all(ready.json()["checks"].values())


async def test_openapi_documents_the_whole_api(client: httpx.AsyncClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    for path in ("/api/v1/signup", "/api/v1/auth/login", "/api/v1/me", "/api/v1/api-keys", "/api/v1/users"):
        assert path in document["paths"], path
