"""`ticketflow simulate`: load the workload (or a recorded export) and the policies, draw
the day once, run it under each policy (each in a process of its own with a fresh
redis-server, side by side on the machine's CPUs), print the comparison and write the
report."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec

from harness.simulator import scenario as scenarios
from harness.simulator.engine import PolicyRun, RunResult
from harness.simulator.table import agent_rows, duration, render, rows
from schemas.codec import field_reason
from schemas.config import AccountDocument, load_account_yaml
from schemas.workload import Workload, load_workload_yaml, seconds
from workers.runtime.settings import Settings
from workers.state.keys import Keys

ROOT = Path(__file__).resolve().parents[2]
WORKLOADS = ROOT / "deploy" / "workloads"
DEFAULT_WORKLOAD = WORKLOADS / "default-day.yaml"
DEFAULT_POLICIES = (WORKLOADS / "policies" / "round-robin.yaml",
                    WORKLOADS / "policies" / "balanced-capacity.yaml")
HOUR = 3600.0


class Refused(Exception):
    """An input file that cannot be used; the message names the file and the field."""


def read_workload(path: Path, seed: int | None = None) -> Workload:
    try:
        workload = load_workload_yaml(path.read_text())
    except msgspec.ValidationError as exc:
        raise Refused(f"{path}: refused: {field_reason(str(exc))}") from None
    except Exception as exc:  # YAML syntax and the like
        raise Refused(f"{path}: refused: {exc}") from None
    return workload if seed is None else msgspec.structs.replace(workload, seed=seed)


def read_policy(path: Path) -> AccountDocument:
    try:
        return load_account_yaml(path.read_text())
    except msgspec.ValidationError as exc:
        raise Refused(f"{path}: refused: {field_reason(str(exc))}") from None
    except Exception as exc:
        raise Refused(f"{path}: refused: {exc}") from None


def tail_of(workload: Workload, policies: Sequence[AccountDocument]) -> float:
    """How long the clock runs on after the day: the workload's `tail`, else the longest
    auto-close period of the policies and an hour, so that the day's quiet tickets close."""
    if workload.tail is not None:
        return seconds(workload.tail)
    days = [p.auto_close.days for p in policies if p.auto_close.enabled]
    return max(days, default=0) * 86400.0 + HOUR


def check_agents(workload: Workload, name: str, policy: AccountDocument) -> None:
    """Every agent with a shift must be an agent of each policy (its presence would be
    refused otherwise)."""
    known = {a.id for a in policy.agents}
    missing = [a for a in workload.agent_ids() if a not in known]
    if missing:
        raise Refused(f"policy {name}: the workload's agents {', '.join(missing)} are not "
                      "agents of this account document")


async def run_policies(settings: Settings, day: scenarios.Scenario,
                       policies: Sequence[tuple[str, AccountDocument]], sla_s: float,
                       heartbeat_s: float | None = None, window_s: float = 0.0,
                       closer_tick_s: float = 0.0, export: Path | None = None,
                       progress: Callable[[str], None] | None = None) -> list[RunResult]:
    """Run the day under each policy in turn, each under a Redis key prefix of its own
    (`<prefix>-sim<i>`); the first policy's `tickets.events` go to `export` if given."""
    results = []
    for i, (name, policy) in enumerate(policies):
        own = msgspec.structs.replace(settings, redis_prefix=f"{Keys.of(settings).prefix}-sim{i}")
        with _export_file(export if i == 0 else None) as sink:
            run = PolicyRun(own, policy, day, heartbeat_s=heartbeat_s, window_s=window_s,
                            closer_tick_s=closer_tick_s, export=sink)  # type: ignore[arg-type]
            result = await run.run(sla_s)
        result.figures.policy = name
        results.append(result)
        if progress is not None:
            progress(f"{name}: {result.figures.tickets} tickets, {result.events} records "
                     f"in {result.elapsed_s:.1f}s (the day {result.day_elapsed_s:.1f}s)")
    return results


@contextmanager
def _export_file(path: Path | None) -> Iterator[object]:
    if path is None:
        yield None
        return
    with path.open("wb") as sink:
        yield sink


@contextmanager
def _quiet_workers() -> Iterator[None]:
    """The workers log a line per presence and per close: not while simulating a day."""
    logger = logging.getLogger("workers")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass(frozen=True)
class _Job:
    """One policy's run, as a child process gets it."""

    name: str
    policy: AccountDocument
    day: scenarios.Scenario
    sla_s: float
    heartbeat_s: float | None
    window_s: float
    closer_tick_s: float
    export: Path | None


