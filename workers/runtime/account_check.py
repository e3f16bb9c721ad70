"""The unknown-account check of the consume loop: a record naming an account that has no
document is refused as a dead letter before any handler sees it (A4, I1). One decision for
every kind that declares it, so the reason reads the same everywhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from workers.runtime.deadletter import dead_letter
from workers.runtime.records import Decoded

if TYPE_CHECKING:
    from schemas.config import AccountDocument
    from workers.runtime.records import Outgoing


def unknown_account_reason(account_id: str) -> str:
    """The dead letter's reason, in the field-first words every refusal uses."""
    return f"account_id: unknown account {account_id!r}"


def split_by_account(batch: list[Decoded], documents: Mapping[str, AccountDocument],
                     worker: str) -> tuple[list[Decoded], list[Outgoing]]:
    """(records of known accounts in batch order, each carrying its account's document;
    dead letters for the rest). `documents` holds the known accounts' documents by id."""
    known: list[Decoded] = []
    letters: list[Outgoing] = []
    for item in batch:
        account_id = item.value.account_id
        document = documents.get(account_id)
        if document is None:
            letters.append(dead_letter(item.record, unknown_account_reason(account_id),
                                       worker, account_id))
        else:
            known.append(Decoded(item.record, item.value, document))
    return known, letters
