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
from aiokafka import TopicPartition

from harness.devrun import SAMPLE_ACCOUNT
from harness.embedded import EmbeddedStack, KafkaBroker, TansuBroker, kafka_version
from harness.processes import WorkerProcess
from harness.traffic import sample_records
from schemas.agent_app import Presence
from schemas.codec import decode, encode
from schemas.config import AccountDocument, AgentConfig, load_account_yaml
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


async def _route_and_watch(settings: Settings, count: int, rate: float | None,
                           ) -> tuple[float, list[float], dict[str, list[float]]]:
    """Send `count` new-customer SMS; return routed tickets/s, per-ticket latencies
    (message published -> its ticket.assigned read back) and the same split by hop from
    the records' create times, in seconds. "written" is the latency without the read-back
    hop: what any consumer sees less its own fetch wait."""
    records = []
    for i in range(count):
        message = SmsMessage(account_id="bench", message_id=f"b{i}", from_number=f"+1999{i:07d}",
                             to_number="+15557654321", body="Where is my order?",
                             received_at=datetime.now(UTC))
        records.append(("inbound.sms", message.from_number, encode(message)))
    sent_at: dict[str, float] = {}
    phone_of: dict[str, str] = {}
    created_ms: dict[str, int] = {}
    latencies: list[float] = []
    hops: dict[str, list[float]] = {"ingest": [], "router": [], "read back": [],
                                    "written": []}
    reader, _ = await _reader_for(settings, "tickets.events")
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
                if isinstance(event, TicketCreated):
                    phone_of[event.ticket_id] = event.customer.phone or ""
                    created_ms[event.ticket_id] = raw.timestamp
                elif isinstance(event, TicketAssigned) and event.agent_id:
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
        await reader.stop()  # type: ignore[attr-defined]
    return count / (finished - started), latencies, hops


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


def bench_pipeline(tickets: int, replicas: int, rate: float | None,
                   partitions: int = DEFAULT_PARTITIONS, broker: str = "tansu",
                   ) -> dict[str, float]:
    """Routed tickets/s and end-to-end latency through ingest + router, next to a raw
    pass-through of the same broker measured in the same run (X5). Every topic, the raw
    pass-through's included, gets `partitions` partitions."""
    account = AccountDocument(account_id="bench", version=1, round_robin=True, agents=[
        AgentConfig(id=f"a{i}", name=f"A{i}", email=f"a{i}@bench.example", role="support")
        for i in range(5)])
    stack = EmbeddedStack(partitions=partitions, broker=broker)
    with stack as settings:
        _echo_broker(stack)
        publish_accounts(settings, [account])
        raw = asyncio.run(raw_pass_through(settings, tickets, partitions))
        click.echo(f"raw pass-through: {raw:.0f} records/s (consume + re-produce, aiokafka; "
                   f"{partitions} partitions per topic)")
        workers = _start_replicas(settings, ["ingest", "router"], replicas)
        try:
            asyncio.run(_produce(settings, [
                ("agents.presence", f"a{i}", encode(Presence(
                    account_id="bench", agent_id=f"a{i}", actor_id=f"a{i}", status="online",
                    at=datetime.now(UTC)))) for i in range(5)]))
            routers = [w for w in workers if w.kind == "router"]
            for i in range(5):  # each presence record lands on whichever replica owns it
                _wait_any(routers, f"presence bench a{i} online")
            routed, latencies, hops = asyncio.run(_route_and_watch(settings, tickets, rate))
        finally:
            for worker in workers:
                worker.sigterm()
    latency = _percentiles_ms(latencies)
    written = _percentiles_ms(hops.pop("written"), prefix="written_")
    figures = {"routed_per_s": routed, "raw_per_s": raw, "ratio": routed / raw,
               **latency, **written}
    # A paced run routes what it is given, so only a flat-out run's ratio means anything.
    paced = f"paced at {rate:.0f}/s" if rate else "flat out"
    ratio = ("ratio for flat-out runs only" if rate
             else f"{figures['ratio']:.0%} of raw pass-through")
    click.echo(f"ingest+router x{replicas}, {tickets} tickets {paced}: "
               f"{routed:.0f} routed tickets/s = {ratio}; "
               f"latency {_percentiles_text(latency)}")
    _echo_tenths(latencies)
    click.echo("  to ticket.assigned written (its create time, no read-back hop): "
               + _percentiles_text(written))
    click.echo("  by hop (record create times): " + "; ".join(
        f"{hop} {_percentiles_text(_percentiles_ms(values, (50, 99)))}"
        for hop, values in hops.items()))
    return figures
