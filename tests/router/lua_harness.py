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
_ROOT = Path(__file__).resolve().parents[2] / "workers"
_ROTATION = "\n".join([(_ROOT / "state" / "lua" / "load.lua").read_text(),
                       (_ROOT / "router" / "rotation.lua").read_text()])
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
return pick_agent(base, 'team', pool, 0, 'sms', {}, 'now')
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


@asynccontextmanager
async def lua_choose() -> AsyncIterator[Callable[..., Awaitable[str | None]]]:
    """A `choose(candidates, channel, skills, method, cursor)` with capacity.choose_agent's
    signature that runs rotation.lua's pick_agent over a Redis state built from the loads:
    online set, `load:<agent>` counts, `last_auto` stamps, the cursor and the routing
    settings, so a test can hold the Lua to the pure reference."""
    import json

    from workers.router.capacity import AgentLoad

    client = aioredis.from_url(_redis_url(), decode_responses=True)
    script = client.register_script(_ROTATION + """
local base, online, last_auto, cursor = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local state = cjson.decode(ARGV[1])
use_routing(ARGV[2])
local pool = {}
for i, a in ipairs(state.agents) do
  pool[i] = a.id
  if a.online then redis.call('ZADD', online, 100, a.id) end
  for channel, n in pairs(a.open) do redis.call('HSET', KEYS[4 + i], channel, n) end
  if a.last ~= cjson.null then redis.call('HSET', last_auto, a.id, a.last) end
end
if state.cursor ~= '' then redis.call('SET', cursor, state.cursor) end
return pick_agent(base, 'team', pool, 50, state.channel, state.skills, 'now')
""")

    async def choose(candidates: list[AgentLoad], channel: str, skills: object = (),
                     method: str = "round_robin", cursor: str | None = None) -> str | None:
        keys = Keys(f"lua{next(_ids)}")
        state = {"agents": [{"id": a.agent_id, "online": a.online, "open": dict(a.open),
                             "last": a.last_assigned} for a in candidates],
                 "cursor": cursor or "", "channel": channel, "skills": sorted(skills)}  # type: ignore[call-overload]
        routing = {"method": method, "solo": False,
                   "agents": {a.agent_id: {"capacity": dict(a.capacity),
                                           "skills": sorted(a.skills)} for a in candidates}}
        result = await script(keys=[keys.account("acct"), keys.online("acct"),
                                    keys.last_auto("acct"), keys.rotation_cursor("acct", "team"),
                                    *[keys.load("acct", a.agent_id) for a in candidates]],
                              args=[json.dumps(state), json.dumps(routing)])
        return result or None

    try:
        yield choose
    finally:
        await client.aclose()
