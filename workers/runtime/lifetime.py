"""Child processes that do not outlive their parent."""

from __future__ import annotations

import asyncio
import ctypes
import signal
import sys
from collections.abc import Coroutine
from typing import Any

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """`preexec_fn` for Popen: the kernel sends SIGTERM to the child when the parent dies,
    so a crashed test run or a killed `make run` leaves no broker, Redis or worker behind.

    The kernel ties this to the *thread* that started the child: start children from a
    thread that outlives them (the main thread, as `make run` and the tests do).

    Children also run in their own session (`start_new_session=True` at the call sites):
    Ctrl-C then reaches only the parent, which stops workers before the broker and Redis.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def run_replica(main: Coroutine[Any, Any, None]) -> None:
    """Run a worker replica until its loop has drained and committed.

    When the event loop closes it hands SIGTERM back to the default action, so a second
    SIGTERM (a supervisor repeating itself) would kill a replica that is only tearing down
    and report a clean stop as a death by signal. From then on there is nothing to stop.
    """
    try:
        asyncio.run(main)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
