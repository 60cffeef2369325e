"""src/kit/metrics.py: the request latency histogram has bucket bounds at the runbook's p95 targets
(0.3 s for /query, 2 s for /answer), so the latency alerts estimate p95 exactly at their thresholds."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from src.kit.metrics import REQUEST_LATENCY, render_metrics


def test_request_latency_buckets_include_the_runbook_targets() -> None:
    REQUEST_LATENCY.labels("POST", "/api/v1/query", "200").observe(0.3)
    body, _ = render_metrics()
    bounds = {
        float(sample.labels["le"])
        for family in text_string_to_metric_families(body.decode())
        if family.name == "rag_http_request_duration_seconds"
        for sample in family.samples
        if sample.name.endswith("_bucket")
    }
    assert {0.3, 2.0} <= bounds, sorted(bounds)
