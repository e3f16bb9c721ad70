"""Pure threading decisions (I3, I4): what a message is looked up by."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from schemas.inbound import Visitor
from tests.messages import chat, email, sms
from workers.ingest.threading import (
    REFERENCES_LOOKED_UP,
    ThreadOutcome,
    email_references,
    event_content,
    plan_threading,
    subject_ticket_number,
    token_customer_keys,
)


def test_sms_thread_is_shop_plus_customer_number() -> None:
    a = plan_threading(sms(from_number="+15550000001", to_number="+15557654321"))
    b = plan_threading(sms(from_number="+15550000001", to_number="+15559999999"))
    assert a.thread_key == "sms:+15557654321:+15550000001"
    assert a.thread_key != b.thread_key
    assert a.customer_key == b.customer_key == "phone:+15550000001"


def test_webchat_thread_is_the_session() -> None:
    plan = plan_threading(chat(session_id="s-42"))
    assert plan.thread_key == "webchat:s-42"
    assert plan.customer_key == "session:s-42"
    signed_in = plan_threading(chat(visitor=Visitor(email="Ana@Example.com")))
    assert signed_in.customer_key == "email:ana@example.com"


def test_profile_id_identifies_the_customer_across_channels() -> None:
    assert plan_threading(sms(profile_id="p1")).customer_key == \
        plan_threading(email(profile_id="p1")).customer_key == "profile:p1"


def test_email_references_newest_first_without_repeats() -> None:
    message = email(in_reply_to="<c>", references=["<a>", "<b>", "<c>"])
    assert email_references(message) == ["<c>", "<b>", "<a>"]
    assert email_references(email()) == []


def test_only_the_newest_references_are_looked_up() -> None:
    refs = [f"<{i}>" for i in range(500)]
    looked_up = email_references(email(in_reply_to="<499>", references=refs))
    assert looked_up == [f"<{i}>" for i in range(499, 499 - REFERENCES_LOOKED_UP, -1)]
    assert email_references(email(in_reply_to="<x>", references=refs))[:2] == ["<x>", "<499>"]
    assert len(email_references(email(in_reply_to="<x>", references=refs))) == \
        REFERENCES_LOOKED_UP + 1


def test_a_subject_token_threads_only_the_senders_own_identities() -> None:
    plan = plan_threading(email(from_email="Ana@Example.com", subject="Re [#4]"))
    assert (plan.subject_number, plan.token_customer_keys) == (4, ["email:ana@example.com"])
    known = plan_threading(email(from_email="ana@example.com", profile_id="p1"))
    assert known.token_customer_keys == ["profile:p1", "email:ana@example.com"]
    assert token_customer_keys(None, "bob@example.com") == ["email:bob@example.com"]
    # The keys a ticket's customer is known by on creation are among them.
    assert known.customer_key in known.token_customer_keys
    assert plan_threading(sms()).token_customer_keys == []
    assert plan_threading(chat()).token_customer_keys == []


def test_a_duplicate_carries_the_content_its_first_delivery_recorded() -> None:
    first = plan_threading(sms(message_id="SM-r", body="Where is my order?"))
    retry = plan_threading(sms(message_id="SM-r", body="Something else", tags=["x"]))
    outcome = ThreadOutcome(kind="appended", ticket_id="t-1", number=1,
                            created_at="2026-11-22T10:00:00Z", customer_ticket_count=1,
                            version=2, duplicate=False)
    assert event_content(first, outcome) == first.content
    replayed = msgspec.structs.replace(outcome, duplicate=True, recorded=first.content)
    assert event_content(retry, replayed) == first.content


def test_subject_token() -> None:
    assert subject_ticket_number("Re: Refund [#42]") == 42
    assert subject_ticket_number("Refund #42") is None
    assert subject_ticket_number("[#] nothing") is None


@given(st.integers(min_value=1, max_value=10**12 - 1), st.text(max_size=30))
def test_subject_token_found_anywhere(number: int, around: str) -> None:
    assert subject_ticket_number(f"{around.replace('[#', '')} [#{number}] {around}") is not None


def test_new_ticket_id_is_stable_per_message_and_distinct_across_accounts() -> None:
    m = sms(message_id="SM1")
    assert plan_threading(m).new_ticket_id == plan_threading(m).new_ticket_id
    assert plan_threading(m).new_ticket_id != plan_threading(sms(message_id="SM2")).new_ticket_id
    assert plan_threading(m).new_ticket_id != \
        plan_threading(sms(message_id="SM1", account_id="beta")).new_ticket_id


def test_times_are_normalised_to_utc() -> None:
    from zoneinfo import ZoneInfo
    local = datetime(2026, 11, 22, 11, 0, tzinfo=ZoneInfo("Europe/Paris"))
    assert plan_threading(sms(received_at=local)).content.at == \
        datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
