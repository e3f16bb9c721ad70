"""X1: offsets are committed once Redis acknowledged, so a `prod` replica warns at start
when its Redis would lose acknowledged writes; deploy/ ships only Redis that fsyncs first."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from harness.embedded import RedisServer
from harness.processes import WorkerProcess
from tests.conftest import ROOT
from tests.pipeline import Pipeline
from workers.runtime.durability import lost_writes_risk

WARNING = r"Redis at 127\.0\.0\.1:\d+ would lose acknowledged writes"


@pytest.mark.parametrize(("config", "risk"), [
    ({"appendonly": "yes", "appendfsync": "always"}, None),
    ({"appendonly": "yes", "appendfsync": "everysec"}, "appendfsync is 'everysec'"),
    ({"appendonly": "no", "appendfsync": "always"}, "appendonly is off"),
])
def test_only_fsync_before_acknowledging_is_safe(config: dict[str, str],
                                                  risk: str | None) -> None:
    found = lost_writes_risk(config)
    assert (found is None) if risk is None else (found is not None and risk in found)


def test_every_shipped_redis_fsyncs_before_it_acknowledges() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    command = compose["services"]["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2], strict=False))
    assert lost_writes_risk({k.lstrip("-"): v for k, v in options.items()}) is None


@pytest.mark.e2e
@pytest.mark.parametrize("appendonly", [False, True])
def test_a_prod_replica_warns_when_redis_would_lose_writes(
        pipeline: Pipeline, tmp_path: Path, appendonly: bool) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=appendonly)
    server.start()
    settings = msgspec.structs.replace(pipeline.settings, profile="prod",
                                       redis_url=server.url)
    worker = WorkerProcess("ingest", settings).start()
    try:
        worker.wait_for_log(r"ingest ready: consuming")
        warned = [line for line in worker.lines if "would lose acknowledged writes" in line]
        assert bool(warned) is not appendonly, warned
    finally:
        worker.sigterm()
        server.stop()
