"""What identity publishes, and the responder every service asks about credentials.

Events (subject ``crm.identity.<tenant_id>.<entity>.<action>``, the shared envelope; ``data``
never holds a secret in clear; reset and invitation tokens travel sealed, documented below):

* ``tenant.created``              slug, name, status
* ``tenant.suspended``            reason
* ``tenant.reactivated``          previous_status
* ``tenant.deletion_scheduled``   deletion_scheduled_at, export (key of identity's export in its file store)
* ``tenant.deleted``              slug, rows_deleted, services (each of them exports and purges the
                                  tenant's data and answers ``crm.<service>.<tenant>.tenant.purged``)
* ``user.created``                email, name, status, department_id, roles (keys), locale[, invitation_id]
* ``user.updated``                changes {field: new value}
* ``user.roles_changed``          before, after (role keys)
* ``user.deactivated``            successor_id (who takes over their records; may be null), email,
                                  revoked_sessions, revoked_api_keys
* ``user.reactivated``            email
* ``user.password_changed``       revoked_sessions
* ``user.password_reset_issued``  expires_at (an administrator made a reset token)
* ``user.password_reset_requested`` email, name, locale, tenant_slug, expires_at and **token_sealed**:
                                  the one-time reset token sealed with AES-GCM (``shared/sealed.py``,
                                  bound to tenant and user) for the notifications service to mail;
                                  the stream never holds it in clear. Consumers must not log or store it.
* ``user.login_from_new_place``   source_ip, user_agent, session_id (an address none of the user's
                                  recent sessions came from; not on a first login)
* ``user.password_reset``         revoked_sessions
* ``role.created`` / ``role.updated`` / ``role.deleted``   key, permissions, field_rules / changed / users
* ``department.created`` / ``department.updated`` / ``department.deleted``   name, parent_id, path, head_user_id[, moved]
* ``api_key.created``             name, prefix, scopes, user_id, expires_at
* ``api_key.revoked``             name, prefix, user_id, reason
* ``session.revoked``             user_id, reason (logout, refresh_token_reuse, password_changed,
                                  password_reset, user_deactivated)
* ``invitation.created``          email, name, roles, department_id, invited_by, inviter_name, expires_at,
                                  token_sealed (the invitation token, sealed like a reset token)
* ``invitation.accepted`` / ``invitation.revoked``   email, ...

Every one of them, whatever its type, makes every service's ``PrincipalDirectory`` drop the
tenant's cached credentials, so an access change applies everywhere within moments.

The responder answers ``ResolveRequest`` on ``shared.auth.RESOLVE_SUBJECT`` in the queue group
``identity`` (so replicas share the work), one task per request with a bound on concurrency.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from services.identity.domain.resolve import resolve
from shared.auth import RESOLVE_SUBJECT, ResolveRequest, ResolveResponse

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = logging.getLogger("huike.identity.resolver")

QUEUE_GROUP = "identity"
_MAX_IN_FLIGHT = 64


class ResolveResponder:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db("identity")
        self._decoder = msgspec.json.Decoder(ResolveRequest)
        self._encoder = msgspec.json.Encoder()
        self._limit = asyncio.Semaphore(_MAX_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()
        self._subscription: Any = None

    async def start(self) -> ResolveResponder:
        assert self.runtime.bus is not None
        self._subscription = await self.runtime.bus.nc.subscribe(
            RESOLVE_SUBJECT, queue=QUEUE_GROUP, cb=self._on_request
        )
        return self

    async def _on_request(self, msg: Any) -> None:
        # nats-py runs one callback at a time per subscription: hand each request to its own task.
        task = asyncio.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Any) -> None:
        async with self._limit:
            try:
                request = self._decoder.decode(msg.data)
            except msgspec.DecodeError:
                answer = ResolveResponse(ok=False, status=400, kind="bad-request", reason="Malformed resolve request")
            else:
                try:
                    answer = await resolve(self.db, request)
                except Exception:  # noqa: BLE001
                    # No answer: the caller times out with a 503 rather than caching a wrong denial.
                    log.exception("resolving a credential failed")
                    return
            try:
                await msg.respond(self._encoder.encode(answer))
            except Exception:  # noqa: BLE001 - the requester went away
                log.debug("could not answer a resolve request", exc_info=True)

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)


async def start_resolver(runtime: Runtime) -> ResolveResponder:
    return await ResolveResponder(runtime).start()
