"""Preferences: per user and type, the channels and whether to hold mail for the daily digest;
quiet hours in the user's time zone; the tenant's defaults, which a user's own choice overrides.

Resolution for one (user, type): the user's entry for the type, else the tenant's, else the type's
default channels. Security types (password reset, new login place, API key, invitation) always
keep in-app (where they have an inbox) and their mail ignores quiet hours and digests.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from time import monotonic
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from services.notifications.domain.types import BY_KEY, CHANNELS
from shared.errors import FieldError, ValidationProblem

_QUIET = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
DEFAULT_TIME_ZONE = "Asia/Shanghai"


class TypePreference(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """``channels``: any of ``in_app``, ``email`` (in-app stays on for security types);
    ``digest``: hold this type's mail for the daily digest instead of sending each one."""

    channels: list[str] | None = None
    digest: bool = False


class PreferencesIn(msgspec.Struct, forbid_unknown_fields=True):
    """Replaces the whole set. ``types`` is keyed by notification type (see the README's table);
    ``quiet_hours`` like ``22:00-08:00`` (may cross midnight) in ``time_zone`` (IANA name)."""

    types: dict[str, TypePreference] = msgspec.field(default_factory=dict)
    quiet_hours: str | None = None
    time_zone: str | None = None


class PreferencesOut(msgspec.Struct):
    types: dict[str, TypePreference]
    quiet_hours: str | None
    time_zone: str | None
    version: int


class TypeInfo(msgspec.Struct):
    key: str
    audience: str
    default_channels: list[str]
    security: bool


def check(body: PreferencesIn) -> PreferencesIn:
    """Every bad field of the body in one 422: unknown types and channels, quiet hours, time zone."""
    errors: list[FieldError] = []
    if len(body.types) > len(BY_KEY):
        errors.append(FieldError("types", f"at most {len(BY_KEY)} entries", "too_many"))
    for key, pref in body.types.items():
        if key not in BY_KEY:
            errors.append(FieldError(f"types.{key[:100]}", "is not a notification type; GET"
                                     " /api/v1/notification-preferences lists them", "unknown_type"))
            continue
        for index, channel in enumerate(pref.channels or []):
            if channel not in CHANNELS:
                errors.append(FieldError(f"types.{key}.channels[{index}]",
                                         f"is not a channel; use one of {', '.join(CHANNELS)}", "unknown_channel"))
    if body.quiet_hours is not None and body.quiet_hours != "" and not _QUIET.match(body.quiet_hours):
        errors.append(FieldError("quiet_hours", "must be HH:MM-HH:MM, e.g. 22:00-08:00", "invalid_quiet_hours"))
    if body.time_zone:
        try:
            ZoneInfo(body.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append(FieldError("time_zone", "is not an IANA time zone (e.g. Asia/Shanghai)", "invalid_time_zone"))
    if errors:
        raise ValidationProblem(errors)
    return body


def types_json(types: dict[str, TypePreference]) -> dict[str, Any]:
    return {k: msgspec.to_builtins(v) for k, v in types.items()}


def types_of(raw: dict[str, Any] | None) -> dict[str, TypePreference]:
    return {k: msgspec.convert(v, TypePreference) for k, v in (raw or {}).items() if k in BY_KEY}


@dataclass(frozen=True)
class Choice:
    """What to do with one notification for one user."""

    in_app: bool
    email: bool
    digest: bool
    quiet_until: datetime | None  # mail waits until then (quiet hours), None: send now


def choose(type_key: str, user: dict[str, Any] | None, tenant: dict[str, Any] | None, now: datetime,
           defaults: tuple[str, ...] | None = None) -> Choice:
    """``defaults``: the channels the source asked for (a workflow's notify step), instead of the type's."""
    kind = BY_KEY[type_key]
    pref: TypePreference | None = None
    for source in (user, tenant):
        if source and type_key in (source.get("types") or {}):
            pref = msgspec.convert(source["types"][type_key], TypePreference)
            break
    channels = set(pref.channels if pref is not None and pref.channels is not None else defaults or kind.channels)
    digest = bool(pref and pref.digest) and not kind.security
    in_app = kind.inbox and ("in_app" in channels or kind.security)
    email = "email" in channels or not kind.inbox  # mail is the only way a reset or invitation arrives
    quiet_until = None
    if email and not kind.security and not digest:
        quiet = (user or {}).get("quiet_hours") or (tenant or {}).get("quiet_hours")
        zone = (user or {}).get("time_zone") or (tenant or {}).get("time_zone") or DEFAULT_TIME_ZONE
        quiet_until = quiet_end(quiet, zone, now)
    return Choice(in_app=in_app, email=email, digest=digest, quiet_until=quiet_until)


def quiet_end(quiet: str | None, zone: str, now: datetime) -> datetime | None:
    """When ``now`` is inside the quiet window (in ``zone``), the window's end; else None."""
    match = _QUIET.match(quiet or "")
    if match is None:
        return None
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo(DEFAULT_TIME_ZONE)
    local = now.astimezone(tz)
    start = time(int(match[1]), int(match[2]))
    end = time(int(match[3]), int(match[4]))
    clock = local.time().replace(tzinfo=None)
    if start == end:
        return None
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_at = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if end_at <= local:
        end_at += timedelta(days=1)
    return end_at


# --- a short-lived cache of what the consumers read for every event -----------------------------

Pair = tuple[dict[str, Any] | None, dict[str, Any] | None]  # the user's own, the tenant's defaults
CACHE_SECONDS = 5.0  # how long a change made on another replica may go unseen here


class PreferenceCache:
    """Each user's preferences and their tenant's defaults, as ``store.preferences_of`` reads
    them, kept ``CACHE_SECONDS``: a burst of events for one person reads them once. A save in this
    process forgets them at once; the generation keeps a read that raced a save from being kept."""

    def __init__(self, seconds: float = CACHE_SECONDS) -> None:
        self.seconds = seconds
        self.generation = 0
        self._entries: dict[tuple[uuid.UUID, uuid.UUID | None], tuple[float, Pair]] = {}

    def get(self, tenant_id: uuid.UUID, user_id: uuid.UUID | None) -> Pair | None:
        entry = self._entries.get((tenant_id, user_id))
        if entry is None or entry[0] < monotonic():
            return None
        return entry[1]

    def put(self, tenant_id: uuid.UUID, user_id: uuid.UUID | None, value: Pair, generation: int) -> None:
        if generation != self.generation:
            return  # a save happened while this was read: it may be the old value
        if len(self._entries) > 50_000:
            self._entries.clear()
        self._entries[(tenant_id, user_id)] = (monotonic() + self.seconds, value)

    def forget(self, tenant_id: uuid.UUID, user_id: uuid.UUID | None = None) -> None:
        """A user's (or, without one, every user's of the tenant: its defaults changed) entries."""
        self.generation += 1
        if user_id is not None:
            self._entries.pop((tenant_id, user_id), None)
        else:
            for key in [k for k in self._entries if k[0] == tenant_id]:
                del self._entries[key]


CACHE = PreferenceCache()
