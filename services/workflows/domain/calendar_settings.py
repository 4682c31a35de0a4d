"""The tenant's business calendar as the API reads and writes it (``/api/v1/business-calendar``)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from services.workflows.db import calendars as store
from services.workflows.domain.calendar import WEEKDAYS, BusinessCalendar, Interval, china_days
from shared.auth import Principal
from shared.db import Unit
from shared.errors import FieldError, PreconditionFailed, ValidationProblem

Clock = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", examples=["09:00"])]
Span = Annotated[list[Clock], msgspec.Meta(min_length=2, max_length=2)]
Day = Annotated[list[Span], msgspec.Meta(max_length=6)]
Days = Annotated[list[date], msgspec.Meta(max_length=400)]
DEFAULT_HOURS = {d: [["09:00", "12:00"], ["13:30", "18:00"]] for d in WEEKDAYS[:5]}


class WorkingHours(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    mon: Day = []
    tue: Day = []
    wed: Day = []
    thu: Day = []
    fri: Day = []
    sat: Day = []
    sun: Day = []


class CalendarIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    time_zone: Annotated[str, msgspec.Meta(min_length=1, max_length=64, examples=["Asia/Shanghai"])]
    working_hours: WorkingHours
    china_holidays: bool = True
    closed_days: Days = []
    extra_working_days: Days = []
    # When the daily digest goes out on working days, tenant time.
    digest_at: Clock = "08:30"


class HolidayYear(msgspec.Struct):
    year: int
    days_off: list[date]
    make_up_working_days: list[date]


class CalendarOut(msgspec.Struct, kw_only=True):
    time_zone: str
    working_hours: WorkingHours
    china_holidays: bool
    closed_days: list[date]
    extra_working_days: list[date]
    digest_at: str
    version: int
    updated_at: datetime | None
    # China's public holidays and make-up days this year and next, as the calendar applies them.
    china: list[HolidayYear]


def _hours_of(raw: Any) -> dict[int, tuple[Interval, ...]]:
    return {
        WEEKDAYS.index(day): tuple(Interval(time.fromisoformat(a), time.fromisoformat(b)) for a, b in spans)
        for day, spans in raw.items() if spans
    }


def calendar_of(row: Any | None) -> BusinessCalendar:
    if row is None:
        return BusinessCalendar()
    return BusinessCalendar(
        time_zone=row["time_zone"], hours=_hours_of(row["hours"]), china_holidays=row["china_holidays"],
        closed_days=frozenset(row["closed_days"]), extra_working_days=frozenset(row["extra_working_days"]),
    )


async def load(unit: Unit) -> BusinessCalendar:
    return calendar_of(await store.get(unit))


def calendar_out(row: Any | None, today: date) -> CalendarOut:
    china = [HolidayYear(y, *map(list, china_days(y))) for y in (today.year, today.year + 1)]
    if row is None:
        return CalendarOut(time_zone="Asia/Shanghai", working_hours=msgspec.convert(DEFAULT_HOURS, WorkingHours),
                           china_holidays=True, closed_days=[], extra_working_days=[], digest_at="08:30", version=0,
                           updated_at=None,
                           china=china)
    return CalendarOut(
        time_zone=row["time_zone"], working_hours=msgspec.convert(row["hours"], WorkingHours),
        china_holidays=row["china_holidays"], closed_days=sorted(row["closed_days"]),
        extra_working_days=sorted(row["extra_working_days"]), digest_at=row["digest_at"], version=row["version"],
        updated_at=row["updated_at"],
        china=china,
    )


async def read(unit: Unit, today: date) -> CalendarOut:
    return calendar_out(await store.get(unit), today)


async def save(unit: Unit, principal: Principal, body: CalendarIn, expected_version: int | None,
               today: date) -> CalendarOut:
    errors: list[FieldError] = []
    try:
        ZoneInfo(body.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(FieldError("time_zone", "is not an IANA time zone such as Asia/Shanghai", "invalid"))
    hours = msgspec.to_builtins(body.working_hours)
    for day, spans in hours.items():
        previous_end = "00:00"
        for i, (start, end) in enumerate(spans):
            if not start < end:
                errors.append(FieldError(f"working_hours.{day}[{i}]", "must end after it starts", "invalid"))
            elif start < previous_end:
                errors.append(FieldError(f"working_hours.{day}[{i}]", "must start after the previous span ends, "
                                         "in order", "invalid"))
            previous_end = end
    if not any(hours.values()) and not body.extra_working_days:
        errors.append(FieldError("working_hours", "at least one weekday must have working hours", "invalid"))
    overlap = sorted(set(body.closed_days) & set(body.extra_working_days))
    if overlap:
        errors.append(FieldError("extra_working_days", f"{overlap[0]} is also a closed day", "invalid"))
    if errors:
        raise ValidationProblem(errors)
    current = await store.get(unit)
    if current is None and expected_version not in (None, 0):  # the defaults are version 0
        raise PreconditionFailed(f"The calendar is at version 0 (the defaults), not {expected_version}")
    row = await store.save(
        unit, time_zone=body.time_zone, hours=hours, china_holidays=body.china_holidays,
        closed_days=sorted(set(body.closed_days)), extra_working_days=sorted(set(body.extra_working_days)),
        digest_at=body.digest_at, actor_id=principal.user_id, expected_version=expected_version)
    if row is None:
        raise PreconditionFailed(f"The calendar is at version {current['version'] if current else 0}, "
                                 f"not {expected_version}; read it again and retry")
    await unit.emit("business_calendar", "updated", unit.tenant_id, actor=principal.actor, version=row["version"])
    return calendar_out(row, today)
