"""Every replica's view of every account, tailed from the compacted `accounts.config` (A4).

Each replica reads the whole topic without a consumer group, so a settings change reaches
all of them without a restart. A document that fails validation is dead-lettered and the
account keeps its previous version; an older version never replaces a newer one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiokafka import TopicPartition

from schemas.codec import DecodeError, decode
from schemas.config import AccountDocument
from workers.kafka import make_reader
from workers.settings import Settings

log = logging.getLogger(__name__)

RejectedConfig = Callable[[str, int, int, bytes | None, bytes | None, str], None]
"""Called with (topic, partition, offset, key, value, reason) for a refused document."""


class AccountRegistry:
    """Accounts by id, kept current by a background task."""

    def __init__(self, settings: Settings, on_rejected: RejectedConfig | None = None) -> None:
        self._settings = settings
        self._accounts: dict[str, AccountDocument] = {}
        self._on_rejected = on_rejected
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Event()
        self._fetched = asyncio.Condition()

    def get(self, account_id: str) -> AccountDocument | None:
        """The newest valid document of an account, or None if it is unknown."""
        return self._accounts.get(account_id)

    async def known_accounts(self, account_ids: set[str]) -> set[str]:
        """Which of these accounts exist; unknown ones get one fresh look at the topic
        (one wait per batch, so a flood of bad records cannot stall a partition)."""
        if any(a not in self._accounts for a in account_ids):
            await self.refresh()
        return {a for a in account_ids if a in self._accounts}

    def all(self) -> list[AccountDocument]:
        """Every known account, newest versions."""
        return list(self._accounts.values())

    def __len__(self) -> int:
        return len(self._accounts)

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
        current = self._accounts.get(document.account_id)
        if current is not None and current.version > document.version:
            return (f"version: {document.version} is older than the applied "
                    f"version {current.version}")
        self._accounts[document.account_id] = document
        log.info("account %s version %d loaded", document.account_id, document.version)
        return None

    async def refresh(self, timeout_s: float = 2.0) -> None:
        """Wait until the tail has completed one more fetch, so a document published just
        before a record that names the account is seen before that record is refused."""
        async with self._fetched:
            try:
                await asyncio.wait_for(self._fetched.wait(), timeout_s)
            except TimeoutError:
                log.warning("accounts.config fetch did not complete within %.1fs", timeout_s)

    async def start(self) -> None:
        """Read the topic to its end, then keep tailing it in the background."""
        self._task = asyncio.create_task(self._tail(), name="accounts-config")
        done, _ = await asyncio.wait(
            [self._task, asyncio.create_task(self._caught_up.wait())],
            return_when=asyncio.FIRST_COMPLETED,
        )
        if self._task in done:
            self._task.result()  # re-raise why tailing stopped

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _tail(self) -> None:
        topic = self._settings.topic("accounts.config")
        reader = make_reader(self._settings)
        await reader.start()
        try:
            partitions = reader.partitions_for_topic(topic)
            while not partitions:
                await asyncio.sleep(0.2)
                await reader.topics()
                partitions = reader.partitions_for_topic(topic)
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            while True:
                batch = await reader.getmany(timeout_ms=200)
                for tp, records in batch.items():
                    for record in records:
                        reason = self.apply(record.key, record.value)
                        if reason is not None:
                            log.warning("refused accounts.config offset %d: %s",
                                        record.offset, reason)
                            if self._on_rejected is not None:
                                self._on_rejected(tp.topic, tp.partition, record.offset,
                                                  record.key, record.value, reason)
                if not self._caught_up.is_set() and await self._at_end(reader, tps):
                    log.info("accounts.config read to its end: %d accounts", len(self))
                    self._caught_up.set()
                async with self._fetched:
                    self._fetched.notify_all()
        finally:
            await reader.stop()

    @staticmethod
    async def _at_end(reader: object, tps: list[TopicPartition]) -> bool:
        # tansu answers ListOffsets(latest) wrongly, so compare with the high watermark
        # that every fetch response carries instead of calling end_offsets().
        for tp in tps:
            highwater = reader.highwater(tp)  # type: ignore[attr-defined]
            if highwater is None or await reader.position(tp) < highwater:  # type: ignore[attr-defined]
                return False
        return True
