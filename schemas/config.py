"""The account document on the compacted `accounts.config` topic (SPEC A2-A4).

Every check that can refuse a document lives here, so the CLI refuses it before it is
published and every worker refuses the same document the same way. Error messages
name the field (msgspec adds the path, e.g. "... - at `$.auto_close.days`").
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from typing import Annotated, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from schemas.common import AccountId, Email, Id, Label, Name, Wire
from schemas.events import DeliveryChannel, Priority
from schemas.inbound import Channel

ASSIGNING_ROLES = frozenset({"owner", "admin", "manager", "support"})
"""Roles allowed to assign tickets (A3); any other role may not."""

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")]
Interval = tuple[ClockTime, ClockTime]
EnvVarName = Annotated[str, msgspec.Meta(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")]
# Strict enough that every HTTP client reads the same host from it: no user info, path,
# query or fragment (the adapters add the API paths), so `https://a@b`, `https://b#.c`
# and the like never reach a URL parser.
BaseUrl = Annotated[str, msgspec.Meta(
    pattern=r"^https?://[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?/?$", max_length=300)]
ConditionField = Literal["channel", "tags", "segments", "subject", "body"]
ConditionOp = Literal["in", "contains", "any_of"]
AssignmentMethod = Literal["round_robin", "balanced"]
SkillName = Label
# Bounded so the Lua scripts, whose numbers are doubles, compare capacities exactly; a
# limit above any real workload is written by leaving the channel out (unlimited).
ChannelCapacity = Annotated[int, msgspec.Meta(ge=0, le=100_000)]
MAX_SKILLS = 50
"""Most skills an agent may have, and most a rule may require (R14)."""


# A Struct rather than a mapping so that a refusal names the channel (`capacity.sms`), and
# unknown channels refused: a misspelt channel would otherwise silently be unlimited.
class Capacity(Wire, forbid_unknown_fields=True, omit_defaults=True):
    """Most `open` tickets an agent takes automatically per channel (R11): a channel left
    out (or null) is unlimited, 0 means no automatic assignment on it."""

    sms: ChannelCapacity | None = None
    email: ChannelCapacity | None = None
    webchat: ChannelCapacity | None = None

    def on(self, channel: Channel) -> int | None:
        """The capacity on a channel, None when unlimited."""
        return {"sms": self.sms, "email": self.email, "webchat": self.webchat}[channel]


class AgentConfig(Wire):
    """A person who handles tickets; `role` decides what they may do (A3)."""

    id: Id
    name: Name
    email: Email
    role: Label
    teams: list[Id] = []
    notify: list[DeliveryChannel] = []
    capacity: Capacity = Capacity()
    # Skill name -> level 1-5 (R14). Checked below rather than by msgspec constraints on
    # the key and value, whose refusals do not say which skill is wrong; the JSON Schema
    # states the same bounds.
    skills: Annotated[
        dict[Annotated[str, msgspec.Meta(extra_json_schema={"minLength": 1, "maxLength": 100})],
             Annotated[int, msgspec.Meta(extra_json_schema={"minimum": 1, "maximum": 5})]],
        msgspec.Meta(max_length=MAX_SKILLS)] = {}

    def __post_init__(self) -> None:
        for name, level in self.skills.items():
            if not 1 <= len(name) <= 100:
                raise ValueError(f"skills: skill name {name!r} is not 1-100 characters")
            if not 1 <= level <= 5:
                raise ValueError(f"skills.{name}: level {level} is not an integer from 1 to 5")

    @property
    def may_assign(self) -> bool:
        return self.role in ASSIGNING_ROLES


class TeamConfig(Wire):
    """A team, with the tag/segment membership that routes tickets to it (R1)."""

    id: Id
    name: Name
    tags: list[Label] = []
    segments: list[Label] = []
    auto_assign_on_transfer: bool = False


class Condition(Wire):
    """One test on a ticket; `in`/`any_of` take a list, `contains` a string."""

    field: ConditionField
    op: ConditionOp
    value: Union[str, list[str]]

    def __post_init__(self) -> None:
        if self.op == "contains" and not isinstance(self.value, str):
            raise ValueError("value: op 'contains' needs a string")
        if self.op in ("in", "any_of") and not isinstance(self.value, list):
            raise ValueError(f"value: op '{self.op}' needs a list of strings")


class RuleActions(Wire):
    """What a matching rule does: route to a team, optionally to a named agent; give the
    ticket a queue priority (R12, none: `normal`) and require skills of its agent (R14)."""

    team_id: Id | None = None
    agent_id: Id | None = None
    priority: Priority | None = None
    skills: Annotated[list[SkillName], msgspec.Meta(max_length=MAX_SKILLS)] = []


class Rule(Wire):
    """An automation rule; rules run in document order and the first match wins (R1)."""

    id: Id
    name: Name
    trigger: Literal["ticket_created", "tags_changed"]
    groups: list[list[Condition]]
    actions: RuleActions
    active: bool = True
    notes: str = ""


class DateException(Wire):
    """A date whose opening intervals replace the weekly ones (empty: closed)."""

    date: date
    intervals: list[Interval] = []


class BusinessHours(Wire):
    """Opening hours in an IANA time zone (R4)."""

    timezone: str
    weekly: dict[Weekday, list[Interval]] = {}
    exceptions: list[DateException] = []

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone: unknown IANA time zone {self.timezone!r}") from None
        for day, intervals in self.weekly.items():
            _check_intervals(f"weekly.{day}", intervals)
        for i, exception in enumerate(self.exceptions):
            _check_intervals(f"exceptions[{i}].intervals", exception.intervals)


def _check_intervals(where: str, intervals: list[tuple[str, str]]) -> None:
    for start, end in intervals:
        if start >= end:
            raise ValueError(f"{where}: interval {start}-{end} must end after it starts")


class AutoClose(Wire):
    """Close tickets whose customer went quiet (C1); period 1-90 days, default 2."""

    enabled: bool = False
    days: Annotated[int, msgspec.Meta(ge=1, le=90)] = 2
    typing_grace_seconds: Annotated[int, msgspec.Meta(ge=0, le=86400)] = 300


class HandoffSettings(Wire):
    """Where AI conversations go when they need a human (H2, H7).

    Secrets are never in the document: only the names of environment variables.
    """

    method: Literal["internal", "zendesk", "gorgias", "message"] = "internal"
    subdomain: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] | None = None
    base_url: BaseUrl | None = None
    email: Email | None = None
    token_env: EnvVarName | None = None
    oauth_token_env: EnvVarName | None = None
    api_key_env: EnvVarName | None = None
    message: Annotated[str, msgspec.Meta(max_length=4000)] | None = None

    def __post_init__(self) -> None:
        if self.method == "zendesk":
            if not (self.subdomain or self.base_url):
                raise ValueError("subdomain: required for method 'zendesk'")
            if not (self.oauth_token_env or (self.token_env and self.email)):
                raise ValueError(
                    "token_env: method 'zendesk' needs token_env with email, or oauth_token_env"
                )
        elif self.method == "gorgias":
            if not (self.subdomain or self.base_url):
                raise ValueError("subdomain: required for method 'gorgias'")
            if not (self.api_key_env and self.email):
                raise ValueError("api_key_env: method 'gorgias' needs api_key_env and email")
        elif self.method == "message" and not self.message:
            raise ValueError("message: required for method 'message'")


class AccountDocument(Wire):
    """Everything ticketflow knows about one account; the newest `version` wins."""

    account_id: AccountId
    # Bounded so that no version is out of reach of the next one: an unbounded integer
    # (10^400) would stay the newest forever and freeze the account.
    version: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
    agents: list[AgentConfig] = []
    # The actor ids the AI customer agent replies as (`reply` with `author_kind: ai`); an AI
    # reply from any other actor is refused.
    ai_actor_ids: Annotated[list[Id], msgspec.Meta(max_length=20)] = []
    teams: list[TeamConfig] = []
    rules: list[Rule] = []
    business_hours: BusinessHours | None = None
    round_robin: bool = False
    # How automatic assignment picks an agent when `round_robin` is on (R2, R13).
    assignment_method: AssignmentMethod = "round_robin"
    # Seconds offline after which an agent's tickets awaiting them go back to the queue
    # (R15); none: never.
    reassign_offline_after_seconds: Annotated[int, msgspec.Meta(ge=1, le=604800)] | None = None
    auto_close: AutoClose = AutoClose()
    presence_timeout_seconds: Annotated[int, msgspec.Meta(ge=1, le=86400)] | None = None
    out_of_hours_text: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    # Days a closed ticket's routing state is kept; none: the deployment's (90 by default).
    closed_retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None
    handoff: HandoffSettings = HandoffSettings()

    def __post_init__(self) -> None:
        _check_secret_names(self.account_id, self.handoff)
        team_ids = _unique_ids("teams", [t.id for t in self.teams])
        agent_ids = _unique_ids("agents", [a.id for a in self.agents])
        _unique_ids("rules", [r.id for r in self.rules])
        for i, agent in enumerate(self.agents):
            for team in agent.teams:
                if team not in team_ids:
                    raise ValueError(f"agents[{i}].teams: unknown team {team!r}")
        for i, rule in enumerate(self.rules):
            if rule.actions.team_id is not None and rule.actions.team_id not in team_ids:
                raise ValueError(
                    f"rules[{i}].actions.team_id: unknown team {rule.actions.team_id!r}")
            if rule.actions.agent_id is not None and rule.actions.agent_id not in agent_ids:
                raise ValueError(
                    f"rules[{i}].actions.agent_id: unknown agent {rule.actions.agent_id!r}"
                )
        for i, actor_id in enumerate(self.ai_actor_ids):
            if actor_id in agent_ids:
                raise ValueError(f"ai_actor_ids[{i}]: {actor_id!r} is also an agent's id")

    def agent(self, agent_id: str) -> AgentConfig | None:
        """The agent with this id, if the account has one."""
        for agent in self.agents:
            if agent.id == agent_id:
                return agent
        return None

    def is_ai_actor(self, actor_id: str) -> bool:
        """Whether the AI customer agent of this account replies as this actor."""
        return actor_id in self.ai_actor_ids


SECRET_PREFIX = "TICKETFLOW_SECRET_"
_SECRET_FIELDS = ("token_env", "oauth_token_env", "api_key_env")
_SECRET_NAME = re.compile(r"[A-Z0-9]{1,64}")


def secret_prefix(account_id: str) -> str:
    """`acme-eu` -> `TICKETFLOW_SECRET_ACME_EU_`: the start of every environment variable
    the account's document may name, so a document can only reach its own secrets."""
    return SECRET_PREFIX + re.sub(r"[^A-Z0-9]", "_", account_id.upper()) + "_"


