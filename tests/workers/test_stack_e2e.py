"""`ticketflow stack`: a broker (tansu or Apache Kafka, one node or three) and a redis-server
in the foreground, announced by exactly two lines, usable at once, and gone after SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from tests.conftest import test_broker

pytestmark = pytest.mark.e2e

LINES = (re.compile(r"TICKETFLOW_KAFKA=kafka://(127\.0\.0\.1:\d+(?:,127\.0\.0\.1:\d+)*)"),
         re.compile(r"TICKETFLOW_REDIS=redis://127\.0\.0\.1:(\d+)/0"))


def stack_cases() -> list[tuple[str, int]]:
    """The suite's broker, and on Kafka also a 3-node cluster."""
    return [("kafka", 1), ("kafka", 3)] if test_broker() == "kafka" else [("tansu", 1)]


def read_lines(proc: subprocess.Popen[str], count: int, timeout_s: float) -> list[str]:
    """The first `count` lines of stdout, or fail with stderr's end at the deadline."""
    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if len(lines) == count:
                break
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout_s) or len(lines) < count:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"stack printed {lines} within {timeout_s}s; stderr: {err[-3000:]}")
    return lines


def is_listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.parametrize(("broker", "nodes"), stack_cases())
def test_stack_serves_kafka_and_redis_until_sigterm(broker: str, nodes: int) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TICKETFLOW_KAFKA", "TICKETFLOW_REDIS")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers", "stack", "--broker", broker, "--brokers", str(nodes)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        kafka_line, redis_line = read_lines(proc, 2, timeout_s=120)
        kafka_match, redis_match = LINES[0].fullmatch(kafka_line), LINES[1].fullmatch(redis_line)
        assert kafka_match and redis_match, (kafka_line, redis_line)
        bootstrap = kafka_match.group(1)
        broker_ports = [int(a.rsplit(":", 1)[1]) for a in bootstrap.split(",")]
        redis_port = int(redis_match.group(1))
        assert len(broker_ports) == nodes

        # Usable as printed: a topic replicated to every node, a record through it, Redis.
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        assert "tickets.events" in admin.list_topics()  # the stack created our topics
        admin.create_topics([NewTopic("stack-check", 1, min(3, nodes))])
        admin.close()
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        producer.send("stack-check", b"hello", key=b"k").get(timeout=30)
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                 auto_offset_reset="earliest", enable_auto_commit=False)
        tp = TopicPartition("stack-check", 0)
        consumer.assign([tp])
        values: list[bytes] = []
        deadline = time.monotonic() + 30
        while not values and time.monotonic() < deadline:
            values += [r.value for rs in consumer.poll(timeout_ms=500).values() for r in rs]
        consumer.close()
        assert values == [b"hello"]
        client = redis.Redis(port=redis_port)
        assert client.ping()
        client.close()

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
        rest = proc.stdout.read() if proc.stdout else ""
        assert rest == "", f"more than two lines on stdout: {rest!r}"
        still = [p for p in [*broker_ports, redis_port] if is_listening(p)]
        assert not still, f"ports still open after the stack stopped: {still}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
