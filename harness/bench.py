"""Benchmarks on the embedded stack (X5); they print figures, tests assert behaviour."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec
from aiokafka import TopicPartition

from harness.devrun import SAMPLE_ACCOUNT
from harness.embedded import EmbeddedStack, KafkaBroker, TansuBroker, kafka_version
from harness.processes import WorkerProcess
from harness.traffic import sample_records
from schemas.agent_app import Presence, SetStatusCommand
from schemas.codec import decode, encode
from schemas.config import AccountDocument, AgentConfig, Capacity, load_account_yaml
from schemas.events import TicketAssigned, TicketCreated
from schemas.inbound import SmsMessage
from workers.runtime.kafka import make_producer, make_reader, partitions_of
from workers.runtime.settings import Settings
from workers.runtime.topics import DEFAULT_PARTITIONS, ensure_topics
from workers.state.config_publish import publish_accounts

READY = r"partitions assigned: [1-9]"


def _echo_broker(stack: EmbeddedStack) -> None:
    """Say which broker the figures that follow come from."""
    if isinstance(stack.broker, KafkaBroker):
        nodes = len(stack.broker.nodes)
        click.echo(f"broker: Apache Kafka {kafka_version()} (KRaft, {nodes} node"
                   f"{'s' if nodes > 1 else ''}, ready in {stack.broker.startup_s:.1f}s)")
    elif isinstance(stack.broker, TansuBroker):
        click.echo("broker: tansu")
    else:
        click.echo(f"broker: TICKETFLOW_KAFKA={stack.settings.kafka_bootstrap} "
                   "(not started here)")


def _broker_pid(stack: EmbeddedStack) -> int | None:
    """The broker process to sample CPU of (a Kafka cluster's first node); None if the
    broker was given from outside."""
    if isinstance(stack.broker, KafkaBroker):
        proc = stack.broker.nodes[0].proc
    else:
        proc = stack.broker.proc if stack.broker else None
    return proc.pid if proc else None


async def _reader_for(settings: Settings, topic: str) -> tuple[object, list[TopicPartition]]:
    reader = make_reader(settings)
    await reader.start()
    tps = await partitions_of(reader, settings.topic(topic))
    reader.assign(tps)
    return reader, tps


async def _count_records(settings: Settings, topic: str, expected: int,
                         timeout_s: float) -> float:
    """Read `topic` until `expected` records arrived; returns the monotonic time of the last."""
    reader, _ = await _reader_for(settings, topic)
    try:
        seen = 0
        deadline = time.monotonic() + timeout_s
        while seen < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {seen} of {expected} records on {topic}")
            batch = await reader.getmany(timeout_ms=100, max_records=10000)  # type: ignore[attr-defined]
            seen += sum(len(r) for r in batch.values())
        return time.monotonic()
    finally:
        await reader.stop()  # type: ignore[attr-defined]


async def _produce(settings: Settings, records: list[tuple[str, str, bytes]],
                   rate: float | None = None, sent_at: dict[str, float] | None = None) -> None:
    """Publish records, flat out or paced at `rate` per second (in 5 ms slices)."""
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        for i, (topic, key, value) in enumerate(records):
            if rate:
                due = started + i / rate
                if due - time.monotonic() > 0.005:
                    await asyncio.sleep(due - time.monotonic())
            if sent_at is not None:
                sent_at[key] = time.monotonic()
            await producer.send(settings.topic(topic), value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


def _start_replicas(settings: Settings, kinds: list[str], replicas: int) -> list[WorkerProcess]:
    workers = [WorkerProcess(kind, settings).start() for kind in kinds for _ in range(replicas)]
    # A replica's assignment completes only after its whole group re-synced, so once every
    # replica holds partitions the groups have settled.
    for worker in workers:
        worker.wait_for_log(READY, 90)
    return workers


def bench_ingest(messages: int, replicas: int, broker: str = "tansu") -> dict[str, float]:
    """Ingest throughput: `messages` customer messages through `replicas` ingest replicas.

    Every customer message yields exactly one `timers` record (its countdown cancel), so
    the run ends when that many `timers` records exist.
    """
    records = list(sample_records("acme", messages, seed=11, customers=max(50, messages // 10)))
    customer_messages = sum(1 for _, _, value in records
                            if not value.startswith(b'{"type":"typing"'))
    stack = EmbeddedStack(broker=broker)
    with stack as settings:
        _echo_broker(stack)
        publish_accounts(settings, [load_account_yaml(SAMPLE_ACCOUNT.read_text())])
        workers = _start_replicas(settings, ["ingest"], replicas)
        try:
            started = time.monotonic()

            async def drive() -> float:
                counter = asyncio.create_task(
                    _count_records(settings, "timers", customer_messages, 300))
                await _produce(settings, records)
                return await counter

            finished = asyncio.run(drive())
        finally:
            for worker in workers:
                worker.sigterm()
    elapsed = finished - started
    rate = customer_messages / elapsed
    click.echo(f"ingest x{replicas}: {customer_messages} messages "
               f"(+{len(records) - customer_messages} typing) threaded in {elapsed:.2f}s "
               f"= {rate:.0f} messages/s")
    return {"messages": float(customer_messages), "seconds": elapsed, "messages_per_s": rate}


async def raw_pass_through(settings: Settings, count: int, partitions: int) -> float:
    """Records/s of a plain consume-and-reproduce loop on the same broker: the ceiling any
    worker on it can reach."""
    ensure_topics(settings, {"bench.raw.in": partitions, "bench.raw.out": partitions})
    payload = encode(SmsMessage(account_id="bench", message_id="m", from_number="+15550000000",
                                to_number="+15557654321", body="x" * 60,
                                received_at=datetime.now(UTC)))
    await _produce(settings, [("bench.raw.in", f"k{i}", payload) for i in range(count)])
    reader, _ = await _reader_for(settings, "bench.raw.in")
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    try:
        started = time.monotonic()
        await _reproduce(settings, reader, producer, "bench.raw.out", count)
        return count / (time.monotonic() - started)
    finally:
        await producer.stop()
        await reader.stop()  # type: ignore[attr-defined]


async def _reproduce(settings: Settings, reader: Any, producer: Any, topic: str,
                     count: int) -> None:
    """The raw pass-through itself: re-produce what `reader` gets to `topic`, batch by
    batch with every ack awaited, until `count` records moved."""
    moved = 0
    while moved < count:
        batch = await reader.getmany(timeout_ms=100, max_records=5000)
        futures = [await producer.send(settings.topic(topic), r.value, key=r.key)
                   for records in batch.values() for r in records]
        await asyncio.gather(*futures)
        moved += len(futures)


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), None if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _p50_by_tenth(values: list[float]) -> list[float]:
    """Median of each tenth of `values`, in order: shows whether latency drifts in a run."""
    tenth = max(1, len(values) // 10)
    return [statistics.median(values[i:i + tenth]) for i in range(0, tenth * 10, tenth)
            if values[i:i + tenth]]


def _echo_tenths(latencies: list[float]) -> None:
    click.echo("  p50 by tenth of the run: "
               + ", ".join(f"{v * 1000:.1f}" for v in _p50_by_tenth(latencies)) + " ms")


async def _broker_alone(settings: Settings, count: int, rate: float | None,
                        broker_pid: int | None) -> tuple[list[float], list[float]]:
    """Paced records through one raw pass-through hop: per-record latency (published ->
    read back after the hop, in send order) and the broker's CPU share per tenth of the run."""
    sent_at: dict[str, float] = {}
    latency: dict[int, float] = {}
    records = [("bench.raw.in", f"k{i}", b"x" * 300) for i in range(count)]
    source, _ = await _reader_for(settings, "bench.raw.in")
    sink, _ = await _reader_for(settings, "bench.raw.out")
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    cpu: list[float] = []

    async def sample_cpu(pid: int, every_s: float) -> None:
        last, at = _cpu_seconds(pid), time.monotonic()
        while last is not None:
            await asyncio.sleep(every_s)
            now, now_at = _cpu_seconds(pid), time.monotonic()
            if now is None:
                return
            cpu.append((now - last) / (now_at - at))
            last, at = now, now_at

    hop = asyncio.create_task(_reproduce(settings, source, producer, "bench.raw.out", count))
    # An external broker (TICKETFLOW_KAFKA) has no process here to sample.
    sampler = asyncio.create_task(sample_cpu(broker_pid, count / rate / 10 if rate else 0.5)
                                  if broker_pid else asyncio.sleep(0))
    publish = asyncio.create_task(_produce(settings, records, rate, sent_at))
    try:
        while len(latency) < count:
            batch = await sink.getmany(timeout_ms=100, max_records=10000)  # type: ignore[attr-defined]
            now = time.monotonic()
            for raw in (r for rs in batch.values() for r in rs):
                key = raw.key.decode()
                latency[int(key[1:])] = now - sent_at[key]
        await asyncio.gather(hop, publish)
    finally:
        sampler.cancel()
        await producer.stop()
        await source.stop()  # type: ignore[attr-defined]
        await sink.stop()  # type: ignore[attr-defined]
    return [latency[i] for i in range(count)], cpu[:10]


def bench_broker(records: int, rate: float | None, partitions: int,
                 broker: str = "tansu") -> dict[str, float]:
    """The broker alone under the pipeline's load shape: one consume-and-reproduce hop,
    paced, with latency and the broker's CPU per tenth of the run. No ticketflow code runs,
    so what drifts here drifts under the workers too."""
    stack = EmbeddedStack(partitions=partitions, broker=broker)
    with stack as settings:
        _echo_broker(stack)
        ensure_topics(settings, {"bench.raw.in": partitions, "bench.raw.out": partitions})
        latencies, cpu = asyncio.run(_broker_alone(settings, records, rate, _broker_pid(stack)))
    figures = _percentiles_ms(latencies, (50, 99))
    paced = f"paced at {rate:.0f}/s" if rate else "flat out"
    click.echo(f"broker alone, one raw pass-through hop, {records} records {paced}, "
               f"{partitions} partitions: latency {_percentiles_text(figures)}")
    _echo_tenths(latencies)
    if cpu:
        click.echo("  broker CPU by tenth of the run: "
                   + ", ".join(f"{c:.0%}" for c in cpu) + " of a core")
    return figures


class RoutedRun(msgspec.Struct):
    """What one routed run measured: tickets/s, per-ticket latencies, the same by hop (s),
    and how many tickets got their agent by a drain of the queue (method backlog)."""

    routed_per_s: float
    latencies: list[float]
    hops: dict[str, list[float]]
    backlog: int = 0


async def _route_and_watch(settings: Settings, count: int, rate: float | None,
                           account_id: str = "bench", close: bool = False) -> RoutedRun:
    """Send `count` new-customer SMS to `account_id`; return routed tickets/s, per-ticket
    latencies (message published -> its first ticket.assigned with an agent read back) and
    the same split by hop from the records' create times, in seconds. "written" is the
    latency without the read-back hop: what any consumer sees less its own fetch wait.
    With `close`, each ticket is closed by its agent as soon as its assignment is read
    back (a set_status command), so places free and the queue drains (R11, R12)."""
    records = []
    for i in range(count):
        message = SmsMessage(account_id=account_id, message_id=f"{account_id}-{i}",
                             from_number=f"+1999{i:07d}", to_number="+15557654321",
                             body="Where is my order?", received_at=datetime.now(UTC))
        records.append(("inbound.sms", message.from_number, encode(message)))
    sent_at: dict[str, float] = {}
    phone_of: dict[str, str] = {}
    created_ms: dict[str, int] = {}
    latencies: list[float] = []
    hops: dict[str, list[float]] = {"ingest": [], "router": [], "read back": [],
                                    "written": []}
    routed: set[str] = set()
    backlog = 0
    reader, _ = await _reader_for(settings, "tickets.events")
    closer = make_producer(settings, linger_ms=5)
    await closer.start()
    started = time.monotonic()
    producer = asyncio.create_task(_produce(settings, records, rate, sent_at))
    finished = started
    try:
        while len(latencies) < count:
            batch = await reader.getmany(timeout_ms=100, max_records=10000)  # type: ignore[attr-defined]
            now = time.monotonic()
            wall_ms = time.time() * 1e3
            for raw in (r for records in batch.values() for r in records):
                event = decode("tickets.events", raw.value)
                if event.account_id != account_id:  # an earlier run's tail
                    continue
                if isinstance(event, TicketCreated):
                    phone_of[event.ticket_id] = event.customer.phone or ""
                    created_ms[event.ticket_id] = raw.timestamp
                elif (isinstance(event, TicketAssigned) and event.agent_id
                      and event.ticket_id not in routed):
                    routed.add(event.ticket_id)
                    backlog += event.method == "backlog"
                    if close:
                        await closer.send(settings.topic("tickets.commands"), encode(
                            SetStatusCommand(
                                command_id=f"close-{event.ticket_id}", account_id=account_id,
                                actor_id=event.agent_id, at=datetime.now(UTC),
                                ticket_id=event.ticket_id, status="closed")),
                            key=event.ticket_id.encode())
                    phone = phone_of[event.ticket_id]
                    latencies.append(now - sent_at[phone])
                    sent_ms = wall_ms - (now - sent_at[phone]) * 1e3
                    hops["ingest"].append((created_ms[event.ticket_id] - sent_ms) / 1e3)
                    hops["router"].append((raw.timestamp - created_ms[event.ticket_id]) / 1e3)
                    hops["read back"].append((wall_ms - raw.timestamp) / 1e3)
                    hops["written"].append((raw.timestamp - sent_ms) / 1e3)
                    finished = now
            if now - started > 600:
                raise TimeoutError(f"only {len(latencies)} of {count} tickets routed")
        await producer
    finally:
        await closer.stop()
        await reader.stop()  # type: ignore[attr-defined]
    return RoutedRun(count / (finished - started), latencies, hops, backlog)


def _percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 10) - 1] if len(values) > 1 else values[0]


