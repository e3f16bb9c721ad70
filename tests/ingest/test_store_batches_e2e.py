"""One script call threads a whole batch per account: messages of several accounts,
interleaved, must come back in batch order with each account's own numbering, and a
message repeated inside one batch must be applied once."""

from __future__ import annotations

import msgspec
import pytest

from tests.messages import email, sms
from workers.ingest.store import IngestStore
from workers.ingest.threading import plan_threading
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import connect

pytestmark = pytest.mark.e2e


async def test_interleaved_accounts_and_a_repeat_inside_one_batch(settings: Settings) -> None:
    first = sms(account_id="acme", from_number="+15550000001")
    batch = [
        first,
        sms(account_id="beta", from_number="+15550000001"),
        sms(account_id="acme", from_number="+15550000001"),   # continues acme's ticket
        email(account_id="beta", references=["<unknown@mail.example>"]),
        first,                                                 # redelivered in the batch
        sms(account_id="acme", from_number="+15550000002"),
    ]
    client = connect(settings)
    plans = [plan_threading(m) for m in batch]
    try:
        outcomes = await IngestStore(settings, client).thread_messages(plans)
    finally:
        await client.aclose()
    assert [(o.kind, o.number, o.duplicate) for o in outcomes] == [
        ("created", 1, False), ("created", 1, False), ("appended", 1, False),
        ("created", 2, False), ("created", 1, True), ("created", 2, False)]
    assert outcomes[2].ticket_id == outcomes[0].ticket_id == outcomes[4].ticket_id
    assert len({outcomes[i].ticket_id for i in (0, 1, 3, 5)}) == 4
    assert [o.version for o in outcomes[:3]] == [1, 1, 2]
    # Only the repeat carries a recorded content: the first delivery's, as it was sent.
    assert [o.recorded for o in outcomes] == [None] * 4 + [plans[0].content, None]


async def test_a_mark_from_before_marks_held_content_still_dedups(settings: Settings) -> None:
    """Marks written before content was kept hold the outcome alone: a redelivery is still a
    duplicate, and its events fall back to the redelivered content."""
    message = sms(account_id="acme", from_number="+15550000011")
    client = connect(settings)
    store = IngestStore(settings, client)
    try:
        [first] = await store.thread_messages([plan_threading(message)])
        old_mark = msgspec.json.encode(first).decode()
        await client.set(Keys.of(settings).seen("acme", "sms", message.message_id), old_mark)
        [again] = await store.thread_messages([plan_threading(message)])
    finally:
        await client.aclose()
    assert again == msgspec.structs.replace(first, duplicate=True)


async def test_a_redis_that_lost_its_scripts_threads_the_batch_anyway(settings: Settings) -> None:
    """Batches call the script by its hash; a server that does not know it (new, restarted
    or flushed) gets it loaded and the batch applied once."""
    client = connect(settings)
    store = IngestStore(settings, client)
    try:
        first = await store.thread_messages([plan_threading(sms(account_id="acme",
                                                                 from_number="+15550000009"))])
        await client.script_flush()
        again = sms(account_id="acme", from_number="+15550000009")
        new = sms(account_id="acme", from_number="+15550000010")
        outcomes = await store.thread_messages([plan_threading(again), plan_threading(new)])
    finally:
        await client.aclose()
    assert [(o.kind, o.duplicate) for o in outcomes] == [("appended", False), ("created", False)]
    assert outcomes[0].ticket_id == first[0].ticket_id
    assert outcomes[0].version == first[0].version + 1
