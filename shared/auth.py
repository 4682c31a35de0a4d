"""Authentication of requests: JWT access tokens and API keys become a ``Principal``.

Tokens are verified locally (signature, expiry); API keys are checked for their checksum before
any look-up, so a mistyped or forged key costs nothing. What a credential may do *now* (is the user
active, what roles and permissions, is the tenant suspended, was the key revoked or the session
logged out) comes from the identity service over NATS request/reply, cached per process and
dropped as soon as identity publishes any change for that tenant. So permission changes apply on
every service within moments, without waiting for tokens to expire.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
import time
import uuid
import zlib
from dataclasses import dataclass
from typing import Any, Literal

import jwt
import msgspec
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from shared import pagination
from shared.errors import Forbidden, Problem, ServiceUnavailable, Unauthorized
from shared.events.envelope import Actor
from shared.tenancy import TenantScope, scope_from_credential

log = logging.getLogger("huike.auth")

RESOLVE_SUBJECT = "huike.rpc.identity.resolve"
IDENTITY_EVENTS = "crm.identity.*.>"
JWT_ISSUER = "huike"
JWT_AUDIENCE = "huike-api"

Action = Literal["read", "create", "update", "delete", "export", "import", "merge", "transfer"]
ACTIONS: tuple[str, ...] = ("read", "create", "update", "delete", "export", "import", "merge", "transfer")
DataScope = Literal["own", "department", "all"]
DATA_SCOPES: tuple[str, ...] = ("own", "department", "all")
FieldRule = Literal["hidden", "read_only"]


# --- permissions --------------------------------------------------------------------------------


class EntityGrant(msgspec.Struct, frozen=True):
    actions: list[str]
    scope: str = "own"  # own | department | all


class Permissions(msgspec.Struct, frozen=True):
    """Effective permissions: per entity the allowed actions and data scope, plus field rules."""

    entities: dict[str, EntityGrant] = msgspec.field(default_factory=dict)
    fields: dict[str, dict[str, str]] = msgspec.field(default_factory=dict)

    def allows(self, entity: str, action: str) -> bool:
        grant = self.entities.get(entity) or self.entities.get("*")
        return grant is not None and (action in grant.actions or "*" in grant.actions)

    def data_scope(self, entity: str) -> str | None:
        grant = self.entities.get(entity) or self.entities.get("*")
        return grant.scope if grant else None

    def field_rule(self, entity: str, field: str) -> str | None:
        return self.fields.get(entity, {}).get(field)


class PrincipalData(msgspec.Struct, frozen=True, kw_only=True):
    """What identity says a credential may do, as sent over NATS and cached."""

    tenant_id: uuid.UUID
    tenant_slug: str
    user_id: uuid.UUID
    email: str
    name: str = ""
    locale: str = ""  # the user's language (zh-CN, en); "" for answers of older identity versions
    tenant_name: str = ""
    department_id: uuid.UUID | None = None
    roles: list[str] = msgspec.field(default_factory=list)
    permissions: Permissions = msgspec.field(default_factory=Permissions)
    api_key_id: uuid.UUID | None = None
    scopes: list[str] | None = None  # an API key's scopes ("customer:read", "*"); None for sessions


class ResolveRequest(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    kind: str  # "session" | "api_key" | "user" (a program acting for a user, inside the platform)
    tenant_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    session_id: uuid.UUID | None = None
    key_hash: str | None = None


class ResolveResponse(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    ok: bool
    status: int = 200
    kind: str = ""
    reason: str = ""
    principal: PrincipalData | None = None


@dataclass(frozen=True)
class Principal:
    """The verified caller of a request."""

    data: PrincipalData
    scope: TenantScope
    session_id: uuid.UUID | None = None
    # Set when a program acts with this user's rights (a workflow run by its author): writes are
    # attributed to it, e.g. Actor(kind="workflow", id=<workflow id>).
    acting_as: Actor | None = None

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.data.tenant_id

    @property
    def user_id(self) -> uuid.UUID:
        return self.data.user_id

    @property
    def actor(self) -> Actor:
        if self.acting_as is not None:
            return self.acting_as
        if self.data.api_key_id is not None:
            return Actor(kind="api_key", id=str(self.data.api_key_id))
        return Actor(kind="user", id=str(self.data.user_id))

    def can(self, entity: str, action: str) -> bool:
        if not self.data.permissions.allows(entity, action):
            return False
        if self.data.scopes is None:
            return True
        wanted = {"*", f"{entity}:*", f"{entity}:{action}", f"*:{action}"}
        return any(s in wanted for s in self.data.scopes)

    def require(self, entity: str, action: str) -> None:
        if not self.can(entity, action):
            raise Forbidden(
                f"Your role does not allow '{action}' on '{entity}'"
                + (" with this API key's scopes" if self.data.scopes is not None else ""),
                kind="permission-denied",
                extra={"entity": entity, "action": action},
            )


# --- credentials --------------------------------------------------------------------------------

API_KEY_PREFIX = "huike_"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KEY_BODY = 32
_KEY_CHECK = 6


def _base62(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        out.append(_BASE62[rest])
    return "".join(reversed(out))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _KEY_CHECK)


def new_api_key() -> str:
    """``huike_`` + 32 random base62 characters + a 6-character CRC32 checksum (secret-scanner friendly)."""
    body = "".join(secrets.choice(_BASE62) for _ in range(_KEY_BODY))
    return API_KEY_PREFIX + body + _checksum(body)


def api_key_is_well_formed(key: str) -> bool:
    """Offline check: prefix, length, alphabet and checksum. No database needed."""
    if not key.startswith(API_KEY_PREFIX) or len(key) != len(API_KEY_PREFIX) + _KEY_BODY + _KEY_CHECK:
        return False
    rest = key[len(API_KEY_PREFIX):]
    if any(c not in _BASE62 for c in rest):
        return False
    return secrets.compare_digest(_checksum(rest[:_KEY_BODY]), rest[_KEY_BODY:])


def hash_api_key(key: str) -> str:
    """Keys are random with 190 bits of entropy, so a plain SHA-256 is the right hash (no salt, no KDF)."""
    return hashlib.sha256(key.encode()).hexdigest()


def issue_access_token(
    secret: str, *, tenant_id: uuid.UUID, user_id: uuid.UUID, session_id: uuid.UUID, ttl_seconds: int
) -> tuple[str, int]:
    now = int(time.time())
    claims = {
        "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, "typ": "access", "iat": now, "exp": now + ttl_seconds,
        "sub": str(user_id), "tid": str(tenant_id), "sid": str(session_id), "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm="HS256"), ttl_seconds


@dataclass(frozen=True, slots=True)
class AccessToken:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    session_id: uuid.UUID
    expires_at: float  # seconds since the epoch


def decode_access_token(secret: str, token: str) -> AccessToken:
    """The verified token's claims, or Unauthorized."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], audience=JWT_AUDIENCE, issuer=JWT_ISSUER,
            options={"require": ["exp", "sub", "tid", "sid"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("The access token has expired; refresh it or log in again", kind="token-expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("The access token is invalid", kind="invalid-token") from None
    if claims.get("typ") != "access":
        raise Unauthorized("This is not an access token", kind="invalid-token")
    try:
        return AccessToken(uuid.UUID(claims["tid"]), uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]),
                           float(claims["exp"]))
    except ValueError:
        raise Unauthorized("The access token is invalid", kind="invalid-token") from None


# How many checked credentials a process remembers (about a kilobyte each).
MAX_CHECKED_CREDENTIALS = 10_000


@dataclass(frozen=True, slots=True)
class _CheckedCredential:
    key: tuple[Any, ...]  # of the directory's answers
    request: ResolveRequest
    session_id: uuid.UUID | None
    until: float  # seconds since the epoch: the token's expiry (checked again from then on)


# --- the per-process directory of principals ----------------------------------------------------


class PrincipalDirectory:
    """Cache of resolved credentials, filled from identity over NATS, emptied by identity events.

    **Degraded mode.** While identity cannot be asked (NATS disconnected, nobody answering, no
    answer in time), an answer resolved within the last ``stale_seconds`` is still served: people
    who were working keep working through a short outage of NATS or identity, reads and writes
    alike. A credential not seen within that time gets a 503 at once (no 2 s wait when NATS is
    known to be down). Identity's change events are not received meanwhile, so on reconnection
    every cached answer must be asked again before it is trusted as fresh: a session logged out or
    a user deactivated during the outage is refused as soon as identity answers again.
    """

    def __init__(
        self, nc: Any, jwt_secret: str, ttl_seconds: float = 30.0, timeout: float = 2.0,
        stale_seconds: float = 600.0,
    ) -> None:
        self.nc = nc
        self.jwt_secret = jwt_secret
        self.ttl = ttl_seconds
        self.timeout = timeout
        self.stale_seconds = stale_seconds
        # key -> (fresh until, usable as a fallback until, answer), on time.monotonic()
        self._entries: dict[tuple[Any, ...], tuple[float, float, ResolveResponse]] = {}
        self._by_tenant: dict[uuid.UUID, set[tuple[Any, ...]]] = {}
        self._subscription: Any = None
        # Bumped by every invalidation: an answer fetched while one happened may be stale.
        self._invalidations = 0
        self._degraded = False
        self._encoder = msgspec.json.Encoder()
        self._decoder = msgspec.json.Decoder(ResolveResponse)
        # Credential string -> what checking it offline gave. Only identity's answer (``_entries``)
        # says whether it may still act; this only spares checking the same string's signature
        # again on every request of a session (an eighth of a small request's CPU).
        self._checked: dict[str, _CheckedCredential] = {}

    async def start(self) -> None:
        self._subscription = await self.nc.subscribe(IDENTITY_EVENTS, cb=self._on_identity_event)

    async def stop(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):  # NATS already gone: nothing to unsubscribe from
                await subscription.unsubscribe()

    async def _on_identity_event(self, msg: Any) -> None:
        parts = msg.subject.split(".")
        try:
            self.forget_tenant(uuid.UUID(parts[2]))
        except (IndexError, ValueError):
            self.clear()

    def forget_tenant(self, tenant_id: uuid.UUID) -> None:
        self._invalidations += 1
        for key in self._by_tenant.pop(tenant_id, set()):
            self._entries.pop(key, None)

    def clear(self) -> None:
        self._invalidations += 1
        self._entries.clear()
        self._by_tenant.clear()

    def reconnected(self) -> None:
        """NATS is back: identity events of the outage were missed, so nothing cached is fresh any
        more. Answers stay as a fallback (within ``stale_seconds``) should identity still not answer."""
        self._invalidations += 1
        self._entries = {key: (0.0, stale_until, answer) for key, (_, stale_until, answer) in self._entries.items()}

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthorized("Send Authorization: Bearer <access token or API key>", kind="missing-credentials")
        scheme, _, credential = authorization.partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise Unauthorized("Use the Bearer scheme: Authorization: Bearer <token>", kind="invalid-credentials")
        checked = self._checked.get(credential)
        if checked is None or checked.until <= time.time():
            checked = self._check_offline(credential)
            if len(self._checked) >= MAX_CHECKED_CREDENTIALS:
                del self._checked[next(iter(self._checked))]  # the oldest
            self._checked[credential] = checked
        answer = await self._resolve(checked.key, checked.request)
        if not answer.ok or answer.principal is None:
            problem = Forbidden if answer.status == 403 else Unauthorized
            raise problem(answer.reason or "The credential is not valid", kind=answer.kind or None)
        return Principal(answer.principal, scope_from_credential(answer.principal.tenant_id), checked.session_id)

    def _check_offline(self, credential: str) -> _CheckedCredential:
        """What can be known of a credential without asking identity (signature, expiry, checksum),
        or Unauthorized."""
        if credential.startswith(API_KEY_PREFIX):
            if not api_key_is_well_formed(credential):
                raise Unauthorized("The API key is malformed (bad checksum)", kind="invalid-api-key")
            request = ResolveRequest(kind="api_key", key_hash=hash_api_key(credential))
            return _CheckedCredential(("key", request.key_hash), request, None, float("inf"))
        token = decode_access_token(self.jwt_secret, credential)
        request = ResolveRequest(kind="session", tenant_id=token.tenant_id, user_id=token.user_id,
                                 session_id=token.session_id)
        return _CheckedCredential(("session", token.tenant_id, token.user_id, token.session_id), request,
                                  token.session_id, token.expires_at)

    async def for_user(self, tenant_id: uuid.UUID, user_id: uuid.UUID, *, acting_as: Actor) -> Principal:
        """The rights ``user_id`` has now, for a program acting for that user inside the platform
        (a workflow's author); 401/403 Problem when the user or the tenant may no longer act."""
        request = ResolveRequest(kind="user", tenant_id=tenant_id, user_id=user_id)
        answer = await self._resolve(("user", tenant_id, user_id), request)
        if not answer.ok or answer.principal is None:
            problem = Forbidden if answer.status == 403 else Unauthorized
            raise problem(answer.reason or "The user may not act", kind=answer.kind or None)
        return Principal(answer.principal, scope_from_credential(answer.principal.tenant_id), acting_as=acting_as)

    async def _resolve(self, key: tuple[Any, ...], request: ResolveRequest) -> ResolveResponse:
        cached = self._entries.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[2]
        if not self.nc.is_connected:  # known to be down: do not wait for a timeout
            return self._fallback(cached, now, "NATS is disconnected")
        invalidations = self._invalidations
        try:
            msg = await self.nc.request(RESOLVE_SUBJECT, self._encoder.encode(request), timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - no responders, timeout, connection closed
            return self._fallback(cached, now, f"{type(exc).__name__}: {exc}".rstrip(": "))
        if self._degraded:
            self._degraded = False
            log.warning("identity answers again; credentials are verified afresh")
        answer = self._decoder.decode(msg.data)
        # Cache answers that name a tenant, so that tenant's identity events can drop them; never
        # cache identity's own failures, nor an answer that raced an invalidation.
        tenant_id = answer.principal.tenant_id if answer.principal else request.tenant_id
        if tenant_id is not None and answer.status < 500 and invalidations == self._invalidations:
            self._entries[key] = (now + self.ttl, now + self.stale_seconds, answer)
            self._by_tenant.setdefault(tenant_id, set()).add(key)
        return answer

    def _fallback(
        self, cached: tuple[float, float, ResolveResponse] | None, now: float, why: str
    ) -> ResolveResponse:
        """Identity cannot be asked: the last answer when recent enough, else 503 at once."""
        if not self._degraded:
            self._degraded = True
            log.warning("identity unreachable (%s); serving credentials resolved in the last %.0f s",
                        why, self.stale_seconds)
        if cached is not None and cached[1] > now:
            return cached[2]
        raise ServiceUnavailable(
            "The identity service is unreachable, and this credential was not verified recently;"
            " try again shortly", kind="identity-unavailable",
        )


class AuthMiddleware(AbstractAuthenticationMiddleware):
    """Authenticates every route except those marked ``exclude_from_auth=True``."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Cursors are sealed for the caller's tenant (shared.pagination); nothing of one request
        # stays for the next served in the same task.
        token = pagination.CURSOR_TENANT.set("")
        try:
            await super().__call__(scope, receive, send)
        finally:
            pagination.CURSOR_TENANT.reset(token)

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        directory: PrincipalDirectory = connection.app.state.runtime.principals
        principal = await directory.authenticate(connection.headers.get("authorization"))
        pagination.CURSOR_TENANT.set(str(principal.tenant_id))
        return AuthenticationResult(user=principal, auth=principal)


def principal_of(request: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """Dependency: the verified caller (routes behind AuthMiddleware only). The parameter must be
    called ``request``: Litestar injects the connection only under its reserved names."""
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        raise Unauthorized("Authentication required", kind="missing-credentials")
    return user


__all__ = [
    "ACTIONS", "DATA_SCOPES", "AuthMiddleware", "EntityGrant", "Permissions", "Principal", "PrincipalData",
    "PrincipalDirectory", "RESOLVE_SUBJECT", "ResolveRequest", "ResolveResponse", "api_key_is_well_formed",
    "AccessToken", "decode_access_token", "hash_api_key", "issue_access_token", "new_api_key", "principal_of", "Problem",
]
