"""The ingest worker: inbound customer messages become tickets and ticket events (I1-I5)."""

from __future__ import annotations

import logging

from schemas.inbound import WebchatTyping
from workers.ingest.events import ticket_events, typing_event
from workers.ingest.store import IngestStore
from workers.ingest.threading import plan_threading
from workers.runtime.records import Decoded, Outgoing
from workers.runtime.replica import Kind, Resources, Wiring

log = logging.getLogger(__name__)

INBOUND_TOPICS = ("inbound.sms", "inbound.email", "inbound.webchat")


class IngestHandler:
    """Threads a batch of decoded inbound records and returns the events to publish."""

    worker = "ingest"
    topics = INBOUND_TOPICS

    def __init__(self, store: IngestStore) -> None:
        self._store = store

    async def handle(self, batch: list[Decoded]) -> list[Outgoing]:
        out: list[Outgoing] = []
        messages: list[Decoded] = []
        typings: list[WebchatTyping] = []
        for item in batch:  # of known accounts only (the loop's check)
            if isinstance(item.value, WebchatTyping):
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


def build(resources: Resources) -> Wiring:
    return Wiring(IngestHandler(IngestStore(resources.settings, resources.redis)))


KIND = Kind(name=IngestHandler.worker, topics=INBOUND_TOPICS, build=build)