def _cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def _pin(pid: int, cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(pid, {cpu})


def _run_job(job: _Job, cpu: int | None) -> RunResult:
    """One policy on a redis-server of its own, the two kept on one CPU: a round trip
    then needs no wake-up of the other CPU, which costs more on this project's virtual
    machines than the round trip itself (a slice of the stress day: 12-22 s -> 8-12 s)."""
    from harness.simulator.client import UnixSocketRedis

    _pin(0, cpu)
    with tempfile.TemporaryDirectory(prefix="tf-simulate-") as tmp, _quiet_workers():
        redis = UnixSocketRedis(Path(tmp) / "redis")
        redis.start()
        _pin(redis.proc.pid if redis.proc else 0, cpu)
        try:
            [result] = asyncio.run(run_policies(
                Settings(redis_url=redis.url, redis_prefix="tf"), job.day,
                [(job.name, job.policy)], job.sla_s, heartbeat_s=job.heartbeat_s,
                window_s=job.window_s, closer_tick_s=job.closer_tick_s, export=job.export))
        finally:
            redis.stop()
    return result


def run_on_cpus(jobs: Sequence[_Job], echo: Callable[[str], None]) -> list[RunResult]:
    """Each policy in a child process of its own, as many at once as there are CPUs, each
    on its own CPU; results in the policies' order (they share nothing, so running them
    side by side changes no figure)."""
    cpus = _cpus() or [None]  # type: ignore[list-item]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=min(len(cpus), len(jobs)),
                             mp_context=context) as pool:
        futures = [pool.submit(_run_job, job, cpus[i % len(cpus)])
                   for i, job in enumerate(jobs)]
        results = []
        for future in futures:
            result = future.result()
            echo(f"{result.figures.policy}: {result.figures.tickets} tickets, "
                 f"{result.events} records in {result.elapsed_s:.1f}s "
                 f"(the day {result.day_elapsed_s:.1f}s)")
            results.append(result)
    return results


def comparison(results: Sequence[RunResult]) -> str:
    """The printed comparison: the figures, then assignments per agent."""
    figures = [r.figures for r in results]
    header = [f.policy for f in figures]
    return (render(header, rows(figures)) + "\n\nassignments per agent\n"
            + render(header, agent_rows(figures)))


def simulate(workload_path: Path, policy_paths: Sequence[Path], *, seed: int | None,
             sla: str, report_dir: Path | None, replay: Path | None, export: Path | None,
             echo: Callable[[str], None]) -> list[RunResult]:
    """The whole command; input problems raise `Refused`."""
    workload = read_workload(workload_path, seed)
    try:
        sla_s = seconds(sla)
    except ValueError as exc:
        raise Refused(f"--sla: {exc}") from None
    policies = [(path.stem, read_policy(path)) for path in policy_paths]
    for name, policy in policies:
        check_agents(workload, name, policy)
    tail = tail_of(workload, [p for _, p in policies])
    if replay is not None:
        with replay.open("rb") as lines:
            try:
                day = scenarios.from_export(lines, workload, tail)
            except ValueError as exc:
                raise Refused(f"{replay}: refused: {exc}") from None
    else:
        day = scenarios.from_workload(workload, tail)
    source = f"replay of {replay}" if replay else f"workload {workload.name}"
    echo(f"{source}: {len(day.conversations)} tickets over {duration(day.day_s)}, "
         f"{len(day.online)} agents, seed {workload.seed}; clock runs to "
         f"+{duration(day.horizon_s)}; SLA {sla}")
    heartbeat = seconds(workload.agent.heartbeat) if workload.agent.heartbeat else None
    jobs = [_Job(name=name, policy=policy, day=day, sla_s=sla_s, heartbeat_s=heartbeat,
                 window_s=seconds(workload.batch_window),
                 closer_tick_s=seconds(workload.closer_tick),
                 export=export if i == 0 else None)
            for i, (name, policy) in enumerate(policies)]
    results = run_on_cpus(jobs, echo)
    echo("")
    echo(comparison(results))
    echo("")
    echo("run time per policy (wall clock, not part of the figures):")
    for result in results:
        echo(f"  {result.figures.policy}: {result.elapsed_s:.1f}s for "
             f"{result.figures.tickets} tickets ({result.events} records; the day "
             f"{result.day_elapsed_s:.1f}s, the tail after it "
             f"{result.elapsed_s - result.day_elapsed_s:.1f}s)")
    for result in results:
        for problem in result.mismatches:
            echo(f"warning: {result.figures.policy}: end state differs: {problem}")
    if report_dir is not None:
        from harness.simulator.report import write_report

        path = write_report(report_dir, source, workload, day, results)
        echo(f"report: {path}")
    return results
