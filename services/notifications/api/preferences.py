"""/api/v1/notification-preferences (the caller's own) and /api/v1/notification-defaults (the
tenant's, which an admin sets): per type channels and digest, quiet hours in a time zone."""

from __future__ import annotations

from litestar import Controller, Response, get, put
from litestar.params import JSONBody

from services.notifications.db import store
from services.notifications.domain import preferences as domain
from services.notifications.domain.types import TYPES
from shared.http import AnyRequest, PrincipalDep, RuntimeDep
from shared.http.conditional import check_version, expected_version, with_etag

SERVICE = "notifications"


class PreferencesAnswer(domain.PreferencesOut, kw_only=True):
    """The saved choices, and every notification type with its default channels."""

    available_types: list[domain.TypeInfo]


def _version(row: object) -> int:
    return int(row["version"]) if row is not None else 0  # type: ignore[index]


def _answer(row: object) -> Response[PreferencesAnswer]:
    """The answer, with ``ETag: "<version>"`` for a later ``If-Match`` (0: nothing saved yet)."""
    return with_etag(_body(row), _version(row))


def _body(row: object) -> PreferencesAnswer:
    available = [domain.TypeInfo(t.key, t.audience, list(t.channels), t.security) for t in TYPES]
    if row is None:
        return PreferencesAnswer(types={}, quiet_hours=None, time_zone=None, version=0, available_types=available)
    return PreferencesAnswer(types=domain.types_of(row["types"]), quiet_hours=row["quiet_hours"],  # type: ignore[index]
                             time_zone=row["time_zone"], version=row["version"], available_types=available)  # type: ignore[index]


class PreferencesController(Controller):
    path = "/notification-preferences"
    tags = ["notifications"]

    @get()
    async def get_notification_preferences(self, principal: PrincipalDep, runtime: RuntimeDep
                                           ) -> Response[PreferencesAnswer]:
        """The caller's own choices (a type not named follows the tenant's defaults, then the type's)."""
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return _answer(await store.user_preferences(unit, principal.user_id))

    @put()
    async def put_notification_preferences(self, data: JSONBody[domain.PreferencesIn], principal: PrincipalDep,
                                           request: AnyRequest, runtime: RuntimeDep) -> Response[PreferencesAnswer]:
        """Replace the caller's choices. An unknown type or channel, quiet hours that do not parse
        (``HH:MM-HH:MM``) or an unknown time zone: 422 naming each, nothing saved. ``If-Match``
        (the ETag of a previous answer) answers 412 when another tab saved meanwhile."""
        body = domain.check(data)
        expected = expected_version(request)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            current = await store.user_preferences(unit, principal.user_id, lock=expected is not None)
            check_version(expected, _version(current), "notification preferences")
            row = await store.save_user_preferences(unit, principal.user_id, domain.types_json(body.types),
                                                    body.quiet_hours or None, body.time_zone or None,
                                                    expected_version=expected)
            if row is None:  # a first save by another tab committed meanwhile
                check_version(expected, _version(await store.user_preferences(unit, principal.user_id)),
                              "notification preferences")
        domain.CACHE.forget(principal.tenant_id, principal.user_id)  # committed: the next event sees it
        return _answer(row)


class DefaultsController(Controller):
    path = "/notification-defaults"
    tags = ["notifications"]

    @get()
    async def get_notification_defaults(self, principal: PrincipalDep, runtime: RuntimeDep
                                        ) -> Response[PreferencesAnswer]:
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            return _answer(await store.tenant_defaults(unit))

    @put()
    async def put_notification_defaults(self, data: JSONBody[domain.PreferencesIn], principal: PrincipalDep,
                                        request: AnyRequest, runtime: RuntimeDep) -> Response[PreferencesAnswer]:
        """The tenant's defaults (needs ``user:update``, an administrator's right); ``If-Match`` as
        for one's own preferences."""
        principal.require("user", "update")
        body = domain.check(data)
        expected = expected_version(request)
        async with runtime.db(SERVICE).tenant_unit(principal.scope) as unit:
            current = await store.tenant_defaults(unit, lock=expected is not None)
            check_version(expected, _version(current), "notification defaults")
            row = await store.save_tenant_defaults(unit, domain.types_json(body.types), body.quiet_hours or None,
                                                   body.time_zone or None, expected_version=expected)
            if row is None:  # a first save by another administrator committed meanwhile
                check_version(expected, _version(await store.tenant_defaults(unit)), "notification defaults")
        domain.CACHE.forget(principal.tenant_id)  # committed: every user's next event sees them
        return _answer(row)
