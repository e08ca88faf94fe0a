#!/usr/bin/env python3
"""Checks that every metric the Grafana dashboard and the alert rules query is exported.

    check_metric_names.py [--names FILE | --scrape FILE-or-URL] [--rules R.yaml] [--dashboard D.json]

--names: one metric family per line (`#` comments); --scrape: Prometheus text exposition
(a saved `/metrics/prometheus` body or its URL). Expressions are parsed with promql-parser
(a PromQL parser); Grafana's `$__rate_interval`-style variables are replaced first.
Exit 0 when every name is known, 1 otherwise (the unknown names are listed).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request
from pathlib import Path

import promql_parser
import yaml

HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
GRAFANA_VARIABLES = re.compile(r"\$(__rate_interval|__interval|__range)|\$\{(__rate_interval|__interval|__range)\}")


def names_from_list(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")}


def names_from_scrape(text: str) -> set[str]:
    """Families from `# TYPE` lines plus every sample name."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) >= 4:
                names.add(parts[2])
                if parts[3] == "counter" and not parts[2].endswith("_total"):
                    names.add(parts[2] + "_total")
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def known(name: str, exported: set[str]) -> bool:
    if name in exported:
        return True
    return any(name.endswith(s) and name[: -len(s)] in exported for s in HISTOGRAM_SUFFIXES)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, from its parse tree."""
    text = GRAFANA_VARIABLES.sub("5m", expr)
    found: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                found.add(node.name)
            else:
                for m in node.matchers.matchers:
                    if m.name == "__name__":
                        found.add(m.value)
        for attr in ("expr", "lhs", "rhs", "vector_selector", "param"):
            child = getattr(node, attr, None)
            if isinstance(child, promql_parser.Expr):
                visit(child)
        for child in getattr(node, "args", None) or []:
            if isinstance(child, promql_parser.Expr):
                visit(child)

    visit(promql_parser.parse(text))
    return found


def rule_exprs(path: Path) -> list[tuple[str, str]]:
    doc = yaml.safe_load(path.read_text())
    groups = doc["spec"]["groups"] if doc.get("kind") == "PrometheusRule" else doc["groups"]
    return [(f"{path}: {r.get('alert') or r.get('record')}", r["expr"]) for g in groups for r in g["rules"]]


def dashboard_exprs(path: Path) -> list[tuple[str, str]]:
    dash = json.loads(path.read_text())
    out = []
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            out.append((f"{path}: panel {panel['title']!r} {target['refId']}", target["expr"]))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--names", type=Path)
    source.add_argument("--scrape")
    parser.add_argument("--rules", type=Path, action="append", default=[])
    parser.add_argument("--dashboard", type=Path, action="append", default=[])
    args = parser.parse_args(argv)
    if args.names:
        exported = names_from_list(args.names.read_text())
    elif re.match(r"https?://", args.scrape):
        with urllib.request.urlopen(args.scrape, timeout=10) as response:
            exported = names_from_scrape(response.read().decode())
    else:
        exported = names_from_scrape(Path(args.scrape).read_text())
    exprs = [e for p in args.rules for e in rule_exprs(p)] + [e for p in args.dashboard for e in dashboard_exprs(p)]
    unknown = []
    for where, expr in exprs:
        for name in sorted(metric_names(expr)):
            if not known(name, exported):
                unknown.append(f"{where}: {name}")
    for line in unknown:
        print(f"unknown metric {line}", file=sys.stderr)
    print(f"{len(exprs)} expressions, {len(unknown)} unknown metric names")
    return 1 if unknown else 0


if __name__ == "__main__":
    sys.exit(main())
