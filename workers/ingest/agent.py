"""The ingest worker: inbound customer messages become tickets and ticket events (I1-I5)."""

from __future__ import annotations

import logging
from typing import Any

from schemas.inbound import WebchatTyping
from workers.ingest.events import ticket_events, typing_event
from workers.ingest.store import IngestStore
from workers.ingest.threading import plan_threading
from workers.runtime.consumer import ConsumerLoop
from workers.runtime.deadletter import dead_letter
from workers.runtime.records import Decoded, Outgoing
from workers.runtime.settings import Settings
from workers.state.accounts import AccountRegistry
from workers.state.store import connect

log = logging.getLogger(__name__)

INBOUND_TOPICS = ("inbound.sms", "inbound.email", "inbound.webchat")


class IngestHandler:
    """Threads a batch of decoded inbound records and returns the events to publish."""

    worker = "ingest"
    topics = INBOUND_TOPICS

    def __init__(self, store: IngestStore, registry: AccountRegistry) -> None:
        self._store = store
        self._registry = registry

    async def handle(self, batch: list[Decoded]) -> list[Outgoing]:
        out: list[Outgoing] = []
        messages: list[Decoded] = []
        typings: list[WebchatTyping] = []
        known = await self._registry.known_accounts({i.value.account_id for i in batch})
        for item in batch:
            if item.value.account_id not in known:
                out.append(dead_letter(item.record, f"account_id: unknown account "
                                       f"{item.value.account_id!r}", self.worker))
            elif isinstance(item.value, WebchatTyping):
                typings.append(item.value)
            else:
                messages.append(item)
        plans = [plan_threading(m.value) for m in messages]
        outcomes = await self._store.thread_messages(plans)
        for plan, outcome in zip(plans, outcomes, strict=True):
            out.extend(ticket_events(plan, outcome))
        for typing in typings:
            ticket_id = await self._store.open_ticket_of_session(typing.account_id,
                                                                 typing.session_id)
            if ticket_id is not None:  # typing with no open ticket delays nothing
                out.append(typing_event(typing, ticket_id))
        return out


async def run(settings: Settings) -> None:
    """Run one ingest replica until SIGTERM."""
    client: Any = connect(settings)
    registry = AccountRegistry(settings)
    loop = ConsumerLoop(settings, IngestHandler(IngestStore(settings, client), registry),
                        registry)
    loop.install_signal_handlers()
    try:
        await loop.run()
    finally:
        await client.aclose()
