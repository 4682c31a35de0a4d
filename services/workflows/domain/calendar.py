"""A tenant's business calendar: working hours per weekday, a time zone, China's public holidays with
their make-up working days (调休), and the tenant's own closed and extra working days.

"Due in 8 business hours" is computed here: time only runs inside working hours of working days.
China's holidays come from the maintained ``holidays`` package (its ``China`` calendar lists the
substituted days off and, for announced years, the weekend make-up days); a tenant adds what the
package does not know yet (a year announced late, a company's own closures) as overrides.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# A search for the next working minute never looks further than this (a calendar with no working
# day in it is refused when it is saved, so this only bounds a pathological override list).
_MAX_DAYS_AHEAD = 800


@dataclass(frozen=True)
class Interval:
    start: time
    end: time  # exclusive; time(0, 0) is not allowed as an end (use 23:59:59 for "until midnight")


def _default_hours() -> dict[int, tuple[Interval, ...]]:
    day = (Interval(time(9), time(12)), Interval(time(13, 30), time(18)))
    return {weekday: day for weekday in range(5)}


@functools.cache
def _china(year: int) -> tuple[frozenset[date], frozenset[date]]:
    """(days off, weekend make-up working days) of mainland China's public holidays in ``year``."""
    cn = holidays.China(years=year, categories=(holidays.PUBLIC,))
    days_off = frozenset(d for d in cn if d.year == year)
    make_up = frozenset(d for d in getattr(cn, "weekend_workdays", ()) if d.year == year)
    return days_off, make_up


@dataclass(frozen=True)
class BusinessCalendar:
    time_zone: str = "Asia/Shanghai"
    # Working intervals per weekday (0 = Monday), in the tenant's local time.
    hours: Mapping[int, tuple[Interval, ...]] = field(default_factory=_default_hours)
    china_holidays: bool = True
    closed_days: frozenset[date] = frozenset()          # the tenant's own days off
    extra_working_days: frozenset[date] = frozenset()   # the tenant's own make-up days

    @functools.cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @functools.cached_property
    def _make_up_hours(self) -> tuple[Interval, ...]:
        """Hours of a make-up day (a Saturday worked for a holiday): those of the first weekday that has any."""
        for weekday in range(7):
            if self.hours.get(weekday):
                return self.hours[weekday]
        return ()

    def is_working_day(self, day: date) -> bool:
        if day in self.closed_days:
            return False
        if day in self.extra_working_days:
            return True
        if self.china_holidays:
            days_off, make_up = _china(day.year)
            if day in days_off:
                return False
            if day in make_up:
                return True
        return bool(self.hours.get(day.weekday()))

    def intervals_of(self, day: date) -> tuple[Interval, ...]:
        """Working intervals of ``day`` in local time (empty on a day off)."""
        if not self.is_working_day(day):
            return ()
        return self.hours.get(day.weekday()) or self._make_up_hours

    def _spans_from(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working spans (aware, local) from ``start`` on, in order, the first one clipped at ``start``."""
        local = start.astimezone(self.zone)
        day = local.date()
        for _ in range(_MAX_DAYS_AHEAD):
            for interval in self.intervals_of(day):
                begin = datetime.combine(day, interval.start, self.zone)
                end = datetime.combine(day, interval.end, self.zone)
                if end <= local:
                    continue
                yield max(begin, local), end
            day += timedelta(days=1)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """``start`` plus ``duration`` of working time, in UTC. A zero duration gives the next working moment."""
        remaining = duration
        for begin, end in self._spans_from(start):
            if remaining <= end - begin:
                return (begin + remaining).astimezone(ZoneInfo("UTC"))
            remaining -= end - begin
        raise ValueError("the calendar has no working time in the next two years")

    def add_days(self, start: datetime, days: int) -> datetime:
        """``start`` moved ``days`` working days on, keeping its local time of day (clipped into working hours)."""
        local = start.astimezone(self.zone)
        day = local.date()
        moved = 0
        for _ in range(_MAX_DAYS_AHEAD):
            if moved == days:
                break
            day += timedelta(days=1)
            if self.is_working_day(day):
                moved += 1
        else:
            raise ValueError("the calendar has no working time in the next two years")
        return self.add(datetime.combine(day, local.timetz().replace(tzinfo=None), self.zone), timedelta(0))

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from ``start`` to ``end`` (zero when ``end`` is not after ``start``)."""
        total = timedelta(0)
        if end <= start:
            return total
        for begin, stop in self._spans_from(start):
            if begin >= end:
                break
            total += min(stop, end) - begin
        return total


def china_days(year: int) -> tuple[Sequence[date], Sequence[date]]:
    """China's days off and make-up working days in ``year``, sorted (for the calendar's API answer)."""
    days_off, make_up = _china(year)
    return sorted(days_off), sorted(make_up)


__all__ = ["BusinessCalendar", "Interval", "WEEKDAYS", "china_days"]
