"""The Redis connection, script loading and ordered calls.

The keys themselves are named in `workers.state.keys`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from workers.runtime.settings import Settings


def connect(settings: Settings) -> Any:
    """A redis-py asyncio client; `redis+cluster://` URLs give a cluster client."""
    if settings.redis_url.startswith("redis+cluster://"):
        return RedisCluster.from_url("redis://" + settings.redis_url[len("redis+cluster://"):],
                                     decode_responses=True)
    return aioredis.from_url(settings.redis_url, decode_responses=True,
                             health_check_interval=10, socket_timeout=10,
                             socket_connect_timeout=5)


def connect_pubsub(settings: Settings) -> Any:
    """A client for pub/sub. On a cluster, classic pub/sub messages reach every node, so a
    plain connection to the seed node hears them all (redis-py's async cluster client has
    no pub/sub)."""
    url = settings.redis_url
    if url.startswith("redis+cluster://"):
        url = "redis://" + url[len("redis+cluster://"):]
    return aioredis.from_url(url, decode_responses=True, socket_connect_timeout=5)


PRELUDES = Path(__file__).with_name("lua")
"""Shared Lua preludes: rules more than one script enforces, each written once."""


def load_script(client: Any, path: Path, preludes: Sequence[str | Path] = ()) -> Any:
    """Register a Lua script kept in a `.lua` file next to the code that calls it, with
    the named preludes (a name: `workers/state/lua/<name>.lua`; a path: that file) in front
    of it, so the functions they define are there when the script runs."""
    parts = [(PRELUDES / f"{p}.lua" if isinstance(p, str) else p).read_text() for p in preludes]
    return client.register_script("\n".join([*parts, path.read_text()]))


class OrderedCalls:
    """Redis calls that must run in the order given, in as few round trips as possible.

    On a single server they share one pipeline. redis-py refuses EVALSHA inside a cluster
    pipeline, so on a cluster each account's calls run one after another (their order is
    what matters) while different accounts run concurrently.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._calls: list[tuple[str, Any, tuple[Any, ...], dict[str, Any]]] = []

    def script(self, script: Any, keys: list[str], args: list[str]) -> None:
        self._calls.append((keys[0], script, (), {"keys": keys, "args": args}))

    def command(self, name: str, key: str, *args: Any, **kwargs: Any) -> None:
        self._calls.append((key, name, (key, *args), kwargs))

    async def execute(self) -> list[Any]:
        if not self._calls:
            return []
        if isinstance(self._client, RedisCluster):
            return await self._execute_on_cluster()
        pipe = self._client.pipeline(transaction=False)
        for _, target, args, kwargs in self._calls:
            if isinstance(target, str):
                getattr(pipe, target)(*args, **kwargs)
            else:
                await target(client=pipe, **kwargs)
        return await pipe.execute()

    async def _execute_on_cluster(self) -> list[Any]:
        results: list[Any] = [None] * len(self._calls)
        groups: dict[str, list[int]] = {}
        for i, (key, *_rest) in enumerate(self._calls):
            groups.setdefault(_hash_tag(key), []).append(i)

        async def run(indexes: list[int]) -> None:
            for i in indexes:
                _, target, args, kwargs = self._calls[i]
                if isinstance(target, str):
                    results[i] = await getattr(self._client, target)(*args, **kwargs)
                else:
                    results[i] = await target(**kwargs)

        await asyncio.gather(*(run(ix) for ix in groups.values()))
        return results


async def script_per_account(
        client: Any, script: Any, accounts: Sequence[str],
        call: Callable[[str, list[int]], tuple[list[str], list[str]]],
        decode: Callable[[Any], list[Any]]) -> list[Any]:
    """Run `script` once per account over the items of that account (item i belongs to
    `accounts[i]`; `call` gives the keys and args for an account's item indexes, in order),
    all in as few round trips as `OrderedCalls` allows. `decode` turns one call's answer
    into one result per item; the results come back in item order."""
    groups: dict[str, list[int]] = {}
    for i, account_id in enumerate(accounts):
        groups.setdefault(account_id, []).append(i)
    calls = OrderedCalls(client)
    for account_id, indexes in groups.items():
        keys, args = call(account_id, indexes)
        calls.script(script, keys, args)
    results: list[Any] = [None] * len(accounts)
    for indexes, raw in zip(groups.values(), await calls.execute(), strict=True):
        for i, result in zip(indexes, decode(raw), strict=True):
            results[i] = result
    return results


def _hash_tag(key: str) -> str:
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start + 1:end] if start != -1 and end > start + 1 else key
