"""Business time on China's calendar: holidays, 调休 make-up days, working hours, the tenant's own days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.workflows.domain.calendar import BusinessCalendar, Interval

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)


def test_eight_business_hours_before_national_day_land_after_the_holiday() -> None:
    calendar = BusinessCalendar()
    # Wednesday 30 September 2026, 14:00: 4 h that afternoon, 1-7 October off, then 3 h + 1 h on the 8th.
    due = calendar.add(local(2026, 9, 30, 14), timedelta(hours=8))
    assert due.astimezone(SHANGHAI) == local(2026, 10, 8, 14, 30)
    assert due.tzinfo is not None and due.utcoffset() == timedelta(0)


def test_a_make_up_saturday_counts_as_a_working_day() -> None:
    calendar = BusinessCalendar()
    assert calendar.is_working_day(date(2026, 10, 10))      # Saturday worked for 国庆 (调休)
    assert calendar.is_working_day(date(2026, 9, 20))       # Sunday worked for 国庆
    assert not calendar.is_working_day(date(2026, 10, 3))   # 国庆
    assert not calendar.is_working_day(date(2026, 10, 17))  # an ordinary Saturday
    # Friday 9 October 16:00 + 4 h: 2 h on Friday, then 2 h on the make-up Saturday morning.
    assert calendar.add(local(2026, 10, 9, 16), timedelta(hours=4)).astimezone(SHANGHAI) == local(2026, 10, 10, 11)


def test_time_outside_working_hours_does_not_count() -> None:
    calendar = BusinessCalendar()
    # Lunch (12:00-13:30) and the night do not count: Monday 11:00 + 2 h -> 14:30; 17:00 + 2 h -> next day 10:00.
    assert calendar.add(local(2026, 11, 2, 11), timedelta(hours=2)).astimezone(SHANGHAI) == local(2026, 11, 2, 14, 30)
    assert calendar.add(local(2026, 11, 2, 17), timedelta(hours=2)).astimezone(SHANGHAI) == local(2026, 11, 3, 10)
    # A start at night begins at the next opening.
    assert calendar.add(local(2026, 11, 6, 22), timedelta(0)).astimezone(SHANGHAI) == local(2026, 11, 9, 9)
    assert calendar.working_time_between(local(2026, 11, 2, 11), local(2026, 11, 3, 10)) == timedelta(hours=6, minutes=30)


def test_tenant_days_and_hours_override_the_defaults() -> None:
    calendar = BusinessCalendar(
        time_zone="Europe/Berlin",
        hours={d: (Interval(time(8), time(16)),) for d in range(6)},  # Monday to Saturday, 8-16
        china_holidays=False,
        closed_days=frozenset({date(2026, 12, 24)}),
        extra_working_days=frozenset({date(2026, 12, 27)}),  # a Sunday
    )
    berlin = ZoneInfo("Europe/Berlin")
    assert not calendar.is_working_day(date(2026, 12, 24))
    assert calendar.is_working_day(date(2026, 12, 26))   # Saturday has hours here
    assert calendar.is_working_day(date(2026, 12, 27))   # the tenant's own make-up Sunday
    assert calendar.is_working_day(date(2026, 10, 1))    # China's holidays are off for this tenant
    due = calendar.add(datetime(2026, 12, 23, 15, tzinfo=berlin), timedelta(hours=2))
    assert due.astimezone(berlin) == datetime(2026, 12, 25, 9, tzinfo=berlin)


def test_business_days_keep_the_time_of_day() -> None:
    calendar = BusinessCalendar()
    assert calendar.add_days(local(2026, 9, 30, 10), 1).astimezone(SHANGHAI) == local(2026, 10, 8, 10)
