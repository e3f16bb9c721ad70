"""X4: the Grafana dashboard in deploy/grafana/ queries only metrics the workers export,
and deploy/compose.yaml runs Prometheus scraping every worker kind and Grafana showing the
dashboard. A renamed metric or a misspelt query fails here, not on an empty panel."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from workers.kinds import KINDS
from workers.runtime.metrics import REGISTRY

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "ticketflow.json"
PROVISIONING = DEPLOY / "grafana" / "provisioning"

PROMETHEUS_SERIES = frozenset({"up"})
"""Series Prometheus writes itself for each target, which no worker exports."""

# PromQL words that are not metric names when they stand alone.
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "by", "without", "on",
                      "ignoring", "group_left", "group_right", "inf", "nan"})
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
IDENTIFIER = re.compile(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*")
LABEL_VALUES = re.compile(r"\s*label_values\(\s*(?:(.*),\s*)?\w+\s*\)\s*", re.DOTALL)


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects: what is left once strings, label
    matchers, ranges, grouping label lists, Grafana variables, numbers, keywords and
    function or aggregation calls are taken out."""
    expr = STRING.sub('""', expr)
    expr = re.sub(r"\{[^}]*\}", " ", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", " ", expr)  # ranges and subqueries
    expr = GROUPING.sub(" ", expr)
    expr = re.sub(r"\$\{[^}]*\}|\$\w+", " ", expr)  # Grafana variables
    names = set()
    for match in IDENTIFIER.finditer(expr):
        if expr[match.end():].lstrip().startswith("("):  # a function or an aggregation
            continue
        if match.group().lower() not in KEYWORDS:
            names.add(match.group())
    return names


def variable_query(query: str | dict[str, Any]) -> str:
    """The PromQL inside a Grafana template variable's query (`label_values(m, label)`
    selects `m`; `label_values(label)` selects nothing)."""
    text = query if isinstance(query, str) else query.get("query", "")
    found = LABEL_VALUES.fullmatch(text)
    return text if found is None else found.group(1) or ""


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows too."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every template variable."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            yield f"${variable['name']}", variable_query(variable["query"])


def exported_series() -> set[str]:
    """Every series name the workers' registry can serve, from the metric families a
    worker process defines (imported through `workers.kinds`), children or not."""
    assert KINDS
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",),
                "histogram": ("_bucket", "_sum", "_count", "_created"),
                "summary": ("", "_sum", "_count", "_created"), "info": ("_info",)}
    return {family.name + suffix for family in REGISTRY.collect()
            for suffix in suffixes[family.type]}


