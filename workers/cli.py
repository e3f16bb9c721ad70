"""The `ticketflow` command."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
import msgspec

from schemas.codec import field_reason
from schemas.config import AccountDocument, check_helpdesk_host, load_account_yaml
from workers.runtime.logs import configure_logging
from workers.runtime.settings import Settings


@click.group()
def main() -> None:
    """ticketflow: helpdesk routing back end."""
    configure_logging()


@main.group()
def config() -> None:
    """Account documents (accounts.config)."""


def _load_documents(files: tuple[Path, ...]) -> list[AccountDocument]:
    allowed_hosts = Settings.from_env().helpdesk_allowed_hosts  # the deployment's, as workers
    documents = []
    for path in files:
        try:
            document = load_account_yaml(path.read_text())
        except msgspec.ValidationError as exc:  # in the words every refusal uses
            click.echo(f"{path}: refused: {field_reason(str(exc))}", err=True)
            sys.exit(2)
        except Exception as exc:  # YAML syntax and the like
            click.echo(f"{path}: refused: {exc}", err=True)
            sys.exit(2)
        reason = check_helpdesk_host(document, allowed_hosts)
        if reason is not None:
            click.echo(f"{path}: refused: {reason}", err=True)
            sys.exit(2)
        documents.append(document)
    return documents


@config.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def config_check(files: tuple[Path, ...]) -> None:
    """Validate account documents without publishing them."""
    for document in _load_documents(files):
        click.echo(f"{document.account_id} version {document.version}: valid")


@config.command("apply")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def config_apply(files: tuple[Path, ...]) -> None:
    """Validate account documents and publish them; every replica picks them up live."""
    from workers.runtime.topics import ensure_topics
    from workers.state.config_publish import publish_accounts

    documents = _load_documents(files)
    settings = Settings.from_env()
    ensure_topics(settings)
    publish_accounts(settings, documents)
    for document in documents:
        click.echo(f"{document.account_id} version {document.version}: published")


@main.group()
def topics() -> None:
    """Broker topics."""


@topics.command("ensure")
def topics_ensure() -> None:
    """Create every ticketflow topic that is missing (idempotent)."""
    from workers.runtime.topics import PARTITIONS, ensure_topics

    settings = Settings.from_env()
    ensure_topics(settings)
    click.echo(f"{len(PARTITIONS)} topics present with prefix {settings.topic_prefix!r}")


@main.command()
@click.argument("kind", type=click.Choice(["ingest", "router", "closer", "handoff"]))
def worker(kind: str) -> None:
    """Run one replica of a worker kind (settings from TICKETFLOW_* variables)."""
    run_worker(kind)


def run_worker(kind: str) -> None:
    """Run one replica of a kind until it has drained: the one launch path of deploy/,
    `make run`, the tests, the chaos run and the benchmark (all start `ticketflow worker`),
    and of `python -m workers.<kind>`. The runtime (workers/runtime/replica.py) does the
    same for every kind; helpdesk secrets come from the environment by the names accounts
    give."""
    import os

    from workers.kinds import KINDS
    from workers.runtime.durability import warn_if_redis_loses_writes
    from workers.runtime.replica import run_kind

    settings = Settings.from_env()
    warn_if_redis_loses_writes(settings)
    run_kind(KINDS[kind], settings, os.environ)


@main.group()
def handoff() -> None:
    """AI-agent handoff to humans (H7, H8)."""


@handoff.command("verify")
@click.option("--account", "account_id", required=True)
def handoff_verify(account_id: str) -> None:
    """Check the account's helpdesk credentials against the helpdesk's identity endpoint."""
    import os

    from workers.handoff.verify import verify_account

    ok, message = asyncio.run(verify_account(Settings.from_env(), account_id,
                                             dict(os.environ)))
    click.echo(f"{account_id}: {message}", err=not ok)
    if not ok:
        sys.exit(1)


@handoff.command("stats")
@click.option("--account", "account_id", required=True)
def handoff_stats(account_id: str) -> None:
    """AI conversations resolved by the AI versus routed to the team (H8)."""
    from workers.handoff.verify import conversation_stats

    ends = asyncio.run(conversation_stats(Settings.from_env(), account_id))
    total = sum(ends.values())
    rate = f"{100 * ends['resolved'] / total:.1f}%" if total else "n/a"
    click.echo(f"{account_id}: resolved {ends['resolved']}, routed {ends['routed']}, "
               f"message {ends['message']}, failed {ends['failed']} "
               f"(of {total} conversations; resolution rate {rate})")


@main.command()
@click.option("--rate", default=5.0, show_default=True, help="Sample messages per second.")
@click.option("--count", default=100000, show_default=True,
              help="Stop the traffic after this many.")
@click.option("--plain", is_flag=True,
              help="Print one line per event instead of the live view (the default when "
                   "stdout is not a terminal).")
@click.option("--broker", type=click.Choice(["tansu", "kafka"]), default="tansu",
              show_default=True, help="The embedded broker (kafka: Apache Kafka in KRaft "
                                      "mode, after `make kafka`).")
def run(rate: float, count: int, plain: bool, broker: str) -> None:
    """Start broker, Redis, the workers, sample traffic and sample agents; show agents,
    the queue, rates and assignments live."""
    from harness.devrun import run_local

    asyncio.run(run_local(rate, count, plain, broker=broker))


@main.command()
@click.option("--broker", type=click.Choice(["tansu", "kafka"]), default="tansu",
              show_default=True, help="tansu, or Apache Kafka in KRaft mode (make kafka).")
@click.option("--brokers", default=1, show_default=True, type=click.IntRange(1, 9),
              help="Kafka nodes (3: replication factor 3, min.insync.replicas 2).")
def stack(broker: str, brokers: int) -> None:
    """Run a broker and a redis-server on loopback until Ctrl-C or SIGTERM; prints the
    TICKETFLOW_KAFKA and TICKETFLOW_REDIS lines to point workers at them."""
    from harness.embedded import serve_stack

    if broker == "tansu" and brokers != 1:
        raise click.BadParameter("tansu runs a single broker; use --broker kafka",
                                 param_hint="--brokers")
    try:
        serve_stack(broker, brokers, click.echo)
    except RuntimeError as exc:  # a service could not start: say why, no traceback
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.option("--count", default=1000, show_default=True)
@click.option("--rate", default=None, type=float, help="Messages per second (default: flat out).")
@click.option("--account", default="acme", show_default=True)
def traffic(count: int, rate: float | None, account: str) -> None:
    """Publish sample customer traffic to the inbound topics."""
    from harness.traffic import publish_sample_traffic

    sent = asyncio.run(publish_sample_traffic(Settings.from_env(), account, count, rate))
    click.echo(f"published {sent} records")


@main.command()
@click.option("--stage", type=click.Choice(["pipeline", "ingest", "broker"]),
              default="pipeline", show_default=True,
              help="ingest + router, ingest alone, or the broker alone (one raw hop, "
                   "latency and broker CPU per tenth of the run).")
@click.option("--tickets", default=20000, show_default=True, help="Messages to drive through.")
@click.option("--replicas", default=1, show_default=True, help="Replicas of each worker kind.")
@click.option("--rate", default=None, type=float,
              help="Pace inbound messages at this many per second (default: flat out).")
@click.option("--partitions", default=8, show_default=True,
              help="Partitions per topic on the embedded broker (pipeline stage).")
@click.option("--broker", type=click.Choice(["tansu", "kafka"]), default="tansu",
              show_default=True,
              help="The embedded broker: tansu, or Apache Kafka in KRaft mode (make kafka).")
@click.option("--routing", type=click.Choice(["round_robin", "balanced-capacity", "both"]),
              default="round_robin", show_default=True,
              help="Pipeline stage: plain round robin, every agent limited by capacity with "
                   "balanced assignment and tickets closed as assigned, or both in one run.")
@click.option("--capacity", default=20, show_default=True,
              help="Open SMS per agent under balanced-capacity routing.")
def bench(stage: str, tickets: int, replicas: int, rate: float | None,
          partitions: int, broker: str, routing: str, capacity: int) -> None:
    """Routed tickets/s and latency percentiles beside a raw pass-through of the same
    broker (X5)."""
    from harness.bench import bench_broker, bench_ingest, bench_pipeline

    if partitions < replicas:
        raise click.BadParameter(f"{replicas} replicas need at least as many partitions",
                                 param_hint="--partitions")
    try:
        if stage == "ingest":
            bench_ingest(tickets, replicas, broker)
        elif stage == "broker":
            bench_broker(tickets, rate, partitions, broker)
        else:
            bench_pipeline(tickets, replicas, rate, partitions, broker, routing, capacity)
    except RuntimeError as exc:  # the broker could not start (e.g. Kafka not fetched): why
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


def _redis_call(fn: Any) -> Any:
    """Run one async Redis read with a fresh client."""
    from workers.state.store import connect

    async def go() -> Any:
        client = connect(Settings.from_env())
        try:
            return await fn(client, Settings.from_env())
        finally:
            await client.aclose()

    return asyncio.run(go())


@main.command()
@click.option("--account", required=True)
@click.option("--view", type=click.Choice(["all", "mine", "unassigned"]), default="all",
              show_default=True)
@click.option("--agent", default=None, help="Whose 'mine' view.")
@click.option("--status", "statuses", multiple=True,
              type=click.Choice(["open", "snoozed", "closed"]), help="Default: open.")
@click.option("--team", default=None)
@click.option("--channel", type=click.Choice(["sms", "email", "webchat"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def tickets(account: str, view: str, agent: str | None, statuses: tuple[str, ...],
            team: str | None, channel: str | None, as_json: bool) -> None:
    """List an inbox view (R10)."""
    from workers.router.views import list_tickets

    try:
        rows = _redis_call(lambda c, s: list_tickets(
            c, s, account, view, agent_id=agent, statuses=statuses or ("open",), team_id=team,
            channel=channel))  # type: ignore[arg-type]
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for row in rows:
        if as_json:
            click.echo(msgspec.json.encode(row))
        else:
            click.echo(f"#{row.number:<6} {row.ticket_id:<24} {row.channel:<7} {row.status:<7} "
                       f"team={row.team_id or '-':<10} agent={row.agent_id or '-':<8} "
                       f"priority={row.priority or 'normal':<6} "
                       f"{row.customer} ({row.customer_ticket_count})")


@main.command()
@click.option("--account", required=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array of agents.")
def agents(account: str, as_json: bool) -> None:
    """Each agent's status, open tickets per channel against capacity, skills and last
    automatic assignment (R3, R11-R15)."""
    from workers.router.agents_view import AgentRow, list_agents
    from workers.runtime.clock import make_clock
    from workers.state.accounts import AccountRegistry
    from workers.state.keys import Keys

    async def read(client: Any, settings: Settings) -> list[AgentRow] | None:
        registry = AccountRegistry(settings)  # the document, as every replica reads it
        await registry.start()
        try:
            document = registry.get(account)
        finally:
            await registry.stop()
        if document is None:
            return None
        now = await make_clock(settings.clock, client, key=Keys.of(settings).clock()).now()
        return await list_agents(client, settings, document, now)

    rows = _redis_call(read)
    if rows is None:
        click.echo(f"account {account!r} not found on accounts.config", err=True)
        sys.exit(1)
    if as_json:
        click.echo(msgspec.json.encode(rows))
        return
    for row in rows:
        load = " ".join(f"{c.channel}={c.open}/{'-' if c.capacity is None else c.capacity}"
                        for c in row.load)
        skills = ",".join(f"{name}:{level}" for name, level in row.skills.items()) or "-"
        click.echo(f"{row.agent_id:<10} {row.status:<7} {load}  skills={skills} "
                   f"last_auto={row.last_auto_at or '-'}"
                   + (f" reassign_due={row.reassign_due}" if row.reassign_due else ""))


@main.group()
def ticket() -> None:
    """One ticket."""


@ticket.command("show")
@click.argument("ticket_id")
@click.option("--account", required=True)
def ticket_show(ticket_id: str, account: str) -> None:
    """Overview of a ticket with its responsibility history (R9, R10)."""
    from workers.router.views import ticket_overview

    overview = _redis_call(lambda c, s: ticket_overview(c, s, account, ticket_id))
    if overview is None:
        click.echo(f"no ticket {ticket_id!r} in account {account!r}", err=True)
        sys.exit(1)
    click.echo(msgspec.json.format(msgspec.json.encode(overview), indent=2))


def _publish_record(topic: str, key: str, value: msgspec.Struct) -> None:
    from schemas.codec import encode
    from workers.runtime.kafka import make_blocking_producer

    settings = Settings.from_env()
    producer = make_blocking_producer(settings)
    try:
        producer.send(settings.topic(topic), encode(value), key=key.encode()).get(timeout=30)
    finally:
        producer.close()


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


@main.command()
@click.option("--account", required=True)
@click.option("--agent", required=True)
@click.option("--status", type=click.Choice(["online", "offline", "logout", "heartbeat"]),
              required=True)
@click.option("--actor", default=None, help="Who sets it (default: the agent).")
def presence(account: str, agent: str, status: str, actor: str | None) -> None:
    """Publish an agent's presence (R3)."""
    from schemas.agent_app import Presence

    _publish_record("agents.presence", agent, Presence(
        account_id=account, agent_id=agent, actor_id=actor or agent, status=status,  # type: ignore[arg-type]
        at=_now()))
    click.echo(f"{agent} {status}: published")


