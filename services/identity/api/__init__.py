"""Identity's HTTP API: thin Litestar controllers that validate, call the domain, shape answers."""

from __future__ import annotations

from litestar import Router

from services.identity.api.api_keys import ApiKeysController
from services.identity.api.audit import audit_log
from services.identity.api.auth import AuthController, SignupController
from services.identity.api.departments import DepartmentsController
from services.identity.api.invitations import InvitationsController
from services.identity.api.operator import OperatorTenantsController
from services.identity.api.roles import RolesController
from services.identity.api.users import UsersController, me
from shared.http.app import API_PREFIX


def router() -> Router:
    return Router(
        path=API_PREFIX,
        route_handlers=[
            SignupController, AuthController, me, UsersController, InvitationsController, DepartmentsController,
            RolesController, ApiKeysController, audit_log, OperatorTenantsController,
        ],
    )
