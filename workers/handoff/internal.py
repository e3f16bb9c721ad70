"""`internal` adapter (H4): the transcript enters our own pipeline as a new inbound message
of the conversation's channel, so ingest threads it and the router routes it like any ticket.

The message id derives from the handoff id, so a redelivered handoff re-publishes a message
ingest has already seen, and ingest's dedup (I2) makes that a no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.config import AccountDocument
from schemas.handoff import HandoffRequest
from schemas.inbound import EmailMessage, SmsMessage, Visitor, WebchatMessage
from workers.handoff.decide import transcript_text
from workers.handoff.retry import PermanentHelpdeskError
from workers.runtime.records import Outgoing
from workers.runtime.settings import Settings
from workers.state.business_hours import is_open
from workers.state.presence import online_agents

HANDOFF_TAG = "ai_handoff"


def inbound_message_id(request: HandoffRequest) -> str:
    """The provider message id of the handoff's inbound message; stable per handoff."""
    return f"handoff-{request.handoff_id}"


def inbound_record(request: HandoffRequest) -> Outgoing:
    """The inbound record that carries the transcript into ingest.

    Web chat threads by session (= conversation id); SMS by shop + customer number; email
    is a new message from the visitor. SMS and email need the account's side of the
    conversation (`shop_number` / `shop_email`), which CONTRACT leaves optional.
    """
    text = transcript_text(request)
    visitor = request.visitor
    message_id = inbound_message_id(request)
    if request.channel == "webchat":
        return Outgoing("inbound.webchat", request.conversation_id, WebchatMessage(
            account_id=request.account_id, message_id=message_id,
            session_id=request.conversation_id, text=text, sent_at=request.requested_at,
            visitor=Visitor(email=visitor.email, name=visitor.name,
                            profile_id=visitor.profile_id, authenticated=visitor.authenticated),
            tags=[HANDOFF_TAG]))
    if request.channel == "sms":
        if visitor.phone is None or request.shop_number is None:
            raise PermanentHelpdeskError("internal sms handoff needs visitor.phone and "
                                         "shop_number")
        return Outgoing("inbound.sms", visitor.phone, SmsMessage(
            account_id=request.account_id, message_id=message_id, from_number=visitor.phone,
            to_number=request.shop_number, body=text, received_at=request.requested_at,
            profile_id=visitor.profile_id, tags=[HANDOFF_TAG]))
    if visitor.email is None or request.shop_email is None:
        raise PermanentHelpdeskError("internal email handoff needs visitor.email and shop_email")
    return Outgoing("inbound.email", visitor.email.lower(), EmailMessage(
        account_id=request.account_id, message_id=message_id, from_email=visitor.email,
        from_name=visitor.name, to_email=request.shop_email, subject="Conversation with our "
        "AI assistant", text=text, received_at=request.requested_at,
        profile_id=visitor.profile_id, tags=[HANDOFF_TAG]))


async def team_available(client: Any, settings: Settings, account: AccountDocument,
                         now: datetime) -> bool:
    """Someone can pick the ticket up now: inside business hours and an agent online."""
    if not is_open(account.business_hours, now):
        return False
    return bool(await online_agents(client, settings, account, now))
