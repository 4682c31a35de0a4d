"""Request bodies and answers of the identity API (msgspec Structs), and row -> answer shaping.

Bodies reject unknown fields (a typo such as ``pasword`` answers 422 instead of being ignored)
and bound every string, so over-long input is refused before any work is done.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import asyncpg
import msgspec

from services.identity.domain import api_keys as key_domain
from services.identity.domain import invitations as invitation_domain
from shared.auth import EntityGrant, Permissions

UNSET: Any = msgspec.UNSET
UnsetType = msgspec.UnsetType

CompanyName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
PersonName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
NewPassword = Annotated[str, msgspec.Meta(max_length=128, description="at least 10 characters, not a common password")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=40, description="lower-case letters, digits, hyphens")]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Phone = Annotated[str, msgspec.Meta(max_length=32)]
Locale = Annotated[str, msgspec.Meta(min_length=2, max_length=16)]
Description = Annotated[str, msgspec.Meta(max_length=500)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]
RoleKey = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
ScopeText = Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Base of request bodies."""


# --- requests -------------------------------------------------------------------------------------


class SignupRequest(Body):
    company_name: CompanyName
    admin_email: Email
    admin_password: NewPassword
    admin_name: PersonName
    slug: Slug | None = None


class LoginRequest(Body):
    tenant: Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="the workspace slug")]
    email: Email
    password: Password


class RefreshRequest(Body):
    refresh_token: Token


class PasswordChangeRequest(Body):
    current_password: Password
    new_password: NewPassword


class PasswordResetRequest(Body):
    tenant: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    email: Email


class ResetRequested(msgspec.Struct, kw_only=True):
    """The same answer whether or not the account exists (nobody learns which addresses have one)."""

    status: str                 # accepted
    detail: str


class PasswordResetConfirm(Body):
    token: Token
    new_password: NewPassword


class InvitationRequest(Body):
    email: Email
    name: Annotated[str, msgspec.Meta(max_length=100)] = ""
    role_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=20)] | None = None
    roles: Annotated[list[RoleKey], msgspec.Meta(max_length=20, description="role keys, e.g. sales")] | None = None
    department_id: uuid.UUID | None = None


class InvitationAccept(Body):
    token: Token
    password: NewPassword
    name: Annotated[str, msgspec.Meta(max_length=100)] | None = None


class UserPatch(Body):
    name: PersonName | UnsetType = UNSET
    phone: Phone | None | UnsetType = UNSET
    department_id: uuid.UUID | None | UnsetType = UNSET
    role_ids: Annotated[list[uuid.UUID], msgspec.Meta(max_length=20)] | UnsetType = UNSET
    locale: Locale | UnsetType = UNSET


class DeactivateRequest(Body):
    successor_id: uuid.UUID | None = None


class DepartmentCreate(Body):
    name: PersonName
    parent_id: uuid.UUID | None = None
    head_user_id: uuid.UUID | None = None  # the department's head (负责人): an active user


class DepartmentPatch(Body):
    name: PersonName | UnsetType = UNSET
    parent_id: uuid.UUID | None | UnsetType = UNSET
    head_user_id: uuid.UUID | None | UnsetType = UNSET  # null removes the head


class GrantIn(Body):
    actions: Annotated[list[Annotated[str, msgspec.Meta(max_length=20)]], msgspec.Meta(max_length=9)]
    scope: Annotated[str, msgspec.Meta(max_length=20)] = "own"


PermissionsIn = Annotated[dict[Annotated[str, msgspec.Meta(max_length=40)], GrantIn], msgspec.Meta(max_length=50)]
FieldRulesIn = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=40)],
         Annotated[dict[Annotated[str, msgspec.Meta(max_length=63)], Annotated[str, msgspec.Meta(max_length=20)]],
                   msgspec.Meta(max_length=200)]],
    msgspec.Meta(max_length=50),
]


class RoleCreate(Body):
    name: PersonName
    permissions: PermissionsIn
    key: RoleKey | None = None
    description: Description = ""
    field_rules: FieldRulesIn = msgspec.field(default_factory=dict)


class RolePatch(Body):
    name: PersonName | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    permissions: PermissionsIn | UnsetType = UNSET
    field_rules: FieldRulesIn | UnsetType = UNSET


class ApiKeyCreate(Body):
    name: PersonName
    scopes: Annotated[list[ScopeText], msgspec.Meta(min_length=1, max_length=50)]
    expires_at: AwareDatetime | None = None


class SuspendRequest(Body):
    reason: Reason = ""


def grants_to_dicts(permissions: dict[str, GrantIn]) -> dict[str, dict[str, Any]]:
    return {entity: {"actions": list(grant.actions), "scope": grant.scope} for entity, grant in permissions.items()}


# --- answers --------------------------------------------------------------------------------------


class TenantOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    slug: str
    name: str
    status: str
    status_reason: str | None = None
    deletion_scheduled_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    version: int


