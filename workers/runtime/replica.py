"""One way to run a replica of any worker kind: the CLI (`ticketflow worker <kind>`, which
`python -m workers.<kind>` and every harness start) comes here.

A kind declares what it is (`Kind`: name, topics, whether its records name accounts that
must exist, its account registry) and how it is wired (`build`: resources in, handler and
loops out). Everything else is the runtime's, once for every kind: the Redis and pub/sub
clients, the account registry, the consume loop with its drain and bounded shutdown,
readiness, background loops (the first failure stops the replica), retries while a service
is away, metrics, the unknown-account check, signals and the repeated-SIGTERM guard. In the
spirit of Dramatiq's worker with middleware and arq's `run_worker`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.config import SECRET_PREFIX
from workers.runtime.clock import Clock, make_clock
from workers.runtime.consumer import Background, BatchHandler, ConsumerLoop, Hook
from workers.runtime.records import Outgoing
from workers.runtime.settings import Settings
from workers.state.accounts import AccountRegistry
from workers.state.keys import Keys
from workers.state.store import connect, connect_pubsub

log = logging.getLogger(__name__)

Publish = Callable[[list[Outgoing]], Awaitable[None]]


@dataclass(frozen=True)
class Resources:
    """What the runtime opens for a kind's wiring; it closes them too."""

    settings: Settings
    redis: Any
    """The Redis client (cluster or single node)."""
    pubsub: Any
    """A client for pub/sub wake-ups (see `state.store.connect_pubsub`)."""
    registry: AccountRegistry
    clock: Clock
    publish: Publish
    """Publish and wait for the acks through the loop's producer, retrying while the
    broker is away (`ConsumerLoop.publish`)."""
    secrets: Mapping[str, str]
    """The `TICKETFLOW_SECRET_*` variables of the environment, by name."""


@dataclass(frozen=True)
class Wiring:
    """A kind's parts: the batch handler, loops beside it, and start and stop steps (run
    after the account registry has read its topic, and before it stops; each stop step
    must be safe whether its start step ran or not)."""

    handler: BatchHandler
    background: Sequence[Background] = ()
    on_start: Sequence[Hook] = ()
    on_stop: Sequence[Hook] = ()


@dataclass(frozen=True)
class Kind:
    """A worker kind, as its module declares it (`KIND`)."""

    name: str
    topics: tuple[str, ...]
    build: Callable[[Resources], Wiring]
    known_accounts_only: bool = True
    """Records name an `account_id` that must exist: the loop dead-letters the others
    (`account_id: unknown account 'x'`) and hands the rest to the handler with their
    documents (`Decoded.account`)."""
    dead_letter_refusals: bool = False
    """Publish refused account documents to `deadletter` (one kind does: the router)."""
    registry: Callable[[Settings], AccountRegistry] = field(default=AccountRegistry)
    """The account registry this kind reads (the closer's tells its fire loop about
    auto-close changes)."""


def secrets_of(env: Mapping[str, str]) -> dict[str, str]:
    """Only the helpdesk secrets of an environment: nothing else reaches a kind."""
    return {name: value for name, value in env.items() if name.startswith(SECRET_PREFIX)}


async def run(kind: Kind, settings: Settings, env: Mapping[str, str]) -> None:
    """Run one replica of `kind` until SIGTERM (or SIGINT) has drained it, or a failure
    stops it."""
    client: Any = connect(settings)
    listener: Any = connect_pubsub(settings)
    loop: ConsumerLoop | None = None

    async def publish(outgoing: list[Outgoing]) -> None:
        assert loop is not None, "nothing publishes before the replica runs"
        await loop.publish(outgoing)

    try:
        registry = kind.registry(settings)
        resources = Resources(settings=settings, redis=client, pubsub=listener,
                              registry=registry,
                              clock=make_clock(settings.clock, client,
                                               key=Keys.of(settings).clock()),
                              publish=publish, secrets=secrets_of(env))
        wiring = kind.build(resources)
        handler = wiring.handler
        if handler.worker != kind.name or tuple(handler.topics) != kind.topics:
            raise ValueError(f"kind {kind.name!r} declares {kind.topics}, its handler "
                             f"{handler.worker!r} consumes {tuple(handler.topics)}")
        loop = ConsumerLoop(settings, handler, registry, background=wiring.background,
                            on_start=wiring.on_start, on_stop=wiring.on_stop,
                            known_accounts_only=kind.known_accounts_only)
        if kind.dead_letter_refusals:
            registry.dead_letter_refusals(loop.publish, kind.name)
        loop.install_signal_handlers()
        log.info("%s replica starting (clock: %s)", kind.name, settings.clock)
        await loop.run()
    finally:
        await client.aclose()
        await listener.aclose()


def run_kind(kind: Kind, settings: Settings, env: Mapping[str, str]) -> None:
    """Run a replica in this process: `run` under the repeated-SIGTERM guard."""
    from workers.runtime.lifetime import run_replica

    run_replica(run(kind, settings, env))
