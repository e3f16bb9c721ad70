"""The AsyncAPI 3.0 document of every topic, built from the Structs (`make schemas`).

The payload schemas are msgspec's JSON Schema of the Structs, the same as in `jsonschema/`,
rewritten only where JSON Schema 2020-12 (what msgspec writes) and the draft-07 dialect
AsyncAPI's schema format extends spell a rule differently. What the Structs cannot say
(the record key of each topic, who publishes and who reads it) is in the tables below.
"""

from __future__ import annotations

import typing
from typing import Any, Literal, NamedTuple

import msgspec
import yaml

from schemas.codec import TOPICS

KAFKA_BINDING = "0.5.0"
CONTRACT_VERSION = "1.0.0"
"""The version of the contract the document describes: topic names, keys, field names and
enum values never change, so this moves only with an optional addition."""


class Channel(NamedTuple):
    """What a topic carries beyond its Structs: its record key and who is on either end."""

    key: str
    description: str
    key_of: dict[str, str] = {}
    """Struct name -> its key, where one kind of record is keyed otherwise."""


CHANNELS: dict[str, Channel] = {
    "inbound.sms": Channel(
        "The customer's number.",
        "Customer SMS, published by the SMS provider (and by handoff for the `internal` "
        "method); ingest threads each into a ticket."),
    "inbound.email": Channel(
        "The sender's address, in lower case.",
        "Customer email, published by the email provider (and by handoff for the "
        "`internal` method); ingest threads each into a ticket."),
    "inbound.webchat": Channel(
        "The session id.",
        "Web-chat messages and typing signals, published by the chat widget's back end "
        "(and by handoff for the `internal` method); ingest threads the messages and "
        "forwards typing to the closer."),
    "agents.presence": Channel(
        "The agent id.",
        "Agents' status changes and heartbeats, published by the agent app; the router "
        "keeps who is online."),
    "tickets.commands": Channel(
        "The ticket id; a bulk `assign` is keyed by the account id.",
        "Commands of agents and of the AI customer agent, published by the agent app; the "
        "router applies or refuses them.",
        {"AssignCommand": "The ticket id, or the account id for a bulk assign."}),
    "accounts.config": Channel(
        "The account id, which must equal the document's `account_id`.",
        "One whole account document per record, published by `ticketflow config apply`; "
        "compacted, one partition, read whole by every replica of every kind. A null value "
        "deletes the account; an older `version` is refused."),
    "handoff.requests": Channel(
        "The conversation id.",
        "Escalations of the AI customer agent to a human; the handoff worker carries each "
        "out once."),
    "handoff.results": Channel(
        "The handoff id.",
        "The outcome of each handoff request, for the AI customer agent."),
    "tickets.events": Channel(
        "The ticket id.",
        "Every change to a ticket, for outside consumers and for the router itself.",
        {"CommandRejected": "The ticket id; when the refusal names no ticket, the command's "
                            "account id, or for a refused presence record the agent id."}),
    "notifications": Channel(
        "The agent id.",
        "What an agent should be told about their tickets, for notification senders."),
    "deadletter": Channel(
        "The refused record's own key (empty when it had none).",
        "Records a worker could not use, with the reason and the original bytes."),
    "timers": Channel(
        "The ticket id.",
        "Internal to ticketflow (ingest and router to the closer); it may change at any "
        "time and outside consumers must not read it."),
}

INTERNAL = frozenset({"timers"})


class Operation(NamedTuple):
    """One part of ticketflow that sends to or receives from a topic."""

    party: str
    action: Literal["send", "receive"]
    topic: str
    messages: tuple[str, ...] = ()
    """Struct names; empty means every kind of record of the topic."""


PARTIES = {
    "ingest": "the ingest worker",
    "router": "the router worker",
    "closer": "the closer worker",
    "handoff": "the handoff worker",
    "cli": "the `ticketflow` command",
}
KINDS = ("ingest", "router", "closer", "handoff")

TICKET_CHANGES = ("TicketCreated", "TicketMessage", "TicketStatus")

OPERATIONS: tuple[Operation, ...] = (
    Operation("ingest", "receive", "inbound.sms"),
    Operation("ingest", "receive", "inbound.email"),
    Operation("ingest", "receive", "inbound.webchat"),
    Operation("ingest", "send", "tickets.events", TICKET_CHANGES),
    Operation("ingest", "send", "timers", ("CountdownCancel", "CustomerTyping")),
    Operation("router", "receive", "tickets.events", TICKET_CHANGES),
    Operation("router", "receive", "tickets.commands"),
    Operation("router", "receive", "agents.presence"),
    Operation("router", "send", "tickets.events",
              ("TicketAssigned", "CommandRejected", "TicketMessage", "TicketStatus")),
    Operation("router", "send", "notifications"),
    Operation("router", "send", "timers", ("CountdownStart",)),
    Operation("router", "send", "accounts.config", ("AccountDocument",)),
    Operation("closer", "receive", "timers"),
    Operation("closer", "send", "tickets.events", ("TicketStatus", "TicketMessage")),
    Operation("handoff", "receive", "handoff.requests"),
    Operation("handoff", "send", "handoff.results"),
    Operation("handoff", "send", "inbound.sms"),
    Operation("handoff", "send", "inbound.email"),
    Operation("handoff", "send", "inbound.webchat", ("WebchatMessage",)),
    *(Operation(kind, "receive", "accounts.config") for kind in KINDS),
    *(Operation(kind, "send", "deadletter") for kind in KINDS),
    Operation("cli", "send", "accounts.config", ("AccountDocument",)),
    Operation("cli", "send", "tickets.commands", ("AssignCommand", "TransferCommand")),
    Operation("cli", "send", "agents.presence"),
)

