"""Alert rules and the Grafana dashboard: structure against the Prometheus Operator's schema,
every expression through a PromQL parser, every metric name against what plugwire exports."""

from __future__ import annotations

import json
from pathlib import Path

import promql_parser
import pytest
import yaml
from check_metric_names import dashboard_exprs, main as check_names, metric_names, names_from_scrape
from conftest import DEPLOY
from schemas import validate

MONITORING = DEPLOY / "monitoring"
RULES = MONITORING / "prometheus-rules.yaml"
PROMETHEUS_RULE = MONITORING / "prometheusrule.yaml"
DASHBOARD = MONITORING / "grafana-dashboard.json"
NAMES = Path(__file__).resolve().parent / "metric-names.txt"


def rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def test_plain_rules_file_has_the_operator_schema_and_matches_the_prometheusrule():
    groups = yaml.safe_load(RULES.read_text())
    # The operator's PrometheusRule spec is the rules-file format; validate it through the model.
    validate({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
              "metadata": {"name": "plain-file"}, "spec": groups}, str(RULES))
    assert yaml.safe_load(PROMETHEUS_RULE.read_text())["spec"] == groups, \
        "prometheusrule.yaml and prometheus-rules.yaml differ"


def test_every_rule_parses_and_has_what_alertmanager_needs():
    seen = set()
    for rule in rules():
        name = rule["alert"]
        assert name not in seen, f"duplicate alert {name}"
        seen.add(name)
        promql_parser.parse(rule["expr"])
        if "for" in rule:
            promql_parser.parse_duration(rule["for"])
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name


def test_day_one_alerts_are_there():
    by_metric: dict[str, set[str]] = {}
    for rule in rules():
        for metric in metric_names(rule["expr"]):
            by_metric.setdefault(metric, set()).add(rule["expr"])
    expiry = by_metric["plugwire_certificate_expiry_seconds"]
    assert any("30 * 86400" in e for e in expiry), "an alert 30 days before expiry"
    calls = " ".join(by_metric["plugwire_hook_calls_total"])
    assert 'outcome="error"' in calls and 'outcome="timeout"' in calls
    assert any('result!="accepted"' in e for e in by_metric["plugwire_tls_handshakes_total"])
    assert "plugwire_plugin_disabled" in by_metric


def test_dashboard_loads_and_every_query_parses():
    dash = json.loads(DASHBOARD.read_text())
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    assert any(v["name"] == "datasource" for v in dash["templating"]["list"])
    exprs = dashboard_exprs(DASHBOARD)
    used = set()
    for _, expr in exprs:
        used |= metric_names(expr)
    # Calls and latency per plugin × hook, outcomes, handshakes, connections, days left.
    for family in ("plugwire_hook_calls_total", "plugwire_hook_duration_seconds_bucket",
                   "plugwire_tls_handshakes_total", "plugwire_open_connections",
                   "plugwire_certificate_expiry_seconds"):
        assert family in used, family


def test_every_queried_metric_is_exported():
    code = check_names(["--names", str(NAMES), "--rules", str(RULES), "--rules", str(PROMETHEUS_RULE),
                        "--dashboard", str(DASHBOARD)])
    assert code == 0


def test_an_unknown_metric_is_reported(tmp_path, capsys):
    bad = tmp_path / "rules.yaml"
    bad.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: rate(plugwire_hook_cals_total[5m]) > 0\n")
    assert check_names(["--names", str(NAMES), "--rules", str(bad)]) == 1
    assert "plugwire_hook_cals_total" in capsys.readouterr().err
    with pytest.raises(Exception):
        promql_parser.parse("sum by (plugin (rate(x[5m]))")


def test_names_can_come_from_a_scrape(tmp_path):
    scrape = tmp_path / "metrics.txt"
    scrape.write_text(
        "# HELP plugwire_hook_calls Hook calls.\n# TYPE plugwire_hook_calls counter\n"
        'plugwire_hook_calls_total{plugin="a",hook="b",outcome="continue"} 3\n'
        "# TYPE plugwire_hook_duration_seconds histogram\n"
        'plugwire_hook_duration_seconds_bucket{le="0.1"} 1\n'
    )
    names = names_from_scrape(scrape.read_text())
    assert {"plugwire_hook_calls_total", "plugwire_hook_duration_seconds"} <= names
    # The dashboard needs more than this scrape has: the check fails and says which.
    assert check_names(["--scrape", str(scrape), "--dashboard", str(DASHBOARD)]) == 1
