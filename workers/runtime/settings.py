"""The one typed settings object, read from the environment once at start (STYLE 5)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Literal

import msgspec

_PLAIN_VARIABLES = (
    ("topic_prefix", "TICKETFLOW_TOPIC_PREFIX"),
    ("redis_prefix", "TICKETFLOW_REDIS_PREFIX"),
    ("group_prefix", "TICKETFLOW_GROUP_PREFIX"),
    ("profile", "TICKETFLOW_PROFILE"),
    ("batch_size", "TICKETFLOW_BATCH_SIZE"),
    ("batch_wait_ms", "TICKETFLOW_BATCH_WAIT_MS"),
    ("fetch_max_wait_ms", "TICKETFLOW_FETCH_MAX_WAIT_MS"),
    ("http_port", "TICKETFLOW_HTTP_PORT"),
    ("clock", "TICKETFLOW_CLOCK"),
    ("handoff_max_attempts", "TICKETFLOW_HANDOFF_MAX_ATTEMPTS"),
    ("handoff_backoff_base_s", "TICKETFLOW_HANDOFF_BACKOFF_BASE_S"),
    ("handoff_backoff_max_s", "TICKETFLOW_HANDOFF_BACKOFF_MAX_S"),
    ("handoff_http_timeout_s", "TICKETFLOW_HANDOFF_HTTP_TIMEOUT_S"),
    ("handoff_budget_s", "TICKETFLOW_HANDOFF_BUDGET_S"),
    ("handoff_lease_s", "TICKETFLOW_HANDOFF_LEASE_S"),
    ("closed_retention_days", "TICKETFLOW_CLOSED_RETENTION_DAYS"),
)
ALLOWED_HOSTS_VARIABLE = "TICKETFLOW_HELPDESK_ALLOWED_HOSTS"
VARIABLES = frozenset({"TICKETFLOW_KAFKA", "TICKETFLOW_REDIS", ALLOWED_HOSTS_VARIABLE,
                       *(var for _, var in _PLAIN_VARIABLES)})
"""Every environment variable a worker reads (deploy manifests may set only these), besides
the helpdesk secrets, whose names begin with `schemas.config.SECRET_PREFIX`."""
_ALLOWED_HOST = re.compile(r"^[a-z0-9.-]{1,253}(:[0-9]{1,5})?$")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Where the broker and Redis are, and how this process names things in them."""

    kafka_bootstrap: str = "127.0.0.1:9092"
    redis_url: str = "redis://127.0.0.1:6379/0"
    topic_prefix: str = ""
    redis_prefix: str = "tf"
    group_prefix: str = "ticketflow"
    # `dev` uses short consumer-group timeouts: tansu makes a new group's join wait for
    # the rebalance timeout, so long production timeouts would stall every test start.
    profile: Literal["dev", "prod"] = "prod"
    batch_size: int = 500
    batch_wait_ms: int = 50
    # How long the broker may hold a fetch that has no data yet. tansu answers such a
    # fetch only when this runs out, not when data arrives, so it is every hop's latency.
    fetch_max_wait_ms: int = 500
    http_port: int | None = None
    # `redis`: "now" comes from a Redis key the tests control (workers/runtime/clock.py).
    clock: Literal["system", "redis"] = "system"
    # Handoff retries (H6). The budget bounds how long one batch may spend on a helpdesk,
    # so the consumer polls again well within the group's max poll interval.
    handoff_max_attempts: int = 5
    handoff_backoff_base_s: float = 0.5
    handoff_backoff_max_s: float = 30.0
    handoff_http_timeout_s: float = 10.0
    handoff_budget_s: float = 120.0
    handoff_lease_s: float = 15.0
    # How long a closed ticket's routing state stays in Redis (accounts may set their own):
    # past it, the customer's next message starts a new ticket; the events stay in the log.
    closed_retention_days: int = 90
    # Hosts besides the helpdesks' own HTTPS hosts that account documents may name in
    # `handoff.base_url` (`host` or `host:port`); the only ones allowed plain http.
    helpdesk_allowed_hosts: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `TICKETFLOW_*` variables; anything unset keeps its default."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if "TICKETFLOW_KAFKA" in env:
            values["kafka_bootstrap"] = kafka_bootstrap_from_url(env["TICKETFLOW_KAFKA"])
        if "TICKETFLOW_REDIS" in env:
            values["redis_url"] = env["TICKETFLOW_REDIS"]
        for field, var in _PLAIN_VARIABLES:
            if var in env:
                values[field] = env[var]
        if ALLOWED_HOSTS_VARIABLE in env:
            values["helpdesk_allowed_hosts"] = allowed_hosts_from_text(
                env[ALLOWED_HOSTS_VARIABLE])
        try:
            return msgspec.convert(values, type=cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SystemExit(f"invalid TICKETFLOW_* setting: {exc}") from None

    def topic(self, logical: str) -> str:
        """The broker topic name of a CONTRACT topic, with this deployment's prefix."""
        return self.topic_prefix + logical

    def group(self, worker: str) -> str:
        """The consumer group of a worker kind."""
        return f"{self.group_prefix}.{worker}"

    def to_env(self) -> dict[str, str]:
        """The environment that makes a child process see these same settings."""
        env = {
            "TICKETFLOW_KAFKA": "kafka://" + self.kafka_bootstrap,
            "TICKETFLOW_REDIS": self.redis_url,
            "TICKETFLOW_TOPIC_PREFIX": self.topic_prefix,
            "TICKETFLOW_REDIS_PREFIX": self.redis_prefix,
            "TICKETFLOW_GROUP_PREFIX": self.group_prefix,
            "TICKETFLOW_PROFILE": self.profile,
            "TICKETFLOW_BATCH_SIZE": str(self.batch_size),
            "TICKETFLOW_BATCH_WAIT_MS": str(self.batch_wait_ms),
            "TICKETFLOW_FETCH_MAX_WAIT_MS": str(self.fetch_max_wait_ms),
            "TICKETFLOW_CLOCK": self.clock,
            "TICKETFLOW_HANDOFF_MAX_ATTEMPTS": str(self.handoff_max_attempts),
            "TICKETFLOW_HANDOFF_BACKOFF_BASE_S": repr(self.handoff_backoff_base_s),
            "TICKETFLOW_HANDOFF_BACKOFF_MAX_S": repr(self.handoff_backoff_max_s),
            "TICKETFLOW_HANDOFF_HTTP_TIMEOUT_S": repr(self.handoff_http_timeout_s),
            "TICKETFLOW_HANDOFF_BUDGET_S": repr(self.handoff_budget_s),
            "TICKETFLOW_HANDOFF_LEASE_S": repr(self.handoff_lease_s),
            "TICKETFLOW_CLOSED_RETENTION_DAYS": str(self.closed_retention_days),
            ALLOWED_HOSTS_VARIABLE: ",".join(self.helpdesk_allowed_hosts),
        }
        if self.http_port is not None:
            env["TICKETFLOW_HTTP_PORT"] = str(self.http_port)
        return env


def allowed_hosts_from_text(text: str) -> tuple[str, ...]:
    """`a.example, 127.0.0.1:8080` -> ("a.example", "127.0.0.1:8080"); a malformed entry
    stops the process with the variable named, as any other bad setting does."""
    hosts = tuple(entry.strip().lower() for entry in text.split(",") if entry.strip())
    for host in hosts:
        port = host.partition(":")[2]
        if not _ALLOWED_HOST.match(host) or (port and not 0 < int(port) < 65536):
            raise SystemExit(f"invalid TICKETFLOW_* setting: {ALLOWED_HOSTS_VARIABLE}: "
                             f"{host!r} is not `host` or `host:port`")
    return hosts


def kafka_bootstrap_from_url(url: str) -> str:
    """`kafka://h1:9092,h2:9092` or plain `h1:9092` -> `h1:9092,h2:9092`."""
    for scheme in ("kafka://", "tcp://"):
        if url.startswith(scheme):
            return url[len(scheme):]
    return url
