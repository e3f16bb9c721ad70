"""Benchmarks on the embedded stack; they print figures, tests assert behaviour."""

from __future__ import annotations

import asyncio
import time

import click
from aiokafka import TopicPartition

from schemas.config import load_account_yaml
from workers.config_publish import publish_accounts
from workers.devrun import SAMPLE_ACCOUNT
from workers.embedded import EmbeddedStack
from workers.kafka import make_producer, make_reader
from workers.processes import WorkerProcess
from workers.settings import Settings
from workers.traffic import sample_records


async def _count_records(settings: Settings, topic: str, expected: int,
                         timeout_s: float) -> float:
    """Read `topic` until `expected` records arrived; returns the monotonic time of the last."""
    reader = make_reader(settings)
    await reader.start()
    try:
        name = settings.topic(topic)
        await reader.topics()
        tps = [TopicPartition(name, p) for p in sorted(reader.partitions_for_topic(name) or [])]
        reader.assign(tps)
        seen = 0
        deadline = time.monotonic() + timeout_s
        while seen < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {seen} of {expected} records on {topic}")
            batch = await reader.getmany(timeout_ms=100, max_records=10000)
            seen += sum(len(r) for r in batch.values())
        return time.monotonic()
    finally:
        await reader.stop()


async def _produce(settings: Settings, records: list[tuple[str, str, bytes]]) -> None:
    producer = make_producer(settings, linger_ms=5)
    await producer.start()
    try:
        for topic, key, value in records:
            await producer.send(settings.topic(topic), value, key=key.encode())
        await producer.flush()
    finally:
        await producer.stop()


def bench_ingest(messages: int, replicas: int) -> dict[str, float]:
    """Ingest throughput: `messages` customer messages through `replicas` ingest replicas.

    Every customer message yields exactly one `timers` record (its countdown cancel), so
    the run ends when that many `timers` records exist.
    """
    records = list(sample_records("acme", messages, seed=11, customers=max(50, messages // 10)))
    customer_messages = sum(1 for topic, _, value in records
                            if not value.startswith(b'{"type":"typing"'))
    with EmbeddedStack() as settings:
        publish_accounts(settings, [load_account_yaml(SAMPLE_ACCOUNT.read_text())])
        workers = [WorkerProcess("ingest", settings).start() for _ in range(replicas)]
        try:
            # A replica's assignment completes only after the whole group re-synced, so once
            # every replica holds partitions the group has settled.
            for worker in workers:
                worker.wait_for_log(r"partitions assigned: [1-9]", 90)
            started = time.monotonic()

            async def drive() -> float:
                counter = asyncio.create_task(
                    _count_records(settings, "timers", customer_messages, 300))
                await _produce(settings, records)
                produced = time.monotonic()
                click.echo(f"produced {len(records)} records in {produced - started:.2f}s")
                return await counter

            finished = asyncio.run(drive())
        finally:
            for worker in workers:
                worker.sigterm()
    elapsed = finished - started
    figures = {"records": float(len(records)), "messages": float(customer_messages),
               "seconds": elapsed, "messages_per_s": customer_messages / elapsed}
    typing_records = len(records) - customer_messages
    click.echo(f"ingest x{replicas}: {customer_messages} messages (+{typing_records} typing) "
               f"threaded in {elapsed:.2f}s = {figures['messages_per_s']:.0f} messages/s")
    return figures
