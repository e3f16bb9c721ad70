"""A replica that has drained is only tearing down: a repeated SIGTERM must not kill it."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

DRAINED_THEN_SIGTERM = """
import os, signal
from workers.runtime.lifetime import run_replica

async def main():
    pass

run_replica(main())
os.kill(os.getpid(), signal.SIGTERM)
print("still tearing down")
"""


def test_sigterm_after_the_loop_has_drained_does_not_kill_the_replica() -> None:
    done = subprocess.run([sys.executable, "-c", DRAINED_THEN_SIGTERM], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "still tearing down"), done.stderr
