"""X3 as far as this machine allows: the four worker kinds started with exactly the
environment deploy/compose.yaml and deploy/k8s/ give them, through the image's entry point
(the `ticketflow` console script with the manifest's arguments), route a ticket end to end.

Only the addresses change: TICKETFLOW_KAFKA becomes the session's broker, TICKETFLOW_REDIS a
redis-server of this test (the manifests' default key prefix would share the session's with
the other run of this test), and TICKETFLOW_HTTP_PORT a free port per replica, since on one
host the four replicas cannot all bind the 8080 each container has to itself. Everything
else, the `prod` profile's long group timeouts included, is the manifests' own.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from harness.embedded import EmbeddedStack, RedisServer, free_port
from harness.processes import WorkerProcess, console_script
from schemas.config import load_account_yaml
from schemas.events import TicketAssigned
from tests.deploy.test_manifests import DEPLOY, KINDS, k8s
from tests.pipeline import Pipeline
from tests.router.helpers import assignments, new_ticket, presence
from workers.runtime.settings import Settings

pytestmark = pytest.mark.e2e

READY = r"partitions assigned: [1-9]"
# A replica in the prod profile: on tansu a new group's join lasts its rebalance timeout (60 s).
JOIN_TIMEOUT_S = 150.0


@dataclass
class Deployment:
    """What one set of manifests runs: the topics job, the operator's `config apply` and a
    replica of each worker kind, each as (arguments after the entry point, environment)."""

    topics: tuple[list[str], dict[str, str]]
    operator_env: dict[str, str]
    workers: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)


_DEFAULTED = re.compile(r"\$\{(\w+):-([^}]*)\}")


def compose_env(environment: dict[str, object]) -> dict[str, str]:
    """A compose service's environment as compose passes it when the shell sets none of the
    `${NAME:-default}` variables it names."""
    return {k: _DEFAULTED.sub(lambda m: m[2], str(v)) for k, v in environment.items()}


def from_compose() -> Deployment:
    services = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    topics = services["topics"]
    deployment = Deployment(topics=(topics["command"], compose_env(topics["environment"])),
                            operator_env=compose_env(services["ctl"]["environment"]))
    for kind in KINDS:
        service = services[kind]
        deployment.workers[kind] = (service["command"], compose_env(service["environment"]))
    return deployment


def from_k8s() -> Deployment:
    docs = k8s()
    sources = {("configMapRef", d["metadata"]["name"]): d["data"]
               for d in docs if d["kind"] == "ConfigMap"}
    sources |= {("secretRef", d["metadata"]["name"]): d["stringData"]
                for d in docs if d["kind"] == "Secret"}

    def container_env(container: dict) -> dict[str, str]:
        env: dict[str, str] = {}
        for source in container.get("envFrom", []):
            [(ref, target)] = source.items()
            env |= {k: str(v) for k, v in sources[(ref, target["name"])].items()}
        env |= {e["name"]: str(e["value"]) for e in container.get("env", [])}
        return env

    def only_container(kind: str, name: str) -> dict:
        [doc] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
        [container] = doc["spec"]["template"]["spec"]["containers"]
        return container

    job = only_container("Job", "ticketflow-topics")
    [config] = [d for d in docs if d["kind"] == "ConfigMap"]
    deployment = Deployment(topics=(job["args"], container_env(job)),
                            operator_env={k: str(v) for k, v in config["data"].items()})
    for kind in KINDS:
        container = only_container("Deployment", f"ticketflow-{kind}")
        deployment.workers[kind] = (container["args"], container_env(container))
    return deployment


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def run(args: list[str], env: dict[str, str]) -> str:
    """One `ticketflow ...` command, as a Job or an operator runs it; its output."""
    done = subprocess.run([console_script(), *args], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("source", [from_compose, from_k8s], ids=["compose", "k8s"])
def test_the_manifests_environment_routes_a_ticket_end_to_end(
        source, _stack: EmbeddedStack, own_redis: RedisServer, tmp_path: Path) -> None:
    deployment = source()
    local = {"TICKETFLOW_KAFKA": f"kafka://{_stack.settings.kafka_bootstrap}",
             "TICKETFLOW_REDIS": own_redis.url}
    for _, env in [deployment.topics, *deployment.workers.values()]:
        assert env["TICKETFLOW_PROFILE"] == "prod" and set(local) <= set(env)

    topics_args, topics_env = deployment.topics
    prefix = topics_env["TICKETFLOW_TOPIC_PREFIX"]
    assert f"topics present with prefix {prefix!r}" in run(topics_args, topics_env | local)

    # The deployed sample account, without its business hours: these replicas run on the
    # system clock, as deployed, and the automatic assignment must not depend on the hour.
    document = yaml.safe_load((DEPLOY / "accounts" / "acme.yaml").read_text())
    del document["business_hours"]
    account = tmp_path / "acme.yaml"
    account.write_text(yaml.safe_dump(document))
    assert load_account_yaml(account.read_text()).business_hours is None
    operator_env = deployment.operator_env | local
    assert "acme version 1: published" in run(["config", "apply", str(account)], operator_env)

    started = time.monotonic()
    workers: dict[str, WorkerProcess] = {}
    ports: dict[str, int] = {}
    try:
        for kind, (args, env) in deployment.workers.items():
            ports[kind] = free_port()
            environment = env | local | {"TICKETFLOW_HTTP_PORT": str(ports[kind])}
            workers[kind] = WorkerProcess(kind, Settings.from_env(environment),
                                          environment=environment,
                                          argv=[console_script(), *args]).start()
        joined_s = {}
        for kind, worker in workers.items():
            worker.wait_for_log(READY, JOIN_TIMEOUT_S)
            joined_s[kind] = time.monotonic() - started
        for kind, port in ports.items():
            assert get(port, "/ready") == (200, {"ready": True}), kind
            status, health = get(port, "/health")
            assert status == 200 and health["status"] == "ok", kind

        with Pipeline(Settings.from_env(operator_env)) as pipeline:
            now = datetime.now(UTC)
            presence(pipeline, "ag-3", at=now, applied_by=workers["router"])
            created = new_ticket(pipeline, from_number="+15551239999", received_at=now)
            [assigned] = assignments(pipeline, created.ticket_id)
            assert isinstance(assigned, TicketAssigned)
            # acme's rule r1 sends SMS to shipping, where ag-3 is the one agent online.
            assert (assigned.team_id, assigned.agent_id, assigned.rule_id) == (
                "shipping", "ag-3", "r1")
            assert pipeline.ticket(created.ticket_id)["agent_id"] == "ag-3"
        print(f"\n{source.__name__}: joined (s after the start) "
              + ", ".join(f"{kind} {s:.1f}" for kind, s in joined_s.items())
              + f"; ticket routed at {time.monotonic() - started:.1f}")
    finally:
        codes = {kind: worker.sigterm() for kind, worker in workers.items()}
    assert codes == dict.fromkeys(KINDS, 0)

