"""Every replica's view of every account, tailed from the compacted `accounts.config` (A4).

Each replica reads the whole topic without a consumer group, so a settings change reaches
all of them without a restart. A document that fails validation is refused: the account
keeps its previous version, every replica logs the refusal, and the replicas of one kind
(the router, see `dead_letter_refusals`) publish it to `deadletter`. An older version
never replaces a newer one. A replica whose reader dies stops: it would otherwise go on
serving settings that no longer change. The router also publishes the applied document
again over a refused one, so that compaction cannot leave the refused record alone for a
replica started later (see `_restore_newest`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from schemas.codec import DecodeError, decode
from schemas.config import AccountDocument, check_helpdesk_host
from workers.runtime.failures import Backoff
from workers.runtime.kafka import group_timeouts, make_reader
from workers.runtime.settings import Settings

if TYPE_CHECKING:
    from workers.runtime.records import Outgoing, Received

log = logging.getLogger(__name__)

RejectedConfig = Callable[["Received", str], Awaitable[None]]
"""Called with (record, reason) for each refused document."""

ACCOUNT_WAIT_MAX_S = 30.0


def account_wait_s(settings: Settings) -> float:
    """How long a batch may wait for documents it names to be read: 30 s, but at most 40%
    of the group's max poll interval, so a replica waiting is never taken for a stuck one
    (tansu's dev profile: 2 s)."""
    max_poll_s = group_timeouts(settings)["max_poll_interval_ms"] / 1000
    return min(ACCOUNT_WAIT_MAX_S, 0.4 * max_poll_s)


class AccountRegistry:
    """Accounts by id, kept current by a background task."""

    def __init__(self, settings: Settings, on_rejected: RejectedConfig | None = None) -> None:
        self._settings = settings
        self._accounts: dict[str, AccountDocument] = {}
        self._on_rejected = on_rejected
        self._task: asyncio.Task[None] | None = None
        self._owner: asyncio.Task[Any] | None = None
        self._stopping = False
        self._caught_up = asyncio.Event()
        self._fetched = asyncio.Condition()
        self._reader: Any = None
        self._tps: list[TopicPartition] = []
        self._read_to: dict[TopicPartition, int] = {}
        self._wait_s = account_wait_s(settings)
        self._restore: Callable[[list[Outgoing]], Awaitable[None]] | None = None
        self._overwritten: set[str] = set()

    def get(self, account_id: str) -> AccountDocument | None:
        """The newest valid document of an account, or None if it is unknown."""
        return self._accounts.get(account_id)

    async def known_accounts(self, account_ids: set[str]) -> set[str]:
        """Which of these accounts exist. When one is missing, first wait until every
        document published before now has been read: a message sent right after its new
        account's document must find it. One bounded wait per batch, which ends as soon as
        the reader is caught up, so records of accounts that do not exist cost one offset
        check each batch and never hold up the other records longer than the bound."""
        if any(a not in self._accounts for a in account_ids):
            await self.catch_up(self._wait_s)
        return {a for a in account_ids if a in self._accounts}

    def all(self) -> list[AccountDocument]:
        """Every known account, newest versions."""
        return list(self._accounts.values())

    def __len__(self) -> int:
        return len(self._accounts)

    def dead_letter_refusals(self, publish: Callable[[list[Outgoing]], Awaitable[None]],
                             worker: str) -> None:
        """Publish each refused document to `deadletter` through `publish`.

        Every replica of every kind reads the whole topic, so only one kind does this
        (the router). Its copies, one per replica and one more at each restart while the
        refused document is the newest of its key, are the same record: the event id
        comes from the topic, partition and offset, and `at` is the record's own time."""
        from workers.runtime.deadletter import dead_letter

        async def refused(record: Received, reason: str) -> None:
            account = None if record.key is None else record.key.decode("utf-8", "replace")
            await publish([dead_letter(record, reason, worker, account)])

        self._on_rejected = refused
        self._restore = publish  # the same kind repairs what compaction would lose

    async def _restore_newest(self) -> None:
        """Publish the applied document again over each account whose newest record was
        refused. Compaction keeps only the last record of a key: without this, a replica
        started after it would find the refused record alone (an older version applied,
        a valid account gone) where every running replica holds the newer document. Only
        the kind that dead-letters refusals does it, once read to the end, so a refusal
        that a later record already superseded (at a restart) is not repaired twice; its
        copies, one per replica, are the same document of the same version."""
        from workers.runtime.records import Outgoing

        accounts, self._overwritten = sorted(self._overwritten), set()
        outgoing = [Outgoing("accounts.config", a, self._accounts[a])
                    for a in accounts if a in self._accounts]
        if outgoing and self._restore is not None:
            await self._restore(outgoing)
            log.info("accounts.config: applied documents of %s published again over the "
                     "refused ones", ", ".join(o.key for o in outgoing))

    def apply(self, key: bytes | None, value: bytes | None) -> str | None:
        """Fold one record into the view; returns the reason when it is refused."""
        if value is None:  # tombstone: the account was deleted
            if key is not None:
                self._accounts.pop(key.decode("utf-8", "replace"), None)
            return None
        try:
            document: AccountDocument = decode("accounts.config", value)
        except DecodeError as exc:
            return str(exc)
        if key is not None and key.decode("utf-8", "replace") != document.account_id:
            return f"account_id: {document.account_id!r} does not match record key"
        host = check_helpdesk_host(document, self._settings.helpdesk_allowed_hosts)
        if host is not None:
            return host
        current = self._accounts.get(document.account_id)
        if current is not None and current.version > document.version:
            return (f"version: {document.version} is older than the applied "
                    f"version {current.version}")
        self._accounts[document.account_id] = document
        log.info("account %s version %d loaded", document.account_id, document.version)
        return None

    async def catch_up(self, timeout_s: float) -> bool:
        """Wait until the reader has applied every record the topic held when called
        (its end offsets then), so a document published before a record that names its
        account is applied before that record is looked at. Retries the offset request
        with backoff; False if the bound ran out first (the caller goes on without)."""
        deadline = time.monotonic() + timeout_s
        backoff = Backoff()
        while True:
            if self._task is None or self._task.done():
                return False  # not reading (the replica is stopping)
            try:
                remaining = deadline - time.monotonic()
                # ListOffsets(latest): the tansu of this project answers it correctly
                # (checked against the high watermark of a fetch), as Kafka does.
                target = await asyncio.wait_for(self._reader.end_offsets(self._tps),
                                                max(0.0, remaining))
                break
            except (KafkaError, TimeoutError) as exc:
                if time.monotonic() + backoff.delay >= deadline:
                    log.warning("accounts.config end offsets unknown after %.1fs: %r",
                                timeout_s, exc)
                    return False
                await backoff.pause()
        async with self._fetched:
            try:
                await asyncio.wait_for(self._fetched.wait_for(lambda: self._reached(target)),
                                       max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                log.warning("accounts.config not read up to %s within %.1fs", target,
                            timeout_s)
                return False
        return True

    def _reached(self, target: dict[TopicPartition, int]) -> bool:
        return all(self._read_to.get(tp, 0) >= end for tp, end in target.items())

    async def start(self) -> None:
        """Read the topic to its end, then keep tailing it in the background. From then
        on, the reader's death stops the task that called this (the replica's main)."""
        self._owner = asyncio.current_task()
        self._task = asyncio.create_task(self._tail(), name="accounts-config")
        done, _ = await asyncio.wait(
            [self._task, asyncio.create_task(self._caught_up.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._task in done:
            self._reader_ended(self._task)
            self._task.result()  # re-raise why tailing stopped
        self._task.add_done_callback(self._reader_ended)

    def _reader_ended(self, task: asyncio.Task[None]) -> None:
        if self._stopping or task.cancelled():
            return
        log.critical("accounts.config reader stopped (%r): stopping this replica, whose "
                     "account settings would no longer change", task.exception())
        owner = self._owner
        if owner is not None and not owner.done() and owner is not asyncio.current_task():
            owner.cancel("accounts.config reader stopped")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            except Exception as exc:  # the reader had died: _reader_ended said so
                log.debug("accounts.config reader had stopped: %r", exc)

    async def _tail(self) -> None:
        topic = self._settings.topic("accounts.config")
        reader = make_reader(self._settings)
        await reader.start()
        try:
            partitions = reader.partitions_for_topic(topic)
            while not partitions:
                await asyncio.sleep(0.2)
                # Refresh the reader's own metadata of every topic: its start-up request
                # names no topic, which Apache Kafka answers with none (tansu with all),
                # and `topics()` fills a copy that partitions_for_topic does not read.
                await reader._client.force_metadata_update()
                partitions = reader.partitions_for_topic(topic)
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            self._reader, self._tps = reader, tps
            while True:
                batch = await reader.getmany(timeout_ms=200)
                for tp, records in batch.items():
                    for record in records:
                        await self._fold(tp, record)
                for tp in tps:
                    self._read_to[tp] = await reader.position(tp)
                if not self._caught_up.is_set() and await self._at_end(reader, tps):
                    log.info("accounts.config read to its end: %d accounts", len(self))
                    self._caught_up.set()
                if (self._overwritten and self._caught_up.is_set()
                        and await self._at_end(reader, tps)):
                    await self._restore_newest()
                async with self._fetched:
                    self._fetched.notify_all()
        finally:
            await reader.stop()

    async def _fold(self, tp: TopicPartition, record: Any) -> None:
        """Apply one record; a record that raises is refused like an invalid one, so no
        document can stop the reader (every replica would stop at it, again at restart)."""
        try:
            reason = self.apply(record.key, record.value)
        except Exception as exc:
            log.exception("accounts.config offset %d could not be applied", record.offset)
            reason = f"internal error: {exc!r}"
        key = None if record.key is None else record.key.decode("utf-8", "replace")
        if reason is None:
            if key is not None:
                self._overwritten.discard(key)
            return
        log.warning("refused accounts.config offset %d: %s", record.offset, reason)
        if self._restore is not None and key is not None and key in self._accounts:
            self._overwritten.add(key)
        if self._on_rejected is not None:
            from workers.runtime.records import Received

            received = Received("accounts.config", tp.partition, record.offset, record.key,
                                record.value, record.timestamp)
            await self._on_rejected(received, reason)

    @staticmethod
    async def _at_end(reader: object, tps: list[TopicPartition]) -> bool:
        # Compare with the high watermark that every fetch response carries: it costs no
        # request, and start-up needs no more than "read what the last fetch saw".
        for tp in tps:
            highwater = reader.highwater(tp)  # type: ignore[attr-defined]
            if highwater is None or await reader.position(tp) < highwater:  # type: ignore[attr-defined]
                return False
        return True
