"""Dedup mark keys (issue 12, finding 8): each step kind has its own key family, and no
client-chosen id can name a mark of another kind, another ticket or a drain."""

from __future__ import annotations

import itertools

from workers.runtime.settings import Settings
from workers.state.keys import MarkKind, mark_key

SETTINGS = Settings(redis_prefix="tf")


# The exact strings of marks are pinned with the rest of the catalogue in test_keys.py.


def test_a_command_id_cannot_spell_a_drain_mark_or_another_kinds_mark() -> None:
    drain = mark_key(SETTINGS, "acme", "drain", "open:2026-11-30T09:00:00+01:00", "_account")
    single: list[MarkKind] = ["transfer", "reply", "set_status", "set_tags"]
    hostile = ["drain:open:2026-11-30T09:00:00+01:00:_account",
               "mark:drain:30:open:2026-11-30T09:00:00+01:00:_account", "c1", "2:c1:t-1"]
    keys = {mark_key(SETTINGS, "acme", kind, cid) for kind in single for cid in hostile}
    keys |= {mark_key(SETTINGS, "acme", "assign", "c1", "t-1")}
    assert drain not in keys
    assert len(keys) == len(single) * len(hostile) + 1  # no two kinds share a key


def test_two_part_marks_are_unambiguous() -> None:
    parts = ["a", "b", ":", "a:b", "1:a", "b:c", ""]
    pairs = list(itertools.product(parts, repeat=2))
    keys = {mark_key(SETTINGS, "acme", "assign", c, t) for c, t in pairs}
    assert len(keys) == len(pairs)
