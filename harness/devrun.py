"""`make run`: a whole local system with sample traffic and sample agents, shown live: a
view redrawn in place on a terminal (harness/live_view.py), event lines otherwise."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from collections import deque
from pathlib import Path
from typing import TextIO

import click
import msgspec

from harness.embedded import EmbeddedStack
from harness.live_feed import EventTally, follow_events, show_live
from harness.live_screen import Screen
from harness.processes import WORKER_KINDS, WorkerProcess
from harness.sample_agents import close_tickets, keep_presence
from harness.traffic import publish_sample_traffic
from schemas.config import AccountDocument, load_account_yaml
from schemas.events import TicketAssigned, TicketCreated, TicketStatus
from workers.runtime.settings import Settings
from workers.state.config_publish import publish_accounts

ACCOUNTS = Path(__file__).resolve().parent.parent / "deploy" / "accounts"
SAMPLE_ACCOUNT = ACCOUNTS / "acme.yaml"
BALANCED_ACCOUNT = ACCOUNTS / "acme-balanced.yaml"


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
    """The plain output: one line per event worth one, as it is read."""
    def echo(event: object) -> None:
        line = describe(event)
        if line:
            click.echo(line)

    await follow_events(settings, stop, echo)


def demo_accounts() -> list[AccountDocument]:
    """The sample accounts, open around the clock so the demo assigns at any hour: `acme`
    routes round robin without limits; `acme-balanced` has capacities, skills, rule
    priorities and balanced assignment (R11-R15), with a short presence timeout and
    offline delay so that a sample agent's break shows within a minute."""
    plain = load_account_yaml(SAMPLE_ACCOUNT.read_text())
    balanced = load_account_yaml(BALANCED_ACCOUNT.read_text())
    return [msgspec.structs.replace(plain, business_hours=None),
            msgspec.structs.replace(balanced, business_hours=None,
                                    presence_timeout_seconds=15,
                                    reassign_offline_after_seconds=10)]


def shows_live_view(plain: bool, out: TextIO) -> bool:
    """The live view needs a terminal to redraw; piped or redirected output gets lines."""
    return not plain and out.isatty()


async def run_local(rate: float, count: int, plain: bool = False,
                    broker: str = "tansu") -> None:
    """Run the whole system with sample traffic until Ctrl-C or SIGTERM; `plain`: print
    event lines instead of the live view (also when stdout is not a terminal); `broker`:
    tansu, or Apache Kafka."""
    live = shows_live_view(plain, sys.stdout)
    warnings: deque[str] = deque(maxlen=5)

    def worker_line(line: str) -> None:
        if " WARNING " in line or " ERROR " in line or "Traceback" in line:
            if live:
                warnings.append(line)  # on the view: stderr would tear the screen
            else:
                click.echo(line, err=True)

    with EmbeddedStack(broker=broker) as settings:
        click.echo(f"broker {settings.kafka_bootstrap}  redis {settings.redis_url}")
        accounts = demo_accounts()
        publish_accounts(settings, accounts)
        workers = [WorkerProcess(kind, settings, echo=worker_line) for kind in WORKER_KINDS]
        for worker in workers:
            worker.start()  # from this thread: children die with the thread that made them
        for worker in workers:
            await asyncio.to_thread(worker.wait_for_log, r"partitions assigned: [1-9]")
        click.echo(f"workers ready: {', '.join(WORKER_KINDS)}; sample traffic at {rate}/s "
                   f"for {', '.join(a.account_id for a in accounts)}; Ctrl-C stops")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        started = time.monotonic()
        if live:
            shown = asyncio.create_task(show_live(settings, accounts, stop, Screen(sys.stdout),
                                                  warnings))
        else:
            shown = asyncio.create_task(print_events(settings, stop))
        helpers = [asyncio.create_task(keep_presence(settings, accounts, started)),
                   asyncio.create_task(close_tickets(settings, accounts, started))]
        share = len(accounts)
        helpers += [asyncio.create_task(publish_sample_traffic(
            settings, account.account_id, count // share, rate / share, seed=7 + i))
            for i, account in enumerate(accounts)]
        await asyncio.wait([asyncio.create_task(stop.wait()), shown],
                           return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        for task in helpers:
            task.cancel()
        outcomes = await asyncio.gather(shown, *helpers, return_exceptions=True)
        if isinstance(outcomes[0], EventTally):
            totals = outcomes[0].totals
            click.echo(f"{totals['created']} tickets created, {totals['routed']} routed "
                       f"({totals['from_queue']} from the queue), {totals['closed']} closed")
        elif isinstance(outcomes[0], Exception):
            click.echo(f"live view failed: {outcomes[0]!r}", err=True)
        click.echo("stopping workers (SIGTERM: drain and commit)")
        # All at once: each drains within its own grace period, not after the others'.
        codes = await asyncio.gather(*(asyncio.to_thread(w.sigterm) for w in workers))
        for worker, code in zip(workers, codes, strict=True):
            click.echo(f"{worker.kind} exited with code {code}")
