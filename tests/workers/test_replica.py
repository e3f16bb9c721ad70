"""The replica runtime's pure parts: the unknown-account split every kind that names
accounts goes through, and the table of kinds the CLI runs."""

from __future__ import annotations

import base64
import sys

from schemas.config import AccountDocument
from workers.runtime.account_check import split_by_account
from workers.runtime.records import Decoded, Received
from workers.runtime.replica import secrets_of


class _Named:
    def __init__(self, account_id: str) -> None:
        self.account_id = account_id


def _item(offset: int, account_id: str) -> Decoded:
    record = Received("inbound.sms", 0, offset, b"key", f"rec{offset}".encode(), 1_700_000)
    return Decoded(record, _Named(account_id))


def test_records_of_unknown_accounts_become_dead_letters_the_rest_keep_their_order() -> None:
    acme = AccountDocument(account_id="acme", version=3)
    batch = [_item(1, "acme"), _item(2, "nobody"), _item(3, "acme"), _item(4, "x")]
    known, letters = split_by_account(batch, {"acme": acme}, "ingest")
    assert [i.record.offset for i in known] == [1, 3]
    assert all(i.account is acme for i in known)
    assert [i.value for i in known] == [batch[0].value, batch[2].value]
    assert [o.topic for o in letters] == ["deadletter", "deadletter"]
    assert [o.value.reason for o in letters] == [  # type: ignore[attr-defined]
        "account_id: unknown account 'nobody'", "account_id: unknown account 'x'"]
    first = letters[0].value
    assert (first.offset, first.source_topic, first.worker, first.account_id) == (  # type: ignore[attr-defined]
        2, "inbound.sms", "ingest", "nobody")
    assert base64.b64decode(first.payload_b64) == b"rec2"  # type: ignore[attr-defined]
    assert letters[0].key == "key"


def test_a_batch_of_known_accounts_passes_whole() -> None:
    acme = AccountDocument(account_id="acme", version=1)
    batch = [_item(1, "acme"), _item(2, "acme")]
    known, letters = split_by_account(batch, {"acme": acme}, "router")
    assert letters == [] and [i.record for i in known] == [i.record for i in batch]


def test_the_kind_table_lists_the_four_kinds_with_their_topics() -> None:
    from harness.processes import WORKER_KINDS
    from workers.kinds import KINDS

    assert {name: kind.topics for name, kind in KINDS.items()} == {
        "ingest": ("inbound.sms", "inbound.email", "inbound.webchat"),
        "router": ("tickets.events", "tickets.commands", "agents.presence"),
        "closer": ("timers",),
        "handoff": ("handoff.requests",),
    }
    assert sorted(KINDS) == sorted(WORKER_KINDS)
    assert all(kind.name == name for name, kind in KINDS.items())
    # Which kinds refuse records of unknown accounts, and which one dead-letters refused
    # account documents.
    assert {n for n, k in KINDS.items() if k.known_accounts_only} == {
        "ingest", "router", "handoff"}
    assert {n for n, k in KINDS.items() if k.dead_letter_refusals} == {"router"}


def test_the_cli_offers_every_kind() -> None:
    from workers.cli import worker
    from workers.kinds import KINDS

    choices = next(p.type.choices for p in worker.params if p.name == "kind")  # type: ignore[attr-defined]
    assert sorted(choices) == sorted(KINDS)


def test_only_helpdesk_secrets_reach_a_kind() -> None:
    env = {"TICKETFLOW_SECRET_ACME_ZENDESK": "s", "TICKETFLOW_REDIS": "redis://x",
           "PATH": "/bin"}
    assert secrets_of(env) == {"TICKETFLOW_SECRET_ACME_ZENDESK": "s"}


def test_every_entry_point_runs_the_replica_runtime() -> None:
    """`ticketflow worker <kind>` and `python -m workers.<kind>` both reach run_worker,
    which runs the kind's table entry through the runtime (checked by reading the code)."""
    import inspect

    from workers import cli

    source = inspect.getsource(cli.run_worker)
    assert "run_kind(KINDS[kind]" in source
    assert sys.modules["workers.cli"] is cli
