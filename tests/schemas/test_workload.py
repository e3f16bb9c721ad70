"""The workload file of `ticketflow simulate` (X7): the shipped ones load, and a bad one is
refused with the field named."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from schemas.codec import field_reason
from schemas.workload import clock_seconds, load_workload_yaml, seconds, shift_span

ROOT = Path(__file__).resolve().parents[2]
BASE = """
name: t
start: 2026-11-23T00:00:00Z
duration: 2h
arrivals: {sms: [1, 2]}
shifts: [{agents: [a], online: "00:00", offline: "02:00"}]
agent: {handle_time: {sms: {dist: lognormal, median: 3m, p90: 10m}}}
"""


def refusal(text: str) -> str:
    with pytest.raises(msgspec.ValidationError) as caught:
        load_workload_yaml(text)
    return field_reason(str(caught.value))


@pytest.mark.parametrize("name", ["default-day.yaml", "stress-day.yaml"])
def test_shipped_workloads_load(name: str) -> None:
    workload = load_workload_yaml((ROOT / "deploy" / "workloads" / name).read_text())
    assert workload.duration_s == 86400
    assert workload.agent_ids()


def test_durations_and_clock_times() -> None:
    assert seconds("90s") == 90 and seconds("1h30m") == 5400 and seconds("2d") == 172800
    assert seconds("500ms") == 0.5
    with pytest.raises(ValueError):
        seconds("5 minutes")
    assert clock_seconds("06:30") == 6.5 * 3600


def test_a_night_shift_ends_the_next_day() -> None:
    workload = load_workload_yaml(BASE.replace('online: "00:00", offline: "02:00"',
                                               'online: "22:00", offline: "06:00"'))
    assert shift_span(workload.shifts[0]) == (22 * 3600, 30 * 3600)


@pytest.mark.parametrize(("change", "reason"), [
    (("sms: [1, 2]", "sms: [1, 2, 3]"),
     "arrivals.sms: 3 hourly numbers for a duration of 2 hours"),
    (("sms: [1, 2]", "sms: [1, -2]"), "field $.arrivals.sms[1]"),
    (('online: "00:00"', 'online: "25:00"'), "field $.shifts[0].online"),
    (("median: 3m, p90: 10m", "median: 3m, p90: 1m"),
     "field $.agent.handle_time.sms: p90: 1m is below the median 3m"),
    (("dist: lognormal", "dist: gaussian"), "field $.agent.handle_time.sms"),
    (("median: 3m", "median: 3 minutes"), "field $.agent.handle_time.sms.median"),
    (("handle_time: {sms:", "handle_time: {email:"), "agent.handle_time.sms: required"),
    (("duration: 2h", "duration: 2h\nbogus: 1"), "bogus"),
    (("agent: {", "agent: {close_probability: 0.9, snooze_probability: 0.2, "),
     "snooze_probability: close_probability + snooze_probability is above 1"),
])
def test_a_bad_workload_is_refused_naming_the_field(change: tuple[str, str],
                                                   reason: str) -> None:
    old, new = change
    assert old in BASE
    assert reason in refusal(BASE.replace(old, new))


def test_overlapping_shifts_of_one_agent_are_refused() -> None:
    text = BASE.replace('shifts: [{agents: [a], online: "00:00", offline: "02:00"}]',
                        'shifts: [{agents: [a], online: "00:00", offline: "02:00"}, '
                        '{agents: [b, a], online: "01:00", offline: "03:00"}]')
    assert "shifts[1].agents: 'a' has overlapping shifts" in refusal(text)


def test_a_missing_field_is_named() -> None:
    assert refusal(BASE.replace("name: t\n", "")) == "field $.name: required field is missing"
