"""The worker kinds a replica can run, by name: each kind's module declares its `KIND`."""

from __future__ import annotations

from workers.closer.agent import KIND as CLOSER
from workers.handoff.agent import KIND as HANDOFF
from workers.ingest.agent import KIND as INGEST
from workers.router.agent import KIND as ROUTER
from workers.runtime.replica import Kind

KINDS: dict[str, Kind] = {kind.name: kind for kind in (INGEST, ROUTER, CLOSER, HANDOFF)}
