//! Calls, outcomes, violations and latency per plugin × hook: the server's view of its
//! plugins and the gateway's view of its remote plugins are the same shape under different
//! names.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::labels::Outcome;

/// Latency buckets, in seconds: an in-process plugin answers in tens of microseconds, a remote
/// one over mTLS in milliseconds, a stuck one at its timeout (30 s by default).
pub const LATENCY_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

/// Most plugin × hook pairs tracked separately. Plugin and hook names arrive in requests; a
/// caller that sends made-up names must not grow the scrape without bound, so pairs beyond
/// this are counted under [`OVERFLOW_LABEL`].
pub const MAX_PAIRS: usize = 1024;

/// The plugin and hook label of pairs beyond [`MAX_PAIRS`].
pub const OVERFLOW_LABEL: &str = "_other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    plugin: String,
    hook: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PairLabels {
    plugin: String,
    hook: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ViolationLabels {
    plugin: String,
    hook: String,
    code: String,
}

/// The metric names of one side.
#[derive(Debug, Clone, Copy)]
pub struct CallNames {
    /// Counter of calls by outcome (`_total` is appended).
    pub calls: &'static str,
    /// Counter of violations by code (`_total` is appended).
    pub violations: &'static str,
    /// Latency histogram (`_seconds` is appended).
    pub duration: &'static str,
    /// What a "call" is, for the help texts.
    pub what: &'static str,
}

/// The handles of one plugin × hook pair, created once.
struct Slot {
    outcomes: [Counter; 5],
    duration: Histogram,
}

type HistogramFamily = Family<PairLabels, Histogram, fn() -> Histogram>;

/// plugin → hook → handles.
type Slots = HashMap<Box<str>, HashMap<Box<str>, Slot>>;

/// Calls per plugin × hook.
pub struct CallMetrics {
    enabled: bool,
    calls: Family<CallLabels, Counter>,
    violations: Family<ViolationLabels, Counter>,
    duration: HistogramFamily,
    /// plugin → hook → handles. Read-locked on every call; written once per new pair.
    slots: RwLock<Slots>,
}

fn new_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl CallMetrics {
    /// Registers the three families under `names` in `registry`.
    pub fn register(registry: &mut Registry, names: CallNames, enabled: bool) -> Self {
        let m = CallMetrics {
            enabled,
            calls: Family::default(),
            violations: Family::default(),
            duration: Family::new_with_constructor(new_histogram as fn() -> Histogram),
            slots: RwLock::new(HashMap::new()),
        };
        registry.register(
            names.calls,
            format!(
                "{} by plugin, hook and outcome (continue, modified, violation, error, timeout)",
                names.what
            ),
            m.calls.clone(),
        );
        registry.register(
            names.violations,
            format!(
                "Violations returned by {}, by plugin, hook and violation code",
                names.what.to_lowercase()
            ),
            m.violations.clone(),
        );
        registry.register_with_unit(
            names.duration,
            format!(
                "Duration of {}, by plugin and hook",
                names.what.to_lowercase()
            ),
            Unit::Seconds,
            m.duration.clone(),
        );
        m
    }

    /// Whether recording is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Creates the series of each plugin × hook pair now, so that a scrape shows them at zero
    /// before the first call (an alert on `rate()` needs the zero) and the first call does not
    /// take the write lock.
    pub fn preregister<'a>(&self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) {
        if !self.enabled {
            return;
        }
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        for (plugin, hook) in pairs {
            self.insert(&mut slots, plugin, hook);
        }
    }

    /// Records one finished call. `violation_code` is counted when the outcome is a violation.
    /// Allocates only the first time a pair (or a violation code) is seen.
    pub fn record(
        &self,
        plugin: &str,
        hook: &str,
        outcome: Outcome,
        violation_code: Option<&str>,
        elapsed: Duration,
    ) {
        if !self.enabled {
            return;
        }
        let seen = {
            let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
            slots
                .get(plugin)
                .and_then(|h| h.get(hook))
                .map(|slot| observe(slot, outcome, elapsed))
                .is_some()
        };
        let (plugin, hook) = if seen {
            (plugin, hook)
        } else {
            let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
            let (plugin, hook) = self.insert(&mut slots, plugin, hook);
            if let Some(slot) = slots.get(plugin).and_then(|h| h.get(hook)) {
                observe(slot, outcome, elapsed);
            }
            (plugin, hook)
        };
        if outcome == Outcome::Violation {
            let code = violation_code.unwrap_or("");
            self.violations
                .get_or_create(&ViolationLabels {
                    plugin: plugin.to_string(),
                    hook: hook.to_string(),
                    code: code.to_string(),
                })
                .inc();
        }
    }

    /// Adds the pair's slot unless present; past [`MAX_PAIRS`] the pair is the overflow pair.
    /// Returns the labels actually used.
    fn insert<'a>(&self, slots: &mut Slots, plugin: &'a str, hook: &'a str) -> (&'a str, &'a str) {
        if slots.get(plugin).is_some_and(|h| h.contains_key(hook)) {
            return (plugin, hook);
        }
        let count: usize = slots.values().map(HashMap::len).sum();
        let (plugin, hook) = if count >= MAX_PAIRS {
            (OVERFLOW_LABEL, OVERFLOW_LABEL)
        } else {
            (plugin, hook)
        };
        let entry = slots.entry(plugin.into()).or_default();
        if !entry.contains_key(hook) {
            entry.insert(hook.into(), self.new_slot(plugin, hook));
        }
        (plugin, hook)
    }

    fn new_slot(&self, plugin: &str, hook: &str) -> Slot {
        let outcomes = Outcome::ALL.map(|o| {
            self.calls.get_or_create_owned(&CallLabels {
                plugin: plugin.to_string(),
                hook: hook.to_string(),
                outcome: o.as_str(),
            })
        });
        let duration = self.duration.get_or_create_owned(&PairLabels {
            plugin: plugin.to_string(),
            hook: hook.to_string(),
        });
        Slot { outcomes, duration }
    }

    /// The count of one series (tests, diagnostics).
    pub fn calls(&self, plugin: &str, hook: &str, outcome: Outcome) -> u64 {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        slots
            .get(plugin)
            .and_then(|h| h.get(hook))
            .map_or(0, |s| s.outcomes[outcome.index()].get())
    }
}

