"""Limits on agent-app commands (issue 12, finding 11): a list over its cap is refused at
decoding, naming the field, so it becomes a dead letter instead of holding a partition."""

from __future__ import annotations

import msgspec
import pytest

from schemas.agent_app import MAX_BULK_TICKETS, MAX_TAGS, AssignCommand, SetTagsCommand
from schemas.codec import DecodeError, decode

COMMON = {"command_id": "c1", "account_id": "acme", "actor_id": "ag-3",
          "at": "2026-11-23T10:00:00Z"}


def command(**fields: object) -> bytes:
    return msgspec.json.encode({**COMMON, **fields})


def test_a_bulk_assign_takes_up_to_100_tickets() -> None:
    ok = decode("tickets.commands", command(type="assign", agent_id="ag-1",
                                            ticket_ids=[f"t-{n}" for n in range(100)]))
    assert isinstance(ok, AssignCommand) and len(ok.ticket_ids) == MAX_BULK_TICKETS == 100
    with pytest.raises(DecodeError, match=r"ticket_ids"):
        decode("tickets.commands", command(type="assign", agent_id="ag-1",
                                           ticket_ids=[f"t-{n}" for n in range(101)]))


def test_set_tags_takes_up_to_100_tags() -> None:
    ok = decode("tickets.commands", command(type="set_tags", ticket_id="t-1",
                                            tags=[f"tag{n}" for n in range(100)]))
    assert isinstance(ok, SetTagsCommand) and len(ok.tags) == MAX_TAGS == 100
    with pytest.raises(DecodeError, match=r"tags"):
        decode("tickets.commands", command(type="set_tags", ticket_id="t-1",
                                           tags=[f"tag{n}" for n in range(101)]))


@pytest.mark.parametrize(("fields", "field"), [
    ({"type": "reply", "ticket_id": "t-1", "author_kind": "agent", "text": "x" * 65537},
     "text"),
    ({"type": "transfer", "ticket_id": "t-1", "team_id": "b" * 257}, "team_id"),
    ({"type": "set_status", "ticket_id": "t" * 257, "status": "open"}, "ticket_id"),
])
def test_every_string_of_a_command_is_bounded(fields: dict[str, object], field: str) -> None:
    with pytest.raises(DecodeError, match=field):
        decode("tickets.commands", command(**fields))


def test_presence_strings_are_bounded() -> None:
    with pytest.raises(DecodeError, match="agent_id"):
        decode("agents.presence", msgspec.json.encode({
            "account_id": "acme", "agent_id": "a" * 257, "actor_id": "a", "status": "online",
            "at": "2026-11-23T10:00:00Z"}))
