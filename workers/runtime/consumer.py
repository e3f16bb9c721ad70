"""The consumer loop every worker kind runs: read a batch, decide, publish, then commit.

Offsets are committed only after the batch's Redis work and its published events were
acknowledged, so a SIGKILL at any point redelivers work instead of losing it; the
handlers are idempotent (dedup marks set in the same Lua step as the effect), so
redelivery changes nothing twice. A record that cannot be used becomes a dead letter and
the records around it go on. Redis or broker outages are retried, never skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from schemas.codec import DecodeError, decode, encode
from workers.runtime.account_check import split_by_account
from workers.runtime.deadletter import dead_letter
from workers.runtime.failures import Backoff, is_transient
from workers.runtime.http import Liveness, serve
from workers.runtime.kafka import make_group_consumer, make_producer
from workers.runtime.metrics import (
    BATCH_SECONDS,
    CONSUMER_LAG,
    DEAD_LETTERS,
    PUBLISHED,
    RECORD_LATENCY,
    RECORDS,
)
from workers.runtime.records import Decoded, Outgoing, Received
from workers.runtime.settings import Settings
from workers.state.accounts import AccountRegistry

log = logging.getLogger(__name__)

class BatchHandler(Protocol):
    """What a worker kind plugs into the loop."""

    worker: str
    topics: Sequence[str]

    async def handle(self, batch: list[Decoded]) -> list[Outgoing]:
        """Apply a batch (in record order) and return what to publish; must be idempotent."""
        ...


@dataclass
class LoopStats:
    """Counts a worker reports in its logs and benchmarks."""

    records: int = 0
    dead_letters: int = 0
    published: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)


COMMIT_TIMEOUT_S = 10.0
SHUTDOWN_GRACE_S = 20.0
"""Longest a replica may take to exit after SIGTERM (Kubernetes waits 60 s, Compose 30 s)."""


class _Assignments(ConsumerRebalanceListener):
    def __init__(self, worker: str, logical: dict[str, str]) -> None:
        self.worker, self.logical = worker, logical

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("%s partitions revoked: %d", self.worker, len(revoked))
        for tp in revoked:  # another replica reports their lag now: no stale value here
            labels = (self.worker, self.logical.get(tp.topic, tp.topic), str(tp.partition))
            with contextlib.suppress(KeyError):  # never measured here
                CONSUMER_LAG.remove(*labels)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s partitions assigned: %d", self.worker, len(assigned))


@dataclass(frozen=True)
class Background:
    """A loop a replica runs beside the consume loop (the closer's fires, the router's
    opening sweep). `stop` asks it to finish what it is doing and return; a loop without
    one is cancelled at shutdown. Its failure stops the replica."""

    name: str
    run: Callable[[], Awaitable[None]]
    stop: Callable[[], None] | None = None


Hook = Callable[[], Awaitable[None]]


class ConsumerLoop:
    """Runs one handler over its topics until stopped (SIGTERM drains and commits), with
    the hooks of its kind: background loops, start and stop steps, and the unknown-account
    check (records of accounts the registry does not know become dead letters before the
    handler sees the batch)."""

    def __init__(self, settings: Settings, handler: BatchHandler,
                 registry: AccountRegistry | None = None,
                 background: Sequence[Background] = (),
                 on_start: Sequence[Hook] = (), on_stop: Sequence[Hook] = (),
                 known_accounts_only: bool = False) -> None:
        if known_accounts_only and registry is None:
            raise ValueError("the unknown-account check needs the account registry")
        self.settings = settings
        self.handler = handler
        self.registry = registry
        self.stats = LoopStats()
        self._stopping = asyncio.Event()
        self._logical = {settings.topic(t): t for t in handler.topics}
        self.producer = make_producer(settings)
        self._background = list(background)
        self._on_start = list(on_start)
        self._on_stop = list(on_stop)
        self._known_accounts_only = known_accounts_only
        self._failure: BaseException | None = None
        self.liveness = Liveness()
        self._next_offsets: dict[TopicPartition, int] = {}
        self._drained = False
        self._in_batch = False
        self._deadline: asyncio.TimerHandle | None = None

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand, commit and exit."""
        if not self._stopping.is_set():
            self._deadline = asyncio.get_running_loop().call_later(SHUTDOWN_GRACE_S,
                                                                   self._overdue)
        self._stopping.set()
        for job in self._background:
            if job.stop is not None:
                job.stop()

    def _overdue(self) -> None:
        """Shutdown has taken too long: log where every task is, then leave. Once the last
        batch is committed, nothing is lost by not waiting for the group leave or the
        client close (seen hanging in a rebalance), so that exit counts as clean."""
        log.error("%s: shutdown still running after %.0fs; tasks:", self.handler.worker,
                  SHUTDOWN_GRACE_S)
        for task in asyncio.all_tasks():
            frames = task.get_stack(limit=8)
            log.error("task %s at %s", task.get_name(), " <- ".join(
                f"{f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_code.co_name}:{f.f_lineno}"
                for f in frames))
        logging.shutdown()
        # Blocked in getmany (e.g. waiting out a rebalance) holds no records: also clean.
        os._exit(0 if self._drained or not self._in_batch else 70)

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)

    async def run(self) -> None:
        """Start, consume until stopped, drain; raises the first background failure."""
        http = (await serve(self.liveness, self.settings.http_port)
                if self.settings.http_port else None)
        await self.producer.start()
        consumer = make_group_consumer(self.settings, self.handler.worker, [])
        tasks: list[asyncio.Task[None]] = []
        try:
            if self.registry is not None:
                await self.registry.start()
            for hook in self._on_start:
                await hook()
            # Before the group join, which may take a while (a rebalance): the closer's
            # fires do not wait for it.
            tasks = [self._start(job) for job in self._background]
            consumer.subscribe(list(self._logical), listener=self._listener())
            await consumer.start()
            log.info("%s ready: consuming %s", self.handler.worker, ", ".join(self._logical))
            self.liveness.ready = True
            while not self._stopping.is_set():
                try:
                    batch = await consumer.getmany(timeout_ms=self.settings.batch_wait_ms,
                                                   max_records=self.settings.batch_size)
                except asyncio.CancelledError:
                    if _cancelling():
                        raise
                    consumer = await self._rejoin(consumer)
                    continue
                self.liveness.polled()
                if batch:
                    self._in_batch = True
                    # Caught up (a short batch), fetch nothing while the batch is handled: a
                    # batch fetched now would hold only what arrived before this one was
                    # done, then wait a whole batch in the buffer. Fetched on resume, it also
                    # holds what arrived meanwhile (at 2,000 msg/s: p50 through ingest +
                    # router 17% lower). Behind (a full batch), keep prefetching: pausing
                    # would drop the buffered rest, to be fetched again.
                    caught_up = sum(map(len, batch.values())) < self.settings.batch_size
                    if caught_up:
                        consumer.pause(*consumer.assignment())
                    try:
                        await self._process(consumer, batch)
                    finally:
                        if caught_up:
                            consumer.resume(*consumer.paused())
                    self._in_batch = False
                    self._measure_lag(consumer)
            await self._end(tasks)
            if self._failure is not None:
                raise self._failure
            self._drained = True
            log.info("%s stopping: drained and committed", self.handler.worker)
        finally:
            self.liveness.ready = False
            await self._end(tasks)  # the loop itself failed: its background goes too
            for hook in self._on_stop:  # each must be safe whether its start ran or not
                try:
                    await hook()
                except Exception:
                    log.exception("%s: a stop step failed", self.handler.worker)
            await consumer.stop()
            await self.producer.stop()
            if http is not None:
                await http.cleanup()
            if self.registry is not None:
                await self.registry.stop()
            # Stopped in time: the deadline must not end a process that goes on (a test,
            # or a replica that runs other loops) long after this one.
            if self._deadline is not None:
                self._deadline.cancel()

    async def _rejoin(self, consumer: Any) -> Any:
        """A new consumer in place of one whose group coordination died. aiokafka 0.14 can
        cancel its own heartbeat task while that task leaves the group (a member evicted
        during a broker failover); the CancelledError then surfaces from `getmany` though
        nobody cancelled this replica. Nothing is lost: offsets are committed per batch,
        and what was not committed is redelivered to the new member or another one."""
        log.warning("%s: the consumer's group coordination failed; joining the group again "
                    "with a new consumer", self.handler.worker)
        try:
            await consumer.stop()
        except Exception as exc:  # a broken client may not close cleanly: it is dropped
            log.warning("%s: the old consumer did not close cleanly: %r", self.handler.worker,
                        exc)
        fresh = make_group_consumer(self.settings, self.handler.worker, [])
        fresh.subscribe(list(self._logical), listener=self._listener())
        await fresh.start()
        return fresh

    def _start(self, job: Background) -> asyncio.Task[None]:
        task = asyncio.create_task(job.run(), name=f"{self.handler.worker}-{job.name}")

        def ended(task: asyncio.Task[None]) -> None:
            if task.cancelled() or task.exception() is None:
                return
            if self._failure is None:
                log.error("%s: background loop %s failed: stopping this replica",
                          self.handler.worker, job.name, exc_info=task.exception())
                self._failure = task.exception()
            self.stop()

        task.add_done_callback(ended)
        return task

    async def _end(self, tasks: list[asyncio.Task[None]]) -> None:
        """Stop the background loops: those with a `stop` finish their step (asked in
        `stop()`), the others are cancelled. Their failures were recorded when they ended."""
        if not tasks:
            return
        for job in self._background:
            if job.stop is not None:
                job.stop()
        for job, task in zip(self._background, tasks, strict=True):
            if job.stop is None:
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _process(self, consumer: Any, batch: dict[TopicPartition, list[Any]]) -> None:
        t0 = time.perf_counter()
        decoded: list[Decoded] = []
        outgoing: list[Outgoing] = []
        for tp, records in batch.items():
            logical = self._logical[tp.topic]
            for rec in records:
                received = Received(logical, tp.partition, rec.offset, rec.key, rec.value,
                                    rec.timestamp)
                try:
                    decoded.append(Decoded(received, decode(logical, rec.value)))
                except DecodeError as exc:
                    outgoing.append(dead_letter(received, str(exc), self.handler.worker))
        if self._known_accounts_only and decoded:
            decoded, letters = await self._known_only(decoded)
            outgoing.extend(letters)
        outgoing.extend(await self._handle(decoded))
        t1 = time.perf_counter()
        try:
            await self.publish(outgoing)
        except Exception:  # not transient (publish retries those): e.g. an event too large
            log.exception("%s batch could not be published; retrying record by record",
                          self.handler.worker)
            outgoing = await self._publish_record_by_record(decoded, [
                o for o in outgoing if o.topic == "deadletter"])
        t2 = time.perf_counter()
        offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}
        self._next_offsets.update(offsets)
        try:
            # aiokafka retries a commit while the group coordinator is busy; bounded here so
            # a rebalance storm cannot freeze the loop (or a shutdown). What was not
            # committed is redelivered, and the dedup marks make that harmless.
            await asyncio.wait_for(consumer.commit(offsets), COMMIT_TIMEOUT_S)
        except TimeoutError:
            log.warning("%s commit not confirmed within %.0fs; the batch may be redelivered",
                        self.handler.worker, COMMIT_TIMEOUT_S)
        except (CommitFailedError, IllegalStateError) as exc:
            # The partitions moved to another replica mid-batch; it redelivers, and the
            # handlers' dedup marks make that harmless.
            log.warning("%s commit skipped after rebalance: %s", self.handler.worker, exc)
        worker = self.handler.worker
        committed = time.time()
        for tp, records in batch.items():
            RECORDS.labels(worker, self._logical[tp.topic]).inc(len(records))
            for rec in records:
                RECORD_LATENCY.labels(worker).observe(max(0.0, committed - rec.timestamp / 1e3))
        for o in outgoing:
            PUBLISHED.labels(worker, o.topic).inc()
            if o.topic == "deadletter":
                DEAD_LETTERS.labels(worker, o.value.source_topic).inc()  # type: ignore[attr-defined]
        BATCH_SECONDS.labels(worker).observe(time.perf_counter() - t0)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s batch of %d: handle %.1f ms, publish %d %.1f ms, commit %.1f ms",
                      self.handler.worker, sum(len(r) for r in batch.values()),
                      (t1 - t0) * 1e3, len(outgoing), (t2 - t1) * 1e3,
                      (time.perf_counter() - t2) * 1e3)
        self.stats.batches += 1
        self.stats.records += sum(len(r) for r in batch.values())
        self.stats.dead_letters += sum(1 for o in outgoing if o.topic == "deadletter")

    async def _known_only(self, decoded: list[Decoded]) -> tuple[list[Decoded], list[Outgoing]]:
        """The records of known accounts, each with its document, and dead letters for the
        others. A record sent right after its new account's document waits (bounded) for
        that document instead of being refused (`known_accounts`)."""
        assert self.registry is not None
        known = await self.registry.known_accounts({i.value.account_id for i in decoded})
        documents = {a: d for a in known if (d := self.registry.get(a)) is not None}
        return split_by_account(decoded, documents, self.handler.worker)

    def _listener(self) -> _Assignments:
        return _Assignments(self.handler.worker, self._logical)

    def _measure_lag(self, consumer: Any) -> None:
        """Lag per partition: the broker's high watermark (from the last fetch) minus the
        next offset this replica will commit."""
        for tp in consumer.assignment():
            highwater = consumer.highwater(tp)
            done = self._next_offsets.get(tp)
            if highwater is not None and done is not None:
                CONSUMER_LAG.labels(self.handler.worker, self._logical[tp.topic],
                                    str(tp.partition)).set(max(0, highwater - done))

    async def _handle(self, decoded: list[Decoded]) -> list[Outgoing]:
        if not decoded:
            return []
        try:
            return await self._with_retry(self.handler.handle, decoded)
        except Exception:
            log.exception("%s batch failed; retrying record by record", self.handler.worker)
        outgoing: list[Outgoing] = []
        for item in decoded:
            try:
                outgoing.extend(await self._with_retry(self.handler.handle, [item]))
            except Exception as exc:  # a bug met by this record: keep it, keep going
                log.exception("%s dead-lettering offset %d", self.handler.worker,
                              item.record.offset)
                outgoing.append(dead_letter(item.record, f"internal error: {exc!r}",
                                            self.handler.worker))
        return outgoing

    async def _publish_record_by_record(self, decoded: list[Decoded],
                                        letters: list[Outgoing]) -> list[Outgoing]:
        """Publish what each record produces on its own, so a record whose events the broker
        refuses (no input limit should allow one) becomes a dead letter with the reason and
        the records around it are published. Handling again only replays: the effects and
        their events were recorded with the dedup marks the first time."""
        await self.publish(letters)
        published = list(letters)
        for item in decoded:
            produced = await self._handle([item])
            try:
                await self.publish(produced)
                published.extend(produced)
            except Exception as exc:
                log.exception("%s dead-lettering offset %d: its events cannot be published",
                              self.handler.worker, item.record.offset)
                letter = dead_letter(item.record, f"its events cannot be published: {exc!r}",
                                     self.handler.worker)
                await self.publish([letter])
                published.append(letter)
        return published

    async def _with_retry(self, fn: Any, *args: Any) -> Any:
        backoff = Backoff()
        while True:
            try:
                return await fn(*args)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("%s: %s; retrying in %.2fs", self.handler.worker, exc,
                            backoff.delay)
                await backoff.pause()

    async def publish(self, outgoing: list[Outgoing]) -> None:
        """Publish records and wait for every ack, retrying while the broker is away."""
        if not outgoing:
            return

        async def send_all() -> None:
            futures = [
                await self.producer.send(self.settings.topic(o.topic), encode(o.value),
                                         key=o.key.encode())
                for o in outgoing
            ]
            await asyncio.gather(*futures)

        await self._with_retry(send_all)
        self.stats.published += len(outgoing)


def _cancelling() -> bool:
    """Whether this task itself is being cancelled (a stop), as opposed to a
    CancelledError escaping from a future a library cancelled on its own."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0