def _percentiles_ms(values: list[float], qs: tuple[int, ...] = (50, 95, 99),
                    prefix: str = "") -> dict[str, float]:
    """{prefix}p{q}_ms for each q, from latencies in seconds: the figures a bench returns."""
    return {f"{prefix}p{q}_ms": _percentile(values, q) * 1000 for q in qs}


def _percentiles_text(figures: dict[str, float]) -> str:
    """'p50 12.3 ms, p99 45.6 ms' from what `_percentiles_ms` returned."""
    return ", ".join(f"{name.rsplit('_', 2)[-2]} {ms:.1f} ms" for name, ms in figures.items())


def _wait_any(workers: list[WorkerProcess], pattern: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        for worker in workers:
            try:
                worker.wait_for_log(pattern, timeout_s=0.05)
                return
            except TimeoutError:
                pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"no replica logged /{pattern}/")


ROUTINGS = ("round_robin", "balanced-capacity", "both")
CAPACITY = 20
"""Open SMS each bench agent takes automatically under `balanced-capacity` (default)."""


def _bench_accounts(capacity: int) -> dict[str, AccountDocument]:
    """The bench's accounts by routing: five agents, always open; round robin as ever, or
    every agent limited to `capacity` open SMS with balanced assignment (R11, R13)."""
    agents = [AgentConfig(id=f"a{i}", name=f"A{i}", email=f"a{i}@bench.example",
                          role="support") for i in range(5)]
    return {
        "round_robin": AccountDocument(account_id="bench", version=1, round_robin=True,
                                       agents=agents),
        "balanced-capacity": AccountDocument(
            account_id="bench-cap", version=1, round_robin=True, assignment_method="balanced",
            presence_timeout_seconds=None,
            agents=[msgspec.structs.replace(a, capacity=Capacity(sms=capacity))
                    for a in agents])}


