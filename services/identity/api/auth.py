"""Sign-up, login, token refresh, logout, password change and reset."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from litestar import Controller, Response, post
from litestar.params import JSONBody

from services.identity.api.common import origin_of, require_session
from services.identity.api.cookies import cleared_cookies, cookie_refresh_token, session_cookies, wants_cookie
from services.identity.api.schemas import (
    LoginRequest,
    PasswordChangeRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    ResetRequested,
    SignupOut,
    SignupRequest,
    TokenOut,
    tenant_out,
    user_out,
)
from services.identity.domain import accounts, sessions
from services.identity.domain.sessions import TokenPair
from shared.http import AnyRequest, PrincipalDep, RuntimeDep

Answer = TypeVar("Answer", TokenOut, SignupOut)


def token_out(tokens: TokenPair) -> TokenOut:
    return TokenOut(access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_in=tokens.expires_in)


def session_answer(request: AnyRequest, runtime: RuntimeDep, body: Answer, status_code: int) -> Response[Answer]:
    """The body as is for programs; for a browser that asked for cookie mode, the refresh token
    goes into the HttpOnly cookie instead of the body (see ``cookies``)."""
    if not wants_cookie(request):
        return Response(body, status_code=status_code)
    cookies = session_cookies(request, runtime.settings.jwt_secret, body.refresh_token,
                              runtime.settings.refresh_token_ttl_seconds)
    return Response(msgspec.structs.replace(body, refresh_token=""), status_code=status_code, cookies=cookies)


class SignupController(Controller):
    path = "/signup"
    tags = ["auth"]

    @post(exclude_from_auth=True, status_code=201)
    async def signup(self, data: JSONBody[SignupRequest], request: AnyRequest,
                     runtime: RuntimeDep) -> Response[SignupOut]:
        """Create a workspace (tenant) and its first administrator, logged in.

        With the header ``Huike-Session: cookie`` (the web console) the refresh token is set as an
        HttpOnly cookie (path /api/v1/auth) with a CSRF cookie, and ``refresh_token`` is empty.

        The slug is made from the company name (Chinese names by pinyin) unless one is given; a
        given slug that is taken answers 409 naming ``slug``. 429 with Retry-After over
        HUIKE_SIGNUP_RATE_LIMIT sign-ups per address an hour."""
        done = await accounts.signup(
            runtime.db("identity"), runtime.settings, company_name=data.company_name, admin_email=data.admin_email,
            admin_password=data.admin_password, admin_name=data.admin_name, slug=data.slug, origin=origin_of(request),
        )
        out = SignupOut(
            tenant=tenant_out(done.tenant), user=user_out(done.user, done.roles),
            access_token=done.tokens.access_token, refresh_token=done.tokens.refresh_token,
            expires_in=done.tokens.expires_in,
        )
        return session_answer(request, runtime, out, 201)


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", exclude_from_auth=True, status_code=200)
    async def login(self, data: JSONBody[LoginRequest], request: AnyRequest, runtime: RuntimeDep) -> Response[TokenOut]:
        """Log in with the workspace slug, e-mail and password.

        With the header ``Huike-Session: cookie`` (the web console) the refresh token is set as an
        HttpOnly cookie (path /api/v1/auth) with a CSRF cookie, and ``refresh_token`` is empty.

        Any wrong part answers the same 401. Repeated failures lock the account (5 failures,
        30 s doubling to 15 min) and the client address (100 failures in 15 min): 429 with
        Retry-After; so does a server taking too many logins at once (Retry-After 1)."""
        tokens = await accounts.login(
            runtime.db("identity"), runtime.settings, tenant_slug=data.tenant, email=data.email,
            password=data.password, origin=origin_of(request),
        )
        return session_answer(request, runtime, token_out(tokens), 200)

    @post("/refresh", exclude_from_auth=True, status_code=200)
    async def refresh(self, data: JSONBody[RefreshRequest], request: AnyRequest, runtime: RuntimeDep) -> TokenOut:
        """Exchange a refresh token for a new access token and a new refresh token.

        Each refresh token works once; presenting a used one again ends the whole session (401)."""
        tokens = await sessions.refresh(
            runtime.db("identity"), runtime.settings, data.refresh_token, origin_of(request)
        )
        return token_out(tokens)

    @post("/session/refresh", exclude_from_auth=True, status_code=200, opt={"security_scheme": "refresh_cookie"})
    async def cookie_refresh(self, request: AnyRequest, runtime: RuntimeDep) -> Response[TokenOut]:
        """The browser's refresh: the refresh token comes from the HttpOnly ``huike_refresh`` cookie
        and the ``X-CSRF-Token`` header must carry the ``huike_csrf`` cookie's value (403 otherwise).
        Answers a new access token; the rotated refresh token goes back into the cookie only."""
        token = cookie_refresh_token(request, runtime.settings.jwt_secret)
        tokens = await sessions.refresh(runtime.db("identity"), runtime.settings, token, origin_of(request))
        cookies = session_cookies(request, runtime.settings.jwt_secret, tokens.refresh_token,
                                  runtime.settings.refresh_token_ttl_seconds)
        body = msgspec.structs.replace(token_out(tokens), refresh_token="")
        return Response(body, status_code=200, cookies=cookies)

    @post("/session/logout", exclude_from_auth=True, status_code=204, opt={"security_scheme": "refresh_cookie"})
    async def cookie_logout(self, request: AnyRequest, runtime: RuntimeDep) -> Response[None]:
        """The browser's logout: ends the session of the ``huike_refresh`` cookie (CSRF-checked like
        the refresh) and clears both cookies. 204 also when the session had already ended."""
        token = cookie_refresh_token(request, runtime.settings.jwt_secret)
        await sessions.end_session_by_refresh(runtime.db("identity"), token, origin_of(request))
        return Response(None, status_code=204, cookies=cleared_cookies(request))

    @post("/logout", status_code=204)
    async def logout(self, principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep) -> None:
        """End the caller's session: its refresh token and access tokens stop working at once."""
        session_id = require_session(principal, "Logging out")
        await sessions.end_session(runtime.db("identity"), principal.scope, user_id=principal.user_id,
                                   session_id=session_id, origin=origin_of(request))

    @post("/password", status_code=204)
    async def change_password(
        self, data: JSONBody[PasswordChangeRequest], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Change one's own password; every other session of the user ends."""
        session_id = require_session(principal, "Changing a password")
        await accounts.change_password(
            runtime.db("identity"), principal.scope, user_id=principal.user_id, session_id=session_id,
            current_password=data.current_password, new_password=data.new_password, origin=origin_of(request),
        )

    @post("/password-reset/request", exclude_from_auth=True, status_code=202)
    async def request_reset(
        self, data: JSONBody[PasswordResetRequest], request: AnyRequest, runtime: RuntimeDep
    ) -> ResetRequested:
        """Ask for a password-reset e-mail: 202 whether or not the account exists; 429 with
        Retry-After over 20 requests per address or 5 per account an hour."""
        await accounts.request_password_reset(
            runtime.db("identity"), runtime.settings, tenant_slug=data.tenant, email=data.email,
            origin=origin_of(request),
        )
        return ResetRequested(status="accepted", detail="If the account exists, a reset link is on its way")

    @post("/password-reset/confirm", exclude_from_auth=True, status_code=204)
    async def confirm_reset(
        self, data: JSONBody[PasswordResetConfirm], request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Set a new password with a one-time reset token; every session of the user ends."""
        await accounts.confirm_password_reset(
            runtime.db("identity"), token=data.token, new_password=data.new_password, origin=origin_of(request)
        )


__all__ = ["AuthController", "SignupController", "session_answer", "token_out"]
