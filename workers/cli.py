"""The `ticketflow` command."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
import msgspec

from schemas.config import AccountDocument, load_account_yaml
from workers.logs import configure_logging
from workers.settings import Settings


@click.group()
def main() -> None:
    """ticketflow: helpdesk routing back end."""
    configure_logging()


@main.group()
def config() -> None:
    """Account documents (accounts.config)."""


def _load_documents(files: tuple[Path, ...]) -> list[AccountDocument]:
    documents = []
    for path in files:
        try:
            documents.append(load_account_yaml(path.read_text()))
        except msgspec.ValidationError as exc:
            click.echo(f"{path}: refused: {exc}", err=True)
            sys.exit(2)
        except Exception as exc:  # YAML syntax and the like
            click.echo(f"{path}: refused: {exc}", err=True)
            sys.exit(2)
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
    from workers.config_publish import publish_accounts
    from workers.topics import ensure_topics

    documents = _load_documents(files)
    settings = Settings.from_env()
    ensure_topics(settings)
    publish_accounts(settings, documents)
    for document in documents:
        click.echo(f"{document.account_id} version {document.version}: published")


@main.command()
@click.argument("kind", type=click.Choice(["ingest", "handoff"]))
def worker(kind: str) -> None:
    """Run one replica of a worker kind (settings from TICKETFLOW_* variables)."""
    if kind == "handoff":
        import os

        from workers.handoff.agent import run as run_handoff

        asyncio.run(run_handoff(Settings.from_env(), dict(os.environ)))
        return
    from workers.ingest.agent import run

    asyncio.run(run(Settings.from_env()))


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
def run(rate: float, count: int) -> None:
    """Start broker, Redis, the workers and sample traffic; print events live."""
    from workers.devrun import run_local

    asyncio.run(run_local(rate, count))


@main.command()
@click.option("--count", default=1000, show_default=True)
@click.option("--rate", default=None, type=float, help="Messages per second (default: flat out).")
@click.option("--account", default="acme", show_default=True)
def traffic(count: int, rate: float | None, account: str) -> None:
    """Publish sample customer traffic to the inbound topics."""
    from workers.traffic import publish_sample_traffic

    sent = asyncio.run(publish_sample_traffic(Settings.from_env(), account, count, rate))
    click.echo(f"published {sent} records")


@main.command()
@click.option("--messages", default=20000, show_default=True)
@click.option("--replicas", default=1, show_default=True)
def bench(messages: int, replicas: int) -> None:
    """Measure ingest throughput on the embedded stack."""
    from workers.bench import bench_ingest

    bench_ingest(messages, replicas)