def _echo_routed(run: RoutedRun, raw: float, tickets: int, replicas: int, rate: float | None,
                 routing: str, capacity: int) -> dict[str, float]:
    latency = _percentiles_ms(run.latencies)
    written = _percentiles_ms(run.hops.pop("written"), prefix="written_")
    figures = {"routed_per_s": run.routed_per_s, "raw_per_s": raw,
               "ratio": run.routed_per_s / raw, **latency, **written}
    # A paced run routes what it is given, so only a flat-out run's ratio means anything.
    paced = f"paced at {rate:.0f}/s" if rate else "flat out"
    ratio = ("ratio for flat-out runs only" if rate
             else f"{figures['ratio']:.0%} of raw pass-through")
    how = "" if routing == "round_robin" else (
        f" (balanced, capacity {capacity} SMS per agent, each closed as assigned; "
        f"{run.backlog} assigned by backlog)")
    click.echo(f"ingest+router x{replicas}, {tickets} tickets {paced}{how}: "
               f"{run.routed_per_s:.0f} routed tickets/s = {ratio}; "
               f"latency {_percentiles_text(latency)}")
    _echo_tenths(run.latencies)
    click.echo("  to ticket.assigned written (its create time, no read-back hop): "
               + _percentiles_text(written))
    click.echo("  by hop (record create times): " + "; ".join(
        f"{hop} {_percentiles_text(_percentiles_ms(values, (50, 99)))}"
        for hop, values in run.hops.items()))
    return figures


