"""Whether Redis keeps what it acknowledged (X1): offsets are committed once Redis answered,
so a Redis that acknowledges before it fsyncs can lose effects whose inputs are already
committed (never redelivered). A `prod` replica says so at start."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis

from workers.runtime.settings import Settings

log = logging.getLogger(__name__)


def lost_writes_risk(config: Mapping[str, str]) -> str | None:
    """Why a Redis with these settings (CONFIG GET appendonly appendfsync) would lose
    acknowledged writes in a crash, or None when it fsyncs before it answers."""
    if config.get("appendonly") != "yes":
        return ("appendonly is off: a crash or restart loses every write since the last "
                "snapshot")
    if config.get("appendfsync") != "always":
        return (f"appendfsync is {config.get('appendfsync')!r}: a crash loses up to a second "
                "of acknowledged writes")
    return None


def _primaries(settings: Settings) -> list[Any]:
    url = settings.redis_url
    if url.startswith("redis+cluster://"):
        cluster = redis.RedisCluster.from_url("redis://" + url[len("redis+cluster://"):],
                                              socket_connect_timeout=5, socket_timeout=5,
                                              decode_responses=True)
        return [cluster.get_redis_connection(n) for n in cluster.get_primaries()]
    return [redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=5,
                                 decode_responses=True)]


def warn_if_redis_loses_writes(settings: Settings) -> None:
    """Log a warning for each Redis primary that would lose acknowledged writes."""
    if settings.profile != "prod":
        return
    try:
        nodes = _primaries(settings)
    except redis.RedisError as exc:
        log.warning("could not check Redis durability at start: %s", exc)
        return
    for node in nodes:
        where = "{host}:{port}".format(**node.connection_pool.connection_kwargs)
        try:
            config = node.config_get("append*")
        except redis.RedisError as exc:  # managed Redis often refuses CONFIG
            log.warning("could not read Redis persistence settings of %s (%s): make sure it "
                        "runs with appendonly yes and appendfsync always", where, exc)
            continue
        finally:
            node.close()
        risk = lost_writes_risk(config)
        if risk is not None:
            log.warning("Redis at %s would lose acknowledged writes: %s; run it with "
                        "appendonly yes and appendfsync always", where, risk)
