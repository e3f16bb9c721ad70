"""The side-by-side comparison as rows of text: what `ticketflow simulate` prints and the
report shows. Pure formatting of `Figures`; nothing here measures."""

from __future__ import annotations

from collections.abc import Sequence

from harness.simulator.tally import Figures, percentile


def duration(value: float | None) -> str:
    """Seconds as `45s`, `3m05s`, `2h07m`, `1d03h`; `-` for nothing measured."""
    if value is None:
        return "-"
    s = int(round(value))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def clock(value: float) -> str:
    """Seconds from the start of the day as `day+HH:MM` (`+1d 07:30` on the next day)."""
    s = int(value)
    day, rest = divmod(s, 86400)
    text = f"{rest // 3600:02d}:{rest % 3600 // 60:02d}"
    return text if day == 0 else f"+{day}d {text}"


def _spread(values: Sequence[int]) -> str:
    if not values:
        return "-"
    return (f"{min(values)} / {percentile(values, 50):.0f} / {max(values)}")


def rows(figures: Sequence[Figures]) -> list[tuple[str, list[str]]]:
    """(label, one cell per policy) for every figure of the comparison."""
    sla = duration(figures[0].sla) if figures else ""

    def row(label: str, cell: object) -> tuple[str, list[str]]:
        return label, [cell(f) for f in figures]  # type: ignore[operator]

    return [
        row("tickets", lambda f: str(f.tickets)),
        row("first assignment p50", lambda f: duration(f.first_assignment_p50)),
        row("first assignment p95", lambda f: duration(f.first_assignment_p95)),
        row("first assignment p99", lambda f: duration(f.first_assignment_p99)),
        row("longest wait", lambda f: duration(f.longest_wait)),
        row("waiting at the peak", lambda f: f"{f.peak_waiting} at {clock(f.peak_waiting_at)}"),
        row("never assigned", lambda f: str(f.never_assigned)),
        row("load spread peak (max-min open)", lambda f: str(f.spread_peak)),
        row("load spread mean (max-min open)", lambda f: f"{f.spread_mean:.1f}"),
        row("Gini of assignments", lambda f: f"{f.gini:.3f}"),
        row("assignments per agent min/med/max",
            lambda f: _spread(list(f.assignments.values()))),
        row("reassignments", lambda f: str(f.reassignments)),
        row("auto-closes", lambda f: str(f.auto_closes)),
        row("closed by agents", lambda f: str(f.closed_by_agents)),
        row(f"over SLA (first assignment > {sla})", lambda f: str(f.over_sla)),
        row("first agent reply p50", lambda f: duration(f.first_reply_p50)),
        row("first agent reply p95", lambda f: duration(f.first_reply_p95)),
        row("automatic assignments over capacity", lambda f: str(f.over_capacity)),
    ]


def agent_rows(figures: Sequence[Figures]) -> list[tuple[str, list[str]]]:
    """Assignments per agent, one row per agent (in the first policy's agent order)."""
    agents = list(dict.fromkeys(a for f in figures for a in f.assignments))
    return [(agent, [str(f.assignments.get(agent, 0)) for f in figures]) for agent in agents]


def render(header: Sequence[str], body: Sequence[tuple[str, list[str]]]) -> str:
    """A plain text table: labels on the left, one right-aligned column per policy."""
    width = max([len(label) for label, _ in body] + [0])
    columns = [max([len(h)] + [len(cells[i]) for _, cells in body])
               for i, h in enumerate(header)]
    lines = [" " * width + "".join(f"  {h:>{w}}" for h, w in zip(header, columns, strict=True))]
    for label, cells in body:
        lines.append(f"{label:<{width}}"
                     + "".join(f"  {c:>{w}}" for c, w in zip(cells, columns, strict=True)))
    return "\n".join(lines)
