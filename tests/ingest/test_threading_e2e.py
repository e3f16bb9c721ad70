"""I2-I4 end to end: raw records on the inbound topics of tansu, ingest worker, redis-server."""

from __future__ import annotations

import asyncio

import pytest

from schemas.events import TicketCreated, TicketMessage, TicketStatus
from tests.messages import at, chat, email, sms
from tests.pipeline import Pipeline
from workers.processes import WorkerProcess
from workers.store import connect
from workers.tickets import TicketStore

pytestmark = pytest.mark.e2e


def messages_seen(pipeline: Pipeline, n: int) -> list[TicketMessage]:
    pipeline.events.wait_for(lambda rs: len({r.message_id for r in rs
                                             if isinstance(r, TicketMessage)}) >= n,
                             what=f"{n} ticket.message events")
    return pipeline.events.of_type(TicketMessage)


def ticket_of(pipeline: Pipeline, message_id: str) -> str:
    return next(m.ticket_id for m in pipeline.events.of_type(TicketMessage)
                if m.message_id == message_id)


def set_status(pipeline: Pipeline, ticket_id: str, status: str) -> None:
    """Change a ticket's status through the same store code the router and closer use."""
    async def change() -> None:
        client = connect(pipeline.settings)
        try:
            assert await TicketStore(pipeline.settings, client).set_status(
                "acme", ticket_id, status) is not None  # type: ignore[arg-type]
        finally:
            await client.aclose()
    asyncio.run(change())


def test_sms_threads_by_shop_and_customer_number(pipeline: Pipeline, ingest: WorkerProcess) -> None:
    first = sms(from_number="+15550000001", received_at=at(0))
    second = sms(from_number="+15550000001", received_at=at(5))
    other_shop = sms(from_number="+15550000001", to_number="+15559999999", received_at=at(6))
    other_customer = sms(from_number="+15550000002", received_at=at(7))
    for m in (first, second, other_shop, other_customer):
        pipeline.publish("inbound.sms", m.from_number, m)
    messages_seen(pipeline, 4)
    created = pipeline.events.wait_for(
        lambda rs: len([r for r in rs if isinstance(r, TicketCreated)]) >= 3)
    created = pipeline.events.of_type(TicketCreated)
    assert ticket_of(pipeline, first.message_id) == ticket_of(pipeline, second.message_id)
    assert len({ticket_of(pipeline, m.message_id)
                for m in (first, other_shop, other_customer)}) == 3
    # I4: per-account sequential numbers, channel, identity, customer's ticket count
    assert sorted(c.number for c in created) == [1, 2, 3]
    by_ticket = {c.ticket_id: c for c in created}
    t1 = by_ticket[ticket_of(pipeline, first.message_id)]
    assert t1.channel == "sms" and t1.customer.phone == "+15550000001"
    assert t1.created_at == first.received_at
    assert t1.customer_ticket_count == 1
    assert by_ticket[ticket_of(pipeline, other_shop.message_id)].customer_ticket_count == 2
    assert by_ticket[ticket_of(pipeline, other_customer.message_id)].customer_ticket_count == 1
    stored = pipeline.ticket(t1.ticket_id)
    assert stored["status"] == "open" and stored["message_count"] == "2"


def test_email_threads_by_references_then_subject_token(pipeline: Pipeline,
                                                        ingest: WorkerProcess) -> None:
    first = email(message_id="<a1@mail.example>", subject="Refund")
    pipeline.publish("inbound.email", "ana@example.com", first)
    created = pipeline.events.wait_for(
        lambda rs: any(isinstance(r, TicketCreated) for r in rs))[0]
    assert isinstance(created, TicketCreated) and created.subject == "Refund"
    by_reply_to = email(message_id="<a2@mail.example>", in_reply_to="<a1@mail.example>",
                        subject="Re: Refund")
    by_references = email(message_id="<a3@mail.example>", subject="Re: Re: Refund",
                          references=["<unknown@x>", "<a2@mail.example>"])
    by_token = email(message_id="<b1@mail.example>", from_email="Bob@Example.com",
                     subject=f"About [#{created.number}] again")
    unrelated = email(message_id="<c1@mail.example>", subject="New question [#999]")
    for m in (by_reply_to, by_references, by_token, unrelated):
        pipeline.publish("inbound.email", m.from_email.lower(), m)
    messages_seen(pipeline, 5)
    for m in (by_reply_to, by_references, by_token):
        assert ticket_of(pipeline, m.message_id) == created.ticket_id
    assert ticket_of(pipeline, unrelated.message_id) != created.ticket_id
    assert len(pipeline.events.of_type(TicketCreated)) == 2