def unknown(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    """Names each query uses that neither a worker nor Prometheus provides."""
    known = exported_series() | PROMETHEUS_SERIES
    found: dict[str, set[str]] = {}
    for where, expr in queries(dashboard):
        missing = metric_names(expr) - known
        if missing:
            found.setdefault(where, set()).update(missing)
    return found


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def test_metric_names_are_the_selectors_only() -> None:
    expr = ('histogram_quantile(0.99, sum by (worker, le) (rate(ticketflow_batch_seconds_bucket'
            '{worker=~"$worker", topic!="a b"}[$__rate_interval])))')
    assert metric_names(expr) == {"ticketflow_batch_seconds_bucket"}
    assert metric_names('sum without (instance) (up{job="ticketflow"}) > bool 1e3') == {"up"}
    assert metric_names("a_total / on (account) group_left (agent) b offset 5m or c") == {
        "a_total", "b", "c"}
    assert metric_names('max by(account)(x{account=~"${account}"}) * -Inf') == {"x"}
    assert metric_names("sum(increase(y[$__range:1m]))") == {"y"}
    assert variable_query("label_values(ticketflow_queue_length, account)") == \
        "ticketflow_queue_length"
    assert variable_query({"query": "label_values(account)"}) == ""


def test_the_registry_lists_every_family_with_its_series() -> None:
    series = exported_series()
    assert {"ticketflow_records_total", "ticketflow_batch_seconds_bucket",
            "ticketflow_consumer_lag", "ticketflow_queue_length",
            "ticketflow_ai_conversations"} <= series
    assert "ticketflow_records" not in series  # a counter is served with `_total`


def test_every_query_names_a_metric_the_workers_export() -> None:
    board = dashboard()
    assert sum(1 for _ in queries(board)) >= 15
    assert not unknown(board), f"queries of metrics nobody exports: {unknown(board)}"
    # the check can fail: a query of a metric no worker defines is reported
    bogus = {"panels": [{"title": "bogus", "targets": [
        {"expr": 'sum(rate(ticketflow_bogus_total{worker="router"}[5m]))'}]}]}
    assert unknown(bogus) == {"bogus": {"ticketflow_bogus_total"}}


def test_histogram_quantiles_read_buckets() -> None:
    for where, expr in queries(dashboard()):
        if "histogram_quantile" in expr:
            assert all(name.endswith("_bucket") for name in metric_names(expr)), where
            assert re.search(r"\ble\b", GROUPING.search(expr).group()), where  # type: ignore[union-attr]


def test_the_dashboard_shows_throughput_latency_lag_routing_and_failures() -> None:
    board = dashboard()
    used = {name for _, expr in queries(board) for name in metric_names(expr)}
    assert {"ticketflow_records_total", "ticketflow_published_total",
            "ticketflow_record_latency_seconds_bucket", "ticketflow_batch_seconds_bucket",
            "ticketflow_consumer_lag", "ticketflow_assignments_total",
            "ticketflow_queue_length", "ticketflow_dead_letters_total",
            "ticketflow_handoff_outcomes_total"} <= used
    latency = [expr for _, expr in queries(board)
               if "ticketflow_record_latency_seconds_bucket" in expr]
    assert {re.match(r"histogram_quantile\(([\d.]+)", e).group(1)  # type: ignore[union-attr]
            for e in latency} == {"0.5", "0.95", "0.99"}
    assignments = [expr for _, expr in queries(board) if "ticketflow_assignments_total" in expr]
    assert any(re.search(r"by \([^)]*\bagent\b", e) for e in assignments)


def test_panels_use_the_provisioned_datasource_and_fit_the_grid() -> None:
    [source] = yaml.safe_load(
        (PROVISIONING / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert source["type"] == "prometheus"
    board = dashboard()
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids))
    for panel in panels(board):
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
    for variable in board["templating"]["list"]:
        assert variable["datasource"]["uid"] == source["uid"]


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def mounts(service: dict[str, Any]) -> dict[str, tuple[Path, bool]]:
    """Container path -> (host path, read-only) of a service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        if source.startswith("."):
            found[target] = ((DEPLOY / source).resolve(), mode == ["ro"])
    return found


def pinned(image: str) -> bool:
    _, _, tag = image.partition(":")
    return bool(re.fullmatch(r"v?\d+\.\d+\.\d+", tag))


def test_compose_runs_grafana_with_the_dashboard_read_only() -> None:
    services = compose()["services"]
    grafana = services["grafana"]
    assert grafana["image"].startswith("grafana/grafana:") and pinned(grafana["image"])
    assert "3000:3000" in grafana["ports"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    mounted = mounts(grafana)
    assert mounted["/etc/grafana/provisioning"] == (PROVISIONING, True)
    [provider] = yaml.safe_load(
        (PROVISIONING / "dashboards" / "ticketflow.yaml").read_text())["providers"]
    assert provider["type"] == "file"
    assert mounted[provider["options"]["path"]] == (DASHBOARD.parent, True)
    home = Path(env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert mounted[str(home.parent)][0] / home.name == DASHBOARD
    [source] = yaml.safe_load(
        (PROVISIONING / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090"


def test_prometheus_scrapes_every_worker_kind_on_its_metrics_port() -> None:
    document = compose()
    services = document["services"]
    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus:") and pinned(prometheus["image"])
    assert "9090:9090" in prometheus["ports"]
    [(config, read_only)] = [v for k, v in mounts(prometheus).items()
                             if k == "/etc/prometheus/prometheus.yml"]
    assert read_only and config == DEPLOY / "prometheus" / "prometheus.yml"
    [job] = yaml.safe_load(config.read_text())["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    [discovery] = job["dns_sd_configs"]
    assert set(discovery["names"]) == set(KINDS) and len(discovery["names"]) == len(KINDS)
    port = int(document["x-worker"]["environment"]["TICKETFLOW_HTTP_PORT"])
    assert discovery["port"] == port
    for kind in discovery["names"]:
        assert services[kind]["command"] == ["worker", kind]
        assert int(services[kind]["environment"]["TICKETFLOW_HTTP_PORT"]) == port
    # the dashboard's replica panel counts this job's targets by the label set here
    assert {"source_labels": ["__meta_dns_name"], "target_label": "kind"} in \
        job["relabel_configs"]
    assert any(f'job="{job["job_name"]}"' in expr for _, expr in queries(dashboard()))
