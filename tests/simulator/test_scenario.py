"""The simulated day is drawn once from the workload and its seed (X7): the same seed gives
the same day, another seed another one, and the draws follow the workload."""

from __future__ import annotations

import random
from pathlib import Path

import msgspec

from harness.simulator.scenario import (
    draw,
    from_export,
    from_workload,
    hourly_counts,
    online_spells,
)
from schemas.codec import encode
from schemas.events import Customer, TicketCreated, TicketMessage
from schemas.workload import (
    Exponential,
    Fixed,
    LogNormal,
    Uniform,
    Workload,
    load_workload_yaml,
    seconds,
)

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "deploy" / "workloads" / "default-day.yaml"


def default() -> Workload:
    return load_workload_yaml(DEFAULT.read_text())


def test_the_same_seed_draws_the_same_day() -> None:
    first, second = from_workload(default(), 3600), from_workload(default(), 3600)
    assert first == second
    other = from_workload(msgspec.structs.replace(default(), seed=8), 3600)
    assert other.conversations != first.conversations
    assert other.online != first.online


def test_arrivals_follow_the_hourly_numbers() -> None:
    workload = default()
    day = from_workload(workload, 0)
    expected = sum(sum(workload.arrivals.of(c)) for c in ("sms", "email", "webchat"))
    assert len(day.conversations) == round(expected)
    at = [c.at for c in day.conversations]
    assert at == sorted(at) and 0 <= at[0] and at[-1] < 86400
    for channel in ("sms", "email", "webchat"):
        per_hour = [0] * 24
        for c in day.conversations:
            if c.channel == channel:
                per_hour[int(c.at // 3600)] += 1
        assert per_hour == hourly_counts(workload.arrivals.of(channel))


def test_hourly_counts_carry_fractions() -> None:
    assert hourly_counts([0.5, 0.5, 0.5, 0.5]) == [0, 1, 1, 0]
    assert sum(hourly_counts([2.4] * 10)) == 24


def test_the_mix_is_drawn_by_weight() -> None:
    day = from_workload(default(), 0)
    kinds = [c.kind for c in day.conversations]
    share = kinds.count("vip") / len(kinds)
    assert 0.05 < share < 0.11  # weight 8 of 100
    assert all(c.segments == ("vip",) for c in day.conversations if c.kind == "vip")


def test_each_conversation_ends_or_the_customer_writes_again() -> None:
    workload = default()
    for c in from_workload(workload, 0).conversations[:300]:
        assert 1 <= len(c.exchanges) <= workload.customer.max_replies + 1
        assert all(e.customer_delay_s is not None for e in c.exchanges[:-1])
        assert c.exchanges[-1].customer_delay_s is None or \
            len(c.exchanges) == workload.customer.max_replies + 1
        assert all(e.handle_s >= 0 for e in c.exchanges)


def test_draws_follow_their_distribution() -> None:
    rng = random.Random(1)
    assert draw(Fixed(value="3m"), rng) == 180
    values = sorted(draw(LogNormal(median="4m", p90="10m"), rng) for _ in range(4000))
    assert 220 < values[2000] < 260 and 560 < values[3600] < 640
    mean = sum(draw(Exponential(mean="2h"), rng) for _ in range(4000)) / 4000
    assert 6800 < mean < 7600
    assert all(60 <= draw(Uniform(min="1m", max="2m"), rng) <= 120 for _ in range(100))


def test_shifts_repeat_and_breaks_cut_them() -> None:
    workload = default()
    spells = online_spells(workload, 2 * 86400)
    night = spells["ag-01"]  # 22:00-06:00, so also 00:00-06:00 of the first day
    assert night[0][0] == 0 and night[-1][1] <= 2 * 86400 + 6 * 3600
    assert any(begin >= 86400 for begin, _ in night)
    early = spells["ag-04"]  # 06:00-14:00, with breaks
    first_day = [(b, e) for b, e in early if b < 86400]
    assert first_day[0][0] == 6 * 3600 and first_day[-1][1] == 14 * 3600
    assert len(first_day) > 1
    assert all(e1 < b2 for (_, e1), (b2, _) in zip(early, early[1:], strict=False))
    no_breaks = msgspec.structs.replace(
        workload, agent=msgspec.structs.replace(workload.agent, breaks=None))
    assert online_spells(no_breaks, 86400)["ag-04"] == [(6 * 3600, 14 * 3600)]


def test_an_export_replays_its_tickets_and_customer_messages() -> None:
    workload = default()
    at = workload.start.replace(hour=9)

    def created(n: int, minutes: int) -> TicketCreated:
        return TicketCreated(
            event_id=f"e{n}", account_id="x", ticket_id=f"t{n}", number=n, channel="email",
            customer=Customer(email=f"c{n}@x.example"), subject="Hello",
            created_at=at.replace(minute=minutes), customer_ticket_count=1,
            segments=["vip"])

    def message(n: int, minutes: int) -> TicketMessage:
        return TicketMessage(
            event_id=f"m{n}-{minutes}", account_id="x", ticket_id=f"t{n}",
            message_id=f"<m{n}-{minutes}>", direction="inbound", author_kind="customer",
            author_id=None, text="hi", at=at.replace(minute=minutes))

    events = [created(2, 30), message(2, 30), created(1, 10), message(1, 10),
              message(1, 40)]
    lines = [encode(e) + b"\n" for e in events] + [b"\n"]
    day = from_export(lines, workload, 3600)
    assert [c.at for c in day.conversations] == [9 * 3600 + 600, 9 * 3600 + 1800]
    first = day.conversations[0]
    assert first.followups == (9 * 3600 + 2400,) and first.segments == ("vip",)
    assert first.customer == "c1@x.example" and first.channel == "email"
    assert all(e.customer_delay_s is None for e in first.exchanges)
    assert day.horizon_s == 86400 + 3600
    assert seconds(workload.duration) == day.day_s
