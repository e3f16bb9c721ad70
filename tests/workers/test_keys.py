"""The Redis data model has one catalogue (issue 14): every key is named by
`workers.state.keys`, none is spelled by hand in Python, and the mark key's length prefixes
keep client-chosen ids from naming each other's marks."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from workers.runtime.settings import Settings
from workers.state.keys import Keys, families

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("workers", "harness", "tests")
ALLOWED = {"workers/state/keys.py", "workers/runtime/settings.py",
           "tests/workers/test_settings.py", "tests/workers/test_keys.py"}
# A key family right after a separator (`f"{base}:timers"`, `":status:"`), a literal hash
# tag brace next to a colon (`":{acme}:"`, `f"{prefix}:{{closer-due:{n}}}"`), or a global
# family's name.
FAMILY = re.compile(
    r":(ticket|tickets|status|backlog|history|routing|thread|seen|email|number|customer|seq"
    r"|online|offline|rr|countdowns|timers|closing|retention|mark|handoff|handoff-outcomes"
    r"|conversation-end|conversation-ends|clock)\b")
BRACE = re.compile(r"(^|\w):\{\w|\w\}:(\w|$)")
GLOBAL = re.compile(r"closer-due|closer-wake")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _literal_parts(tree: ast.AST) -> list[tuple[int, str]]:
    """Every piece of literal text of every str literal and f-string, docstrings aside."""
    skip = _docstrings(tree)
    parts: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip.update(id(v) for v in node.values)
            text = "".join(v.value if isinstance(v, ast.Constant) else "\0"
                           for v in node.values)
            parts.extend((node.lineno, piece) for piece in text.split("\0"))
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in skip):
            parts.append((node.lineno, node.value))
    return parts


def hand_built_keys(path: Path) -> list[str]:
    """`file:line: why` for each Redis key spelled by hand in `path`."""
    rel = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text())
    found = []
    for line, text in _literal_parts(tree):
        for pattern in (FAMILY, BRACE, GLOBAL):
            match = pattern.search(text)
            if match:
                found.append(f"{rel}:{line}: key text {match.group(0)!r} in {text[:60]!r}")
                break
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "redis_prefix":
            found.append(f"{rel}:{node.lineno}: reads settings.redis_prefix")
    return found


def test_no_redis_key_is_built_by_hand_outside_the_catalogue() -> None:
    offenders = [hit for top in SCANNED for path in sorted((ROOT / top).rglob("*.py"))
                 if path.relative_to(ROOT).as_posix() not in ALLOWED
                 for hit in hand_built_keys(path)]
    modules = sorted({hit.split(":", 1)[0] for hit in offenders})
    assert not offenders, (f"{len(modules)} modules build Redis keys by hand "
                           "(use workers.state.keys):\n" + "\n".join(offenders))


def test_key_strings_are_the_ones_stored_today() -> None:
    keys = Keys.of(Settings(redis_prefix="tf"))
    assert keys.account("acme") == "tf:{acme}"
    assert keys.ticket("acme", "t-1") == "tf:{acme}:ticket:t-1"
    assert keys.status_view("acme", "open") == "tf:{acme}:status:open"
    assert keys.webchat_thread("acme", "s-1") == "tf:{acme}:thread:webchat:s-1"
    assert keys.seen("acme", "sms", "m-1") == "tf:{acme}:seen:sms:m-1"
    assert keys.handoff_lease("acme", "h-1") == "tf:{acme}:handoff:lease:h-1"
    assert keys.due_shard(3) == "tf:{closer-due:3}"
    assert keys.closer_wake() == "tf:closer-wake"
    assert keys.clock() == "tf:clock"


def test_marks_live_in_their_kinds_family_under_the_account() -> None:
    keys = Keys("tf")
    assert keys.mark("acme", "set_status", "c1") == "tf:{acme}:mark:set_status:c1"
    assert keys.mark("acme", "assign", "c1", "t-1") == "tf:{acme}:mark:assign:2:c1:t-1"


def test_the_mark_length_prefix_keeps_split_ids_apart() -> None:
    keys = Keys("tf")
    assert keys.mark("acme", "assign", "a:b", "c") != keys.mark("acme", "assign", "a", "b:c")


def test_every_per_account_key_shares_the_account_slot() -> None:
    keys = Keys("tf")
    for family in families():
        if family.pattern.startswith("tf:{<account_id>}"):
            assert family.pattern.startswith(keys.account("<account_id>"))


def test_families_list_every_key_with_its_type_and_owner() -> None:
    listed = families()
    names = [f.name for f in listed]
    assert len(names) == len(set(names))
    assert {"ticket", "status_view", "mark", "due_shard", "clock"} <= set(names)
    assert all(f.type and f.owner and f.holds for f in listed)
    ticket = next(f for f in listed if f.name == "ticket")
    assert (ticket.pattern, ticket.type) == ("tf:{<account_id>}:ticket:<ticket_id>", "hash")
