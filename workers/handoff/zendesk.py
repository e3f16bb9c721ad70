"""Zendesk adapter (H5, H7): `POST /api/v2/tickets` with an `Idempotency-Key` and an
`external_id`; API token (`{email}/token:{token}`) or OAuth bearer auth.

Zendesk keeps an Idempotency-Key for two hours, so a retry or a redelivery inside that
window gets the first ticket back. Beyond it, `external_id` is the guard: after any attempt
that may have reached Zendesk, the ticket is looked up by it before creating another.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from schemas.config import HandoffSettings
from workers.handoff.helpdesk import HelpdeskTicket, basic_auth, call_json, secret
from workers.handoff.retry import PermanentHelpdeskError


class Zendesk:
    """One account's Zendesk."""

    name = "zendesk"

    def __init__(self, config: HandoffSettings, env: Mapping[str, str],
                 session: aiohttp.ClientSession, timeout_s: float) -> None:
        self._base = (config.base_url or f"https://{config.subdomain}.zendesk.com").rstrip("/")
        self._config = config
        self._env = env
        self._session = session
        self._timeout_s = timeout_s

    def _auth(self) -> str:
        if self._config.oauth_token_env:
            return "Bearer " + secret(self._env, self._config.oauth_token_env, "zendesk oauth")
        token = secret(self._env, self._config.token_env, "zendesk api token")
        return basic_auth(f"{self._config.email}/token", token)

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": self._auth(), "Content-Type": "application/json",
                "Accept": "application/json", **extra}

    async def find_ticket(self, external_id: str) -> str | None:
        found = await call_json(
            self._session, "GET",
            f"{self._base}/api/v2/tickets?external_id={quote(external_id, safe='')}",
            headers=self._headers(), timeout_s=self._timeout_s, what="zendesk ticket lookup")
        tickets = (found or {}).get("tickets") or []
        return str(tickets[0]["id"]) if tickets else None

    async def create_ticket(self, ticket: HelpdeskTicket) -> str:
        created = await call_json(
            self._session, "POST", f"{self._base}/api/v2/tickets",
            headers=self._headers(**{"Idempotency-Key": ticket.idempotency_key}),
            payload=ticket_payload(ticket), timeout_s=self._timeout_s,
            what="zendesk create ticket")
        try:
            return str(created["ticket"]["id"])
        except (KeyError, TypeError):
            raise PermanentHelpdeskError("zendesk create ticket: answer has no ticket id") from None

    async def whoami(self) -> str:
        me = await call_json(self._session, "GET", f"{self._base}/api/v2/users/me",
                             headers=self._headers(), timeout_s=self._timeout_s,
                             what="zendesk users/me")
        user = (me or {}).get("user") or {}
        # Zendesk answers an unauthenticated users/me with an anonymous user (id null).
        if user.get("id") is None:
            raise PermanentHelpdeskError("zendesk users/me: credentials not accepted "
                                         "(anonymous user)")
        return f"{user.get('name') or ''} <{user.get('email') or ''}> (id {user['id']}, " \
               f"role {user.get('role') or 'unknown'})"


def ticket_payload(ticket: HelpdeskTicket) -> dict[str, Any]:
    """The Zendesk `ticket` object: requester, transcript as a private comment, tags."""
    requester: dict[str, Any] = {"name": ticket.requester_name or ticket.requester_email
                                 or ticket.requester_phone or "Visitor"}
    if ticket.requester_email:
        requester["email"] = ticket.requester_email
    body = ticket.body
    if ticket.profile_id:
        body = f"Profile id: {ticket.profile_id}\n\n{body}"
    return {"ticket": {
        "subject": ticket.subject,
        "comment": {"body": body, "public": False},
        "requester": requester,
        "external_id": ticket.external_id,
        "tags": ticket.tags,
    }}
