"""Fixtures of the router's script tests: a real redis-server, no broker."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.embedded import RedisServer


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    """A redis-server of the module's own, on a free port, for the router's scripts."""
    server = RedisServer(Path(tempfile.mkdtemp(prefix="tf-router-")))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
