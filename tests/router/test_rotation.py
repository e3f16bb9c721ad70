"""R2 rotation as pure logic, and its Lua twin against a real redis-server."""

from __future__ import annotations

import asyncio
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.config import AccountDocument, AgentConfig, TeamConfig
from workers.router.rotation import next_in_rotation, rotation_pool

POOL = ["a", "b", "c", "d", "e"]


def test_rotation_wraps_and_skips_offline() -> None:
    assert next_in_rotation(POOL, {"a", "b", "c", "d", "e"}, None) == "a"
    assert next_in_rotation(POOL, {"a", "c"}, "a") == "c"
    assert next_in_rotation(POOL, {"a", "c"}, "c") == "a"
    assert next_in_rotation(POOL, set(), "c") is None
    assert next_in_rotation(POOL, {"b"}, "gone") == "b"


@given(st.sets(st.sampled_from(POOL), min_size=1), st.sampled_from([None, *POOL]),
       st.integers(min_value=1, max_value=200))
def test_constant_online_set_counts_differ_by_at_most_one(online: set[str], last: str | None,
                                                          tickets: int) -> None:
    counts: Counter[str] = Counter()
    for _ in range(tickets):
        last = next_in_rotation(POOL, online, last)
        assert last in online
        counts[last] += 1  # type: ignore[index]
    values = [counts[a] for a in online]
    assert max(values) - min(values) <= 1


def test_pool_excludes_read_only_roles_and_other_teams() -> None:
    doc = AccountDocument(account_id="x", version=1, agents=[
        AgentConfig(id="s", name="s", email="s@x.io", role="support", teams=["t"]),
        AgentConfig(id="an", name="an", email="an@x.io", role="analyst", teams=["t"]),
        AgentConfig(id="o", name="o", email="o@x.io", role="owner")],
        teams=[TeamConfig(id="t", name="t")])
    assert rotation_pool(doc, "t") == ["s"]
    assert rotation_pool(doc, None) == ["s", "o"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sets(st.sampled_from(POOL), min_size=1), min_size=1, max_size=4),
       st.integers(min_value=1, max_value=30))
def test_lua_rotation_matches_the_pure_rule(stretches: list[set[str]], per_stretch: int) -> None:
    """The Lua cursor in Redis hands out exactly the turns `next_in_rotation` predicts,
    across changes of the online set (property test against a real redis-server)."""
    asyncio.run(_compare(stretches, per_stretch))


async def _compare(stretches: list[set[str]], per_stretch: int) -> None:
    from tests.router.lua_harness import lua_rotation

    async with lua_rotation(POOL) as pick:
        last = None
        for online in stretches:
            for _ in range(per_stretch):
                expected = next_in_rotation(POOL, online, last)
                assert await pick(online) == expected
                last = expected