def bench_pipeline(tickets: int, replicas: int, rate: float | None,
                   partitions: int = DEFAULT_PARTITIONS, broker: str = "tansu",
                   routing: str = "round_robin", capacity: int = CAPACITY,
                   ) -> dict[str, float]:
    """Routed tickets/s and end-to-end latency through ingest + router, next to a raw
    pass-through of the same broker measured in the same run (X5). Every topic, the raw
    pass-through's included, gets `partitions` partitions. `routing` "both" runs round
    robin, then capacity + balanced with every ticket closed as it is assigned, on the same
    broker and workers, and prints the two rates side by side."""
    accounts = _bench_accounts(capacity)
    runs = ["round_robin", "balanced-capacity"] if routing == "both" else [routing]
    stack = EmbeddedStack(partitions=partitions, broker=broker)
    results: dict[str, dict[str, float]] = {}
    with stack as settings:
        _echo_broker(stack)
        publish_accounts(settings, [accounts[r] for r in runs])
        raw = asyncio.run(raw_pass_through(settings, tickets, partitions))
        click.echo(f"raw pass-through: {raw:.0f} records/s (consume + re-produce, aiokafka; "
                   f"{partitions} partitions per topic)")
        workers = _start_replicas(settings, ["ingest", "router"], replicas)
        try:
            ids = [accounts[r].account_id for r in runs]
            asyncio.run(_produce(settings, [
                ("agents.presence", f"a{i}", encode(Presence(
                    account_id=account_id, agent_id=f"a{i}", actor_id=f"a{i}",
                    status="online", at=datetime.now(UTC))))
                for account_id in ids for i in range(5)]))
            routers = [w for w in workers if w.kind == "router"]
            for account_id in ids:  # each presence record lands on whichever replica owns it
                for i in range(5):
                    _wait_any(routers, f"presence {account_id} a{i} online")
            for r in runs:
                run = asyncio.run(_route_and_watch(
                    settings, tickets, rate, accounts[r].account_id,
                    close=r == "balanced-capacity"))
                results[r] = _echo_routed(run, raw, tickets, replicas, rate, r, capacity)
                results[r]["backlog"] = float(run.backlog)
        finally:
            for worker in workers:
                worker.sigterm()
    if routing == "both":
        plain, loaded = results["round_robin"], results["balanced-capacity"]
        click.echo(f"routing, same run: round robin {plain['routed_per_s']:.0f} routed "
                   f"tickets/s, balanced + capacity {capacity}/agent closing as assigned "
                   f"{loaded['routed_per_s']:.0f} routed tickets/s "
                   f"({loaded['routed_per_s'] / plain['routed_per_s']:.0%}), "
                   f"{loaded['backlog']:.0f} of {tickets} by backlog")
        return {**plain, **{f"capacity_{k}": v for k, v in loaded.items()}}
    return results[routing]
