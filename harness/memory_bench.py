"""`ticketflow bench-memory`: Redis bytes per open ticket, per closed ticket and per web-chat
session, and what is left once closed tickets are forgotten after their retention.

Tickets are written by the real scripts (ingest's threading, the status change, the
closer's purge) on a fresh redis-server; each figure is the `used_memory` delta divided by
the number of tickets. Each ticket is one customer message of a new customer; routing adds
a responsibility-history entry per assignment (not counted here).
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from harness.embedded import RedisServer
from schemas.inbound import SmsMessage, Visitor, WebchatMessage
from workers.closer.retention import PURGE_SCRIPT
from workers.ingest.store import IngestStore
from workers.ingest.threading import plan_threading
from workers.runtime.settings import Settings
from workers.state.keys import Keys
from workers.state.store import connect, load_script
from workers.state.tickets import TicketStore

T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
BATCH = 500
BODY = "Hello, my order #12345 has not arrived yet. Could you tell me where it is? " * 2
"""A 150-character message, about a typical SMS or chat line."""


async def _used(client: Any) -> int:
    return int((await client.info("memory"))["used_memory"])


async def _measure(settings: Settings, tickets: int) -> list[tuple[str, int, int]]:
    client = connect(settings)
    ingest, status = IngestStore(settings, client), TicketStore(settings, client)
    purge = load_script(client, PURGE_SCRIPT)
    keys = Keys.of(settings)
    base = keys.account("acme")
    rows: list[tuple[str, int, int]] = []
    try:
        start = await _used(client)
        sms = [SmsMessage(account_id="acme", message_id=f"SM{n}", from_number=f"+1555{n:07d}",
                          to_number="+15557654321", body=BODY, received_at=T0)
               for n in range(tickets)]
        outcomes = []
        for first in range(0, tickets, BATCH):
            outcomes += await ingest.thread_messages(
                [plan_threading(m) for m in sms[first:first + BATCH]])
        opened = await _used(client)
        rows.append(("open SMS ticket (1 message)", opened - start, tickets))
        for outcome in outcomes:
            await status.set_status("acme", outcome.ticket_id, "closed", at=T0)
        closed = await _used(client)
        rows.append(("closed SMS ticket", closed - start, tickets))
        chats = [WebchatMessage(account_id="acme", message_id=f"wc{n}", session_id=f"s-{n}",
                                text=BODY, sent_at=T0, visitor=Visitor())
                 for n in range(tickets)]
        for first in range(0, tickets, BATCH):
            await ingest.thread_messages([plan_threading(m) for m in chats[first:first + BATCH]])
        chatted = await _used(client)
        rows.append(("web-chat session (1 message)", chatted - closed, tickets))
        cutoff = (T0 + timedelta(days=1)).timestamp()
        while int((await purge(keys=[base], args=[cutoff, BATCH]))[1]) == BATCH:
            pass
        forgotten = await _used(client)
        rows.append(("closed SMS ticket, forgotten after retention", forgotten - chatted
                     + (closed - start), tickets))
        async for key in client.scan_iter(match=keys.seen_pattern("acme", "sms"), count=1000):
            await client.delete(key)
        expired = await _used(client)
        rows.append(("... and its dedup mark expired (30 days)", expired - chatted
                     + (closed - start), tickets))
    finally:
        await client.aclose()
    return rows


def bench_memory(tickets: int) -> None:
    """Print Redis bytes per ticket, closed ticket and chat session."""
    with tempfile.TemporaryDirectory(prefix="tf-memory-") as tmp:
        server = RedisServer(Path(tmp) / "redis")
        server.start()
        try:
            settings = Settings(redis_url=server.url)
            rows = asyncio.run(_measure(settings, tickets))
        finally:
            server.stop()
    click.echo(f"Redis memory, {tickets} of each, message text {len(BODY)} characters:")
    for what, used, count in rows:
        click.echo(f"  {what:48s} {used / count:8.0f} bytes each")
