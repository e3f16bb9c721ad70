"""The Structs are the schema: CONTRACT examples decode, generated JSON Schema is current."""

from __future__ import annotations

import pytest

from schemas.agent_app import AssignCommand, Presence, ReplyCommand
from schemas.codec import TOPICS, DecodeError, decode, encode, field_reason, json_depth
from schemas.events import TicketCreated
from schemas.generate import SCHEMA_DIR, rendered
from schemas.handoff import HandoffRequest
from schemas.inbound import EmailMessage, SmsMessage, WebchatMessage, WebchatTyping

CONTRACT_EXAMPLES = {
    "inbound.sms": b'{"account_id":"acme","message_id":"SM9f2","from_number":"+15551230001",'
    b'"to_number":"+15557654321","body":"Where is my order?","received_at":"2026-11-22T10:00:00Z",'
    b'"profile_id":"01HX","tags":[],"segments":["vip"],"media_urls":[]}',
    "inbound.email": b'{"account_id":"acme","message_id":"<abc@mail.example>",'
    b'"from_email":"ana@example.com","from_name":"Ana","to_email":"help@acme.example",'
    b'"subject":"Refund [#42]","text":"...","in_reply_to":"<prev@acme.example>",'
    b'"references":["<prev@acme.example>"],"received_at":"2026-11-22T10:00:00Z",'
    b'"profile_id":null,"tags":[],"segments":[]}',
    "agents.presence": b'{"account_id":"acme","agent_id":"ag-1","actor_id":"ag-1",'
    b'"status":"online","at":"2026-11-22T10:00:00Z"}',
    "handoff.requests": b'{"handoff_id":"h-1","account_id":"acme","conversation_id":"s-1",'
    b'"channel":"webchat","visitor":{"email":"ana@example.com","name":"Ana","phone":null,'
    b'"profile_id":"01HX","authenticated":true},"consent":true,"transcript":[{"author":"visitor",'
    b'"text":"Where is my parcel?","at":"2026-11-22T10:00:00Z"},{"author":"ai",'
    b'"text":"Let me connect you.","at":"2026-11-22T10:00:01Z"}],'
    b'"requested_at":"2026-11-22T10:00:02Z"}',
}


@pytest.mark.parametrize("topic", sorted(CONTRACT_EXAMPLES))
def test_contract_examples_decode_and_round_trip(topic: str) -> None:
    value = decode(topic, CONTRACT_EXAMPLES[topic])
    assert decode(topic, encode(value)) == value


def test_webchat_records_are_tagged_by_type() -> None:
    message = decode("inbound.webchat", b'{"type":"message","account_id":"acme",'
                     b'"message_id":"wc-77","session_id":"s-1","visitor":{"email":null,'
                     b'"name":null,"profile_id":null,"authenticated":false},"text":"Hi",'
                     b'"sent_at":"2026-11-22T10:00:00Z","tags":[],"segments":[]}')
    typing = decode("inbound.webchat", b'{"type":"typing","account_id":"acme",'
                    b'"session_id":"s-1","at":"2026-11-22T10:00:03Z"}')
    assert isinstance(message, WebchatMessage) and isinstance(typing, WebchatTyping)


def test_commands_are_tagged_and_assign_needs_tickets() -> None:
    assign = decode("tickets.commands", b'{"type":"assign","command_id":"c1","account_id":"acme",'
                    b'"actor_id":"ag-9","at":"2026-11-22T10:00:00Z","ticket_ids":["t-1","t-2"],'
                    b'"agent_id":null}')
    assert isinstance(assign, AssignCommand) and assign.agent_id is None
    reply = decode("tickets.commands", b'{"type":"reply","command_id":"c3","account_id":"acme",'
                   b'"actor_id":"ag-1","at":"2026-11-22T10:00:00Z","ticket_id":"t-1",'
                   b'"author_kind":"ai","text":"Looking into it"}')
    assert isinstance(reply, ReplyCommand)
    with pytest.raises(DecodeError, match="ticket_ids"):
        decode("tickets.commands", b'{"type":"assign","command_id":"c1","account_id":"acme",'
               b'"actor_id":"ag-9","at":"2026-11-22T10:00:00Z","ticket_ids":[]}')


def test_published_times_are_utc_with_z() -> None:
    sms = decode("inbound.sms", CONTRACT_EXAMPLES["inbound.sms"])
    assert isinstance(sms, SmsMessage)
    assert b'"received_at":"2026-11-22T10:00:00Z"' in encode(sms)


def test_producers_may_add_optional_fields() -> None:
    extended = CONTRACT_EXAMPLES["inbound.email"][:-1] + b',"x_provider":"postmark"}'
    assert isinstance(decode("inbound.email", extended), EmailMessage)


@pytest.mark.parametrize("raw,reason", [
    (b'{"account_id":"acme","agent_id":"a","actor_id":"a","status":"away","at":"2026-11-22T10:00:00Z"}',
     "field $.status: "),
    (b'{"account_id":"acme","agent_id":"a","actor_id":"a","status":"online","at":"2026-11-22"}',
     "field $.at: "),
])
def test_presence_validation_names_the_field(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason.replace("$", r"\$")):
        decode("agents.presence", raw)


def test_every_contract_topic_has_a_schema() -> None:
    assert set(TOPICS) >= {"inbound.sms", "inbound.email", "inbound.webchat", "agents.presence",
                           "tickets.commands", "accounts.config", "handoff.requests",
                           "handoff.results", "tickets.events", "notifications", "deadletter"}
    assert HandoffRequest.__struct_fields__ and Presence.__struct_fields__
    assert TicketCreated.__struct_config__.tag == "ticket.created"


def test_committed_json_schemas_match_the_structs() -> None:
    expected = rendered()
    committed = {p.name: p.read_text() for p in SCHEMA_DIR.glob("*.json")}
    assert committed == expected, "run `make schemas` and commit schemas/jsonschema/"


def test_json_depth_counts_nesting_outside_strings() -> None:
    assert json_depth(b'{"a": [1, 2]}') == 0  # too few brackets to be deep: not scanned
    deep = b'{"a":' + b"[" * 40 + b"]" * 40 + b"}"
    assert json_depth(deep) == 41
    quoted = b'{"a": "' + b"[" * 40 + b'\\"' + b'", "b": [[1]]}'
    assert json_depth(quoted) == 3


def test_deep_nesting_is_refused_in_our_words_not_a_recursion_error() -> None:
    record = b'{"account_id": "acme", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    with pytest.raises(DecodeError, match="nested 5001 levels deep") as refused:
        decode("accounts.config", record)
    assert refused.value.code == "too_deep"


@pytest.mark.parametrize(("message", "reason"), [
    ("Expected `str`, got `int` - at `$.body`", "field $.body: Expected `str`, got `int`"),
    ("Object missing required field `x` - at `$.rules[0]`",
     "field $.rules[0].x: required field is missing"),
    ("Object missing required field `account_id`", "field $.account_id: required field is missing"),
    ("Expected `object`, got `array`", "field $: Expected `object`, got `array`"),
])
def test_validation_failures_name_the_field_in_our_words(message: str, reason: str) -> None:
    assert field_reason(message) == reason


def test_codes_classify_every_refusal() -> None:
    cases = {None: "null", b"x" * 1_100_000: "too_large", b'{"account_id": "\xff"}': "not_utf8",
             b"nope": "not_json", b'{"account_id": 7}': "invalid_field"}
    for raw, code in cases.items():
        with pytest.raises(DecodeError) as refused:
            decode("inbound.sms", raw)
        assert refused.value.code == code, raw
