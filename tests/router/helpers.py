"""Commands and presence as the agent app publishes them, and waits on router outputs."""

from __future__ import annotations

from datetime import datetime
from itertools import count

from harness.processes import WorkerProcess
from schemas.agent_app import (
    AssignCommand,
    Presence,
    ReplyCommand,
    SetStatusCommand,
    SetTagsCommand,
    TransferCommand,
)
from schemas.events import TicketAssigned, TicketCreated
from tests.conftest import MONDAY_OPEN
from tests.messages import sms
from tests.pipeline import Pipeline

_n = count(1)


def presence(pipeline: Pipeline, agent: str, status: str = "online", actor: str | None = None,
             account: str = "acme", at: datetime = MONDAY_OPEN,
             applied_by: WorkerProcess | None = None) -> None:
    """Publish an agent's presence; with `applied_by`, return once that router applied it.

    Presence and tickets are different topics, and each agent's record may sit on another
    partition: nothing orders a presence before the tickets published after it but this wait.
    """
    since = len(applied_by.lines) if applied_by else 0
    pipeline.publish("agents.presence", agent, Presence(
        account_id=account, agent_id=agent, actor_id=actor or agent, status=status,  # type: ignore[arg-type]
        at=at))
    if applied_by:
        applied_by.wait_for_log(f"presence {account} {agent} {status}", since=since)


def command(pipeline: Pipeline, kind: str, key: str, **fields: object) -> str:
    """Publish a tickets.commands record; returns its command id."""
    types = {"assign": AssignCommand, "transfer": TransferCommand, "reply": ReplyCommand,
             "set_status": SetStatusCommand, "set_tags": SetTagsCommand}
    command_id = f"cmd-{next(_n)}"
    values: dict[str, object] = {"command_id": command_id, "account_id": "acme",
                                 "at": MONDAY_OPEN}
    values.update(fields)
    pipeline.publish("tickets.commands", key, types[kind](**values))  # type: ignore[arg-type]
    return command_id


def new_ticket(pipeline: Pipeline, **fields: object) -> TicketCreated:
    """Send a customer SMS and return the ticket.created it produced."""
    message = sms(**fields)
    pipeline.publish("inbound.sms", message.from_number, message)
    return next(r for r in pipeline.events.wait_for(
        lambda rs: any(isinstance(r, TicketCreated) and r.customer.phone == message.from_number
                       for r in rs), what="ticket created")
        if isinstance(r, TicketCreated) and r.customer.phone == message.from_number)


def assignments(pipeline: Pipeline, ticket_id: str, n: int = 1) -> list[TicketAssigned]:
    """Wait for `n` distinct ticket.assigned events of a ticket; returns them in order."""
    def distinct(rs: list) -> list[TicketAssigned]:
        seen: dict[str, TicketAssigned] = {}
        for r in rs:
            if isinstance(r, TicketAssigned) and r.ticket_id == ticket_id:
                seen.setdefault(r.event_id, r)
        return list(seen.values())
    pipeline.events.wait_for(lambda rs: len(distinct(rs)) >= n,
                             what=f"{n} assignments of {ticket_id}")
    return distinct(pipeline.events.records)
