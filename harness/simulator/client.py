"""The simulator's redis-server and the client the workers' code gets in a simulation.

The client has the asyncio interface the workers call (`await client.hgetall(...)`,
`client.register_script`, `client.pipeline(transaction=False)` and `await pipe.execute()`)
over redis-py's blocking client. Nothing runs concurrently in a simulation: every step
waits for its answer before the next one starts, so a blocking call changes no order and
saves the event loop's turns on every round trip, which are most of the cost of one.
The commands and scripts are the workers' own; one question goes: redis-py asks the
server before each pipeline holding a script whether it has it (`SCRIPT EXISTS`), and
the simulation's server, started for the run and never flushed, keeps what it loaded.

The server listens on a Unix socket in its work dir as well, which costs the client less
per round trip than loopback TCP.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from redis.client import Pipeline

from harness.embedded import RedisServer, wait_for_port
from workers.runtime.lifetime import die_with_parent


class _Pipeline(Pipeline):
    known: set[str]

    def load_scripts(self) -> None:
        if all(script.sha in self.known for script in self.scripts):
            return
        super().load_scripts()
        self.known.update(script.sha for script in self.scripts)


class _Blocking(redis.Redis):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known_scripts: set[str] = set()

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        pipe = _Pipeline(self.connection_pool, self.response_callbacks, transaction,
                         shard_hint)
        pipe.known = self._known_scripts
        return pipe


class SimulationPipeline:
    """A pipeline as the workers use one: commands queue, `await execute()` sends them."""

    def __init__(self, pipe: Pipeline) -> None:
        self.pipe = pipe

    def __getattr__(self, name: str) -> Callable[..., SimulationPipeline]:
        command = getattr(self.pipe, name)

        def queue(*args: Any, **kwargs: Any) -> SimulationPipeline:
            command(*args, **kwargs)
            return self

        return queue

    async def execute(self) -> list[Any]:
        return self.pipe.execute()


class SimulationScript:
    """A registered script: `await script(keys=..., args=..., client=pipe)`."""

    def __init__(self, script: Any) -> None:
        self.script = script
        self.sha = script.sha

    async def __call__(self, keys: Any = None, args: Any = None, client: Any = None) -> Any:
        target = client.pipe if isinstance(client, SimulationPipeline) else None
        return self.script(keys=keys, args=args, client=target)


class SimulationRedis:
    """The workers' asyncio client interface over a blocking redis-py client."""

    def __init__(self, url: str) -> None:
        self.blocking = _Blocking.from_url(url, decode_responses=True)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        command = getattr(self.blocking, name)

        async def call(*args: Any, **kwargs: Any) -> Any:
            return command(*args, **kwargs)

        setattr(self, name, call)  # looked up once per command name
        return call

    def register_script(self, text: str) -> SimulationScript:
        return SimulationScript(self.blocking.register_script(text))

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None,
                 ) -> SimulationPipeline:
        return SimulationPipeline(self.blocking.pipeline(transaction, shard_hint))

    async def aclose(self) -> None:
        self.blocking.close()


def connect_simulation(url: str) -> Any:
    """The client of a simulation's redis-server (one node, decoded responses, as the
    workers' own `connect` makes)."""
    return SimulationRedis(url)


class UnixSocketRedis(RedisServer):
    """The simulation's redis-server, listening on a Unix socket in its work dir too."""

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
