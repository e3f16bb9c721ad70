"""What the Zendesk and Gorgias adapters share: the neutral ticket, the adapter protocol,
secrets looked up by environment variable name, and HTTP status -> retry class (H6, H7).

Secrets never leave this module except inside an `Authorization` header: error reasons
name the variable, never its value, and nothing here logs a header. An adapter is handed
only the one variable its account may read (`account_secret`), never the environment.
A helpdesk's error answer is published (in `handoff.results.error` and the dead letter)
only as its status and a short, printable excerpt (`error_summary`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import msgspec

from schemas.config import HandoffSettings, secret_prefix
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


def secret_variable(config: HandoffSettings) -> str | None:
    """The environment variable the account's adapter authenticates with."""
    if config.method == "zendesk":
        return config.oauth_token_env or config.token_env
    if config.method == "gorgias":
        return config.api_key_env
    return None


def account_secret(account_id: str, config: HandoffSettings,
                   env: Mapping[str, str]) -> dict[str, str]:
    """What an adapter of this account is handed: its one variable, if it is set and
    under the account's prefix (the document was refused otherwise; checked again here
    because this is where a secret would leave)."""
    name = secret_variable(config)
    if name is None or not name.startswith(secret_prefix(account_id)) or name not in env:
        return {}
    return {name: env[name]}


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
    if status == 429:
        raise TransientHelpdeskError(f"{what}: HTTP 429 rate limited", retry_after,
                                     ambiguous=False)
    if status >= 500:
        raise TransientHelpdeskError(f"{what}: {error_summary(status, body)}", retry_after)
    raise PermanentHelpdeskError(f"{what}: {error_summary(status, body)}")


ERROR_EXCERPT_CHARS = 100


def error_summary(status: int, body: bytes) -> str:
    """`HTTP 422: <excerpt>`: the status and the first 100 printable characters of the
    answer, whitespace collapsed. Enough to tell a refused payload from bad credentials;
    the answer itself is not ours to publish."""
    text = body[:4 * ERROR_EXCERPT_CHARS].decode("utf-8", "replace")
    excerpt = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    excerpt = excerpt[:ERROR_EXCERPT_CHARS]
    return f"HTTP {status}: {excerpt}" if excerpt else f"HTTP {status}"
