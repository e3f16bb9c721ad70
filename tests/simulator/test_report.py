"""The simulator's report (X7): plots drawn as SVG by pure functions, in one HTML file that
needs nothing from the network."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.simulator.engine import RunResult
from harness.simulator.report import (
    bar_chart,
    downsample,
    heat_map,
    line_chart,
    wait_histogram,
    write_report,
)
from harness.simulator.scenario import from_workload
from schemas.workload import load_workload_yaml
from tests.simulator.test_tally import run_tally

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[2]


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_a_line_chart_draws_one_polyline_per_series_with_its_points() -> None:
    svg = parse(line_chart("Queue <&>", [("a", [0, 3, 1]), ("b", [2, 2, 2, 2])], 1.0,
                           "tickets", marker_h=2.0))
    lines = svg.findall(f"{SVG}polyline")
    assert [len(p.get("points", "").split()) for p in lines] == [3, 4]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert "Queue <&>" in texts and "end of the day" in texts and "a" in texts
    # The first point of series a sits on the x axis at 0 h, the top value at the top tick.
    first = lines[0].get("points", "").split()[0].split(",")
    assert float(first[0]) == 60.0


def test_a_heat_map_has_a_cell_per_nonzero_sample_and_a_row_label_per_agent() -> None:
    svg = parse(heat_map("Open", [("ag-1", [0, 1, 2]), ("ag-2", [3, 0, 0])], 0.5))
    cells = [r for r in svg.iter(f"{SVG}rect") if r.get("height") == "11"]
    assert len(cells) == 3
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "ag-1" in labels and "ag-2" in labels


def test_a_bar_chart_draws_a_bar_per_category_and_series() -> None:
    svg = parse(bar_chart("Waits", ["x", "y"], [("p", [1, 2]), ("q", [0, 4])], "tickets"))
    bars = [r for r in svg.iter(f"{SVG}rect") if r.get("width") != "12"]
    assert len(bars) == 4
    heights = [float(r.get("height", "0")) for r in bars]
    assert heights == [57.0, 0.0, 114.0, 228.0]  # x: p, q; y: p, q


def test_a_log_scale_bar_chart_labels_its_counts() -> None:
    svg = parse(bar_chart("Waits", ["x", "y"], [("p", [1000, 1]), ("q", [10, 0])], "n",
                          log=True))
    bars = [r for r in svg.iter(f"{SVG}rect") if r.get("width") != "12"]
    heights = [float(r.get("height", "0")) for r in bars]  # x: p, q; y: p, q
    assert heights[3] == 0 and 0 < heights[2] < heights[1] < heights[0]
    assert heights[1] == 2 * heights[2]  # 10 is twice as high as 1: (1 + log10 v) scale
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert {"1000", "10", "1"} <= set(texts)


def test_wait_buckets_and_downsampling() -> None:
    assert wait_histogram([0, 5, 10, 11, 4000], [9e9]) == [1, 2, 1, 0, 0, 0, 1, 0, 0, 1]
    assert downsample([1, 5, 2, 0, 0, 3, 7], 3) == [5, 3, 7]


def test_the_report_is_one_offline_html_file(tmp_path: Path) -> None:
    workload = load_workload_yaml(
        (ROOT / "deploy" / "workloads" / "default-day.yaml").read_text())
    day = from_workload(workload, 3600)
    results = []
    for name in ("round-robin", "balanced"):
        figures, series = run_tally().figures(name, 3600, 300)
        results.append(RunResult(figures, series, 1.5, 10, 1.0, []))
    path = write_report(tmp_path / "out", "workload default-day", workload, day, results)
    text = path.read_text()
    assert path.name == "report.html" and text.startswith("<!DOCTYPE html>")
    assert text.count("<svg") == 6  # queue, two heat maps, two waits, assignments
    for svg in re.findall(r"<svg.*?</svg>", text, flags=re.DOTALL):
        parse(svg)
    outside = [u for u in re.findall(r"(?:src|href)=['\"]?([^'\" >]+)", text)]
    assert outside == []
    assert re.findall(r"https?://[^'\" ]+", text) == ["http://www.w3.org/2000/svg"] * 6
    assert "first assignment p95" in text and "round-robin" in text
