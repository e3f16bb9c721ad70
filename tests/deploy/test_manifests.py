"""X3: deploy/ runs the same workers on Apache Kafka + Redis, configured only by
environment variables; these checks keep the manifests in step with the code."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import msgspec
import pytest
import yaml

from harness.embedded import kafka_version
from schemas.config import SECRET_PREFIX, AccountDocument
from workers.runtime.settings import VARIABLES, Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KINDS = ("ingest", "router", "closer", "handoff")


def documents(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def k8s() -> list[dict]:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    return [d for name in kustomization["resources"] for d in documents(DEPLOY / "k8s" / name)]


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())["resources"])
    present = {p.name for p in (DEPLOY / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


# KEDA's ScaledObject is a custom resource, outside the Kubernetes schema; the lag
# autoscaling test below checks it against the code instead.
CUSTOM_RESOURCES = frozenset({"ScaledObject"})


@pytest.mark.parametrize("version", ["1.30.0", "1.33.0"])
def test_manifests_are_valid_kubernetes_objects(version: str) -> None:
    """Strict validation against the published Kubernetes schema: a misspelt field or a
    wrong type fails here rather than at `kubectl apply`."""
    checked = 0
    for doc in k8s():
        if doc["kind"] in CUSTOM_RESOURCES:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {exc.message}")
        checked += 1
    assert checked >= 7  # namespace, config map, secret, topics job, four deployments


def test_configuration_is_environment_only_and_understood_by_the_workers() -> None:
    [config] = [d for d in k8s() if d["kind"] == "ConfigMap"]
    assert set(config["data"]) <= VARIABLES
    settings = Settings.from_env(config["data"])
    assert settings.topic_prefix == "prod." and settings.http_port == 8080


@pytest.mark.parametrize("kind", KINDS)
def test_each_worker_kind_has_a_deployment_with_probes(kind: str) -> None:
    [deployment] = [d for d in k8s() if d["kind"] == "Deployment"
                    and d["metadata"]["name"] == f"ticketflow-{kind}"]
    spec = deployment["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] >= 30
    [container] = spec["containers"]
    assert container["args"] == ["worker", kind]
    assert "command" not in container and "volumeMounts" not in container
    sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert "ticketflow-env" in sources
    assert ("ticketflow-helpdesk-credentials" in sources) == (kind == "handoff")
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["http"]
    [config] = [d for d in k8s() if d["kind"] == "ConfigMap"]
    assert port == int(config["data"]["TICKETFLOW_HTTP_PORT"])
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()


def test_lag_autoscaling_targets_real_groups_and_topics() -> None:
    [config] = [d for d in k8s() if d["kind"] == "ConfigMap"]
    settings = Settings.from_env(config["data"])
    deployments = {d["metadata"]["name"] for d in k8s() if d["kind"] == "Deployment"}
    scaled = [d for d in k8s() if d["kind"] == "ScaledObject"]
    assert scaled
    consumed = {"ingest": "inbound.sms", "router": "tickets.events"}
    for obj in scaled:
        target = obj["spec"]["scaleTargetRef"]["name"]
        kind = target.removeprefix("ticketflow-")
        assert target in deployments
        [trigger] = obj["spec"]["triggers"]
        assert trigger["type"] == "kafka"
        assert trigger["metadata"]["consumerGroup"] == settings.group(kind)
        assert trigger["metadata"]["topic"] == settings.topic(consumed[kind])
        assert obj["spec"]["maxReplicaCount"] <= 8  # partitions per topic


def test_compose_runs_kraft_kafka_redis_and_every_worker() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"]
    assert "KAFKA_CONTROLLER_QUORUM_VOTERS" in kafka
    assert "appendonly" in " ".join(services["redis"]["command"])
    for kind in KINDS:
        service = services[kind]
        assert service["command"] == ["worker", kind]
        secrets = {v for v in service["environment"] if v.startswith(SECRET_PREFIX)}
        assert set(service["environment"]) - secrets <= VARIABLES
        assert not secrets or kind == "handoff"
        assert all(names_a_secret_of_acme(name) for name in secrets)
        Settings.from_env({k: str(v) for k, v in service["environment"].items()})
    assert services["topics"]["command"] == ["topics", "ensure"]


def names_a_secret_of_acme(name: str) -> bool:
    """Whether the sample account's document may name this variable (schemas/config.py)."""
    handoff = {"method": "zendesk", "subdomain": "acme", "email": "a@b.c", "token_env": name}
    try:
        msgspec.convert({"account_id": "acme", "version": 1, "handoff": handoff},
                        AccountDocument)
    except msgspec.ValidationError:
        return False
    return True


def test_helpdesk_secrets_are_named_for_their_account() -> None:
    """The Secret the handoff worker reads holds only variables an account may name, so the
    sample's names follow the rule the workers enforce."""
    [secret] = [d for d in k8s() if d["kind"] == "Secret"]
    assert secret["stringData"]
    assert all(names_a_secret_of_acme(name) for name in secret["stringData"])
    assert not names_a_secret_of_acme("ACME_ZENDESK_TOKEN")  # the check can fail


def test_compose_runs_the_kafka_version_the_tests_pin() -> None:
    """deploy/ names the one Apache Kafka version the suites run on (deploy/kafka/pom.xml)."""
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    image, _, tag = compose["services"]["kafka"]["image"].partition(":")
    assert image == "apache/kafka"
    assert tag == kafka_version()