def _check_secret_names(account_id: str, handoff: HandoffSettings) -> None:
    # After the prefix one word of A-Z/0-9 and no `_`: otherwise `acme` could name
    # `TICKETFLOW_SECRET_ACME_EU_ZENDESK`, a variable of the account `acme-eu`.
    prefix = secret_prefix(account_id)
    for field in _SECRET_FIELDS:
        name = getattr(handoff, field)
        if name is not None and not (name.startswith(prefix) and
                                     _SECRET_NAME.fullmatch(name[len(prefix):])):
            raise ValueError(f"handoff.{field}: {name} is not one of this account's "
                             f"variables ({prefix}<A-Z0-9>, e.g. {prefix}ZENDESK)")


HELPDESK_DOMAINS = {"zendesk": "zendesk.com", "gorgias": "gorgias.com"}
"""The helpdesks' own hosts: `<one label>.<domain>`, HTTPS on the default port."""
_URL = re.compile(r"^(?P<scheme>https?)://(?P<host>[a-z0-9.-]+)(?::(?P<port>[0-9]+))?/?$")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"


def check_helpdesk_host(document: AccountDocument,
                        allowed_hosts: Collection[str]) -> str | None:
    """Why the document's `handoff.base_url` may not be called, or None when it may.

    A URL may name the helpdesk's own HTTPS host, or a host the deployment allows
    (`host` or `host:port` entries of TICKETFLOW_HELPDESK_ALLOWED_HOSTS), the only hosts
    that may use plain http. The allow-list is the deployment's, never the document's,
    so this check takes it as an argument; everything else is refused on decoding.
    """
    handoff = document.handoff
    domain = HELPDESK_DOMAINS.get(handoff.method)
    if domain is None or handoff.base_url is None:
        return None  # `subdomain` always builds `https://<subdomain>.<domain>`
    match = _URL.match(handoff.base_url.lower())
    if match is None:
        return f"field $.handoff.base_url: {handoff.base_url!r} is not http(s)://host[:port]"
    scheme, host = match["scheme"], match["host"]
    port = int(match["port"] or (443 if scheme == "https" else 80))
    if host in allowed_hosts or f"{host}:{port}" in allowed_hosts:
        return None
    if (scheme == "https" and port == 443
            and re.fullmatch(rf"{_LABEL}\.{re.escape(domain)}", host)):
        return None
    return (f"field $.handoff.base_url: {host}:{port} over {scheme} is neither a "
            f"{domain} host over https nor allowed by TICKETFLOW_HELPDESK_ALLOWED_HOSTS")


def _unique_ids(where: str, ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for i, value in enumerate(ids):
        if value in seen:
            raise ValueError(f"{where}[{i}].id: duplicate id {value!r}")
        seen.add(value)
    return seen


def _yaml_loader() -> type:
    """A safe YAML loader that keeps `18:00` a string (YAML 1.1 would read it as 1080)."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag not in (
            "tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    int_rx = re.compile(
        r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$")
    float_rx = re.compile(
        r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    )
    Loader.add_implicit_resolver("tag:yaml.org,2002:int", int_rx, list("-+0123456789"))
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", float_rx, list("-+0123456789."))
    return Loader


def load_account_yaml(text: str) -> AccountDocument:
    """Parse and validate an account document written in YAML (or JSON, a subset)."""
    import yaml

    raw = yaml.load(text, Loader=_yaml_loader())  # noqa: S506 - SafeLoader subclass
    return msgspec.convert(raw, type=AccountDocument)
