"""What the visitor is told after a handoff (H4, H5), per target and channel."""

from __future__ import annotations

from schemas.config import AccountDocument
from schemas.handoff import HandoffRequest

TEAM_HAS_IT = "Thanks! Your request has been sent to our team; an agent will reply here shortly."
CLOSED_FALLBACK = ("Thanks! Your request has been sent to our team. Nobody is available right "
                   "now; we will get back to you as soon as we are.")
ASK_EMAIL = "To connect you with our team, please share your email address."
DECLINED = "No problem, I will keep helping you here."
FAILED = "Sorry, we could not reach our team right now. Please try again in a moment."


def internal_notice(account: AccountDocument, team_available: bool) -> str:
    """Own inbox (H4): the team has it, or the account's out-of-hours text when nobody can
    pick it up now (no agent online, or outside business hours)."""
    if team_available:
        return TEAM_HAS_IT
    return account.out_of_hours_text or CLOSED_FALLBACK


def helpdesk_notice(request: HandoffRequest) -> str:
    """Zendesk/Gorgias (H5): a human follows up; SMS stays on SMS, web chat moves to email."""
    if request.channel == "sms":
        return "Thanks! A member of our team will follow up with you here by SMS."
    email = request.visitor.email
    where = f"by email at {email}" if email else "by email"
    if request.channel == "webchat":
        return (f"Thanks! A member of our team will follow up {where}; this chat ends here. "
                "You can reply to their email directly.")
    return f"Thanks! A member of our team will follow up {where}."
