"""I1 for `accounts.config`: a document nested 1,000 levels deep (2 KB) once raised
RecursionError in every replica's account reader, so running replicas stopped applying
settings and every fresh replica of every kind exited at start. It is refused naming the
depth, and the documents after it still apply."""

from __future__ import annotations

import msgspec
import pytest

from harness.processes import WorkerProcess
from schemas.config import AccountDocument
from tests.pipeline import Pipeline
from workers.state.config_publish import publish_accounts

pytestmark = pytest.mark.e2e


def test_a_deeply_nested_document_is_refused_and_later_ones_apply(
        pipeline: Pipeline, acme: AccountDocument) -> None:
    nested = msgspec.json.encode({**msgspec.to_builtins(acme), "version": 5, "x": [[]]})
    pipeline.publish_raw("accounts.config", "acme",
                         nested.replace(b"[[]]", b"[" * 1000 + b"]" * 1000))
    publish_accounts(pipeline.settings, [msgspec.structs.replace(acme, version=6)])
    # A replica started now reads the bad record first, then the good one.
    fresh = WorkerProcess("ingest", pipeline.settings).start()
    try:
        fresh.wait_for_log(r"refused accounts.config offset \d+: nested 1001 levels deep")
        fresh.wait_for_log(r"account acme version 6 loaded")
        fresh.wait_for_log(r"partitions assigned: [1-9]")
    finally:
        assert fresh.sigterm() == 0
