"""The Redis data model: every key ticketflow uses, named in one place.

Every key of an account carries the account as a hash tag (`tf:{acme}:...`), so all of an
account's keys share one Redis Cluster slot and one Lua script can touch them together. The
scripts get the account base (`Keys.account`) in KEYS[1] and build the per-account keys
below from it (`base .. ':ticket:' .. id`): the strings here and there must stay the same.

Each method's docstring reads `<Redis type>; <owner>: <what it holds>`; `families()` lists
them for the docs (docs/design) and `tests/workers/test_keys.py` checks that no Python module
spells a key by hand.
"""

from __future__ import annotations

import inspect
import re
from typing import Literal

import msgspec

from workers.runtime.settings import Settings

MarkKind = Literal["assign", "transfer", "reply", "set_status", "set_tags", "drain",
                   "offline"]
"""The steps that keep a dedup mark; each kind has a key family of its own."""


class Keys:
    """The key names under one prefix (`Settings.redis_prefix`, `tf` by default)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    @classmethod
    def of(cls, settings: Settings) -> Keys:
        """The keys of a deployment (tests run each pipeline under a prefix of its own)."""
        return cls(settings.redis_prefix)

    # -- one account -------------------------------------------------------------------

    def account(self, account_id: str) -> str:
        """prefix; every script: the base of every key of one account (`tf:{acme}`)."""
        return f"{self.prefix}:{{{account_id}}}"

    def ticket(self, account_id: str, ticket_id: str) -> str:
        """hash; ingest.lua, router, set_status.lua, close.lua: a ticket (`TicketHash`)."""
        return f"{self.account(account_id)}:ticket:{ticket_id}"

    def tickets(self, account_id: str) -> str:
        """zset; ingest.lua, purge.lua: every ticket of the account, score = ticket number."""
        return f"{self.account(account_id)}:tickets"

    def status_view(self, account_id: str, status: str) -> str:
        """zset; lua/status_view.lua, purge.lua: the tickets in one status, score = number."""
        return f"{self.account(account_id)}:status:{status}"

    def backlog(self, account_id: str, pool: str) -> str:
        """zset; rotation.lua, purge.lua: a pool's tickets awaiting an agent, score = number."""
        return f"{self.account(account_id)}:backlog:{pool}"

    def rotation_cursor(self, account_id: str, pool: str) -> str:
        """string; rotation.lua: the last agent a pool's round robin picked."""
        return f"{self.account(account_id)}:rr:{pool}"

    def load(self, account_id: str, agent_id: str) -> str:
        """hash; lua/load.lua: an agent's open assigned tickets per channel (R11)."""
        return f"{self.account(account_id)}:load:{agent_id}"

    def open_of(self, account_id: str, agent_id: str) -> str:
        """set; lua/load.lua: the ticket ids counted in that agent's `load` (R11)."""
        return f"{self.account(account_id)}:open_of:{agent_id}"

    def queue(self, account_id: str) -> str:
        """zset; router scripts (lua/queue.lua), purge.lua: waiting tickets (R12), score =
        `capacity.queue_score(priority, number)`."""
        return f"{self.account(account_id)}:queue"

    def channel_queue(self, account_id: str, channel: str) -> str:
        """zset; router scripts (rotation.lua), purge.lua: the waiting tickets of one channel,
        scored as in `queue`, so a drain walks only the channels someone has room on."""
        return f"{self.account(account_id)}:queue:{channel}"

    def auto_seq(self, account_id: str) -> str:
        """counter; router scripts: the account's last automatic assignment's stamp (R13)."""
        return f"{self.account(account_id)}:auto_seq"

    def last_auto(self, account_id: str) -> str:
        """hash; router scripts: agent -> stamp (`auto_seq`) of its last automatic assignment."""
        return f"{self.account(account_id)}:last_auto"

    def last_auto_at(self, account_id: str) -> str:
        """hash; router scripts: agent -> time (RFC 3339) of its last automatic assignment."""
        return f"{self.account(account_id)}:last_auto_at"

    def offline_due(self, account_id: str) -> str:
        """zset; router offline reassignment: agent, score = when R15 reassignment is due."""
        return f"{self.account(account_id)}:offline_due"

    def history(self, account_id: str, ticket_id: str) -> str:
        """list; rotation.lua, purge.lua: a ticket's ticket.assigned entries, oldest first."""
        return f"{self.account(account_id)}:history:{ticket_id}"

    def routing(self, account_id: str, ticket_id: str) -> str:
        """set; ingest.lua, reply.lua, purge.lua: the `email:`/`thread:` mappings to a ticket."""
        return f"{self.account(account_id)}:routing:{ticket_id}"

    def thread(self, account_id: str, thread_key: str) -> str:
        """string; ingest.lua, purge.lua: the ticket of an SMS or web chat thread."""
        return f"{self.account(account_id)}:thread:{thread_key}"

    def webchat_thread(self, account_id: str, session_id: str) -> str:
        """string; ingest.lua: the ticket of a web chat session (a `thread` key)."""
        return self.thread(account_id, f"webchat:{session_id}")

    def email(self, account_id: str, message_id: str) -> str:
        """string; ingest.lua, reply.lua, purge.lua: the ticket an email Message-ID belongs to."""
        return f"{self.account(account_id)}:email:{message_id}"

    def number(self, account_id: str, number: int | str) -> str:
        """string; ingest.lua, purge.lua: the ticket id of a ticket number (`[#n]` subjects)."""
        return f"{self.account(account_id)}:number:{number}"

    def customer(self, account_id: str, customer_key: str) -> str:
        """counter; ingest.lua: how many tickets a customer has opened."""
        return f"{self.account(account_id)}:customer:{customer_key}"

    def seq(self, account_id: str) -> str:
        """counter; ingest.lua: the account's last ticket number."""
        return f"{self.account(account_id)}:seq"

    def seen(self, account_id: str, channel: str, message_id: str) -> str:
        """string (TTL); ingest.lua: a provider message's dedup mark (outcome + content)."""
        return f"{self.account(account_id)}:seen:{channel}:{message_id}"

    def seen_pattern(self, account_id: str, channel: str) -> str:
        """pattern; benches and tests: a SCAN match for every `seen` mark of a channel."""
        return self.seen(account_id, channel, "*")

    def online(self, account_id: str) -> str:
        """zset; router presence.lua: online agents, score = last sign of life (epoch s)."""
        return f"{self.account(account_id)}:online"

    def offline(self, account_id: str) -> str:
        """hash; router presence.lua: each agent's last explicit offline/logout (epoch s)."""
        return f"{self.account(account_id)}:offline"

    def countdowns(self, account_id: str) -> str:
        """hash; closer scripts: ticket id -> countdown `<version> <started> <typing>`."""
        return f"{self.account(account_id)}:countdowns"

    def timers(self, account_id: str) -> str:
        """zset; closer scripts: ticket id, score = when its inactivity period starts."""
        return f"{self.account(account_id)}:timers"

    def closing(self, account_id: str) -> str:
        """zset; close.lua, countdowns.py: closes awaiting publication, score = lease expiry."""
        return f"{self.account(account_id)}:closing"

    def retention(self, account_id: str) -> str:
        """zset; set_status.lua, close.lua, purge.lua: closed tickets, score = close time."""
        return f"{self.account(account_id)}:retention"

    def mark(self, account_id: str, kind: MarkKind, *parts: str) -> str:
        """string (TTL); router scripts, set_status.lua: the outcome of one applied step.

        A mark stores its step's outcome in that kind's own format, so a client-chosen id
        must never name another kind's mark: the kind is a fixed word, each kind always has
        the same number of parts, and every part but the last is length-prefixed, so
        ("a:b", "c") and ("a", "b:c") name different marks.
        """
        head = "".join(f"{len(part)}:{part}:" for part in parts[:-1])
        return f"{self.account(account_id)}:mark:{kind}:{head}{parts[-1]}"

    def handoff_state(self, account_id: str, handoff_id: str) -> str:
        """hash (TTL); claim.lua, finish.lua, handoff store.py: a handoff's posts and result."""
        return f"{self.account(account_id)}:handoff:state:{handoff_id}"

    def handoff_lease(self, account_id: str, handoff_id: str) -> str:
        """string (PX); claim.lua, renew.lua, finish.lua: which replica works a handoff.

        A family of its own: with `<state>:lease`, the handoff id `x:lease` would name the
        lease of `x` (WRONGTYPE for both). Ids are free text; families are not.
        """
        return f"{self.account(account_id)}:handoff:lease:{handoff_id}"

    def handoff_outcomes(self, account_id: str) -> str:
        """hash; handoff finish.lua: outcome counts per `<status>:<target>`."""
        return f"{self.account(account_id)}:handoff-outcomes"

    def conversation_end(self, account_id: str, conversation_id: str) -> str:
        """string (TTL); finish.lua: the strongest end class an AI conversation reached."""
        return f"{self.account(account_id)}:conversation-end:{conversation_id}"

    def conversation_ends(self, account_id: str) -> str:
        """hash; handoff finish.lua: AI conversations per end class (H8)."""
        return f"{self.account(account_id)}:conversation-ends"

    # -- across accounts ---------------------------------------------------------------

    def due_shard(self, shard: int) -> str:
        """zset; closer due_index.py: accounts with due work, score = earliest due instant."""
        return f"{self.prefix}:{{closer-due:{shard}}}"

    def closer_wake(self) -> str:
        """channel; closer due_index.py: publishes when an account's due hint moved earlier."""
        return f"{self.prefix}:closer-wake"

    def clock(self) -> str:
        """string + channel; tests (ControlledClock.set): the controlled time, epoch s."""
        return f"{self.prefix}:clock"