@main.command()
@click.argument("ticket_ids", nargs=-1, required=True)
@click.option("--account", required=True)
@click.option("--actor", required=True, help="The agent doing it (role checked, A3).")
@click.option("--to", "agent", default=None, help="Assignee; omit to unassign.")
def assign(ticket_ids: tuple[str, ...], account: str, actor: str, agent: str | None) -> None:
    """Assign, bulk-assign, reassign or unassign tickets (R5)."""
    import uuid

    from schemas.agent_app import AssignCommand

    key = ticket_ids[0] if len(ticket_ids) == 1 else account
    _publish_record("tickets.commands", key, AssignCommand(
        command_id=str(uuid.uuid4()), account_id=account, actor_id=actor, at=_now(),
        ticket_ids=list(ticket_ids), agent_id=agent))
    click.echo(f"assign {len(ticket_ids)} ticket(s) to {agent or 'nobody'}: published")


@main.command()
@click.argument("ticket_id")
@click.option("--account", required=True)
@click.option("--actor", required=True)
@click.option("--team", required=True)
def transfer(ticket_id: str, account: str, actor: str, team: str) -> None:
    """Transfer a ticket to a team (R6)."""
    import uuid

    from schemas.agent_app import TransferCommand

    _publish_record("tickets.commands", ticket_id, TransferCommand(
        command_id=str(uuid.uuid4()), account_id=account, actor_id=actor, at=_now(),
        ticket_id=ticket_id, team_id=team))
    click.echo(f"transfer {ticket_id} to {team}: published")


