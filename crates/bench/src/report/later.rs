//! The sections added for issues 18, 20 and 21: their targets, and the first call after start.

use std::fmt::Write as _;

use super::format::opt;
use super::Report;
use crate::stats::median;

impl Report {
    /// The later issues' targets, with the issue each comes from.
    pub(super) fn render_issue_targets(&self, o: &mut String) {
        let _ = writeln!(o, "## Targets (issues 18, 20, 21)\n");
        let _ = writeln!(
            o,
            "Transports (18), the cost of metrics (20), the gateway-side client, the limit and the first call \
             (21). *Noise* is the larger min–max spread (÷ median) of the two series compared, over this run's \
             repetitions; a cost counts only beyond it.\n"
        );
        let _ = writeln!(
            o,
            "| issue | target | measured | status |\n|---|---|---|---|"
        );
        for (issue, what, value, status) in self.issue_targets() {
            let _ = writeln!(o, "| {issue} | {what} | {value} | {} |", status.text());
        }
        let _ = writeln!(o);
    }

    /// Each fresh start's first call against its warm calls.
    pub(super) fn render_first_call(&self, o: &mut String) {
        let Some(f) = &self.first_call else {
            return;
        };
        let _ = writeln!(o, "## First call after start\n");
        let _ = writeln!(
            o,
            "`plugwire serve` (`{}` certificates) started afresh {} times; as soon as `/health` answered, the load generator opened a \
             new connection (TCP, full mTLS handshake) and made one hook call, then {} more calls the same way, \
             each on its own new connection. *call alone* is the hook call after the handshake.\n",
            self.server_key_type,
            f.first_us.len(),
            f.warm_calls
        );
        if let Some(e) = &f.error {
            let _ = writeln!(o, "Failed: {}\n", e.replace('\n', " "));
        }
        let _ = writeln!(
            o,
            "| start | first: connect + call µs | first: call alone µs | warm (median): connect + call µs | warm: call alone µs |\n|---|---|---|---|---|"
        );
        let rows = f
            .first_us
            .iter()
            .zip(&f.first_call_only_us)
            .zip(f.warm_us.iter().zip(&f.warm_call_only_us));
        for (i, ((first, first_call), (warm, warm_call))) in rows.enumerate() {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} |",
                i + 1,
                opt(Some(*first)),
                opt(Some(*first_call)),
                opt(Some(*warm)),
                opt(Some(*warm_call))
            );
        }
        let m = |v: &[f64]| {
            let x = median(v);
            x.is_finite().then_some(x)
        };
        let _ = writeln!(
            o,
            "| median | {} | {} | {} | {} |\n",
            opt(m(&f.first_us)),
            opt(m(&f.first_call_only_us)),
            opt(m(&f.warm_us)),
            opt(m(&f.warm_call_only_us))
        );
    }
}
