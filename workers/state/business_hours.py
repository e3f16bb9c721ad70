"""Business hours (R4): is an account open at an instant, and when does it next open.

Pure functions over the account's `BusinessHours` and aware datetimes. Intervals are local
wall-clock times in the account's IANA zone, so a DST change moves them in UTC.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from schemas.config import BusinessHours

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_LOOKAHEAD_DAYS = 400
"""How far `next_opening` searches; a year of exceptions plus a margin."""


def _clock(text: str) -> time | None:
    """`"09:30"` -> 09:30; `"24:00"` -> None, meaning the end of the day."""
    if text == "24:00":
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def intervals_on(hours: BusinessHours, day: date) -> list[tuple[str, str]]:
    """The opening intervals of a local date: its dated exception if any, else its weekday's."""
    for exception in hours.exceptions:
        if exception.date == day:
            return list(exception.intervals)
    return list(hours.weekly.get(_WEEKDAYS[day.weekday()], []))  # type: ignore[call-overload]


def _local_instant(day: date, clock: str, zone: ZoneInfo) -> datetime:
    wall = _clock(clock)
    if wall is None:
        return datetime.combine(day + timedelta(days=1), time(0), zone)
    return datetime.combine(day, wall, zone)


def is_open(hours: BusinessHours | None, at: datetime) -> bool:
    """Whether automatic assignment may happen at `at` (no business hours: always open)."""
    if hours is None:
        return True
    zone = ZoneInfo(hours.timezone)
    local = at.astimezone(zone)
    for start, end in intervals_on(hours, local.date()):
        if _local_instant(local.date(), start, zone) <= local < _local_instant(
                local.date(), end, zone):
            return True
    return False


def next_opening(hours: BusinessHours | None, at: datetime) -> datetime | None:
    """The first instant at or after `at` when the account is open; None if it never opens."""
    if hours is None or is_open(hours, at):
        return at
    zone = ZoneInfo(hours.timezone)
    local_day = at.astimezone(zone).date()
    for offset in range(_LOOKAHEAD_DAYS):
        day = local_day + timedelta(days=offset)
        starts = sorted(_local_instant(day, start, zone) for start, _ in intervals_on(hours, day))
        for start in starts:
            if start >= at:
                return start
    return None


def current_opening(hours: BusinessHours | None, at: datetime) -> datetime | None:
    """The start of the open interval containing `at` (None when closed at `at`).

    Names one opening period, so "hours began" is handled once per period.
    """
    if hours is None:
        return None
    zone = ZoneInfo(hours.timezone)
    local = at.astimezone(zone)
    for day in (local.date() - timedelta(days=1), local.date()):
        for start, end in intervals_on(hours, day):
            begins, ends = _local_instant(day, start, zone), _local_instant(day, end, zone)
            if begins <= at < ends:
                return begins
    return None