@main.command("bench-memory")
@click.option("--tickets", default=20_000, show_default=True,
              help="Tickets (and chat sessions) whose Redis memory is measured.")
def bench_memory(tickets: int) -> None:
    """Measure Redis bytes per open and closed ticket and per chat session (retention)."""
    from harness.memory_bench import bench_memory as run_bench

    run_bench(tickets)


@main.command("bench-timers")
@click.option("--timers", default=1_000_000, show_default=True,
              help="Pending countdowns whose Redis memory is measured.")
@click.option("--fires", default=20_000, show_default=True, help="Due countdowns to fire.")
@click.option("--accounts", default=100, show_default=True)
def bench_timers(timers: int, fires: int, accounts: int) -> None:
    """Measure the closer: Redis memory of pending timers, and fires per second."""
    from harness.timers_bench import bench_timers as run_bench

    run_bench(timers, fires, accounts)


@main.command("bench-queue")
@click.option("--tickets", default=5_000, show_default=True,
              help="Tickets routed to free agents, then to full ones, then drained.")
def bench_queue(tickets: int) -> None:
    """Measure the queue's cost per ticket in process (R12): route step with and without
    capacity left, and the drain per drained ticket."""
    from harness.queue_bench import bench_queue as run_bench

    run_bench(tickets)


