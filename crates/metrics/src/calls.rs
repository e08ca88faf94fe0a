//! Calls, outcomes, violations and latency per plugin × hook: the server's view of its
//! plugins and the gateway's view of its remote plugins are the same shape under different
//! names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

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

/// The handles of one plugin × hook pair, created once (cloning shares them).
#[derive(Clone)]
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
    /// plugin → hook → handles, read on every call and replaced whole when a pair is added.
    /// Why not an `RwLock`: its read lock is an atomic read-modify-write on one shared word,
    /// twice per call, which bounces that cache line between the cores of a busy gateway or
    /// server; reading an `ArcSwap` writes only to per-thread state.
    slots: ArcSwap<Slots>,
    /// Serializes the writers (a new pair: rare), so that none loses another's pair.
    adding: Mutex<()>,
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
            slots: ArcSwap::from_pointee(HashMap::new()),
            adding: Mutex::new(()),
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
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let mut slots = Slots::clone(&self.slots.load());
        for (plugin, hook) in pairs {
            self.insert(&mut slots, plugin, hook);
        }
        self.slots.store(Arc::new(slots));
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
        let seen = self
            .slots
            .load()
            .get(plugin)
            .and_then(|h| h.get(hook))
            .map(|slot| observe(slot, outcome, elapsed))
            .is_some();
        let (plugin, hook) = if seen {
            (plugin, hook)
        } else {
            self.add_and_observe(plugin, hook, outcome, elapsed)
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

    /// The slow path of [`CallMetrics::record`]: adds the pair (or finds the overflow pair)
    /// and records there. The map is copied only when a pair is really added, so names made
    /// up beyond [`MAX_PAIRS`] do not copy it on every call.
    fn add_and_observe<'a>(
        &self,
        plugin: &'a str,
        hook: &'a str,
        outcome: Outcome,
        elapsed: Duration,
    ) -> (&'a str, &'a str) {
        let _adding = self.adding.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.slots.load_full();
        let (plugin, hook) = labels(&current, plugin, hook);
        if !has_pair(&current, plugin, hook) {
            let mut slots = Slots::clone(&current);
            self.insert(&mut slots, plugin, hook);
            self.slots.store(Arc::new(slots));
        }
        if let Some(slot) = self.slots.load().get(plugin).and_then(|h| h.get(hook)) {
            observe(slot, outcome, elapsed);
        }
        (plugin, hook)
    }

    /// Adds the pair's slot unless present; past [`MAX_PAIRS`] the pair is the overflow pair.
    /// Returns the labels actually used.
    fn insert<'a>(&self, slots: &mut Slots, plugin: &'a str, hook: &'a str) -> (&'a str, &'a str) {
        let (plugin, hook) = labels(slots, plugin, hook);
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
        self.slots
            .load()
            .get(plugin)
            .and_then(|h| h.get(hook))
            .map_or(0, |s| s.outcomes[outcome.index()].get())
    }
}

/// Whether `slots` has the pair.
fn has_pair(slots: &Slots, plugin: &str, hook: &str) -> bool {
    slots.get(plugin).is_some_and(|h| h.contains_key(hook))
}

/// The labels a pair is counted under: its own, or past [`MAX_PAIRS`] (for a pair not yet
/// tracked) the overflow pair.
fn labels<'a>(slots: &Slots, plugin: &'a str, hook: &'a str) -> (&'a str, &'a str) {
    if has_pair(slots, plugin, hook) {
        return (plugin, hook);
    }
    let count: usize = slots.values().map(HashMap::len).sum();
    if count >= MAX_PAIRS {
        (OVERFLOW_LABEL, OVERFLOW_LABEL)
    } else {
        (plugin, hook)
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

    /// Pairs added while other threads record (the map is replaced, not locked): no count
    /// and no pair is lost.
    #[test]
    fn concurrent_records_and_new_pairs_are_all_counted() {
        let mut reg = Registry::default();
        let m = CallMetrics::register(&mut reg, NAMES, true);
        m.preregister([("a", "h")]);
        std::thread::scope(|s| {
            for t in 0..4 {
                let m = &m;
                s.spawn(move || {
                    for i in 0..500 {
                        m.record("a", "h", Outcome::Continue, None, Duration::ZERO);
                        let own = format!("t{t}-{}", i % 25);
                        m.record(&own, "h", Outcome::Error, None, Duration::ZERO);
                    }
                });
            }
        });
        assert_eq!(m.calls("a", "h", Outcome::Continue), 2000);
        for t in 0..4 {
            for k in 0..25 {
                assert_eq!(m.calls(&format!("t{t}-{k}"), "h", Outcome::Error), 20);
            }
        }
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
