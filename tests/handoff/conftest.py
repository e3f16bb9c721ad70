"""Fixtures of the handoff tests: short retry settings, fake helpdesks, request builders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import count

import msgspec
import pytest

from harness.processes import WorkerProcess
from schemas.config import AccountDocument, HandoffSettings
from schemas.handoff import HandoffRequest, HandoffResult, HandoffVisitor, TranscriptLine
from tests.handoff.fakes import FakeHelpdesk
from tests.pipeline import Pipeline
from workers.runtime.settings import Settings
from workers.state.config_publish import publish_accounts

MONDAY_11_PARIS = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
SUNDAY = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
ZENDESK_SECRET = "zd-s3cret-value-8c1f"
ZENDESK_OAUTH_SECRET = "zd-oauth-s3cret-77aa"
GORGIAS_SECRET = "gg-s3cret-value-41d0"
ZENDESK_TOKEN_ENV = "TICKETFLOW_SECRET_ACME_ZENDESK"
ZENDESK_OAUTH_ENV = "TICKETFLOW_SECRET_ACME_ZENDESKOAUTH"
GORGIAS_KEY_ENV = "TICKETFLOW_SECRET_ACME_GORGIAS"
SECRETS = {ZENDESK_TOKEN_ENV: ZENDESK_SECRET, ZENDESK_OAUTH_ENV: ZENDESK_OAUTH_SECRET,
           GORGIAS_KEY_ENV: GORGIAS_SECRET}
_n = count(1)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Retries kept short so failure paths end in about two seconds, inside tansu's dev
    max poll interval (5 s); the clock is the test's, so business hours are controllable;
    the fake helpdesks listen on 127.0.0.1 over plain http, which the deployment allows."""
    return msgspec.structs.replace(
        settings, handoff_max_attempts=3, handoff_backoff_base_s=0.05,
        handoff_backoff_max_s=0.5, handoff_http_timeout_s=0.5, handoff_budget_s=2.0,
        handoff_lease_s=1.0, clock="redis", helpdesk_allowed_hosts=("127.0.0.1",))


@pytest.fixture
def zendesk() -> Iterator[FakeHelpdesk]:
    fake = FakeHelpdesk("zendesk", token=ZENDESK_SECRET,
                        oauth_token=ZENDESK_OAUTH_SECRET).start()
    yield fake
    fake.stop()


@pytest.fixture
def gorgias() -> Iterator[FakeHelpdesk]:
    fake = FakeHelpdesk("gorgias", api_key=GORGIAS_SECRET).start()
    yield fake
    fake.stop()


def configure(pipeline: Pipeline, acme: AccountDocument, version: int = 2,
              **handoff: object) -> AccountDocument:
    """Publish a new version of acme with these handoff settings."""
    document = msgspec.structs.replace(acme, version=version,
                                       handoff=HandoffSettings(**handoff))  # type: ignore[arg-type]
    publish_accounts(pipeline.settings, [document])
    return document


def zendesk_config(fake: FakeHelpdesk, oauth: bool = False) -> dict[str, object]:
    if oauth:
        return dict(method="zendesk", base_url=fake.url, oauth_token_env=ZENDESK_OAUTH_ENV)
    return dict(method="zendesk", base_url=fake.url, email=fake.email,
                token_env=ZENDESK_TOKEN_ENV)


def gorgias_config(fake: FakeHelpdesk) -> dict[str, object]:
    return dict(method="gorgias", base_url=fake.url, email=fake.email,
                api_key_env=GORGIAS_KEY_ENV)


def set_now(pipeline: Pipeline, instant: datetime) -> None:
    """Move the workers' controlled clock (workers/runtime/clock.py)."""
    pipeline.redis.set(pipeline.keys.clock(), repr(instant.timestamp()))


def agent_online(pipeline: Pipeline, agent_id: str, at: datetime) -> None:
    pipeline.redis.zadd(pipeline.keys.online("acme"), {agent_id: at.timestamp()})


def request(**fields: object) -> HandoffRequest:
    """A web chat handoff with consent from a signed-in visitor; override by keyword."""
    n = next(_n)
    t = MONDAY_11_PARIS - timedelta(minutes=5)
    values: dict[str, object] = dict(
        handoff_id=f"h-{n}", account_id="acme", conversation_id=f"s-{n}", channel="webchat",
        visitor=HandoffVisitor(email="ana@example.com", name="Ana", profile_id="01HXPROFILE",
                               authenticated=True),
        consent=True,
        transcript=[TranscriptLine(author="visitor", text="Where is my parcel?", at=t),
                    TranscriptLine(author="ai", text="Let me connect you.",
                                   at=t + timedelta(seconds=30))],
        requested_at=t + timedelta(seconds=31))
    values.update(fields)
    return HandoffRequest(**values)  # type: ignore[arg-type]


def send(pipeline: Pipeline, req: HandoffRequest) -> None:
    pipeline.publish("handoff.requests", req.conversation_id, req)


def result_of(pipeline: Pipeline, handoff_id: str, timeout_s: float = 30.0) -> HandoffResult:
    """Wait for the (first) result of a handoff."""
    tail = pipeline.tail("handoff.results")
    records = tail.wait_for(lambda rs: any(r.handoff_id == handoff_id for r in rs),
                            timeout_s=timeout_s, what=f"result of {handoff_id}")
    return next(r for r in records if r.handoff_id == handoff_id)


Spawn = Callable[..., WorkerProcess]


@pytest.fixture
def spawn(pipeline: Pipeline) -> Iterator[Spawn]:
    """Start a handoff replica (helpdesk secrets in its environment); all are stopped at
    the end. Tests configure the account first, so the replica starts with it."""
    workers: list[WorkerProcess] = []

    def start(kind: str = "handoff", **extra_env: str) -> WorkerProcess:
        env = {**SECRETS, **extra_env} if kind == "handoff" else extra_env
        worker = WorkerProcess(kind, pipeline.settings, extra_env=env).start_ready()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.sigterm()
