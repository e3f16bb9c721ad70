"""Fake Zendesk and Gorgias servers on loopback: real aiohttp servers in a thread, checking
auth and payload shape like the real APIs do, and told per handoff how to misbehave.

Behaviours, consumed one per create call of a handoff (keyed by handoff id):
  "ok"                create the ticket (the default once the list is used up)
  "429:<s>"           answer 429 with `Retry-After: <s>`
  "500"               answer 500 without creating
  "401" / "422"       answer that status without creating
  "hang"              never answer (the client's timeout fires)
  "create_then_500"   create the ticket, then answer 500 (the response is lost)
  "create_then_hold"  create the ticket, signal `arrived`, then never answer
  "hold"              signal `arrived`, wait for `release(handoff_id)`, then create
  "422_verbose"       answer 422 with a long body full of newlines and control characters

Every lookup and create of a handoff is counted while the server works on it, so a test
can see two of them overlap (`max_in_flight`).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Kind = Literal["zendesk", "gorgias"]


@dataclass
class SeenRequest:
    method: str
    path: str
    handoff_id: str | None
    at: float
    authorized: bool


@dataclass
class FakeTicket:
    id: int
    external_id: str
    payload: dict[str, Any]
    idempotency_key: str | None


@dataclass
class FakeHelpdesk:
    """One fake helpdesk; `url` goes into the account's `handoff.base_url`."""

    kind: Kind
    email: str = "bot@acme.example"
    token: str | None = None
    oauth_token: str | None = None
    api_key: str | None = None
    tickets: list[FakeTicket] = field(default_factory=list)
    requests: list[SeenRequest] = field(default_factory=list)
    behaviours: dict[str, list[str]] = field(default_factory=dict)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._arrived: dict[str, threading.Event] = {}
        self._ids = itertools.count(35436)
        self._idempotent: dict[str, FakeTicket] = {}
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._released: dict[str, asyncio.Event] = {}
        self._in_flight: dict[str, int] = {}
        self._max_in_flight: dict[str, int] = {}

    # --- test side ---------------------------------------------------------------

    def start(self) -> FakeHelpdesk:
        threading.Thread(target=self._serve, daemon=True).start()
        assert self._ready.wait(10), "fake helpdesk did not start"
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            self._closing.set()  # held and hanging answers end now
            if self._runner is not None:
                await self._runner.cleanup()
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def behave(self, handoff_id: str, behaviours: list[str]) -> None:
        with self._lock:
            self.behaviours[handoff_id] = list(behaviours)

    def arrived(self, handoff_id: str) -> threading.Event:
        """Set when a create call for this handoff reaches the server."""
        with self._lock:
            return self._arrived.setdefault(handoff_id, threading.Event())

    def release(self, handoff_id: str) -> None:
        """Let the held create call of this handoff go on."""
        self._loop.call_soon_threadsafe(lambda: self._release_event(handoff_id).set())

    def max_in_flight(self, handoff_id: str) -> int:
        """Most lookup and create calls of this handoff the server worked on at once."""
        with self._lock:
            return self._max_in_flight.get(handoff_id, 0)

    def tickets_of(self, handoff_id: str) -> list[FakeTicket]:
        with self._lock:
            return [t for t in self.tickets if t.external_id.endswith(":" + handoff_id)]

    def creates_of(self, handoff_id: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests
                    if r.method == "POST" and r.handoff_id == handoff_id]

    def lookups_of(self, handoff_id: str) -> list[SeenRequest]:
        with self._lock:
            return [r for r in self.requests
                    if r.method == "GET" and r.handoff_id == handoff_id]

    # --- server side -------------------------------------------------------------

    def _release_event(self, handoff_id: str) -> asyncio.Event:
        return self._released.setdefault(handoff_id, asyncio.Event())

    def _enter(self, handoff_id: str | None) -> None:
        with self._lock:
            key = handoff_id or ""
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
            self._max_in_flight[key] = max(self._max_in_flight.get(key, 0),
                                           self._in_flight[key])

    def _leave(self, handoff_id: str | None) -> None:
        with self._lock:
            self._in_flight[handoff_id or ""] -= 1

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._closing = asyncio.Event()
        app = web.Application()
        if self.kind == "zendesk":
            app.router.add_post("/api/v2/tickets", self._create)
            app.router.add_get("/api/v2/tickets", self._find)
            app.router.add_get("/api/v2/users/me", self._me)
        else:
            app.router.add_post("/api/tickets", self._create)
            app.router.add_get("/api/tickets", self._find)
            app.router.add_get("/api/account", self._me)

        async def up() -> None:
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.url = f"http://127.0.0.1:{port}"
            self._ready.set()

        self._loop.run_until_complete(up())
        self._loop.run_forever()

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if self.kind == "zendesk":
            if self.oauth_token is not None and header == f"Bearer {self.oauth_token}":
                return True
            expected = f"{self.email}/token:{self.token}"
        else:
            expected = f"{self.email}:{self.api_key}"
        return header == "Basic " + base64.b64encode(expected.encode()).decode()

    def _seen(self, request: web.Request, handoff_id: str | None) -> bool:
        ok = self._authorized(request)
        with self._lock:
            self.requests.append(SeenRequest(request.method, request.path, handoff_id,
                                             time.monotonic(), ok))
        return ok

    @staticmethod
    def _handoff_of(external_id: str | None) -> str | None:
        return None if not external_id else external_id.rsplit(":", 1)[-1]

    async def _me(self, request: web.Request) -> web.Response:
        if not self._seen(request, None):
            return web.json_response({"error": "Couldn't authenticate you"}, status=401)
        if self.kind == "zendesk":
            return web.json_response({"user": {"id": 7, "name": "Bot", "email": self.email,
                                               "role": "admin"}})
        return web.json_response({"domain": "acme", "status": {"status": "active"}})

    async def _find(self, request: web.Request) -> web.Response:
        handoff_id = self._handoff_of(request.query.get("external_id"))
        self._enter(handoff_id)
        try:
            return await self._find_ticket(request)
        finally:
            self._leave(handoff_id)

    async def _find_ticket(self, request: web.Request) -> web.Response:
        external_id = request.query.get("external_id")
        if not self._seen(request, self._handoff_of(external_id)):
            return web.json_response({"error": "Couldn't authenticate you"}, status=401)
        with self._lock:
            found = [{"id": t.id, "external_id": t.external_id} for t in self.tickets
                     if t.external_id == external_id]
        return web.json_response({"tickets" if self.kind == "zendesk" else "data": found})

    def _shape_error(self, body: dict[str, Any], request: web.Request) -> str | None:
        """What a real API would refuse in our payload, or None."""
        if self.kind == "zendesk":
            ticket = body.get("ticket") or {}
            if not request.headers.get("Idempotency-Key"):
                return "Idempotency-Key header missing"
            if not ticket.get("external_id") or not ticket.get("subject"):
                return "external_id and subject required"
            if not (ticket.get("comment") or {}).get("body"):
                return "comment.body required"
            if not (ticket.get("requester") or {}).get("name"):
                return "requester.name required"
            return None
        if not body.get("external_id") or not body.get("channel") or not body.get("via"):
            return "external_id, channel and via required"
        messages = body.get("messages") or []
        if not messages or not all(m.get("body_text") and m.get("sender") for m in messages):
            return "messages need body_text and sender"
        if not body.get("customer"):
            return "customer required"
        return None

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        ticket_body = body.get("ticket", {}) if self.kind == "zendesk" else body
        handoff_id = self._handoff_of(ticket_body.get("external_id"))
        self._enter(handoff_id)
        try:
            return await self._create_ticket(request, body)
        finally:
            self._leave(handoff_id)

    async def _create_ticket(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        ticket_body = body.get("ticket", {}) if self.kind == "zendesk" else body
        external_id = ticket_body.get("external_id")
        handoff_id = self._handoff_of(external_id)
        if not self._seen(request, handoff_id):
            return web.json_response({"error": "Couldn't authenticate you"}, status=401)
        with self._lock:
            queue = self.behaviours.get(handoff_id or "", [])
            behaviour = queue.pop(0) if queue else "ok"
            arrived = self._arrived.setdefault(handoff_id or "", threading.Event())
        arrived.set()
        if behaviour.startswith("429"):
            return web.json_response({"error": "rate limited"}, status=429,
                                     headers={"Retry-After": behaviour.split(":")[1]})
        if behaviour in ("500", "401", "422"):
            return web.json_response({"error": f"scripted {behaviour}"}, status=int(behaviour))
        if behaviour == "hang":
            await self._closing.wait()
        if behaviour == "422_verbose":
            text = "RecordInvalid\r\n\x1b[31m" + "internal detail " * 400
            return web.Response(text=text, status=422)
        if behaviour == "hold":
            await self._release_event(handoff_id or "").wait()
        problem = self._shape_error(body, request)
        if problem is not None:
            return web.json_response({"error": "RecordInvalid", "description": problem},
                                     status=422)
        key = request.headers.get("Idempotency-Key")
        with self._lock:
            replay = self._idempotent.get(key) if self.kind == "zendesk" and key else None
            if replay is None:
                ticket = FakeTicket(next(self._ids), external_id, body, key)
                self.tickets.append(ticket)
                if self.kind == "zendesk" and key:
                    self._idempotent[key] = ticket
            else:
                ticket = replay
        if behaviour == "create_then_500":
            return web.json_response({"error": "upstream"}, status=500)
        if behaviour == "create_then_hold":
            await self._closing.wait()
        if self.kind == "zendesk":
            headers = {"x-zendesk-idempotency-lookup": "hit" if replay else "miss"}
            return web.json_response({"ticket": {"id": ticket.id, "external_id": external_id}},
                                     status=201, headers=headers)
        return web.json_response({"id": ticket.id, "external_id": external_id}, status=201)
