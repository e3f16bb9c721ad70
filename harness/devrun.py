"""`make run`: a whole local system with sample traffic, printing events as they happen."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime
from pathlib import Path

import click
import msgspec

from harness.embedded import EmbeddedStack
from harness.processes import WORKER_KINDS, WorkerProcess
from harness.traffic import publish_sample_traffic
from schemas.agent_app import Presence
from schemas.codec import decode, encode
from schemas.config import AccountDocument, load_account_yaml
from schemas.events import TicketAssigned, TicketCreated, TicketStatus
from workers.runtime.kafka import make_producer, make_reader, partitions_of
from workers.runtime.settings import Settings
from workers.state.config_publish import publish_accounts

SAMPLE_ACCOUNT = Path(__file__).resolve().parent.parent / "deploy" / "accounts" / "acme.yaml"


def describe(event: object) -> str | None:
    """One human line per ticket event, or None for events not worth a line."""
    if isinstance(event, TicketCreated):
        who = event.customer.phone or event.customer.email or event.customer.name or "visitor"
        return (f"#{event.number:<5} created  {event.channel:<7} {who} "
                f"(customer's ticket #{event.customer_ticket_count})")
    if isinstance(event, TicketAssigned):
        return (f"{event.ticket_id} assigned team={event.team_id} agent={event.agent_id} "
                f"by {event.method}")
    if isinstance(event, TicketStatus):
        return f"{event.ticket_id} {event.previous_status} -> {event.status} ({event.reason})"
    return None


async def print_events(settings: Settings, stop: asyncio.Event) -> None:
    reader = make_reader(settings)
    await reader.start()
    try:
        topic = settings.topic("tickets.events")
        await reader.topics()
        tps = await partitions_of(reader, topic)  # Kafka's first metadata names no topic
        reader.assign(tps)
        while not stop.is_set():
            batch = await reader.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    line = describe(decode("tickets.events", record.value))
                    if line:
                        click.echo(line)
    finally:
        await reader.stop()


async def keep_agents_online(settings: Settings, account: AccountDocument,
                             every_s: float = 30.0) -> None:
    """Sample agents sign in and send heartbeats, as the agent app would."""
    producer = make_producer(settings)
    await producer.start()
    try:
        status = "online"
        while True:
            for agent in account.agents:
                await producer.send(settings.topic("agents.presence"), encode(Presence(
                    account_id=account.account_id, agent_id=agent.id, actor_id=agent.id,
                    status=status, at=datetime.now(UTC))), key=agent.id.encode())
            status = "heartbeat"
            await asyncio.sleep(every_s)
    finally:
        await producer.stop()


def demo_account() -> AccountDocument:
    """The sample account, open around the clock so the demo assigns at any hour."""
    return msgspec.structs.replace(load_account_yaml(SAMPLE_ACCOUNT.read_text()),
                                   business_hours=None)


async def run_local(rate: float, count: int) -> None:
    with EmbeddedStack() as settings:
        click.echo(f"broker {settings.kafka_bootstrap}  redis {settings.redis_url}")
        account = demo_account()
        publish_accounts(settings, [account])
        workers = [WorkerProcess(kind, settings, echo=_echo_warnings) for kind in WORKER_KINDS]
        for worker in workers:
            worker.start()  # from this thread: children die with the thread that made them
        for worker in workers:
            await asyncio.to_thread(worker.wait_for_log, r"partitions assigned: [1-9]")
        click.echo(f"workers ready: {', '.join(WORKER_KINDS)}; sample traffic at {rate}/s; "
                   "Ctrl-C stops")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        printer = asyncio.create_task(print_events(settings, stop))
        presence = asyncio.create_task(keep_agents_online(settings, account))
        traffic = asyncio.create_task(publish_sample_traffic(settings, "acme", count, rate))
        await stop.wait()
        traffic.cancel()
        presence.cancel()
        await asyncio.gather(printer, traffic, presence, return_exceptions=True)
        click.echo("stopping workers (SIGTERM: drain and commit)")
        for worker in workers:
            code = await asyncio.to_thread(worker.sigterm)
            click.echo(f"{worker.kind} exited with code {code}")


def _echo_warnings(line: str) -> None:
    if " WARNING " in line or " ERROR " in line or "Traceback" in line:
        click.echo(line, err=True)
