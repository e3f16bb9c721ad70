"""The Redis connection and the names of ticketflow's keys.

Every key of an account carries the account as a hash tag (`tf:{acme}:...`), so all of
an account's keys share one Redis Cluster slot and one Lua script can touch them together.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from workers.settings import Settings


def connect(settings: Settings) -> Any:
    """A redis-py asyncio client; `redis+cluster://` URLs give a cluster client."""
    if settings.redis_url.startswith("redis+cluster://"):
        return RedisCluster.from_url("redis://" + settings.redis_url[len("redis+cluster://"):],
                                     decode_responses=True)
    return aioredis.from_url(settings.redis_url, decode_responses=True,
                             health_check_interval=10, socket_timeout=10,
                             socket_connect_timeout=5)


def account_base(settings: Settings, account_id: str) -> str:
    """The prefix of every key of one account: `tf:{acme}`."""
    return f"{settings.redis_prefix}:{{{account_id}}}"


def ticket_key(settings: Settings, account_id: str, ticket_id: str) -> str:
    """The hash holding one ticket's state."""
    return f"{account_base(settings, account_id)}:ticket:{ticket_id}"


def load_script(client: Any, path: Path) -> Any:
    """Register a Lua script kept in a `.lua` file next to the code that calls it."""
    return client.register_script(path.read_text())
