"""Gorgias adapter (H5, H7): `POST /api/tickets` with Basic auth (email + API key).

Gorgias has no idempotency header, so the ticket carries our `external_id` and is looked
up by it before every create: a retry or a redelivery finds the first ticket instead of
opening a second one. The store's per-handoff lease keeps two replicas from racing
between that lookup and the create.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from schemas.config import HandoffSettings
from workers.handoff.helpdesk import HelpdeskTicket, basic_auth, call_json, secret
from workers.handoff.retry import PermanentHelpdeskError

_CHANNEL = {"sms": "sms", "email": "email", "webchat": "chat"}


class Gorgias:
    """One account's Gorgias."""

    name = "gorgias"
    always_look_up = True

    def __init__(self, config: HandoffSettings, env: Mapping[str, str],
                 session: aiohttp.ClientSession, timeout_s: float) -> None:
        self._base = (config.base_url or f"https://{config.subdomain}.gorgias.com").rstrip("/")
        self._config = config
        self._env = env
        self._session = session
        self._timeout_s = timeout_s

    def _headers(self) -> dict[str, str]:
        key = secret(self._env, self._config.api_key_env, "gorgias api key")
        return {"Authorization": basic_auth(self._config.email or "", key),
                "Content-Type": "application/json", "Accept": "application/json"}

    async def find_ticket(self, external_id: str) -> str | None:
        found = await call_json(
            self._session, "GET",
            f"{self._base}/api/tickets?external_id={quote(external_id, safe='')}",
            headers=self._headers(), timeout_s=self._timeout_s, what="gorgias ticket lookup")
        tickets = (found or {}).get("data") or []
        return str(tickets[0]["id"]) if tickets else None

    async def create_ticket(self, ticket: HelpdeskTicket) -> str:
        created = await call_json(
            self._session, "POST", f"{self._base}/api/tickets", headers=self._headers(),
            payload=ticket_payload(ticket), timeout_s=self._timeout_s,
            what="gorgias create ticket")
        try:
            return str(created["id"])
        except (KeyError, TypeError):
            raise PermanentHelpdeskError("gorgias create ticket: answer has no id") from None

    async def whoami(self) -> str:
        account = await call_json(self._session, "GET", f"{self._base}/api/account",
                                  headers=self._headers(), timeout_s=self._timeout_s,
                                  what="gorgias account")
        return f"account {(account or {}).get('domain') or '?'}"


def ticket_payload(ticket: HelpdeskTicket) -> dict[str, Any]:
    """The Gorgias ticket: customer, the transcript as one incoming message, tags."""
    channel = _CHANNEL.get(ticket.channel, "api")
    customer: dict[str, Any] = {"name": ticket.requester_name or ""}
    if ticket.requester_email:
        customer["email"] = ticket.requester_email
    sender = {"email": ticket.requester_email} if ticket.requester_email else \
        {"name": ticket.requester_name or ticket.requester_phone or "Visitor"}
    address = ticket.requester_email or ticket.requester_phone or ""
    # One incoming message holding the timestamped transcript: Gorgias needs an agent
    # user as the sender of outgoing messages, which the AI's turns do not have.
    messages = [{
        "channel": channel, "via": "api", "from_agent": False, "sender": sender,
        "body_text": ticket.body,
        "source": {"type": channel, "from": {"address": address}},
    }]
    return {
        "external_id": ticket.external_id,
        "subject": ticket.subject,
        "channel": channel,
        "via": "api",
        "from_agent": False,
        "customer": customer,
        "messages": messages,
        "tags": [{"name": tag} for tag in ticket.tags],
        "meta": {"profile_id": ticket.profile_id, "phone": ticket.requester_phone,
                 "transcript": ticket.body},
    }
