"""Sign-up, login, token refresh, logout, password change and reset."""

from __future__ import annotations

from litestar import Controller, post
from litestar.params import JSONBody

from services.identity.api.common import origin_of, require_session
from services.identity.api.schemas import (
    LoginRequest,
    PasswordChangeRequest,
    PasswordResetConfirm,
    PasswordResetRequest,
    RefreshRequest,
    SignupOut,
    SignupRequest,
    TokenOut,
    tenant_out,
    user_out,
)
from services.identity.domain import accounts, sessions
from services.identity.domain.sessions import TokenPair
from shared.http import AnyRequest, PrincipalDep, RuntimeDep


def token_out(tokens: TokenPair) -> TokenOut:
    return TokenOut(access_token=tokens.access_token, refresh_token=tokens.refresh_token, expires_in=tokens.expires_in)


class SignupController(Controller):
    path = "/signup"
    tags = ["auth"]

    @post(exclude_from_auth=True, status_code=201)
    async def signup(self, data: JSONBody[SignupRequest], request: AnyRequest, runtime: RuntimeDep) -> SignupOut:
        """Create a workspace (tenant) and its first administrator, logged in.

        The slug is made from the company name (Chinese names by pinyin) unless one is given; a
        given slug that is taken answers 409 naming ``slug``. 429 with Retry-After over
        HUIKE_SIGNUP_RATE_LIMIT sign-ups per address an hour."""
        done = await accounts.signup(
            runtime.db("identity"), runtime.settings, company_name=data.company_name, admin_email=data.admin_email,
            admin_password=data.admin_password, admin_name=data.admin_name, slug=data.slug, origin=origin_of(request),
        )
        return SignupOut(
            tenant=tenant_out(done.tenant), user=user_out(done.user, done.roles),
            access_token=done.tokens.access_token, refresh_token=done.tokens.refresh_token,
            expires_in=done.tokens.expires_in,
        )


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/login", exclude_from_auth=True, status_code=200)
    async def login(self, data: JSONBody[LoginRequest], request: AnyRequest, runtime: RuntimeDep) -> TokenOut:
        """Log in with the workspace slug, e-mail and password.

        Any wrong part answers the same 401. Repeated failures lock the account (5 failures,
        30 s doubling to 15 min) and the client address (100 failures in 15 min): 429 with
        Retry-After; so does a server taking too many logins at once (Retry-After 1)."""
        tokens = await accounts.login(
            runtime.db("identity"), runtime.settings, tenant_slug=data.tenant, email=data.email,
            password=data.password, origin=origin_of(request),
        )
        return token_out(tokens)

    @post("/refresh", exclude_from_auth=True, status_code=200)
    async def refresh(self, data: JSONBody[RefreshRequest], request: AnyRequest, runtime: RuntimeDep) -> TokenOut:
        """Exchange a refresh token for a new access token and a new refresh token.

        Each refresh token works once; presenting a used one again ends the whole session (401)."""
        tokens = await sessions.refresh(
            runtime.db("identity"), runtime.settings, data.refresh_token, origin_of(request)
        )
        return token_out(tokens)

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
    ) -> dict[str, str]:
        """Ask for a password-reset e-mail: 202 whether or not the account exists; 429 with
        Retry-After over 20 requests per address or 5 per account an hour."""
        await accounts.request_password_reset(
            runtime.db("identity"), runtime.settings, tenant_slug=data.tenant, email=data.email,
            origin=origin_of(request),
        )
        return {"status": "accepted", "detail": "If the account exists, a reset link is on its way"}

    @post("/password-reset/confirm", exclude_from_auth=True, status_code=204)
    async def confirm_reset(
        self, data: JSONBody[PasswordResetConfirm], request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Set a new password with a one-time reset token; every session of the user ends."""
        await accounts.confirm_password_reset(
            runtime.db("identity"), token=data.token, new_password=data.new_password, origin=origin_of(request)
        )


__all__ = ["AuthController", "SignupController", "token_out"]
