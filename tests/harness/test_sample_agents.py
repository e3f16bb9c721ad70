"""The sample agents' schedule in `make run`: who is online, away or signed out when, and
which presence record each tick sends."""

from __future__ import annotations

from harness.sample_agents import CYCLE_S, QUIET, SIGNED_OUT, planned_presence, presence_record


def test_the_second_agent_signs_out_and_the_third_goes_quiet_each_cycle() -> None:
    assert [planned_presence(i, 0.0) for i in range(4)] == ["online"] * 4
    assert planned_presence(1, SIGNED_OUT[0]) == "offline"
    assert planned_presence(1, SIGNED_OUT[1]) == "online"
    assert planned_presence(1, CYCLE_S + SIGNED_OUT[0] + 1) == "offline"
    assert planned_presence(2, QUIET[0]) == "away" and planned_presence(2, QUIET[1]) == "online"
    assert {planned_presence(i, t) for i in (0, 3) for t in range(0, 200, 5)} == {"online"}


def test_records_sign_in_beat_sign_out_once_and_stay_silent_away() -> None:
    assert presence_record(None, "online") == "online"
    assert presence_record("online", "online") == "heartbeat"
    assert presence_record("offline", "online") == "online"
    assert presence_record("away", "online") == "online"
    assert presence_record("online", "offline") == "offline"
    assert presence_record("offline", "offline") is None
    assert presence_record("online", "away") is None