_INTERNAL_METHOD = "For the `internal` method: the transcript enters the pipeline as a message."
WHY = {
    ("router", "send", "accounts.config"): "After refusing a record, the router publishes the "
    "account's applied document again, so that compaction cannot leave the refused one alone.",
    ("handoff", "send", "inbound.sms"): _INTERNAL_METHOD,
    ("handoff", "send", "inbound.email"): _INTERNAL_METHOD,
    ("handoff", "send", "inbound.webchat"): _INTERNAL_METHOD,
}
"""Why a party sends to a topic, where its name does not say it."""

TOMBSTONE = "AccountDeleted"


def members(topic: str) -> tuple[type[msgspec.Struct], ...]:
    """The Struct of each kind of record a topic carries (the members of a tagged Union)."""
    kind = TOPICS[topic]
    return typing.get_args(kind) or (kind,)


def channel_id(topic: str) -> str:
    """`inbound.sms` -> `inboundSms`: AsyncAPI ids are names, topic names are addresses."""
    first, *rest = topic.split(".")
    return first + "".join(part.capitalize() for part in rest)


def to_asyncapi_schema(schema: Any) -> Any:
    """msgspec's JSON Schema (2020-12) in AsyncAPI's schema format (a draft-07 superset):
    a tuple's `prefixItems` + `items: false` is `items: [...]` + `additionalItems: false`,
    and the `discriminator` is the tag's property name (each member's `type` says its tag)."""
    if isinstance(schema, list):
        return [to_asyncapi_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: to_asyncapi_schema(value) for key, value in schema.items()}
    if "prefixItems" in out:
        out["items"] = out.pop("prefixItems")
        out["additionalItems"] = False
    if isinstance(out.get("discriminator"), dict):
        out["discriminator"] = out["discriminator"]["propertyName"]
    return out


def document() -> dict[str, Any]:
    """The whole AsyncAPI 3.0 document, as plain data."""
    structs = [struct for topic in TOPICS for struct in members(topic)]
    names = [struct.__name__ for struct in structs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"a Struct on two topics needs a message per topic: {duplicates}")
    _, components = msgspec.json.schema_components(
        structs, ref_template="#/components/schemas/{name}")

    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    for topic, channel in CHANNELS.items():
        names_here = [struct.__name__ for struct in members(topic)]
        for struct in members(topic):
            tag = struct.__struct_config__.tag
            messages[struct.__name__] = {
                "name": struct.__name__,
                "title": f"{topic}: {tag}" if isinstance(tag, str) else topic,
                "summary": (struct.__doc__ or "").strip().splitlines()[0],
                "contentType": "application/json",
                "payload": {"$ref": f"#/components/schemas/{struct.__name__}"},
                "bindings": {"kafka": {
                    "key": {"type": "string",
                            "description": channel.key_of.get(struct.__name__, channel.key)},
                    "bindingVersion": KAFKA_BINDING,
                }},
            }
        bindings: dict[str, Any] = {"topic": topic, "bindingVersion": KAFKA_BINDING}
        if topic == "accounts.config":
            names_here.append(TOMBSTONE)
            messages[TOMBSTONE] = {
                "name": TOMBSTONE,
                "title": "accounts.config: tombstone",
                "summary": "A null value: the account of the record key is deleted.",
                "payload": {"type": "null"},
                "bindings": {"kafka": {
                    "key": {"type": "string", "description": channel.key},
                    "bindingVersion": KAFKA_BINDING,
                }},
            }
            bindings.update(partitions=1, topicConfiguration={"cleanup.policy": ["compact"]})
        channels[channel_id(topic)] = {
            "address": topic,
            "title": topic,
            "description": channel.description + f" Record key: {channel.key[0].lower()}"
                           f"{channel.key[1:]}",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names_here},
            "bindings": {"kafka": bindings},
            **({"tags": [{"name": "internal"}]} if topic in INTERNAL else {}),
        }

    operations: dict[str, Any] = {}
    for op in OPERATIONS:
        named = op.messages or tuple(channels[channel_id(op.topic)]["messages"])
        verb = "publishes to" if op.action == "send" else "consumes"
        why = WHY.get((op.party, op.action, op.topic))
        operations[f"{op.party}-{op.action}-{channel_id(op.topic)}"] = {
            "action": op.action,
            "channel": {"$ref": f"#/channels/{channel_id(op.topic)}"},
            "summary": f"{PARTIES[op.party].capitalize()} {verb} {op.topic}.",
            **({"description": why} if why else {}),
            "tags": [{"name": op.party}],
            "messages": [{"$ref": f"#/channels/{channel_id(op.topic)}/messages/{name}"}
                         for name in named],
        }

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "ticketflow",
            "version": CONTRACT_VERSION,
            "description": (
                "The topics ticketflow reads and writes. Generated from the msgspec Structs "
                "in schemas/ by `make schemas`; docs/contract.md says what consumers may rely "
                "on. Every topic name may carry a deployment prefix (TICKETFLOW_TOPIC_PREFIX). "
                "Operations are those of ticketflow's own parts (the four worker kinds and the "
                "`ticketflow` command); the outside parties are named in each channel."),
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": to_asyncapi_schema(components),
        },
    }


def rendered() -> str:
    """The text the committed `docs/asyncapi.yaml` must have."""
    header = "# Generated by `make schemas` (schemas/asyncapi.py) from the Structs; do not edit.\n"
    return header + yaml.safe_dump(document(), sort_keys=False, allow_unicode=True, width=100)
