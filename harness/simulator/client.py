"""The simulator's Redis client: redis-py's asyncio client, except that a pipeline asks
the server whether its Lua scripts are loaded only until they are.

redis-py sends `SCRIPT EXISTS` before every pipeline that holds a script, one more round
trip for each batch the ingest, route and timers steps send. In a simulation the server is
ours, started for the run and never flushed, so a script it has loaded stays loaded; the
commands, scripts and their order are the workers' own, only that question goes.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline


class _Pipeline(Pipeline):
    known: set[str]

    async def load_scripts(self) -> None:
        if all(script.sha in self.known for script in self.scripts):
            return
        await super().load_scripts()
        self.known.update(script.sha for script in self.scripts)


class SimulationRedis(aioredis.Redis):
    """A client whose pipelines remember which scripts the server already holds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known_scripts: set[str] = set()

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = _Pipeline(self.connection_pool, self.response_callbacks, transaction,
                         shard_hint)
        pipe.known = self._known_scripts
        return pipe


def connect_simulation(url: str) -> Any:
    """A client on the simulation's redis-server (one node, decoded responses, as the
    workers' `connect` makes)."""
    return SimulationRedis.from_url(url, decode_responses=True)
