"""The console served by Litestar from the API's port: client routes fall back to index.html,
the API's own paths never do, built files are cached and gzipped, every page has a strict CSP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest


@pytest.fixture
async def http(console_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=console_app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as c:
        yield c


def _csp(response: httpx.Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in policy.split("; ")}


async def test_client_routes_get_the_app_with_a_strict_policy_and_a_fresh_nonce(http: httpx.AsyncClient) -> None:
    first, second, deep = await http.get("/"), await http.get("/"), await http.get("/customers/42/edit?tab=x")
    for page in (first, second, deep):
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<div id="root">' in page.text and "__CSP_NONCE__" not in page.text
        assert page.headers["cache-control"] == "no-cache"
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    policy = _csp(first)
    assert policy["script-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'" and policy["connect-src"] == "'self'"
    nonce = re.search(r'name="csp-nonce" content="([^"]+)"', first.text).group(1)  # type: ignore[union-attr]
    assert policy["style-src"] == f"'self' 'nonce-{nonce}'"
    assert nonce not in second.text  # one per answer, so an old page's nonce is worth nothing
    # No inline script: every <script> loads a file of this origin.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", first.text, re.S)
    assert scripts and all('src="/' in attrs and body.strip() == "" for attrs, body in scripts)


async def test_api_paths_keep_their_own_answers(http: httpx.AsyncClient) -> None:
    missing = await http.get("/api/v1/no-such-thing")
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert (await http.get("/schema/openapi.json")).json()["openapi"].startswith("3.")
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    assert (await http.get("/api/v1/me")).status_code == 401  # authentication still guards the API
    assert (await http.get("/readyz/extra")).status_code == 404
    # A program asking for JSON at a path nobody serves is told so, not handed the app's page.
    unknown = await http.get("/nothing-here", headers={"Accept": "application/json"})
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert (await http.get("/nothing-here", headers={"Accept": "text/html"})).status_code == 200


async def test_built_files_are_served_cached_and_gzipped(http: httpx.AsyncClient, console_dir: Path) -> None:
    script = re.search(r'src="(/assets/[^"]+\.js)"', (await http.get("/")).text).group(1)  # type: ignore[union-attr]
    plain = await http.get(script, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/javascript")
    assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-encoding" not in plain.headers
    assert plain.content == (console_dir / script.lstrip("/")).read_bytes()
    packed = await http.get(script, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip" and packed.content == plain.content  # httpx un-gzips
    assert (await http.get("/assets/gone-1234.js")).status_code == 404  # a stale asset is not the app
    assert (await http.get("/favicon.svg")).headers["content-type"].startswith("image/svg+xml")


async def test_no_file_outside_the_console_is_served(http: httpx.AsyncClient) -> None:
    for path in ("/..%2f..%2fpyproject.toml", "/assets/..%2f..%2f..%2fpyproject.toml", "/%2e%2e/%2e%2e/Makefile"):
        answer = await http.get(path)
        assert "setuptools" not in answer.text and "PYTHON ?=" not in answer.text, path


def test_no_secret_in_the_bundle(console_dir: Path, settings: Any) -> None:
    """The bundle is public: it holds no credential of the server, and no token-looking string."""
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in console_dir.rglob("*")
                   if p.is_file() and p.suffix in (".js", ".html", ".css"))
    for secret in (settings.jwt_secret, settings.operator_token):
        assert secret and secret not in text
    assert not re.search(r"\b(hkr|hki|huike)_[A-Za-z0-9_-]{20,}", text)
    assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)


def test_huike_openapi_prints_the_served_document_without_a_server(console_app: Any) -> None:
    """What the console's client is generated from is exactly what the running API serves."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "services.cli", "openapi"], capture_output=True, text=True,
                          timeout=120, cwd=Path(__file__).parents[2], check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    served = console_app.openapi_schema.to_schema()
    assert printed["paths"].keys() == served["paths"].keys()
    assert printed["components"]["schemas"] == json.loads(json.dumps(served["components"]["schemas"]))
    assert "/api/v1/auth/session/refresh" in printed["paths"]
