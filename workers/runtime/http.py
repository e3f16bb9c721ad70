"""Health, readiness and metrics endpoints of a worker (X4), on aiohttp.

`/health` fails when the consume loop has not come round for `stall_after` seconds (a
stuck loop should be restarted); `/ready` succeeds once the replica has read the account
documents and joined its consumer group; `/metrics` is Prometheus text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from workers.runtime.metrics import REGISTRY


@dataclass
class Liveness:
    """What the endpoints report; the consume loop updates it."""

    ready: bool = False
    last_poll: float = field(default_factory=time.monotonic)
    stall_after: float = 120.0

    def polled(self) -> None:
        self.last_poll = time.monotonic()


def make_app(liveness: Liveness) -> web.Application:
    async def health(_: web.Request) -> web.Response:
        idle = time.monotonic() - liveness.last_poll
        if idle > liveness.stall_after:
            return web.json_response({"status": "stalled", "idle_seconds": idle}, status=503)
        return web.json_response({"status": "ok", "idle_seconds": round(idle, 3)})

    async def ready(_: web.Request) -> web.Response:
        status = 200 if liveness.ready else 503
        return web.json_response({"ready": liveness.ready}, status=status)

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    return app


async def serve(liveness: Liveness, port: int) -> web.AppRunner:
    """Start the endpoints on all interfaces (containers probe them from outside)."""
    runner = web.AppRunner(make_app(liveness), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
