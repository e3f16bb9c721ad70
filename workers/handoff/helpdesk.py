"""What the Zendesk and Gorgias adapters share: the neutral ticket, the adapter protocol,
secrets looked up by environment variable name, and HTTP status -> retry class (H6, H7).

Secrets never leave this module except inside an `Authorization` header: error reasons
name the variable, never its value, and nothing here logs a header.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import msgspec

from workers.handoff.retry import (
    PermanentHelpdeskError,
    TransientHelpdeskError,
    parse_retry_after,
)


class HelpdeskTicket(msgspec.Struct, frozen=True, kw_only=True):
    """A ticket to open, independent of the helpdesk (H5). Deterministic for one handoff,
    so a retried POST carries the very same payload (Zendesk refuses a reused
    Idempotency-Key with a different body)."""

    external_id: str
    idempotency_key: str
    subject: str
    body: str
    channel: str
    requester_name: str | None
    requester_email: str | None
    requester_phone: str | None
    profile_id: str | None
    tags: list[str]


class Helpdesk(Protocol):
    """One external helpdesk (`zendesk.py`, `gorgias.py`)."""

    name: str

    async def find_ticket(self, external_id: str) -> str | None:
        """The id of a ticket already carrying this external id, if any."""
        ...

    async def create_ticket(self, ticket: HelpdeskTicket) -> str:
        """Open the ticket and return its id."""
        ...

    async def whoami(self) -> str:
        """Who the credentials authenticate as (H7)."""
        ...


def secret(env: Mapping[str, str], name: str | None, what: str) -> str:
    """The value of the environment variable `name`; the error names only the variable."""
    if not name:
        raise PermanentHelpdeskError(f"{what}: no environment variable configured")
    value = env.get(name)
    if not value:
        raise PermanentHelpdeskError(f"{what}: environment variable {name} is not set")
    return value


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


async def call_json(session: aiohttp.ClientSession, method: str, url: str, *,
                    headers: Mapping[str, str], timeout_s: float,
                    payload: Any = None, what: str) -> Any:
    """One HTTP call; the decoded JSON body on 2xx, else the matching HelpdeskError."""
    try:
        async with session.request(
                method, url, headers=dict(headers),
                data=None if payload is None else msgspec.json.encode(payload),
                timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            body = await response.read()
            status = response.status
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
    except TimeoutError:
        raise TransientHelpdeskError(f"{what}: no answer within {timeout_s:.1f}s") from None
    except aiohttp.ClientError as exc:
        raise TransientHelpdeskError(f"{what}: {type(exc).__name__}: {exc}") from None
    if 200 <= status < 300:
        try:
            return msgspec.json.decode(body) if body else None
        except msgspec.DecodeError:
            raise PermanentHelpdeskError(f"{what}: HTTP {status} with a non-JSON body") from None
    detail = body[:300].decode("utf-8", "replace")
    if status == 429:
        raise TransientHelpdeskError(f"{what}: HTTP 429 rate limited", retry_after,
                                     ambiguous=False)
    if status >= 500:
        raise TransientHelpdeskError(f"{what}: HTTP {status} {detail}", retry_after)
    raise PermanentHelpdeskError(f"{what}: HTTP {status} {detail}")
