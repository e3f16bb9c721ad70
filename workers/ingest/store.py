"""Ingest's Redis I/O: run the threading script for a batch in one round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from workers.ingest.threading import ThreadingPlan, ThreadOutcome
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import load_script, script_per_account

SEEN_TTL_SECONDS = 30 * 86400
"""How long a provider message id is remembered, from its first delivery: longer than any
realistic redelivery or provider retry window (README "Redelivery and dedup marks")."""

_outcomes = msgspec.json.Decoder(list[ThreadOutcome])


class _ScriptPlan(msgspec.Struct, frozen=True):
    """One message as `ingest.lua` reads it."""

    channel: str
    message_id: str
    thread_key: str
    refs: list[str]
    subject_number: str
    token_customer_keys: list[str]
    customer_key: str
    new_ticket_id: str
    at: str
    fields: list[str]
    recorded: str


_encode = msgspec.json.Encoder().encode


class IngestStore:
    """Threads messages into tickets through `ingest.lua`."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self._keys = Keys.of(settings)
        self._client = client
        self._script = load_script(client, Path(__file__).with_name("ingest.lua"),
                                   preludes=("load", "status_view"))

    async def thread_messages(self, plans: list[ThreadingPlan]) -> list[ThreadOutcome]:
        """Apply every plan in order: one script call per account in the batch, all in
        one round trip where the server allows."""
        if not plans:
            return []

        def call(account_id: str, indexes: list[int]) -> tuple[list[str], list[str]]:
            return ([self._keys.account(account_id)],
                    [str(SEEN_TTL_SECONDS),
                     _encode([_script_plan(plans[i]) for i in indexes]).decode()])

        return await script_per_account(self._client, self._script,
                                        [plan.account_id for plan in plans], call,
                                        _outcomes.decode)

    async def open_ticket_of_session(self, account_id: str, session_id: str) -> str | None:
        """The web chat session's current ticket, unless it is closed."""
        ticket_id = await self._client.get(self._keys.webchat_thread(account_id, session_id))
        if ticket_id is None:
            return None
        status = await self._client.hget(self._keys.ticket(account_id, ticket_id), "status")
        return None if status == "closed" else ticket_id


def _script_plan(plan: ThreadingPlan) -> _ScriptPlan:
    content = plan.content
    customer = content.customer
    return _ScriptPlan(
        plan.channel, plan.message_id, plan.thread_key, plan.email_refs,
        "" if plan.subject_number is None else str(plan.subject_number),
        plan.token_customer_keys, plan.customer_key, plan.new_ticket_id,
        content.at.isoformat().replace("+00:00", "Z"),
        fields=[
            "channel", plan.channel,
            "thread_key", plan.thread_key,
            "customer_phone", customer.phone or "",
            "customer_email", customer.email or "",
            "customer_name", customer.name or "",
            "profile_id", customer.profile_id or "",
            "subject", content.subject or "",
            "body", content.text,
            "tags", msgspec.json.encode(content.tags).decode(),
            "segments", msgspec.json.encode(content.segments).decode(),
            "opening_message_id", plan.message_id,
        ],
        recorded=_encode(content).decode(),
    )