@main.command()
@click.argument("workload", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--policy", "policies", multiple=True,
              type=click.Path(exists=True, path_type=Path),
              help="An account document to compare (repeatable; default: "
                   "deploy/workloads/policies/round-robin.yaml and balanced-capacity.yaml).")
@click.option("--seed", type=int, default=None, help="Instead of the workload's seed.")
@click.option("--sla", default="5m", show_default=True,
              help="Count tickets whose first assignment took longer than this.")
@click.option("--report", "report_dir", type=click.Path(path_type=Path), default=None,
              help="Write an HTML report with plots (report.html) into this directory.")
@click.option("--replay", type=click.Path(exists=True, path_type=Path), default=None,
              help="A tickets.events export (JSON lines) whose tickets and customer "
                   "messages replace the workload's arrivals.")
@click.option("--export", type=click.Path(path_type=Path), default=None,
              help="Write the first policy's tickets.events as JSON lines (replayable).")
def simulate(workload: Path | None, policies: tuple[Path, ...], seed: int | None, sla: str,
             report_dir: Path | None, replay: Path | None, export: Path | None) -> None:
    """Run a day of traffic (WORKLOAD, default deploy/workloads/default-day.yaml) through
    the router, ingest and closer code under each policy and compare them (X7)."""
    from harness.simulator.run import DEFAULT_POLICIES, DEFAULT_WORKLOAD, Refused
    from harness.simulator.run import simulate as run_simulation

    try:
        run_simulation(workload or DEFAULT_WORKLOAD, list(policies) or list(DEFAULT_POLICIES),
                       seed=seed, sla=sla, report_dir=report_dir, replay=replay,
                       export=export, echo=click.echo)
    except Refused as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    except RuntimeError as exc:  # redis-server missing or not starting: say why
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