fn observe(slot: &Slot, outcome: Outcome, elapsed: Duration) {
    slot.outcomes[outcome.index()].inc();
    slot.duration.observe(elapsed.as_secs_f64());
}

/// Measures one call; `elapsed()` goes to [`CallMetrics::record`].
#[derive(Debug, Clone, Copy)]
pub struct CallTimer(Instant);

impl CallTimer {
    /// Starts now.
    pub fn start() -> Self {
        CallTimer(Instant::now())
    }

    /// Time since [`CallTimer::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAMES: CallNames = CallNames {
        calls: "t_calls",
        violations: "t_violations",
        duration: "t_duration",
        what: "Test calls",
    };

    #[test]
    fn counts_per_pair_and_outcome() {
        let mut reg = Registry::default();
        let m = CallMetrics::register(&mut reg, NAMES, true);
        let ms = Duration::from_millis(1);
        m.record("a", "tool_pre_invoke", Outcome::Continue, None, ms);
        m.record("a", "tool_pre_invoke", Outcome::Continue, None, ms);
        m.record("a", "tool_pre_invoke", Outcome::Violation, Some("X"), ms);
        m.record("b", "prompt_pre_fetch", Outcome::Error, None, ms);
        assert_eq!(m.calls("a", "tool_pre_invoke", Outcome::Continue), 2);
        assert_eq!(m.calls("a", "tool_pre_invoke", Outcome::Violation), 1);
        assert_eq!(m.calls("b", "prompt_pre_fetch", Outcome::Error), 1);
        assert_eq!(m.calls("b", "prompt_pre_fetch", Outcome::Continue), 0);
    }

    #[test]
    fn disabled_records_nothing() {
        let mut reg = Registry::default();
        let m = CallMetrics::register(&mut reg, NAMES, false);
        m.record("a", "h", Outcome::Continue, None, Duration::ZERO);
        assert_eq!(m.calls("a", "h", Outcome::Continue), 0);
    }

    #[test]
    fn made_up_names_beyond_the_cap_share_one_series() {
        let mut reg = Registry::default();
        let m = CallMetrics::register(&mut reg, NAMES, true);
        for i in 0..MAX_PAIRS + 10 {
            m.record(&format!("p{i}"), "h", Outcome::Error, None, Duration::ZERO);
        }
        assert_eq!(m.calls("p0", "h", Outcome::Error), 1);
        assert_eq!(
            m.calls(&format!("p{}", MAX_PAIRS + 5), "h", Outcome::Error),
            0
        );
        assert_eq!(m.calls(OVERFLOW_LABEL, OVERFLOW_LABEL, Outcome::Error), 10);
    }
}
