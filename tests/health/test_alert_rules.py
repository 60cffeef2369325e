"""deploy/prometheus/alerts.yml: a Prometheus rule file whose every expression parses as PromQL (the
`promql-parser` package, Prometheus' grammar), names only metrics that src/kit/metrics.py defines, with
labels those metrics carry, and routes and methods the app really serves; and the alerts the runbook
promises are all there."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import promql_parser as pq
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from src.app import create_app
from src.kit import metrics
from src.sessions.recorder import ACCEPT_LIMIT
from tests.conftest import REPO, make_settings

RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
# Added by Prometheus to every scraped series (target labels) or by a histogram to its buckets.
PROMETHEUS_LABELS = {"instance", "job", "le"}
EXPECTED_ALERTS = {
    "RagHighErrorRate",
    "RagAnswerLatencyHigh",
    "RagQueryLatencyHigh",
    "RagNotReady",
    "RagUnrecordedTurnsGrowing",
    "RagUnrecordedTurnsNearLimit",
    "RagRateLimitSpike",
    "RagAccessReloadFailed",
    "RagAnswersShed",
}


def exported_series() -> dict[str, set[str]]:
    """Every series name /metrics exports, with the labels it carries (from the metric objects themselves)."""
    series: dict[str, set[str]] = {}
    for obj in vars(metrics).values():
        if not isinstance(obj, MetricWrapperBase):
            continue
        labels = set(obj._labelnames)  # prometheus_client keeps the declared label names only here
        for family in obj.describe():
            suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}[family.type]
            for suffix in suffixes:
                series[family.name + suffix] = labels | ({"le"} if suffix == "_bucket" else set())
    return series


def served_routes(tmp_path: Path) -> set[tuple[str, str]]:
    """(METHOD, route template) for every route of the real app, as the request middleware labels them."""
    app = create_app(make_settings(tmp_path))
    return {(method.upper(), path) for path, operations in app.openapi()["paths"].items() for method in operations}


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text())
    assert set(document) == {"groups"}, "a rule file holds `groups` only"
    found = []
    for group in document["groups"]:
        assert isinstance(group["name"], str) and group["name"]
        assert set(group) <= {"name", "interval", "rules", "limit"}
        found.extend(group["rules"])
    return found


def selectors(expr: pq.Expr) -> list[pq.VectorSelector]:
    found: list[pq.VectorSelector] = []

    def visit(node: pq.Expr) -> None:
        if isinstance(node, pq.VectorSelector):
            found.append(node)

    pq.walk(expr, pre_visit=visit)
    return found


def grouping_labels(expr: pq.Expr) -> set[str]:
    """Labels named by `by (...)`, `without (...)`, `on (...)` and `ignoring (...)`."""
    labels: set[str] = set()

    def visit(node: pq.Expr) -> None:
        if isinstance(node, pq.AggregateExpr) and node.modifier is not None:
            labels.update(node.modifier.labels)
        if isinstance(node, pq.BinaryExpr) and node.modifier is not None and node.modifier.matching is not None:
            labels.update(node.modifier.matching.labels)

    pq.walk(expr, pre_visit=visit)
    return labels


def test_every_rule_is_well_formed_and_every_expression_parses() -> None:
    names = []
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"]), rule["alert"]
        names.append(rule["alert"])
        pq.parse(rule["expr"])  # raises on anything Prometheus would refuse to load
        assert pq.parse_duration(rule["for"]).total_seconds() > 0, rule["alert"]
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
    assert len(names) == len(set(names)), "alert names repeat"
    assert set(names) == EXPECTED_ALERTS


def test_every_metric_label_and_route_used_exists(tmp_path: Path) -> None:
    series = exported_series()
    routes = served_routes(tmp_path)
    for rule in rules():
        expr = pq.parse(rule["expr"])
        used = selectors(expr)
        assert used, f"{rule['alert']} selects no metric"
        carried: set[str] = set()
        for selector in used:
            assert selector.name in series, f"{rule['alert']}: {selector.name} is not defined in src/kit/metrics.py"
            labels = series[selector.name] | PROMETHEUS_LABELS
            carried |= labels
            matchers = {m.name: m for m in selector.matchers.matchers}
            for name in matchers:
                assert name in labels, f"{rule['alert']}: {selector.name} has no label {name}"
            if "route" in matchers:
                route = matchers["route"]
                assert route.op == pq.MatchOp.Equal, "routes are matched exactly, by template"
                method = matchers["method"].value if "method" in matchers else None
                assert any(path == route.value and method in (None, m) for m, path in routes), (
                    f"{rule['alert']}: no route {method} {route.value}"
                )
        assert grouping_labels(expr) <= carried, f"{rule['alert']} groups by a label its metrics do not carry"


def test_the_backlog_alert_fires_before_answers_are_refused() -> None:
    (near_limit,) = (r for r in rules() if r["alert"] == "RagUnrecordedTurnsNearLimit")
    expr = pq.parse(near_limit["expr"])
    assert isinstance(expr, pq.BinaryExpr) and isinstance(expr.rhs, pq.NumberLiteral)
    assert 0 < expr.rhs.val < ACCEPT_LIMIT


@pytest.mark.parametrize("bad", ['rag_http_requests_total{status=~"5.."', "sum by (le (rate(x[5m]))"])
def test_the_parser_refuses_what_prometheus_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        pq.parse(bad)


# The thresholds and durations docs/runbook.md's alert table states, as each rule must compare and wait.
RUNBOOK_THRESHOLDS = {
    "RagHighErrorRate": (0.01, "5m", "more than 1 % of requests are 5xx, for 5 min"),
    "RagAnswerLatencyHigh": (2.0, "10m", "p95 of `POST /api/v1/answer` above 2 s, for 10 min"),
    "RagQueryLatencyHigh": (0.3, "10m", "p95 of `POST /api/v1/query` above 300 ms, for 10 min"),
    "RagNotReady": (0.0, "2m", "`rag_ready` is 0 on an instance for 2 min"),
    "RagUnrecordedTurnsNearLimit": (2500.0, "1m", "more than 2,500 turns wait"),
    "RagRateLimitSpike": (0.05, "5m", "a rate limit refuses more than 5 % of requests, for 5 min"),
    "RagAccessReloadFailed": (0.0, "1m", "`rag_access_reload_failed` is 1 on an instance"),
    "RagAnswersShed": (
        0.1,
        "10m",
        "an instance refuses more than 0.1 answers a second for being at `ANSWERS_MAX_IN_FLIGHT`, for 10 min",
    ),
}


@pytest.mark.parametrize("alert", sorted(RUNBOOK_THRESHOLDS))
def test_each_rule_fires_at_the_threshold_the_runbook_states(alert: str) -> None:
    threshold, wait, runbook_row = RUNBOOK_THRESHOLDS[alert]
    assert f"| `{alert}` | {runbook_row}" in (REPO / "docs" / "runbook.md").read_text(), (
        f"the runbook's row for {alert} changed"
    )
    (rule,) = (r for r in rules() if r["alert"] == alert)
    expr = pq.parse(rule["expr"])
    assert isinstance(expr, pq.BinaryExpr) and isinstance(expr.rhs, pq.NumberLiteral), rule["expr"]
    assert expr.rhs.val == threshold, f"{alert} compares with {expr.rhs.val}, the runbook says {threshold}"
    assert rule["for"] == wait