def account_base(settings: Settings, account_id: str) -> str:
    """The prefix of every key of one account: `tf:{acme}` (`Keys.account`)."""
    return Keys.of(settings).account(account_id)


def ticket_key(settings: Settings, account_id: str, ticket_id: str) -> str:
    """The hash holding one ticket's state (`Keys.ticket`)."""
    return Keys.of(settings).ticket(account_id, ticket_id)


def mark_key(settings: Settings, account_id: str, kind: MarkKind, *parts: str) -> str:
    """The dedup mark of one applied step: `tf:{acme}:mark:<kind>:<parts>` (`Keys.mark`)."""
    return Keys.of(settings).mark(account_id, kind, *parts)


class Family(msgspec.Struct, frozen=True):
    """One key family, as the docs show it."""

    name: str
    pattern: str
    type: str
    owner: str
    holds: str


_DOC = re.compile(r"^(?P<type>[^;]+); (?P<owner>.+?): (?P<holds>.+)$")


def families(prefix: str = "tf") -> list[Family]:
    """Every key family: its name, its pattern (placeholders in angle brackets), its Redis
    type and who writes it, in catalogue order; read from the methods of `Keys`."""
    keys = Keys(prefix)
    found = []
    for name, method in vars(Keys).items():
        if name.startswith("_") or not inspect.isfunction(method):
            continue
        params = list(inspect.signature(method).parameters.values())[1:]
        args = [f"<{p.name}>" for p in params]
        doc = _DOC.match((method.__doc__ or "").splitlines()[0])
        if doc is None:
            raise ValueError(f"Keys.{name}: docstring is not '<type>; <owner>: <what>'")
        found.append(Family(name, getattr(keys, name)(*args), doc["type"], doc["owner"],
                            doc["holds"].rstrip(".")))
    return found
