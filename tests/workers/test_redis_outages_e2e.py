"""X1 end to end: a Redis that answers errors for a while (out of memory, busy with a slow
script) is an outage, not bad input: the records wait, uncommitted, and are threaded once
Redis recovers; none becomes a dead letter."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from harness.processes import WorkerProcess
from schemas.events import DeadLetter, TicketMessage
from tests.messages import sms
from tests.pipeline import Pipeline, sync_redis
from workers.runtime.failures import is_transient

pytestmark = pytest.mark.e2e


def _nodes(client: Any) -> list[Any]:
    """A plain client, or one client per master of a cluster (CONFIG is per node)."""
    if isinstance(client, redis.RedisCluster):
        return [client.get_redis_connection(n) for n in client.get_primaries()]
    return [client]


@contextmanager
def out_of_memory(client: Any) -> Iterator[None]:
    """Every write refused with OOM until the block ends (maxmemory below what is used)."""
    nodes = _nodes(client)
    saved = [(n.config_get("maxmemory")["maxmemory"],
              n.config_get("maxmemory-policy")["maxmemory-policy"]) for n in nodes]
    for n in nodes:
        n.config_set("maxmemory-policy", "noeviction")
        n.config_set("maxmemory", "1")
    try:
        yield
    finally:
        for n, (limit, policy) in zip(nodes, saved, strict=True):
            n.config_set("maxmemory", limit)
            n.config_set("maxmemory-policy", policy)


@contextmanager
def busy_with_a_script(client: Any) -> Iterator[None]:
    """Redis runs a script that never ends, so every other client gets BUSY, until the
    block ends and the script is killed."""
    nodes = _nodes(client)
    saved = [n.config_get("busy-reply-threshold")["busy-reply-threshold"] for n in nodes]
    for n in nodes:
        n.config_set("busy-reply-threshold", "20")
    blockers = []
    for n in nodes:
        kwargs = n.connection_pool.connection_kwargs
        blocker = redis.Redis(host=kwargs["host"], port=kwargs["port"])
        blockers.append(threading.Thread(
            target=lambda b=blocker: _swallow(lambda: b.eval("while true do end", 0)),
            daemon=True))
    for t in blockers:
        t.start()
    try:
        yield
    finally:
        for n in nodes:
            while True:
                try:
                    n.script_kill()
                    break
                except redis.exceptions.ResponseError as exc:  # the script is not running yet
                    if "NOTBUSY" not in str(exc):
                        raise
        for t in blockers:
            t.join(10)
        for n, threshold in zip(nodes, saved, strict=True):
            n.config_set("busy-reply-threshold", threshold)


def _swallow(call: Callable[[], object]) -> None:
    try:
        call()
    except redis.exceptions.ResponseError:
        pass  # "Script killed by user": what ends the outage


@pytest.mark.parametrize(("outage", "reply"), [(out_of_memory, "maxmemory"),
                                               (busy_with_a_script, "BUSY")])
def test_redis_errors_are_waited_out_not_dead_lettered(
        pipeline: Pipeline, ingest: WorkerProcess, outage: Any, reply: str) -> None:
    warm = sms(from_number="+15550009999")
    pipeline.publish("inbound.sms", warm.from_number, warm)
    pipeline.events.wait_for(lambda rs: any(isinstance(r, TicketMessage) for r in rs),
                             what="a first message threaded (scripts loaded)")
    messages = [sms(from_number=f"+1555000100{i}", message_id=f"oom-{i}") for i in range(3)]
    since = len(ingest.lines)
    with outage(sync_redis(pipeline.settings.redis_url)):
        for m in messages:
            pipeline.publish("inbound.sms", m.from_number, m)
        ingest.wait_for_log(rf"{reply}.*retrying in", since=since)
    pipeline.events.wait_for(
        lambda rs: {m.message_id for m in messages}
        <= {r.message_id for r in rs if isinstance(r, TicketMessage)},
        what="every message threaded once Redis recovered")
    letters = pipeline.tail("deadletter").drain()
    assert not [r for r in letters if isinstance(r, DeadLetter)], letters


@pytest.mark.parametrize(("reply", "transient"), [
    ("OOM command not allowed when used memory > 'maxmemory'.", True),
    ("READONLY You can't write against a read only replica.", True),
    ("BUSY Redis is busy running a script. You can only call SCRIPT KILL.", True),
    ("MISCONF Redis is configured to save RDB snapshots, but it's unable to persist", True),
    ("LOADING Redis is loading the dataset in memory", True),
    ("TRYAGAIN Multiple keys request during rehashing of slot", True),
    ("CLUSTERDOWN The cluster is down", True),
    ("NOPERM this user has no permissions to run the 'evalsha' command", True),
    ("WRONGTYPE Operation against a key holding the wrong kind of value", False),
    ("ERR user_script:12: attempt to compare nil with number", False),
])
def test_redis_error_replies_are_classified_once(reply: str, transient: bool) -> None:
    from redis._parsers import _RESP2Parser

    error = _RESP2Parser(socket_read_size=65536).parse_error(reply)  # as read off the wire
    assert is_transient(error) is transient, (type(error).__name__, reply)
