"""`ticketflow run` (`make run`, X2) on a terminal: the live view comes up, redraws in place
with agents, the queue and assignments, and Ctrl-C stops the workers, the broker and Redis."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from harness.live_screen import ENTER, HOME, LEAVE

pytestmark = pytest.mark.e2e
BROKER = os.environ.get("TICKETFLOW_TEST_BROKER", "tansu")  # make run's, or Apache Kafka
ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT_ROW = re.compile(r"\d\d:\d\d:\d\d  acme(-balanced)?\s+t-\w+\s+ag-\d")


def _read(fd: int, timeout_s: float) -> bytes:
    ready, _, _ = select.select([fd], [], [], timeout_s)
    if not ready:
        return b""
    try:
        return os.read(fd, 65536)
    except OSError:  # EIO: every holder of the terminal's other end has closed it
        return b"EOF"


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split()
        for child in map(int, children):
            found |= {child, *_descendants(child)}
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_live_view_redraws_in_place_and_ctrl_c_stops_everything() -> None:
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 45, 160, 0, 0))
    env = {k: v for k, v in os.environ.items()
           if k not in ("COLUMNS", "LINES") and not k.startswith("TICKETFLOW_")}
    proc = subprocess.Popen([sys.executable, "-m", "workers", "run", "--rate", "20",
                             "--broker", BROKER],
                            stdin=follower, stdout=follower, stderr=follower, cwd=ROOT,
                            env=env, start_new_session=True)
    os.close(follower)
    seen = b""
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            seen += _read(leader, 1.0)
            frames = seen.decode(errors="replace").split(HOME)
            if len(frames) > 2 and ASSIGNMENT_ROW.search(frames[-2]):
                break
        text = seen.decode(errors="replace")
        assert ENTER in text, text[-3000:]
        frame = text.split(HOME)[-2]
        assert ASSIGNMENT_ROW.search(frame), frame
        for part in ("AGENTS", "WAITING FOR AN AGENT", "LAST ASSIGNMENTS", "sms ",
                     "acme-balanced  ag-1", "acme-balanced  balanced", "/s   routed"):
            assert part in frame, (part, frame)
        assert len(text.split(HOME)) > 3  # redrawn, not printed once
        children = _descendants(proc.pid)
        assert len(children) >= 6  # tansu, redis-server and the four workers
        proc.send_signal(signal.SIGINT)
        tail = b""
        deadline = time.monotonic() + 90
        while not tail.endswith(b"EOF") and time.monotonic() < deadline:
            tail += _read(leader, 1.0)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, tail.decode(errors="replace")[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # it and every child left in its session
            proc.wait()
        os.close(leader)
    after = tail.decode(errors="replace")
    assert LEAVE in after, after
    for kind in ("ingest", "router", "closer", "handoff"):
        assert f"{kind} exited with code 0" in after, after
    assert re.search(r"\d+ tickets created, \d+ routed", after), after
    deadline = time.monotonic() + 10  # the children are reaped just after the exit
    while [pid for pid in children if _running(pid)] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _running(pid)]
