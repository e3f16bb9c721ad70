"""Ticket state shared by the worker kinds: reading a ticket, changing its status."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from workers.runtime.settings import Settings
from workers.state.store import account_base, load_script, ticket_key

Status = Literal["open", "snoozed", "closed"]


class TicketStore:
    """Reads and status changes of tickets, atomic with their status views."""

    def __init__(self, settings: Settings, client: Any) -> None:
        self._settings = settings
        self._client = client
        self._set_status = load_script(client, Path(__file__).with_name("set_status.lua"))

    async def get(self, account_id: str, ticket_id: str) -> dict[str, str] | None:
        """The ticket's stored fields, or None if the account has no such ticket."""
        fields = await self._client.hgetall(ticket_key(self._settings, account_id, ticket_id))
        return fields or None

    async def set_status(self, account_id: str, ticket_id: str, status: Status, *,
                         at: datetime, mark: str = "") -> str | None:
        """Set the status at instant `at` (the worker's clock: a closed ticket's retention
        runs from it); returns the previous one, or None if the ticket does not exist.

        With a `mark` (a `mark_key(..., "set_status", command_id)`) the change is applied
        once and a replay gets the first answer back.
        """
        keys = [account_base(self._settings, account_id), *([mark] if mark else [])]
        previous = await self._set_status(keys=keys, args=[ticket_id, status, at.timestamp()])
        return previous or None
