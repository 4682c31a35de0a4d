"""The browser's session: the refresh token in an HttpOnly, SameSite=Strict cookie scoped to
/api/v1/auth, a signed double-submit CSRF token for the cookie-authenticated refresh and logout,
and the JSON contract of programs left exactly as it was."""

from __future__ import annotations

from http.cookies import SimpleCookie

import httpx

from tests.identity.conftest import bearer, eventually

COOKIE_MODE = {"Huike-Session": "cookie"}


def set_cookies(response: httpx.Response) -> dict[str, dict[str, str]]:
    """The Set-Cookie headers of an answer: name -> attributes (lower-cased), value under 'value'."""
    found: dict[str, dict[str, str]] = {}
    for header in response.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            attrs = {k: str(v) for k, v in morsel.items() if v}
            attrs["value"] = morsel.value
            flags = header.lower()
            attrs["httponly"] = str("httponly" in flags)
            attrs["secure"] = str("; secure" in flags)
            found[name] = attrs
    return found


async def browser_login(client: httpx.AsyncClient, tenant) -> httpx.Response:
    return await client.post("/api/v1/auth/login", headers=COOKIE_MODE, json={
        "tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.admin_password})


def cookie_call_headers(cookies: dict[str, dict[str, str]], csrf: str | None = None) -> dict[str, str]:
    headers = {"Cookie": f"huike_refresh={cookies['huike_refresh']['value']}; huike_csrf={cookies['huike_csrf']['value']}"}
    if csrf is not None:
        headers["X-CSRF-Token"] = csrf
    return headers


async def test_programs_keep_the_json_contract(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    answer = await client.post("/api/v1/auth/login", json={
        "tenant": tenant.slug, "email": tenant.admin_email, "password": tenant.admin_password})
    assert answer.status_code == 200
    assert answer.json()["refresh_token"].startswith("hkr_") and "set-cookie" not in answer.headers
    refreshed = await client.post("/api/v1/auth/refresh", json={"refresh_token": answer.json()["refresh_token"]})
    assert refreshed.status_code == 200 and refreshed.json()["refresh_token"].startswith("hkr_")


async def test_browser_login_puts_the_refresh_token_where_no_script_reads_it(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    answer = await browser_login(client, tenant)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["refresh_token"] == "" and body["access_token"]
    cookies = set_cookies(answer)
    refresh, csrf = cookies["huike_refresh"], cookies["huike_csrf"]
    assert refresh["value"].startswith("hkr_")
    assert refresh["httponly"] == "True" and refresh["samesite"].lower() == "strict" and refresh["path"] == "/api/v1/auth"
    assert refresh["secure"] == "True"  # http://huike.test is not the loopback: Secure
    assert csrf["httponly"] == "False" and csrf["samesite"].lower() == "strict" and csrf["path"] == "/"
    assert csrf["value"] and csrf["value"] not in refresh["value"]
    assert (await client.get("/api/v1/me", headers=bearer(body["access_token"]))).status_code == 200


async def test_plain_http_on_the_loopback_leaves_out_secure(app, signup) -> None:
    tenant = await signup()
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40001))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as local:
        cookies = set_cookies(await browser_login(local, tenant))
    assert cookies["huike_refresh"]["secure"] == "False" and cookies["huike_refresh"]["httponly"] == "True"


async def test_signup_and_invitation_acceptance_in_cookie_mode(client: httpx.AsyncClient, signup) -> None:
    signed = await client.post("/api/v1/signup", headers=COOKIE_MODE, json={
        "company_name": "饼干模式有限公司", "admin_email": "cookie-admin@example.com",
        "admin_password": "Correct-Horse-Battery-9", "admin_name": "管理员"})
    assert signed.status_code == 201 and signed.json()["refresh_token"] == ""
    assert set_cookies(signed)["huike_refresh"]["value"].startswith("hkr_")
    token = signed.json()["access_token"]
    invited = await client.post("/api/v1/invitations", headers=bearer(token),
                                json={"email": "cookie-member@example.com", "name": "成员"})
    accepted = await client.post("/api/v1/invitations/accept", headers=COOKIE_MODE, json={
        "token": invited.json()["token"], "password": "Correct-Horse-Battery-9"})
    assert accepted.status_code == 201 and accepted.json()["refresh_token"] == ""
    assert set_cookies(accepted)["huike_refresh"]["httponly"] == "True"


async def test_cookie_refresh_needs_the_csrf_token_and_rotates(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    cookies = set_cookies(await browser_login(client, tenant))
    # Without the header, or with a wrong one, or the other cookie's value: 403, and nothing rotates.
    for csrf in (None, "forged", cookies["huike_refresh"]["value"]):
        refused = await client.post("/api/v1/auth/session/refresh", headers=cookie_call_headers(cookies, csrf))
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"].endswith("csrf-failed")
    zh = await client.post("/api/v1/auth/session/refresh",
                           headers={**cookie_call_headers(cookies), "Accept-Language": "zh-CN"})
    assert zh.json()["title"] == "跨站请求校验失败"
    assert (await client.post("/api/v1/auth/session/refresh", headers={"X-CSRF-Token": "x"})).status_code == 401
    # The right token: a new access token; the rotated refresh token goes into the cookie only.
    answer = await client.post("/api/v1/auth/session/refresh",
                               headers=cookie_call_headers(cookies, cookies["huike_csrf"]["value"]))
    assert answer.status_code == 200, answer.text
    assert answer.json()["refresh_token"] == "" and answer.json()["access_token"]
    rotated = set_cookies(answer)
    assert rotated["huike_refresh"]["value"] != cookies["huike_refresh"]["value"]
    assert rotated["huike_csrf"]["value"] != cookies["huike_csrf"]["value"]
    assert (await client.get("/api/v1/me", headers=bearer(answer.json()["access_token"]))).status_code == 200
    # The old cookie again is a reused refresh token: the whole session ends.
    reused = await client.post("/api/v1/auth/session/refresh",
                               headers=cookie_call_headers(cookies, cookies["huike_csrf"]["value"]))
    assert reused.status_code == 401
    after = await client.post("/api/v1/auth/session/refresh",
                              headers=cookie_call_headers(rotated, rotated["huike_csrf"]["value"]))
    assert after.status_code == 401


async def test_another_sessions_csrf_token_does_not_pass(client: httpx.AsyncClient, signup) -> None:
    """A token from one session (here another tenant's) never unlocks another session's cookie."""
    mine, theirs = await signup(), await signup()
    my_cookies = set_cookies(await browser_login(client, mine))
    their_cookies = set_cookies(await browser_login(client, theirs))
    crossed = await client.post("/api/v1/auth/session/refresh",
                                headers=cookie_call_headers(my_cookies, their_cookies["huike_csrf"]["value"]))
    assert crossed.status_code == 403
    crossed_logout = await client.post("/api/v1/auth/session/logout",
                                       headers=cookie_call_headers(their_cookies, my_cookies["huike_csrf"]["value"]))
    assert crossed_logout.status_code == 403
    # Both sessions still work.
    for cookies in (my_cookies, their_cookies):
        ok = await client.post("/api/v1/auth/session/refresh",
                               headers=cookie_call_headers(cookies, cookies["huike_csrf"]["value"]))
        assert ok.status_code == 200


async def test_cookie_logout_ends_the_session_and_clears_the_cookies(client: httpx.AsyncClient, signup) -> None:
    tenant = await signup()
    login = await browser_login(client, tenant)
    cookies, access = set_cookies(login), login.json()["access_token"]
    refused = await client.post("/api/v1/auth/session/logout", headers=cookie_call_headers(cookies))
    assert refused.status_code == 403
    assert (await client.get("/api/v1/me", headers=bearer(access))).status_code == 200
    done = await client.post("/api/v1/auth/session/logout",
                             headers=cookie_call_headers(cookies, cookies["huike_csrf"]["value"]))
    assert done.status_code == 204
    cleared = set_cookies(done)
    assert cleared["huike_refresh"]["value"] == "" and cleared["huike_refresh"]["max-age"] == "0"
    assert cleared["huike_csrf"]["value"] == "" and cleared["huike_refresh"]["path"] == "/api/v1/auth"
    refresh = await client.post("/api/v1/auth/session/refresh",
                                headers=cookie_call_headers(cookies, cookies["huike_csrf"]["value"]))
    assert refresh.status_code == 401

    async def access_revoked() -> bool:
        return (await client.get("/api/v1/me", headers=bearer(access))).status_code == 401

    await eventually(access_revoked, timeout=10)
    again = await client.post("/api/v1/auth/session/logout",
                              headers=cookie_call_headers(cookies, cookies["huike_csrf"]["value"]))
    assert again.status_code == 204  # nothing left to end: still done