class RoleRef(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    key: str
    name: str


class UserOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    email: str
    name: str
    phone: str | None
    status: str
    department_id: uuid.UUID | None
    locale: str
    roles: list[RoleRef]
    last_login_at: datetime | None
    deactivated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class TokenOut(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


class SignupOut(msgspec.Struct, kw_only=True):
    tenant: TenantOut
    user: UserOut
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


class ApiKeyRef(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    scopes: list[str]


class MeOut(msgspec.Struct, kw_only=True):
    user: UserOut
    tenant: TenantOut
    roles: list[RoleRef]
    permissions: Permissions
    api_key: ApiKeyRef | None = None


class ResetTokenOut(msgspec.Struct, kw_only=True):
    user_id: uuid.UUID
    token: str
    expires_at: datetime


class DepartmentOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    name: str
    path: list[uuid.UUID]  # ids from the root down to this department
    depth: int
    head_user_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    version: int


class RoleOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    key: str
    name: str
    description: str
    builtin: bool
    permissions: dict[str, EntityGrant]
    field_rules: dict[str, dict[str, str]]
    created_at: datetime
    updated_at: datetime
    version: int


class ApiKeyOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    user_id: uuid.UUID
    status: str  # active | revoked | expired
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut, kw_only=True):
    key: str  # the secret, shown this once


class InvitationOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    email: str
    name: str
    role_ids: list[uuid.UUID]
    department_id: uuid.UUID | None
    invited_by: uuid.UUID | None
    status: str  # pending | accepted | revoked | expired
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    revoked_at: datetime | None


class InvitationCreated(InvitationOut, kw_only=True):
    token: str  # the one-time token, shown this once


class AuditActor(msgspec.Struct, kw_only=True):
    kind: str
    id: str | None


class AuditEntryOut(msgspec.Struct, kw_only=True):
    id: int
    occurred_at: datetime
    actor: AuditActor
    action: str
    target_type: str | None
    target_id: str | None
    source_ip: str | None
    details: dict[str, Any]


class OperatorTenantOut(TenantOut, kw_only=True):
    """A tenant as the operator sees it: with the progress of its deletion."""

    deletion_progress: dict[str, Any] = msgspec.field(default_factory=dict)
    deletion_completed_at: datetime | None = None


class ScheduledDeletionOut(msgspec.Struct, kw_only=True):
    tenant: OperatorTenantOut
    # The export's key in identity's file store; ``export_url`` downloads it from any replica.
    export_file: str
    export_url: str


# --- shaping --------------------------------------------------------------------------------------


def tenant_out(row: asyncpg.Record) -> TenantOut:
    return TenantOut(
        id=row["id"], slug=row["slug"], name=row["name"], status=row["status"], status_reason=row["status_reason"],
        deletion_scheduled_at=row["deletion_scheduled_at"], created_at=row["created_at"],
        updated_at=row["updated_at"], version=row["version"],
    )


def operator_tenant_out(row: asyncpg.Record) -> OperatorTenantOut:
    return OperatorTenantOut(
        id=row["id"], slug=row["slug"], name=row["name"], status=row["status"], status_reason=row["status_reason"],
        deletion_scheduled_at=row["deletion_scheduled_at"], created_at=row["created_at"],
        updated_at=row["updated_at"], version=row["version"], deletion_progress=row["deletion_progress"] or {},
        deletion_completed_at=row["deletion_completed_at"],
    )


def role_ref(row: asyncpg.Record) -> RoleRef:
    return RoleRef(id=row["id"], key=row["key"], name=row["name"])


def user_out(row: asyncpg.Record, roles: list[asyncpg.Record]) -> UserOut:
    return UserOut(
        id=row["id"], email=row["email"], name=row["name"], phone=row["phone"], status=row["status"],
        department_id=row["department_id"], locale=row["locale"], roles=[role_ref(r) for r in roles],
        last_login_at=row["last_login_at"], deactivated_at=row["deactivated_at"], created_at=row["created_at"],
        updated_at=row["updated_at"], version=row["version"],
    )


def department_out(row: asyncpg.Record) -> DepartmentOut:
    path = [uuid.UUID(part) for part in row["path"].split("/")]
    return DepartmentOut(
        id=row["id"], parent_id=row["parent_id"], name=row["name"], path=path, depth=len(path) - 1,
        head_user_id=row["head_user_id"], created_at=row["created_at"], updated_at=row["updated_at"], version=row["version"],
    )


def role_out(row: asyncpg.Record) -> RoleOut:
    return RoleOut(
        id=row["id"], key=row["key"], name=row["name"], description=row["description"], builtin=row["builtin"],
        permissions={
            entity: EntityGrant(actions=grant["actions"], scope=grant.get("scope", "own"))
            for entity, grant in row["permissions"].items()
        },
        field_rules=row["field_rules"], created_at=row["created_at"], updated_at=row["updated_at"],
        version=row["version"],
    )


def _key_fields(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "prefix": row["key_prefix"], "scopes": list(row["scopes"]),
        "user_id": row["user_id"], "status": key_domain.status_of(row), "created_at": row["created_at"],
        "last_used_at": row["last_used_at"], "expires_at": row["expires_at"], "revoked_at": row["revoked_at"],
    }


def api_key_out(row: asyncpg.Record) -> ApiKeyOut:
    return ApiKeyOut(**_key_fields(row))


def api_key_created(row: asyncpg.Record, key: str) -> ApiKeyCreated:
    return ApiKeyCreated(**_key_fields(row), key=key)


def _invitation_fields(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": row["id"], "email": row["email"], "name": row["name"], "role_ids": list(row["role_ids"]),
        "department_id": row["department_id"], "invited_by": row["invited_by"],
        "status": invitation_domain.status_of(row), "created_at": row["created_at"], "expires_at": row["expires_at"],
        "accepted_at": row["accepted_at"], "revoked_at": row["revoked_at"],
    }


def invitation_out(row: asyncpg.Record) -> InvitationOut:
    return InvitationOut(**_invitation_fields(row))


def invitation_created(row: asyncpg.Record, token: str) -> InvitationCreated:
    return InvitationCreated(**_invitation_fields(row), token=token)


def audit_out(row: asyncpg.Record) -> AuditEntryOut:
    return AuditEntryOut(
        id=row["id"], occurred_at=row["occurred_at"], actor=AuditActor(kind=row["actor_kind"], id=row["actor_id"]),
        action=row["action"], target_type=row["target_type"], target_id=row["target_id"],
        source_ip=row["source_ip"], details=row["details"],
    )
