"""Worker replicas as child processes: start, watch their log, SIGTERM or SIGKILL them.

Shared by `make run`, the end-to-end tests and the benchmark, so all three run the
workers exactly as production does: one OS process per replica.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from workers.runtime.lifetime import die_with_parent
from workers.runtime.settings import Settings

WORKER_KINDS = ("ingest", "router", "closer", "handoff")


def command(kind: str) -> list[str]:
    """The command line of a replica: `ticketflow worker <kind>`, as deploy/ runs it (the
    console script's own entry point, run by this interpreter)."""
    return [sys.executable, "-m", "workers", "worker", kind]


def console_script() -> str:
    """The installed `ticketflow` console script beside this interpreter: what the image's
    ENTRYPOINT runs, for a test that starts a replica exactly as a manifest does."""
    script = Path(sys.executable).with_name("ticketflow")
    if not script.exists():
        raise RuntimeError(f"no console script {script}: install the package (make)")
    return str(script)


class WorkerProcess:
    """One replica of a worker kind, its stderr collected line by line."""

    def __init__(self, kind: str, settings: Settings, echo: Callable[[str], None] | None = None,
                 extra_env: dict[str, str] | None = None,
                 environment: Mapping[str, str] | None = None,
                 argv: list[str] | None = None) -> None:
        """`environment`: the replica's whole TICKETFLOW_* environment, as a manifest gives
        it, in place of `settings.to_env()` and of any TICKETFLOW_* variable of this process;
        `argv`: its command line, by default `command(kind)`."""
        self.kind = kind
        self.settings = settings
        self.echo = echo
        self.extra_env = extra_env or {}
        self.environment = environment
        self.argv = argv or command(kind)
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._changed = threading.Condition()

    def start(self) -> WorkerProcess:
        if self.environment is None:
            env = {**os.environ, **self.settings.to_env()}
        else:
            env = {**{k: v for k, v in os.environ.items() if not k.startswith("TICKETFLOW_")},
                   **self.environment}
        env.update({**self.extra_env, "PYTHONUNBUFFERED": "1"})
        self.lines = []
        self.proc = subprocess.Popen(
            self.argv, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            preexec_fn=die_with_parent, start_new_session=True,
        )
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        return self

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
            if self.echo is not None:
                self.echo(f"[{self.kind}:{proc.pid}] {line.rstrip()}")
        with self._changed:
            self._changed.notify_all()

    def wait_for_log(self, pattern: str, timeout_s: float = 60.0, since: int = 0) -> str:
        """Block until a log line from index `since` on matches; fail if the process dies."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                for line in self.lines[since:]:
                    if rx.search(line):
                        return line
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.kind} exited ({self.proc.returncode}) before "
                                       f"logging /{pattern}/:\n" + "\n".join(self.lines[-30:]))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self.kind} did not log /{pattern}/ within "
                                       f"{timeout_s}s:\n" + "\n".join(self.lines[-30:]))
                self._changed.wait(remaining)

    def start_ready(self, timeout_s: float = 60.0) -> WorkerProcess:
        """Start and wait until the replica has joined its group and holds partitions."""
        self.start()
        self.wait_for_log(r"partitions assigned: [1-9]", timeout_s)
        return self

    def sigkill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def sigterm(self, timeout_s: float = 30.0) -> int:
        """Ask the replica to drain and exit; returns its exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout_s)

    def wait(self, timeout_s: float = 30.0) -> int:
        """Wait for the replica to exit (SIGKILL after `timeout_s`); returns its exit code."""
        if self.proc is None:
            return 0
        try:
            self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
