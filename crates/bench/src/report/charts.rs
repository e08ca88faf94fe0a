//! The report's charts, drawn from the same run's figures: calls/s and server CPU per call by
//! concurrency for each client → server pair (one chart per group of pairs), and RSS over the
//! load phases.

use std::fmt::Write as _;

use super::{PairResult, Report};
use crate::args::{Kind, Transport};
use crate::measure::Series;
use crate::svg::{Chart, Line, XAxis};

/// Which pairs a chart group holds.
type Filter = fn(&PairResult) -> bool;

/// (file stem, title, pairs): every pair appears in exactly one group.
const GROUPS: [(&str, &str, Filter); 3] = [
    ("mcp", "MCP over HTTP (mTLS)", |p| {
        p.key != "gen-scrape"
            && p.kind != Kind::PlugwireNoMetrics
            && p.kind.transport() == Transport::Mcp
    }),
    ("transports", "gRPC and the raw socket", |p| {
        p.kind.transport() != Transport::Mcp
    }),
    (
        "metrics",
        "metrics on, scraped, off (load generator)",
        |p| p.key == "gen-scrape" || p.kind == Kind::PlugwireNoMetrics,
    ),
];

/// What a chart plots per series.
type Metric = fn(&Series) -> Option<f64>;

const METRICS: [(&str, &str, Metric); 2] = [
    ("calls", "calls/s", Series::calls_per_sec),
    (
        "server-cpu",
        "server CPU µs per call",
        Series::server_cpu_us,
    ),
];

impl Report {
    /// Every chart with something to draw: (file stem, chart).
    pub fn charts(&self) -> Vec<(String, Chart)> {
        let levels: Vec<String> = self
            .args
            .concurrency
            .iter()
            .map(|c| c.to_string())
            .collect();
        let mut out = Vec::new();
        for (stem, group_title, filter) in GROUPS {
            for (metric_stem, metric_title, metric) in METRICS {
                let lines = self
                    .pairs
                    .iter()
                    .filter(|p| filter(p) && p.error.is_none())
                    .map(|p| Line {
                        name: format!("{} → {}", p.client, p.kind.label()),
                        points: p
                            .series
                            .iter()
                            .filter_map(|s| {
                                let x = self
                                    .args
                                    .concurrency
                                    .iter()
                                    .position(|c| *c == s.concurrency)?;
                                Some((x as f64, metric(s)?))
                            })
                            .collect(),
                    })
                    .collect();
                let chart = Chart {
                    title: format!("{group_title}: {metric_title} by concurrency"),
                    x_label: "concurrency (calls in flight)".into(),
                    y_label: metric_title.into(),
                    x: XAxis::Categories(levels.clone()),
                    log_y: true,
                    lines,
                };
                if !chart.is_empty() {
                    out.push((format!("{stem}-{metric_stem}"), chart));
                }
            }
        }
        let rss = Chart {
            title: "RSS of each server over the load phases".into(),
            x_label: "seconds since the first load run".into(),
            y_label: "RSS MiB".into(),
            x: XAxis::Linear,
            log_y: true,
            lines: self
                .rss_traces
                .iter()
                .map(|t| Line {
                    name: t.kind.label().into(),
                    points: t
                        .points
                        .iter()
                        .map(|(s, kib)| (*s, *kib as f64 / 1024.0))
                        .collect(),
                })
                .collect(),
        };
        if !rss.is_empty() {
            out.push(("rss".into(), rss));
        }
        out
    }

    /// Links to the charts, which `make bench` writes into `bench/` next to this file.
    pub(super) fn render_charts(&self, o: &mut String) {
        let charts = self.charts();
        if charts.is_empty() {
            return;
        }
        let _ = writeln!(o, "## Charts\n");
        let _ = writeln!(
            o,
            "Drawn by the same run from the figures above (SVG next to this file; hover a point for its \
             value; y axes are logarithmic).\n"
        );
        for (stem, chart) in charts {
            let _ = writeln!(o, "![{}]({CHART_DIR}/{stem}.svg)\n", chart.title);
        }
    }
}

/// The charts' directory, relative to the report.
pub const CHART_DIR: &str = "bench";
