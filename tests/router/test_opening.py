"""The opening sweep's retry of one failing account (issue 12, finding 8)."""

from __future__ import annotations

from datetime import timedelta

from workers.router.opening import MAX_IDLE, retry_delay


def test_a_failing_account_is_retried_sooner_first_then_at_most_every_max_idle() -> None:
    assert [retry_delay(n).total_seconds() for n in range(1, 7)] == [1, 2, 4, 8, 16, 30]
    assert retry_delay(10_000) == MAX_IDLE == timedelta(seconds=30)
