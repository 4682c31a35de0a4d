"""Invitations: how users join a workspace."""

from __future__ import annotations

import uuid

from litestar import Controller, Response, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from services.identity.api.auth import session_answer, token_out
from services.identity.api.common import caller_of, created_key, origin_of
from services.identity.api.schemas import (
    InvitationAccept,
    InvitationCreated,
    InvitationOut,
    InvitationRequest,
    TokenOut,
    invitation_created,
    invitation_out,
)
from services.identity.domain import invitations as domain
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.pagination import Page, check_limit, page_of, time_cursor
from shared.validation import check_query

# Binds this list's cursors (one of another list is refused).
LIST = "invitations"


class InvitationsController(Controller):
    path = "/invitations"
    tags = ["users"]

    @post(status_code=201)
    async def invite(
        self, data: JSONBody[InvitationRequest], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> InvitationCreated:
        """Invite someone by e-mail. The answer carries the one-time ``token`` (shown once) for the
        invitee to accept with; it expires at ``expires_at``. Roles default to ``read_only``;
        naming roles needs ``role:update``."""
        principal.require("user", "create")
        if data.role_ids or data.roles:
            principal.require("role", "update")
        row, token = await domain.invite(
            runtime.db("identity"), runtime.settings, caller_of(principal, request), email=data.email, name=data.name,
            role_ids=data.role_ids, role_keys=data.roles, department_id=data.department_id,
        )
        return invitation_created(row, token)

    @get()
    async def list_invitations(
        self, principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep,
        limit: FromQuery[int | None] = None, cursor: FromQuery[str | None] = None,
    ) -> Page[InvitationOut]:
        check_query(request)
        principal.require("user", "create")
        size = check_limit(limit)
        rows = await domain.list_invitations(runtime.db("identity"), caller_of(principal, request),
                                             after=time_cursor(cursor, bind=LIST), limit=size)
        return page_of([invitation_out(r) for r in rows], size, created_key, bind=LIST)

    @delete("/{invitation_id:uuid}", status_code=204)
    async def revoke(
        self, invitation_id: FromPath[uuid.UUID], principal: PrincipalDep, request: AnyRequest, runtime: RuntimeDep
    ) -> None:
        """Withdraw a pending invitation; its token stops working."""
        principal.require("user", "create")
        await domain.revoke_invitation(runtime.db("identity"), caller_of(principal, request), invitation_id)

    @post("/accept", exclude_from_auth=True, status_code=201)
    async def accept(self, data: JSONBody[InvitationAccept], request: AnyRequest, runtime: RuntimeDep) -> Response[TokenOut]:
        """Accept an invitation: choose a password, become a user, and get tokens as from login
        (``Huike-Session: cookie`` sets the refresh token as a cookie, as login does)."""
        done = await domain.accept(runtime.db("identity"), runtime.settings, token=data.token, name=data.name,
                                   password=data.password, origin=origin_of(request))
        return session_answer(request, runtime, token_out(done.tokens), 201)
