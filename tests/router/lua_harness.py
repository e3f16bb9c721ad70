"""Run the router's rotation Lua against a throwaway redis-server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import redis.asyncio as aioredis

from harness.embedded import RedisServer
from workers.state.keys import Keys

_ids = itertools.count()
_ROTATION = (Path(__file__).resolve().parents[2] / "workers" / "router"
             / "rotation.lua").read_text()
_server: RedisServer | None = None


def _redis_url() -> str:
    global _server
    if _server is None:
        import tempfile

        _server = RedisServer(Path(tempfile.mkdtemp(prefix="tf-lua-")))
        _server.start()
        import atexit

        atexit.register(_server.stop)
    return _server.url


@asynccontextmanager
async def lua_rotation(
        pool: list[str]) -> AsyncIterator[Callable[[set[str]], Awaitable[str | None]]]:
    """A `pick(online)` that runs rotation.lua's pick_agent once with that online set."""
    client = aioredis.from_url(_redis_url(), decode_responses=True)
    script = client.register_script(_ROTATION + """
local base, online = KEYS[1], KEYS[2]
redis.call('DEL', online)
for i = 2, #ARGV do if ARGV[i] ~= '' then redis.call('ZADD', online, 1, ARGV[i]) end end
local pool = {}
for p in string.gmatch(ARGV[1], '[^,]+') do pool[#pool + 1] = p end
return pick_agent(base, 'team', pool, 0)
""")
    keys = Keys(f"lua{next(_ids)}")

    async def pick(online: set[str]) -> str | None:
        result = await script(keys=[keys.account("acct"), keys.online("acct")],
                              args=[",".join(pool), *sorted(online)])
        return result or None

    try:
        yield pick
    finally:
        await client.aclose()
