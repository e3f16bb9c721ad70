"""The handoff worker: `handoff.requests` -> a helpdesk ticket, an inbound message or a
custom text, and one `handoff.results` record per request (H1-H8).

Exactly-one external ticket per handoff id rests on three guards, outermost first:
  1. the Redis outcome mark: once an outcome is recorded, a redelivery re-publishes it and
     calls nothing;
  2. one attempt at a time per handoff: inside a replica, a handoff already running (the
     loop runs a batch again after a failure elsewhere in it, while the first run's calls
     are still in flight) is joined, not started twice; across replicas (a rebalance, a
     zombie), a per-handoff lease in Redis;
  3. the helpdesk's own dedup: Zendesk's Idempotency-Key, and for both helpdesks a lookup
     by `external_id` before creating whenever an earlier create may have reached them
     (always, for Gorgias). A create call is noted in Redis before it leaves, so a replica
     that died between the call and recording its outcome is followed by a lookup.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Mapping
from typing import Any

import aiohttp
import msgspec

from schemas.codec import encode
from schemas.config import AccountDocument
from schemas.handoff import HandoffRequest, HandoffResult
from workers.handoff import metrics, notices
from workers.handoff.decide import Decision, decide, handoff_result, helpdesk_ticket
from workers.handoff.gorgias import Gorgias
from workers.handoff.helpdesk import Helpdesk, account_secret
from workers.handoff.internal import inbound_message_id, inbound_record, team_available
from workers.handoff.message import custom_message
from workers.handoff.retry import PermanentHelpdeskError, RetryPolicy, with_retries
from workers.handoff.store import EndClass, HandoffStore
from workers.handoff.zendesk import Zendesk
from workers.runtime.clock import Clock
from workers.runtime.deadletter import dead_letter
from workers.runtime.failures import is_transient
from workers.runtime.kafka import group_timeouts
from workers.runtime.records import Decoded, Outgoing
from workers.runtime.replica import Kind, Resources, Wiring
from workers.runtime.settings import Settings

log = logging.getLogger(__name__)

_result_decoder = msgspec.json.Decoder(HandoffResult)
RESOLVED_MARK = "resolved"


def retry_budget_s(settings: Settings) -> float:
    """Time one batch may spend on helpdesks: the configured budget, but at most 40% of the
    group's max poll interval, so waiting out another replica's lease and our own retries
    both fit before the broker would consider this replica stuck."""
    max_poll_s = group_timeouts(settings)["max_poll_interval_ms"] / 1000
    return min(settings.handoff_budget_s, 0.4 * max_poll_s)


class HandoffHandler:
    """Turns a batch of handoff requests into results; conversations run concurrently."""

    worker = "handoff"
    topics = ("handoff.requests",)

    def __init__(self, settings: Settings, store: HandoffStore, client: Any, clock: Clock,
                 session: aiohttp.ClientSession, env: Mapping[str, str]) -> None:
        self._settings = settings
        self._store = store
        self._client = client
        self._clock = clock
        self._session = session
        self._env = env
        self._policy = RetryPolicy.from_settings(settings)
        self._budget_s = retry_budget_s(settings)
        self._lease_ms = max(100, int(settings.handoff_lease_s * 1000))
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._running: dict[tuple[str, str], asyncio.Task[list[Outgoing]]] = {}

    async def handle(self, batch: list[Decoded]) -> list[Outgoing]:
        # Requests of known accounts only, each with its document (the loop's check).
        deadline = time.monotonic() + self._budget_s
        # Requests of one conversation stay in order (an `email_required` then the retry
        # with the email); different conversations do not wait for each other.
        conversations: dict[tuple[str, str], list[Decoded]] = {}
        for item in batch:
            request: HandoffRequest = item.value
            conversations.setdefault((request.account_id, request.conversation_id),
                                     []).append(item)

        async def run(items: list[Decoded]) -> list[Outgoing]:
            out: list[Outgoing] = []
            for item in items:
                out.extend(await self._handle_one(item, deadline))
            return out

        outputs = await asyncio.gather(*(run(items) for items in conversations.values()))
        return [o for group in outputs for o in group]

    async def _handle_one(self, item: Decoded, deadline: float) -> list[Outgoing]:
        """Handle one request, or join its handoff's run already in progress here.

        `gather` in `handle` does not cancel the other conversations when one fails, and
        cancelling them would not recall a call already sent. So when the loop runs the
        batch again, a handoff of the first run may still be inside its lookup-then-create;
        the lease cannot tell (same replica, same owner). Joining that run keeps it the
        only one, and its outcome is what the second run publishes."""
        request: HandoffRequest = item.value
        key = (request.account_id, request.handoff_id)
        running = self._running.get(key)
        if running is not None:
            log.info("handoff %s of %s: already in progress in this replica; joining it",
                     request.handoff_id, request.account_id)
            return await asyncio.shield(running)
        task = asyncio.create_task(self._handle_alone(item, deadline),
                                   name=f"handoff-{request.handoff_id}")
        self._running[key] = task
        task.add_done_callback(lambda _: self._running.pop(key, None))
        return await asyncio.shield(task)

    async def _handle_alone(self, item: Decoded, deadline: float) -> list[Outgoing]:
        request: HandoffRequest = item.value
        account = item.account
        assert account is not None, "the loop's unknown-account check lets known ones through"
        decision = decide(request, account)
        if decision.verdict in ("declined", "email_required"):
            # Not an end of the conversation: the AI agent carries on (and may ask again),
            # so nothing is recorded and a later request for it proceeds (H3). Dated by the
            # request, so a redelivery publishes the same result (one id, one content).
            notice = (notices.DECLINED if decision.verdict == "declined"
                      else notices.ASK_EMAIL)
            status = decision.verdict
            metrics.OUTCOMES.labels(request.account_id, decision.target, status).inc()
            log.info("handoff %s of %s: %s", request.handoff_id, request.account_id, status)
            return [self._out(handoff_result(request, status, decision.target,
                                             request.requested_at, notice=notice))]

        claim = await self._store.claim(request.account_id, request.handoff_id, self._owner,
                                        self._lease_ms)
        while claim.state == "busy":
            if time.monotonic() + claim.lease_left_ms / 1000 > deadline + self._lease_ms / 1000:
                # Another live replica is still on it and will publish the outcome; keep a
                # trace instead of blocking this partition beyond the poll interval.
                return [dead_letter(item.record, "handoff in progress on another replica; "
                                    "its outcome will follow", self.worker, request.account_id)]
            await asyncio.sleep(min(0.1, max(0.01, claim.lease_left_ms / 1000)))
            claim = await self._store.claim(request.account_id, request.handoff_id,
                                            self._owner, self._lease_ms)
        if claim.state == "done":
            assert claim.stored is not None
            log.info("handoff %s of %s: outcome already recorded, re-publishing",
                     request.handoff_id, request.account_id)
            return self._replay(item, request, claim.stored)

        renewer = asyncio.create_task(self._keep_lease(request))
        started = time.monotonic()
        try:
            stored, end, counts_field = await self._execute(request, account, decision,
                                                            claim.posts, deadline)
        finally:
            renewer.cancel()
        finished = await self._store.finish(request.account_id, request.handoff_id,
                                            self._owner, stored, counts_field,
                                            request.conversation_id, end)
        metrics.record_ends(request.account_id, finished.ends)
        if finished.fresh:
            status, _, target = counts_field.partition(":")
            metrics.OUTCOMES.labels(request.account_id, target, status).inc()
            if target in ("zendesk", "gorgias"):
                metrics.HELPDESK_SECONDS.labels(request.account_id, target).set(
                    time.monotonic() - started)
        return self._replay(item, request, finished.stored)

    async def _execute(self, request: HandoffRequest, account: AccountDocument,
                       decision: Decision, posts: int,
                       deadline: float) -> tuple[str, EndClass, str]:
        """Do the handoff; returns (outcome to store, conversation end class, counts field)."""
        now = await self._clock.now()
        target = decision.target
        if decision.verdict == "resolved":
            log.info("conversation %s of %s: resolved by the AI", request.conversation_id,
                     request.account_id)
            return RESOLVED_MARK, "resolved", "resolved:ai"
        if decision.verdict == "message":
            result = handoff_result(request, "message_sent", "message", now,
                                    notice=custom_message(account))
            return self._stored(result), "message", "message_sent:message"
        try:
            if target == "internal":
                record = inbound_record(request)  # refuses before anything is published
                available = await team_available(self._client, self._settings, account, now)
                result = handoff_result(request, "created", target, now,
                                        notice=notices.internal_notice(account, available),
                                        inbound_message_id=inbound_message_id(request))
                log.info("handoff %s of %s: into our inbox as %s (team available: %s)",
                         request.handoff_id, request.account_id, record.topic, available)
            else:
                ticket_id = await self._create_external(request, account, posts, deadline)
                result = handoff_result(request, "created", target, now,
                                        notice=notices.helpdesk_notice(request),
                                        external_ticket_id=ticket_id)
                log.info("handoff %s of %s: %s ticket %s", request.handoff_id,
                         request.account_id, target, ticket_id)
            return self._stored(result), "routed", f"created:{target}"
        except PermanentHelpdeskError as exc:
            log.warning("handoff %s of %s failed: %s", request.handoff_id, request.account_id,
                        exc.reason)
            result = handoff_result(request, "failed", target, now, notice=notices.FAILED,
                                    error=exc.reason)
            return self._stored(result), "failed", f"failed:{target}"

    async def _create_external(self, request: HandoffRequest, account: AccountDocument,
                               posts: int, deadline: float) -> str:
        helpdesk = self._helpdesk(account)
        ticket = helpdesk_ticket(request)
        always_look_up = getattr(helpdesk, "always_look_up", False)

        async def attempt(look_up_first: bool) -> str:
            if look_up_first or always_look_up:
                found = await helpdesk.find_ticket(ticket.external_id)
                if found is not None:
                    log.info("handoff %s of %s: %s ticket %s already exists", request.handoff_id,
                             request.account_id, helpdesk.name, found)
                    return found
            await self._store.note_post(request.account_id, request.handoff_id)
            return await helpdesk.create_ticket(ticket)

        return await with_retries(attempt, self._policy,
                                  remaining=lambda: deadline - time.monotonic(),
                                  sleep=asyncio.sleep, look_up_first=posts > 0)

    def _helpdesk(self, account: AccountDocument) -> Helpdesk:
        config = account.handoff
        timeout = self._settings.handoff_http_timeout_s
        secrets = account_secret(account.account_id, config, self._env)  # its one variable
        if config.method == "zendesk":
            return Zendesk(config, secrets, self._session, timeout)
        return Gorgias(config, secrets, self._session, timeout)

    async def _keep_lease(self, request: HandoffRequest) -> None:
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                renewed = await self._store.renew(request.account_id, request.handoff_id,
                                                  self._owner, self._lease_ms)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                # Redis away for a moment: try again at the next beat, the lease may live.
                log.warning("handoff %s of %s: lease not renewed: %s", request.handoff_id,
                            request.account_id, exc)
                continue
            if not renewed:
                log.warning("handoff %s of %s: lease lost while working",
                            request.handoff_id, request.account_id)
                return

    def _replay(self, item: Decoded, request: HandoffRequest, stored: str) -> list[Outgoing]:
        """What a recorded outcome publishes; the same records on every redelivery."""
        if stored == RESOLVED_MARK:
            return []
        result = _result_decoder.decode(stored)
        out: list[Outgoing] = []
        if result.target == "internal" and result.status == "created":
            out.append(inbound_record(request))
        out.append(self._out(result))
        if result.status == "failed":
            out.append(dead_letter(item.record, f"handoff failed: {result.error}", self.worker,
                                   request.account_id))
        return out

    @staticmethod
    def _stored(result: HandoffResult) -> str:
        return encode(result).decode("utf-8")

    @staticmethod
    def _out(result: HandoffResult) -> Outgoing:
        return Outgoing("handoff.results", result.handoff_id, result)


def build(resources: Resources) -> Wiring:
    """The handler with its HTTP session (closed at stop); `resources.secrets` holds the
    helpdesk secrets by name, read by the names the accounts give."""
    session = aiohttp.ClientSession()
    settings, client = resources.settings, resources.redis
    handler = HandoffHandler(settings, HandoffStore(settings, client), client,
                             resources.clock, session, resources.secrets)
    return Wiring(handler, on_stop=[session.close])


KIND = Kind(name=HandoffHandler.worker, topics=HandoffHandler.topics, build=build)
