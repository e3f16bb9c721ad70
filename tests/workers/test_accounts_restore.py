"""Which applied documents the router publishes again over refused records (so compaction
cannot leave a refused record alone for its key): the fold logic without a broker."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec
from aiokafka import TopicPartition

from schemas.codec import encode
from schemas.config import AccountDocument, load_account_yaml
from workers.runtime.records import Outgoing
from workers.runtime.settings import Settings
from workers.state.accounts import AccountRegistry

ACME = load_account_yaml((Path(__file__).resolve().parents[2] / "deploy" / "accounts"
                          / "acme.yaml").read_text())
TP = TopicPartition("accounts.config", 0)


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    offset: int
    timestamp: int = 0


def doc(version: int, account_id: str = "acme") -> bytes:
    return encode(msgspec.structs.replace(ACME, version=version, account_id=account_id))


async def fold_all(values: list[tuple[str, bytes | None]], router: bool = True,
                   ) -> tuple[AccountRegistry, list[Outgoing]]:
    registry = AccountRegistry(Settings())
    published: list[Outgoing] = []

    async def publish(outgoing: list[Outgoing]) -> None:
        published.extend(outgoing)

    if router:
        registry.dead_letter_refusals(publish, "router")
    for offset, (key, value) in enumerate(values):
        await registry._fold(TP, Record(key.encode(), value, offset))
    await registry._restore_newest()
    return registry, [o for o in published if o.topic == "accounts.config"]


def versions(outgoing: list[Outgoing]) -> list[tuple[str, int]]:
    return [(o.key, o.value.version) for o in outgoing
            if isinstance(o.value, AccountDocument)]


async def test_an_older_version_last_brings_the_applied_one_back() -> None:
    registry, restored = await fold_all([("acme", doc(3)), ("acme", doc(2))])
    assert versions(restored) == [("acme", 3)]
    assert registry.get("acme").version == 3  # type: ignore[union-attr]


async def test_an_invalid_document_last_brings_the_valid_one_back() -> None:
    _, restored = await fold_all([("beta", doc(1, "beta")), ("beta", b"{not json")])
    assert versions(restored) == [("beta", 1)]


async def test_a_refusal_superseded_by_a_later_record_is_left_alone() -> None:
    # At a restart the replay meets the refusal and then the copy published over it.
    _, restored = await fold_all([("acme", doc(3)), ("acme", doc(2)), ("acme", doc(3))])
    assert restored == []
    _, restored = await fold_all([("acme", doc(3)), ("acme", doc(2)), ("acme", None)])
    assert restored == []  # the tombstone is the last word: the account is gone


async def test_nothing_to_bring_back_for_an_account_never_applied() -> None:
    _, restored = await fold_all([("gamma", b"{not json")])
    assert restored == []


async def test_only_the_kind_that_dead_letters_publishes() -> None:
    registry, restored = await fold_all([("acme", doc(3)), ("acme", doc(2))], router=False)
    assert restored == [] and not registry._overwritten
