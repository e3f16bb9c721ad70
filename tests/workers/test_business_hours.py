"""R4 business hours as pure logic: weekly intervals, dated exceptions, DST, next opening."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.config import BusinessHours, DateException
from workers.state.business_hours import is_open, next_opening

PARIS = BusinessHours(
    timezone="Europe/Paris",
    weekly={"mon": [("09:00", "12:00"), ("14:00", "18:00")], "tue": [("09:00", "18:00")],
            "sun": [("22:00", "24:00")]},
    exceptions=[DateException(date=date(2026, 12, 22), intervals=[]),
                DateException(date=date(2026, 12, 27), intervals=[("10:00", "11:00")])],
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_no_business_hours_means_always_open() -> None:
    assert is_open(None, utc(2026, 11, 22, 3))
    assert next_opening(None, utc(2026, 11, 22, 3)) == utc(2026, 11, 22, 3)


def test_weekly_intervals_in_local_time() -> None:
    # Monday 2026-11-23; Paris is UTC+1 in winter.
    assert not is_open(PARIS, utc(2026, 11, 23, 7, 59))
    assert is_open(PARIS, utc(2026, 11, 23, 8, 0))           # 09:00 local
    assert not is_open(PARIS, utc(2026, 11, 23, 11, 0))      # 12:00 local, lunch
    assert is_open(PARIS, utc(2026, 11, 23, 13, 0))          # 14:00 local
    assert not is_open(PARIS, utc(2026, 11, 23, 17, 0))      # 18:00 local: end is exclusive
    assert not is_open(PARIS, utc(2026, 11, 25, 10, 0))      # Wednesday: closed


def test_end_of_day_interval() -> None:
    assert is_open(PARIS, utc(2026, 11, 22, 22, 59))         # Sunday 23:59 local
    assert not is_open(PARIS, utc(2026, 11, 22, 23, 0))      # Monday 00:00 local


def test_dated_exceptions_replace_the_weekday() -> None:
    assert not is_open(PARIS, utc(2026, 12, 22, 10, 0))      # a Tuesday, closed by exception
    assert is_open(PARIS, utc(2026, 12, 27, 9, 30))          # Sunday 10:30 local, exception
    assert not is_open(PARIS, utc(2026, 12, 27, 21, 30))     # Sunday 22:30 local: replaced


def test_dst_change_moves_opening_in_utc() -> None:
    # Europe/Paris switches to summer time on Sunday 2027-03-28.
    assert is_open(PARIS, utc(2027, 3, 22, 8, 0))            # Monday before: 09:00 = 08:00Z
    assert not is_open(PARIS, utc(2027, 3, 29, 6, 30))       # Monday after: 08:30 local
    assert is_open(PARIS, utc(2027, 3, 29, 7, 0))            # 09:00 local = 07:00Z


def test_next_opening() -> None:
    # Wednesday 10:00 UTC -> next opening Sunday 22:00 local (21:00Z in winter).
    assert next_opening(PARIS, utc(2026, 11, 25, 10, 0)) == utc(2026, 11, 29, 21, 0)
    # Monday lunch -> 14:00 local the same day.
    assert next_opening(PARIS, utc(2026, 11, 23, 11, 30)) == utc(2026, 11, 23, 13, 0)
    # Before Christmas week's closed Tuesday -> Sunday's exception interval.
    assert next_opening(PARIS, utc(2026, 12, 22, 12, 0)) == utc(2026, 12, 27, 9, 0)
    never = BusinessHours(timezone="UTC")
    assert next_opening(never, utc(2026, 11, 23)) is None


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31),
                    timezones=st.just(UTC)))
def test_next_opening_is_open_and_nothing_earlier_is(at: datetime) -> None:
    opening = next_opening(PARIS, at)
    assert opening is not None and opening >= at and is_open(PARIS, opening)
    if opening > at:  # the minute before the opening (or `at` itself) is closed
        assert not is_open(PARIS, max(at, opening - timedelta(minutes=1)))
