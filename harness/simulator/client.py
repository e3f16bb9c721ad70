"""The simulator's Redis server and client. The client is redis-py's asyncio client, except
that a pipeline asks the server whether its Lua scripts are loaded only until they are.

redis-py sends `SCRIPT EXISTS` before every pipeline that holds a script, one more round
trip for each batch the ingest, route and timers steps send. In a simulation the server is
ours, started for the run and never flushed, so a script it has loaded stays loaded; the
commands, scripts and their order are the workers' own, only that question goes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from harness.embedded import RedisServer, wait_for_port
from workers.runtime.lifetime import die_with_parent


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


class UnixSocketRedis(RedisServer):
    """The simulation's redis-server: also listening on a Unix socket in its work dir, which
    costs the client about a third less per round trip than loopback TCP here."""

    @property
    def socket_path(self) -> Path:
        return self.workdir / "redis.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent, start_new_session=True)
        wait_for_port(self.port, self.proc, "redis-server")
