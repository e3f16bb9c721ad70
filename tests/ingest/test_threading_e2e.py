"""I2-I4 end to end: raw records on the inbound topics of tansu, ingest worker, redis-server."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from harness.processes import WorkerProcess
from schemas.codec import encode
from schemas.events import TicketCreated, TicketMessage, TicketStatus
from tests.messages import T0, at, chat, email, sms
from tests.pipeline import Pipeline
from tests.router.helpers import command
from workers.state.store import connect
from workers.state.tickets import TicketStore

pytestmark = pytest.mark.e2e


def messages_seen(pipeline: Pipeline, n: int) -> list[TicketMessage]:
    pipeline.events.wait_for(lambda rs: len({r.message_id for r in rs
                                             if isinstance(r, TicketMessage)}) >= n,
                             what=f"{n} ticket.message events")
    return pipeline.events.of_type(TicketMessage)


def ticket_of(pipeline: Pipeline, message_id: str) -> str:
    return next(m.ticket_id for m in pipeline.events.of_type(TicketMessage)
                if m.message_id == message_id)


def set_status(pipeline: Pipeline, ticket_id: str, status: str, at: datetime = T0) -> None:
    """Change a ticket's status through the same store code the router and closer use."""
    async def change() -> None:
        client = connect(pipeline.settings)
        try:
            assert await TicketStore(pipeline.settings, client).set_status(
                "acme", ticket_id, status, at=at) is not None  # type: ignore[arg-type]
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
    by_token = email(message_id="<a4@mail.example>", from_email="ANA@example.com",
                     subject=f"About [#{created.number}] again")
    unrelated = email(message_id="<c1@mail.example>", subject="New question [#999]")
    for m in (by_reply_to, by_references, by_token, unrelated):
        pipeline.publish("inbound.email", m.from_email.lower(), m)
    messages_seen(pipeline, 5)
    for m in (by_reply_to, by_references, by_token):
        assert ticket_of(pipeline, m.message_id) == created.ticket_id
    assert ticket_of(pipeline, unrelated.message_id) != created.ticket_id
    assert len(pipeline.events.of_type(TicketCreated)) == 2


def test_a_subject_token_threads_only_the_tickets_own_customer(
        pipeline: Pipeline, ingest: WorkerProcess) -> None:
    """Ticket numbers are sequential, so anyone can write `[#1]`: only the ticket's own
    customer (same address, or same profile) threads by it; anyone else starts a new ticket,
    and a closed ticket stays closed."""
    ana = email(message_id="<own1@mail.example>", subject="Refund", profile_id="p-ana")
    pipeline.publish("inbound.email", "ana@example.com", ana)
    messages_seen(pipeline, 1)
    ticket = ticket_of(pipeline, ana.message_id)
    number = int(pipeline.ticket(ticket)["number"])
    set_status(pipeline, ticket, "closed")
    stranger = email(message_id="<bob1@mail.example>", from_email="bob@example.com",
                     subject=f"Re: Refund [#{number}]", received_at=at(60))
    pipeline.publish("inbound.email", "bob@example.com", stranger)
    messages_seen(pipeline, 2)
    assert ticket_of(pipeline, stranger.message_id) != ticket
    assert pipeline.ticket(ticket)["status"] == "closed"
    assert not pipeline.events.of_type(TicketStatus)
    # Ana from another address, known by her profile, and Ana from her address reopen it.
    by_profile = email(message_id="<own2@mail.example>", from_email="ana@work.example",
                       profile_id="p-ana", subject=f"Re: Refund [#{number}]", received_at=at(70))
    by_address = email(message_id="<own3@mail.example>", from_email="Ana@Example.com",
                       subject=f"[#{number}] still waiting", received_at=at(80))
    for m in (by_profile, by_address):
        pipeline.publish("inbound.email", m.from_email.lower(), m)
    messages_seen(pipeline, 4)
    assert ticket_of(pipeline, by_profile.message_id) == ticket
    assert ticket_of(pipeline, by_address.message_id) == ticket
    assert [(s.ticket_id, s.reason) for s in pipeline.events.of_type(TicketStatus)] == [
        (ticket, "reopened")]
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
        assert pipeline.redis.zscore(pipeline.keys.status_view("acme", "open"), ticket) is not None
        assert pipeline.redis.zscore(pipeline.keys.status_view("acme", "closed"), ticket) is None
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
    assert pipeline.redis.get(pipeline.keys.seq("acme")) == "1"


def inbound_ticket_of(pipeline: Pipeline, message_id: str) -> str:
    return next(m.ticket_id for m in pipeline.events.of_type(TicketMessage)
                if m.message_id == message_id and m.direction == "inbound")


