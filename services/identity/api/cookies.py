"""The browser's session: the refresh token in a cookie no script can read, and CSRF protection.

Programs keep the JSON contract (the refresh token in the body). A browser asks for cookie mode
with the header ``Huike-Session: cookie`` on sign-up and login; the answer then sets

* ``huike_refresh``: the refresh token. HttpOnly (an injected script cannot read it), Secure
  (except over plain http on 127.0.0.1 / localhost, where browsers drop Secure cookies),
  SameSite=Strict, Path=/api/v1/auth: sent only to the cookie endpoints below, never to the API;
* ``huike_csrf``: readable by the page (not HttpOnly), the HMAC of the refresh token under the
  server's secret: a "signed double-submit" token. The cookie endpoints want it back in the
  ``X-CSRF-Token`` header: another site can make the browser send the cookie (not with
  SameSite=Strict, but defence in depth) yet cannot read this value to put it in a header, and a
  planted cookie cannot forge it without the secret;

and the body's ``refresh_token`` is empty. The access token stays in the page's memory only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from litestar.datastructures import Cookie

from shared.errors import Forbidden, Unauthorized
from shared.http import AnyRequest

SESSION_MODE_HEADER = "huike-session"
REFRESH_COOKIE = "huike_refresh"
CSRF_COOKIE = "huike_csrf"
CSRF_HEADER = "x-csrf-token"
COOKIE_PATH = "/api/v1/auth"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def wants_cookie(request: AnyRequest) -> bool:
    """Whether the caller (a browser) asked for its refresh token in a cookie."""
    return request.headers.get(SESSION_MODE_HEADER, "").strip().lower() == "cookie"


def csrf_token(secret: str, refresh_token: str) -> str:
    digest = hmac.new(secret.encode(), b"csrf:" + refresh_token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _secure(request: AnyRequest) -> bool:
    """Secure everywhere but plain http on the loopback (the embedded default's own address)."""
    return not (request.url.scheme == "http" and request.url.hostname in _LOOPBACK_HOSTS)


def session_cookies(request: AnyRequest, secret: str, refresh_token: str, max_age: int) -> list[Cookie]:
    secure = _secure(request)
    return [
        Cookie(key=REFRESH_COOKIE, value=refresh_token, path=COOKIE_PATH, max_age=max_age, httponly=True,
               secure=secure, samesite="strict"),
        Cookie(key=CSRF_COOKIE, value=csrf_token(secret, refresh_token), path="/", max_age=max_age,
               httponly=False, secure=secure, samesite="strict"),
    ]


def cleared_cookies(request: AnyRequest) -> list[Cookie]:
    secure = _secure(request)
    return [
        Cookie(key=REFRESH_COOKIE, value="", path=COOKIE_PATH, max_age=0, httponly=True, secure=secure,
               samesite="strict"),
        Cookie(key=CSRF_COOKIE, value="", path="/", max_age=0, httponly=False, secure=secure, samesite="strict"),
    ]


def cookie_refresh_token(request: AnyRequest, secret: str) -> str:
    """The refresh token of a cookie-authenticated call, after its CSRF check: 401 without the
    cookie, 403 when the X-CSRF-Token header is missing or does not match it."""
    token = request.cookies.get(REFRESH_COOKIE, "")
    if not token:
        raise Unauthorized("No session cookie; log in again", kind="invalid-refresh-token")
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent.encode(), csrf_token(secret, token).encode()):
        raise Forbidden("The X-CSRF-Token header is missing or does not match the session; reload the page and "
                        "try again", kind="csrf-failed")
    return token


__all__ = ["CSRF_COOKIE", "CSRF_HEADER", "REFRESH_COOKIE", "cleared_cookies", "cookie_refresh_token",
           "csrf_token", "session_cookies", "wants_cookie"]