def test_reply_to_closed_email_or_sms_reopens_it(pipeline: Pipeline,
                                                 ingest: WorkerProcess) -> None:
    first_sms = sms(from_number="+15550000003")
    first_mail = email(message_id="<r1@mail.example>")
    pipeline.publish("inbound.sms", first_sms.from_number, first_sms)
    pipeline.publish("inbound.email", "ana@example.com", first_mail)
    messages_seen(pipeline, 2)
    sms_ticket = ticket_of(pipeline, first_sms.message_id)
    mail_ticket = ticket_of(pipeline, first_mail.message_id)
    set_status(pipeline, sms_ticket, "closed")
    set_status(pipeline, mail_ticket, "closed")
    again_sms = sms(from_number="+15550000003", received_at=at(60))
    again_mail = email(message_id="<r2@mail.example>", in_reply_to="<r1@mail.example>",
                       received_at=at(60))
    pipeline.publish("inbound.sms", again_sms.from_number, again_sms)
    pipeline.publish("inbound.email", "ana@example.com", again_mail)
    messages_seen(pipeline, 4)
    assert ticket_of(pipeline, again_sms.message_id) == sms_ticket
    assert ticket_of(pipeline, again_mail.message_id) == mail_ticket
    statuses = {s.ticket_id: s for s in pipeline.events.wait_for(
        lambda rs: len([r for r in rs if isinstance(r, TicketStatus)]) >= 2)
        if isinstance(s, TicketStatus)}
    for ticket in (sms_ticket, mail_ticket):
        assert (statuses[ticket].previous_status, statuses[ticket].status,
                statuses[ticket].reason) == ("closed", "open", "reopened")
        assert pipeline.ticket(ticket)["status"] == "open"
        assert pipeline.redis.zscore(f"{pipeline.base()}:status:open", ticket) is not None
        assert pipeline.redis.zscore(f"{pipeline.base()}:status:closed", ticket) is None
    assert len(pipeline.events.of_type(TicketCreated)) == 2


def test_snoozed_ticket_becomes_open_on_customer_message(pipeline: Pipeline,
                                                         ingest: WorkerProcess) -> None:
    first = chat(session_id="s-snooze")
    pipeline.publish("inbound.webchat", "s-snooze", first)
    messages_seen(pipeline, 1)
    ticket = ticket_of(pipeline, first.message_id)
    set_status(pipeline, ticket, "snoozed")
    second = chat(session_id="s-snooze", sent_at=at(30))
    pipeline.publish("inbound.webchat", "s-snooze", second)
    messages_seen(pipeline, 2)
    assert ticket_of(pipeline, second.message_id) == ticket
    status = pipeline.events.wait_for(
        lambda rs: any(isinstance(r, TicketStatus) for r in rs))
    change = [s for s in status if isinstance(s, TicketStatus)][0]
    assert (change.previous_status, change.status, change.reason) == (
        "snoozed", "open", "customer_reply")


def test_closed_webchat_is_never_reopened(pipeline: Pipeline, ingest: WorkerProcess) -> None:
    first = chat(session_id="s-closed")
    pipeline.publish("inbound.webchat", "s-closed", first)
    messages_seen(pipeline, 1)
    old_ticket = ticket_of(pipeline, first.message_id)
    set_status(pipeline, old_ticket, "closed")
    later = chat(session_id="s-closed", sent_at=at(90))
    pipeline.publish("inbound.webchat", "s-closed", later)
    messages_seen(pipeline, 2)
    new_ticket = ticket_of(pipeline, later.message_id)
    assert new_ticket != old_ticket
    assert pipeline.ticket(old_ticket)["status"] == "closed"
    created = pipeline.events.of_type(TicketCreated)
    assert [c.ticket_id for c in created] == [old_ticket, new_ticket]
    assert [c.number for c in created] == [1, 2]
    assert not pipeline.events.of_type(TicketStatus)
    third = chat(session_id="s-closed", sent_at=at(95))
    pipeline.publish("inbound.webchat", "s-closed", third)
    messages_seen(pipeline, 3)
    assert ticket_of(pipeline, third.message_id) == new_ticket


def test_redelivered_message_changes_nothing(pipeline: Pipeline, ingest: WorkerProcess) -> None:
    message = sms(from_number="+15550000004")
    pipeline.publish("inbound.sms", message.from_number, message)
    messages_seen(pipeline, 1)
    first_ids = [r.event_id for r in pipeline.events.drain()]
    ticket = ticket_of(pipeline, message.message_id)
    before = pipeline.ticket(ticket)
    pipeline.publish("inbound.sms", message.from_number, message)  # provider retry
    marker = sms(from_number="+15550000004", received_at=at(10))
    pipeline.publish("inbound.sms", marker.from_number, marker)
    messages_seen(pipeline, 2)
    events = pipeline.events.drain()
    # The replay republishes the same event ids (consumers drop them) and nothing new.
    replayed = [r for r in events if getattr(r, "message_id", None) == message.message_id]
    assert {r.event_id for r in replayed} <= set(first_ids)
    created = pipeline.events.of_type(TicketCreated)
    assert {c.event_id for c in created} == {created[0].event_id}
    assert {c.ticket_id for c in created} == {ticket}
    after = pipeline.ticket(ticket)
    assert int(after["message_count"]) == int(before["message_count"]) + 1  # the marker only
    assert pipeline.redis.get(f"{pipeline.base()}:seq") == "1"