def test_an_inbound_message_id_never_takes_over_one_of_our_reply_ids(
        pipeline: Pipeline, ingest: WorkerProcess, router: WorkerProcess) -> None:
    ana = email(message_id="<ana1@mail.example>")
    pipeline.publish("inbound.email", "ana@example.com", ana)
    messages_seen(pipeline, 1)
    ticket = ticket_of(pipeline, ana.message_id)
    command(pipeline, "reply", ticket, actor_id="ag-3", ticket_id=ticket, author_kind="agent",
            text="We are on it")
    [reply] = [r for r in pipeline.events.wait_for(
        lambda rs: any(getattr(r, "direction", "") == "outbound" for r in rs),
        what="our reply") if getattr(r, "direction", "") == "outbound"]
    # Someone else sends an email under the Message-ID of our reply to Ana.
    forged = email(message_id=reply.message_id, from_email="mallory@example.com",
                   subject="Hello", received_at=at(30))
    pipeline.publish("inbound.email", "mallory@example.com", forged)
    pipeline.events.wait_for(lambda rs: any(
        isinstance(r, TicketMessage) and r.direction == "inbound"
        and r.message_id == forged.message_id for r in rs), what="the forged email threaded")
    assert inbound_ticket_of(pipeline, forged.message_id) != ticket
    # Ana answers our reply: it threads into her ticket, not Mallory's.
    answer = email(message_id="<ana2@mail.example>", in_reply_to=reply.message_id,
                   subject="Re: Refund", received_at=at(60))
    pipeline.publish("inbound.email", "ana@example.com", answer)
    messages_seen(pipeline, 3)  # ana1, our reply (and the forged one under its id), ana2
    assert inbound_ticket_of(pipeline, answer.message_id) == ticket
    assert pipeline.redis.get(pipeline.keys.email("acme", reply.message_id)) == ticket


def test_a_message_id_past_the_dedup_window_never_takes_over_its_first_ticket(
        pipeline: Pipeline, ingest: WorkerProcess) -> None:
    """Past the dedup window a message id is new again: an email under the id of one that
    opened a ticket starts a ticket of its own, and neither the first ticket nor the id's
    mapping to it changes."""
    ana = email(message_id="<old1@mail.example>")
    pipeline.publish("inbound.email", "ana@example.com", ana)
    messages_seen(pipeline, 1)
    ticket = ticket_of(pipeline, ana.message_id)
    before = pipeline.ticket(ticket)
    assert pipeline.redis.delete(pipeline.keys.seen("acme", "email", ana.message_id)) == 1
    again = email(message_id=ana.message_id, from_email="mallory@example.com",
                  subject="Hello", text="Another text", received_at=at(40 * 86400))
    pipeline.publish("inbound.email", "mallory@example.com", again)
    created = pipeline.events.wait_for(
        lambda rs: len([r for r in rs if isinstance(r, TicketCreated)]) >= 2,
        what="a second ticket")
    second = [r for r in created if isinstance(r, TicketCreated)][1]
    assert second.ticket_id != ticket and second.customer.email == "mallory@example.com"
    assert pipeline.ticket(ticket) == before
    assert pipeline.redis.get(pipeline.keys.email("acme", ana.message_id)) == ticket
    # Every event id still names one content.
    contents: dict[str, set[bytes]] = {}
    for record in pipeline.events.drain():
        contents.setdefault(record.event_id, set()).add(encode(record))
    assert all(len(c) == 1 for c in contents.values()), contents


def test_a_long_thread_threads_by_its_newest_references(pipeline: Pipeline,
                                                        ingest: WorkerProcess) -> None:
    """References past the newest 100 are not looked up, and a long thread is not refused:
    the newest reference is the message answered, which we know."""
    first = email(message_id="<long1@mail.example>")
    pipeline.publish("inbound.email", "ana@example.com", first)
    messages_seen(pipeline, 1)
    ticket = ticket_of(pipeline, first.message_id)
    late = email(message_id="<long2@mail.example>", subject="Re: Refund",
                 references=[f"<old{i}@mail.example>" for i in range(1_900)]
                 + [first.message_id], received_at=at(60))
    only_old = email(message_id="<long3@mail.example>", subject="Re: Refund",
                     from_email="carl@example.com",
                     references=[first.message_id]
                     + [f"<old{i}@mail.example>" for i in range(100)], received_at=at(70))
    for m in (late, only_old):
        pipeline.publish("inbound.email", m.from_email, m)
    messages_seen(pipeline, 3)
    assert ticket_of(pipeline, late.message_id) == ticket
    assert ticket_of(pipeline, only_old.message_id) != ticket  # named past the newest 100
