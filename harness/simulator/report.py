"""The simulator's report: one self-contained HTML file with the comparison table and
plots drawn as inline SVG (no script, no stylesheet or font to fetch: it opens offline).

The plots are pure functions from series to SVG text: queue length over the run (one line
per policy), open tickets per agent over the run (a heat map per policy), the distributions
of time to first assignment and to first reply, and the assignments per agent (grouped
bars).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from harness.simulator.table import agent_rows, duration, rows

if TYPE_CHECKING:
    from harness.simulator.engine import RunResult
    from harness.simulator.scenario import Scenario
    from schemas.workload import Workload

COLOURS = ("#1f6fb4", "#d2452b", "#2a9d4b", "#8a55b8", "#e08a12", "#0e9aa7")
FONT = "font-family='Helvetica, Arial, sans-serif'"
WAIT_BUCKETS: tuple[tuple[str, float], ...] = (
    ("0s", 0.0), ("≤10s", 10.0), ("≤1m", 60.0), ("≤5m", 300.0), ("≤15m", 900.0),
    ("≤1h", 3600.0), ("≤4h", 14400.0), ("≤1d", 86400.0), (">1d", float("inf")))


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _nice_step(span: float, ticks: int) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving about `ticks` ticks."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** len(str(int(raw))) / 10 if raw >= 1 else 1.0
    while power > raw:
        power /= 10
    for factor in (1, 2, 5, 10):
        if power * factor >= raw:
            return power * factor
    return power * 10


def line_chart(title: str, lines: Sequence[tuple[str, Sequence[float]]], step_h: float,
               y_label: str, marker_h: float | None = None, width: int = 1100,
               height: int = 320) -> str:
    """Lines over time: each (label, values sampled every `step_h` hours from 0); a dashed
    vertical line at `marker_h` (the end of the day)."""
    left, right, top, bottom = 60, 20, 36, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    longest = max((len(v) for _, v in lines), default=1)
    x_max = max(step_h * (longest - 1), step_h)
    y_max = max([max(v, default=0) for _, v in lines] + [1])
    y_step = _nice_step(y_max, 5)
    y_top = y_step * -(-y_max // y_step)

    def x(h: float) -> float:
        return left + plot_w * h / x_max

    def y(v: float) -> float:
        return top + plot_h * (1 - v / y_top)

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' {FONT} font-size='12'>",
             f"<text x='{left}' y='20' font-size='15' font-weight='bold'>{_e(title)}</text>"]
    tick = 0.0
    while tick <= y_top + 1e-9:
        parts.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y(tick):.1f}' "
                     f"y2='{y(tick):.1f}' stroke='#e3e3e3'/>"
                     f"<text x='{left - 6}' y='{y(tick) + 4:.1f}' text-anchor='end'>"
                     f"{tick:g}</text>")
        tick += y_step
    x_step = _nice_step(x_max, 12)
    h = 0.0
    while h <= x_max + 1e-9:
        parts.append(f"<line x1='{x(h):.1f}' x2='{x(h):.1f}' y1='{top + plot_h}' "
                     f"y2='{top + plot_h + 4}' stroke='#666'/>"
                     f"<text x='{x(h):.1f}' y='{top + plot_h + 17}' text-anchor='middle'>"
                     f"{h:g}h</text>")
        h += x_step
    if marker_h is not None and 0 < marker_h <= x_max:
        parts.append(f"<line x1='{x(marker_h):.1f}' x2='{x(marker_h):.1f}' y1='{top}' "
                     f"y2='{top + plot_h}' stroke='#888' stroke-dasharray='5,4'/>"
                     f"<text x='{x(marker_h) + 4:.1f}' y='{top + 12}' fill='#666'>"
                     "end of the day</text>")
    parts.append(f"<line x1='{left}' x2='{left}' y1='{top}' y2='{top + plot_h}' "
                 "stroke='#666'/>"
                 f"<line x1='{left}' x2='{left + plot_w}' y1='{top + plot_h}' "
                 f"y2='{top + plot_h}' stroke='#666'/>"
                 f"<text x='{left + plot_w / 2:.0f}' y='{height - 8}' text-anchor='middle'>"
                 "hours from the start of the day</text>"
                 f"<text transform='translate(14 {top + plot_h / 2:.0f}) rotate(-90)' "
                 f"text-anchor='middle'>{_e(y_label)}</text>")
    for i, (label, values) in enumerate(lines):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(f"{x(k * step_h):.1f},{y(v):.1f}" for k, v in enumerate(values))
        parts.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.6' "
                     f"points='{points}'/>")
        lx = left + plot_w - 220
        parts.append(f"<rect x='{lx}' y='{top + 6 + 16 * i}' width='12' height='12' "
                     f"fill='{colour}'/><text x='{lx + 18}' y='{top + 16 + 16 * i}'>"
                     f"{_e(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def heat_map(title: str, rows_: Sequence[tuple[str, Sequence[int]]], step_h: float,
             marker_h: float | None = None, width: int = 1100) -> str:
    """Rows of counts over time (an agent's open tickets, sampled every `step_h` hours):
    darker is more; the scale is the largest count shown."""
    left, right, top, bottom, cell_h = 70, 90, 36, 40, 12
    height = top + bottom + cell_h * max(1, len(rows_))
    plot_w = width - left - right
    longest = max((len(v) for _, v in rows_), default=1)
    most = max([max(v, default=0) for _, v in rows_] + [1])
    cell_w = plot_w / longest
    x_max = step_h * longest
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' {FONT} font-size='10'>",
             f"<text x='{left}' y='20' font-size='15' font-weight='bold'>{_e(title)}</text>"]
    for r, (label, values) in enumerate(rows_):
        y = top + r * cell_h
        parts.append(f"<text x='{left - 6}' y='{y + cell_h - 2}' text-anchor='end'>"
                     f"{_e(label)}</text>")
        for k, v in enumerate(values):
            if v:
                parts.append(f"<rect x='{left + k * cell_w:.1f}' y='{y}' "
                             f"width='{cell_w + 0.3:.1f}' height='{cell_h - 1}' "
                             f"fill='{_shade(v / most)}'/>")
    x_step = _nice_step(x_max, 12)
    h, base = 0.0, top + cell_h * len(rows_)
    while h <= x_max + 1e-9:
        x = left + plot_w * h / x_max
        parts.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{base}' y2='{base + 4}' "
                     f"stroke='#666'/><text x='{x:.1f}' y='{base + 16}' "
                     f"text-anchor='middle' font-size='12'>{h:g}h</text>")
        h += x_step
    if marker_h is not None and 0 < marker_h <= x_max:
        x = left + plot_w * marker_h / x_max
        parts.append(f"<line x1='{x:.1f}' x2='{x:.1f}' y1='{top}' y2='{base}' "
                     "stroke='#888' stroke-dasharray='5,4'/>")
    for i in range(5):
        share = (i + 1) / 5
        parts.append(f"<rect x='{width - right + 14}' y='{top + 14 * i}' width='12' "
                     f"height='12' fill='{_shade(share)}'/><text x='{width - right + 30}' "
                     f"y='{top + 10 + 14 * i}' font-size='11'>{most * share:.0f}</text>")
    parts.append(f"<text x='{width - right + 14}' y='{top - 6}' font-size='11'>open</text>"
                 "</svg>")
    return "".join(parts)


def _shade(share: float) -> str:
    """White to deep blue."""
    share = min(1.0, max(0.0, share))
    r, g, b = (int(247 - (247 - c) * share) for c in (8, 48, 107))
    return f"#{r:02x}{g:02x}{b:02x}"


def bar_chart(title: str, categories: Sequence[str],
              groups: Sequence[tuple[str, Sequence[float]]], y_label: str,
              log: bool = False, width: int = 1100, height: int = 320) -> str:
    """Grouped bars: one group per category, one bar per (label, values) series; with
    `log` the heights are on a log scale (1, 10, 100, ...) and each bar shows its count."""
    left, right, top, bottom = 60, 20, 36, 56
    plot_w, plot_h = width - left - right, height - top - bottom
    y_max = max([max(v, default=0) for _, v in groups] + [1])
    if log:
        y_top = float(10 ** len(str(int(y_max))))
        ticks = [10.0 ** k for k in range(len(str(int(y_top))))]
    else:
        y_step = _nice_step(y_max, 5)
        y_top = y_step * -(-y_max // y_step)
        ticks = [y_step * k for k in range(int(round(y_top / y_step)) + 1)]

    def share(v: float) -> float:
        if not log:
            return v / y_top
        return 0.0 if v <= 0 else (1 + math.log10(v)) / (1 + math.log10(y_top))
    slot = plot_w / max(1, len(categories))
    bar = slot * 0.8 / max(1, len(groups))
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' {FONT} font-size='12'>",
             f"<text x='{left}' y='20' font-size='15' font-weight='bold'>{_e(title)}</text>"]
    for tick in ticks:
        y = top + plot_h * (1 - share(tick))
        parts.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y:.1f}' y2='{y:.1f}' "
                     f"stroke='#e3e3e3'/><text x='{left - 6}' y='{y + 4:.1f}' "
                     f"text-anchor='end'>{tick:g}</text>")
    small = len(categories) > 20
    for c, category in enumerate(categories):
        x0 = left + slot * c + slot * 0.1
        for g, (_, values) in enumerate(groups):
            v = values[c] if c < len(values) else 0
            h = plot_h * share(v)
            parts.append(f"<rect x='{x0 + g * bar:.1f}' y='{top + plot_h - h:.1f}' "
                         f"width='{max(bar - 1, 1):.1f}' height='{h:.1f}' "
                         f"fill='{COLOURS[g % len(COLOURS)]}'/>")
            if log and v:
                parts.append(f"<text x='{x0 + g * bar + bar / 2:.1f}' "
                             f"y='{top + plot_h - h - 3:.1f}' text-anchor='middle' "
                             f"font-size='10'>{v:g}</text>")
        cx = left + slot * (c + 0.5)
        label = (f"<text transform='translate({cx:.1f} {top + plot_h + 10}) rotate(60)' "
                 f"font-size='10'>{_e(category)}</text>" if small else
                 f"<text x='{cx:.1f}' y='{top + plot_h + 16}' text-anchor='middle'>"
                 f"{_e(category)}</text>")
        parts.append(label)
    for g, (name, _) in enumerate(groups):
        lx = left + plot_w - 220
        parts.append(f"<rect x='{lx}' y='{top + 6 + 16 * g}' width='12' height='12' "
                     f"fill='{COLOURS[g % len(COLOURS)]}'/><text x='{lx + 18}' "
                     f"y='{top + 16 + 16 * g}'>{_e(name)}</text>")
    parts.append(f"<text transform='translate(14 {top + plot_h / 2:.0f}) rotate(-90)' "
                 f"text-anchor='middle'>{_e(y_label)}</text></svg>")
    return "".join(parts)


def wait_histogram(waits: Sequence[float], never: Sequence[float]) -> list[int]:
    """Tickets per `WAIT_BUCKETS` bucket of time to first assignment, then never
    assigned."""
    counts = [0] * (len(WAIT_BUCKETS) + 1)
    for w in waits:
        for i, (_, bound) in enumerate(WAIT_BUCKETS):
            if w <= bound:
                counts[i] += 1
                break
    counts[-1] = len(never)
    return counts


def downsample(values: Sequence[int], factor: int) -> list[int]:
    """The largest value of each run of `factor` samples (peaks stay visible)."""
    return [max(values[i:i + factor]) for i in range(0, len(values), factor)]


def _table(header: Sequence[str], body: Sequence[tuple[str, list[str]]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    lines = "".join("<tr><td>" + _e(label) + "</td>"
                    + "".join(f"<td class='n'>{_e(c)}</td>" for c in cells) + "</tr>"
                    for label, cells in body)
    return f"<table><tr><th></th>{head}</tr>{lines}</table>"


def render_report(source: str, workload: Workload, day: Scenario,
                  results: Sequence[RunResult]) -> str:
    """The report's HTML."""
    figures = [r.figures for r in results]
    names = [f.policy for f in figures]
    step_h = results[0].series.step / 3600 if results else 1 / 60
    day_h = day.day_s / 3600
    factor = max(1, round(900 / results[0].series.step)) if results else 1
    charts = [line_chart("Tickets waiting for an agent",
                         [(r.figures.policy, r.series.waiting) for r in results], step_h,
                         "tickets waiting", marker_h=day_h)]
    for r in results:
        agents = list(r.series.open_per_agent.items())
        charts.append(heat_map(f"Open tickets per agent ({r.figures.policy}; the peak of "
                               "each 15 minutes)",
                               [(a, downsample(v, factor)) for a, v in agents],
                               step_h * factor, marker_h=day_h))
    labels = [label for label, _ in WAIT_BUCKETS] + ["never"]
    charts.append(bar_chart("Time to first assignment (tickets, log scale)", labels,
                            [(r.figures.policy, wait_histogram(r.series.waits,
                                                               r.series.never_assigned_waits))
                             for r in results], "tickets", log=True))
    charts.append(bar_chart("Time to first agent reply (tickets, log scale)", labels,
                            [(r.figures.policy, wait_histogram(r.series.first_replies,
                                                               r.series.never_replied))
                             for r in results], "tickets", log=True))
    agents = [label for label, _ in agent_rows(figures)]
    charts.append(bar_chart("Assignments per agent", agents,
                            [(f.policy, [f.assignments.get(a, 0) for a in agents])
                             for f in figures], "assignments"))
    timings = "".join(f"<li>{_e(r.figures.policy)}: {r.elapsed_s:.1f} s wall clock, "
                      f"{r.events} records</li>" for r in results)
    problems = "".join(f"<li>{_e(r.figures.policy)}: {_e(p)}</li>"
                       for r in results for p in r.mismatches)
    started = datetime.fromtimestamp(day.start.timestamp(), UTC).strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>ticketflow simulate: {_e(", ".join(names))}</title>
<style>
body {{ font-family: Helvetica, Arial, sans-serif; margin: 24px; color: #222; max-width: 1120px; }}
table {{ border-collapse: collapse; margin: 12px 0 24px; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 12px; text-align: left; }}
td.n, th {{ text-align: right; }} th:first-child {{ text-align: left; }}
figure {{ margin: 18px 0; }} .note {{ color: #555; font-size: 13px; }}
</style></head><body>
<h1>Policy simulation</h1>
<p>{_e(source)}: {len(day.conversations)} tickets over {_e(duration(day.day_s))} from
{_e(started)} UTC, {len(day.online)} agents, seed {workload.seed}; the clock runs on to
+{_e(duration(day.horizon_s))} with no new tickets. Policies: {_e(", ".join(names))}.</p>
{_table(names, rows(figures))}
{"".join(f"<figure>{c}</figure>" for c in charts)}
<h2>Assignments per agent</h2>
{_table(names, agent_rows(figures))}
<p class="note">Every figure comes from the <code>tickets.events</code> the real ingest,
router and closer code published on a simulated clock against a real redis-server.
Run time (not part of the figures):</p><ul class="note">{timings}</ul>
{f'<p>End state differs from Redis:</p><ul>{problems}</ul>' if problems else ''}
</body></html>
"""


def write_report(directory: Path, source: str, workload: Workload, day: Scenario,
                 results: Sequence[RunResult]) -> Path:
    """Write `report.html` into `directory` (made if missing); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "report.html"
    path.write_text(render_report(source, workload, day, results), encoding="utf-8")
    return path
