"""The countdown's pure decisions: deadline with typing grace (C1, C3), stale and disabled
countdowns (C6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from schemas.config import AutoClose
from workers.closer.deadline import (
    Close,
    Countdown,
    Discard,
    Postpone,
    TicketState,
    decide_fire,
    inactivity_deadline,
)

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)
GRACE = timedelta(minutes=5)
ON = AutoClose(enabled=True, days=2, typing_grace_seconds=300)

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                        timezones=st.just(UTC))
periods = st.integers(min_value=1, max_value=90).map(lambda d: d * DAY)
graces = st.integers(min_value=0, max_value=86400).map(lambda s: timedelta(seconds=s))


def test_deadline_is_the_period_after_the_start() -> None:
    assert inactivity_deadline(T0, 2 * DAY, None, GRACE) == T0 + 2 * DAY


def test_typing_near_the_deadline_delays_it_by_the_grace() -> None:
    typing = T0 + 2 * DAY - timedelta(minutes=1)
    assert inactivity_deadline(T0, 2 * DAY, typing, GRACE) == typing + GRACE


def test_typing_long_before_the_deadline_changes_nothing() -> None:
    assert inactivity_deadline(T0, 2 * DAY, T0 + DAY, GRACE) == T0 + 2 * DAY


@given(instants, periods, st.one_of(st.none(), instants), graces)
def test_deadline_never_before_period_nor_grace(started: datetime, period: timedelta,
                                                typing: datetime | None,
                                                grace: timedelta) -> None:
    deadline = inactivity_deadline(started, period, typing, grace)
    assert deadline >= started + period
    if typing is not None:
        assert deadline >= typing + grace
        assert deadline in (started + period, typing + grace)
    else:
        assert deadline == started + period


@given(instants, periods, instants, instants, graces)
def test_later_typing_never_brings_the_deadline_forward(started: datetime, period: timedelta,
                                                        a: datetime, b: datetime,
                                                        grace: timedelta) -> None:
    early, late = sorted((a, b))
    assert (inactivity_deadline(started, period, late, grace)
            >= inactivity_deadline(started, period, early, grace))


def test_due_countdown_closes_open_and_snoozed_tickets() -> None:
    countdown = Countdown(3, T0)
    for status in ("open", "snoozed"):
        assert decide_fire(countdown, TicketState(3, status), ON, T0 + 2 * DAY) == Close(status)


def test_not_yet_due_under_current_settings_is_postponed() -> None:
    longer = AutoClose(enabled=True, days=3)
    decision = decide_fire(Countdown(1, T0), TicketState(1, "open"), longer, T0 + 2 * DAY)
    assert decision == Postpone(T0 + 3 * DAY)
    typed = Countdown(1, T0, T0 + 2 * DAY - timedelta(seconds=10))
    assert decide_fire(typed, TicketState(1, "open"), ON, T0 + 2 * DAY) == Postpone(
        T0 + 2 * DAY + timedelta(seconds=290))


def test_stale_countdowns_are_discarded() -> None:
    now = T0 + 5 * DAY
    assert isinstance(decide_fire(Countdown(1, T0), TicketState(2, "open"), ON, now), Discard)
    assert isinstance(decide_fire(Countdown(1, T0), TicketState(1, "closed"), ON, now), Discard)
    assert isinstance(decide_fire(Countdown(1, T0), None, ON, now), Discard)


def test_disabled_account_leaves_the_countdown_alone() -> None:
    off = AutoClose(enabled=False, days=2)
    assert decide_fire(Countdown(1, T0), TicketState(1, "open"), off, T0 + 9 * DAY) is None


@given(st.integers(min_value=0, max_value=10**9), instants, st.one_of(st.none(), instants))
def test_countdown_stored_form_round_trips(version: int, started: datetime,
                                           typing: datetime | None) -> None:
    countdown = Countdown(version, started, typing)
    assert Countdown.decode(countdown.encode()) == countdown
