//! What the kernel knows about a process: CPU time (`/proc/PID/stat`), resident memory
//! (`/proc/PID/status`) and accepted TCP connections (`/proc/net/snmp`), so every process, ours
//! or Python's, is measured the same way from outside.

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` times (`getconf CLK_TCK`, 100 on Linux).
pub fn clk_tck() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t: &u64| t > 0)
            .unwrap_or(100)
    })
}

/// User + system CPU time of a process (all its threads, exited ones included), or `None` when
/// it is gone. In clock ticks (10 ms): see [`CpuReading`] for per-call figures.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| Duration::from_secs_f64(ticks as f64 / clk_tck() as f64))
}

/// A process's CPU time read two ways: `/proc/PID/stat` in clock ticks, which counts exited
/// threads too but only in steps of 10 ms (10 µs per call over the Python client's 1,000-call
/// runs, as much as the differences the targets compare), and each live thread's time on CPU
/// in nanoseconds (`/proc/PID/task/TID/schedstat`).
#[derive(Debug, Clone, Default)]
pub struct CpuReading {
    ticks: Option<Duration>,
    threads: Option<BTreeMap<u32, u64>>,
}

impl CpuReading {
    /// Both readings of `pid` now (each `None` when it cannot be read).
    pub fn of(pid: u32) -> Self {
        CpuReading {
            ticks: cpu_time(pid),
            threads: thread_times(pid),
        }
    }

    /// CPU time spent between `earlier` and this reading: the threads' nanoseconds when every
    /// thread of `earlier` is still there (no time was lost with an exited thread), else the
    /// ticks. `None` when neither can be compared.
    pub fn since(&self, earlier: &CpuReading) -> Option<Duration> {
        if let (Some(now), Some(then)) = (&self.threads, &earlier.threads) {
            if then.keys().all(|tid| now.contains_key(tid)) {
                let ns: u64 = now
                    .iter()
                    .map(|(tid, ns)| ns.saturating_sub(then.get(tid).copied().unwrap_or(0)))
                    .sum();
                return Some(Duration::from_nanos(ns));
            }
        }
        Some(self.ticks?.saturating_sub(earlier.ticks?))
    }

    /// CPU time thread `tid` spent between `earlier` and this reading (`None` when it is not in
    /// both).
    pub fn thread_since(&self, earlier: &CpuReading, tid: u32) -> Option<Duration> {
        let now = self.threads.as_ref()?.get(&tid)?;
        let then = earlier.threads.as_ref()?.get(&tid)?;
        Some(Duration::from_nanos(now.saturating_sub(*then)))
    }
}

/// Nanoseconds on CPU of each live thread of `pid` (the first field of its `schedstat`).
fn thread_times(pid: u32) -> Option<BTreeMap<u32, u64>> {
    let mut times = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let entry = entry.ok()?;
        let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread that exits between the listing and the read is left out, like one that
        // exited before: `since` then falls back to the ticks.
        let Ok(text) = std::fs::read_to_string(entry.path().join("schedstat")) else {
            continue;
        };
        times.insert(tid, parse_schedstat(&text)?);
    }
    Some(times)
}

/// The time on CPU in nanoseconds from a `schedstat` line (`run_ns wait_ns slices`).
fn parse_schedstat(text: &str) -> Option<u64> {
    text.split_whitespace().next()?.parse().ok()
}

/// utime + stime in ticks from a `/proc/PID/stat` line (the command name may contain spaces
/// and parentheses, so fields are counted after the last `)`).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// The machine's CPU time so far, all CPUs together, in jiffies (the first line of
/// `/proc/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuTimes {
    /// Time not idle and not waiting for I/O (steal included: the guest wanted to run).
    pub busy: u64,
    /// All of it: user, nice, system, idle, iowait, irq, softirq, steal.
    pub total: u64,
    /// Time the hypervisor ran something else while this machine had work (`steal`).
    pub steal: u64,
}

impl CpuTimes {
    /// Reads `/proc/stat` now.
    pub fn now() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    fn parse(stat: &str) -> Option<Self> {
        let v: Vec<u64> = stat
            .lines()
            .next()?
            .strip_prefix("cpu ")?
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let total: u64 = v.iter().take(8).sum();
        let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
        Some(CpuTimes {
            busy: total.checked_sub(idle)?,
            total,
            steal: v.get(7).copied().unwrap_or(0),
        })
    }

    /// Share (0..=1) of all CPU time since `earlier` that was stolen; `None` when no time passed.
    pub fn steal_since(&self, earlier: &CpuTimes) -> Option<f64> {
        self.share_since(earlier, |t| t.steal)
    }

    /// Share (0..=1) of all CPU time since `earlier` that was busy; `None` when no time passed.
    pub fn busy_since(&self, earlier: &CpuTimes) -> Option<f64> {
        self.share_since(earlier, |t| t.busy)
    }

    fn share_since(&self, earlier: &CpuTimes, part: fn(&CpuTimes) -> u64) -> Option<f64> {
        let total = self.total.checked_sub(earlier.total).filter(|t| *t > 0)?;
        let part = part(self).checked_sub(part(earlier))?;
        Some(part as f64 / total as f64)
    }
}

/// Share of the machine's CPU (0..=1) that was busy during `window`.
pub fn busy_fraction(window: std::time::Duration) -> Option<f64> {
    let before = CpuTimes::now()?;
    std::thread::sleep(window);
    CpuTimes::now()?.busy_since(&before)
}

/// Resident set size in KiB (`VmRSS`), or `None` when the process is gone.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// `PassiveOpens` from `/proc/net/snmp`: TCP connections accepted by any process in this network
/// namespace. The difference around a run is the connections the server under test accepted, as
/// long as nothing else on the machine accepts connections meanwhile.
pub fn passive_opens() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/net/snmp").ok()?;
    parse_snmp(&text, "PassiveOpens")
}

fn parse_snmp(text: &str, field: &str) -> Option<u64> {
    let mut tcp = text.lines().filter(|l| l.starts_with("Tcp:"));
    let header = tcp.next()?;
    let values = tcp.next()?;
    let i = header.split_whitespace().position(|h| h == field)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_cpu_times_count_steal_as_busy_and_apart() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let stat = "cpu  500 10 90 1000 40 0 20 30 0 0\ncpu0 250 5 45 500 20 0 10 15 0 0\n";
        let t = CpuTimes::parse(stat).expect("parsed");
        assert_eq!(
            t,
            CpuTimes {
                busy: 650,
                total: 1690,
                steal: 30
            }
        );
        let later = CpuTimes {
            busy: 700,
            total: 1790,
            steal: 40,
        };
        assert_eq!(later.steal_since(&t), Some(0.1));
        assert_eq!(later.busy_since(&t), Some(0.5));
        assert_eq!(t.steal_since(&t), None);
        assert_eq!(CpuTimes::parse("intr 1 2 3\n"), None);
    }

    #[test]
    fn the_machine_has_cpu_times() {
        let t = CpuTimes::now().expect("/proc/stat");
        assert!(t.total >= t.busy && t.busy >= t.steal, "{t:?}");
    }

    #[test]
    fn cpu_ticks_skip_a_command_with_spaces_and_parens() {
        let stat = "1234 (a (b) c) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
    }

    #[test]
    fn schedstat_first_field_is_the_time_on_cpu() {
        assert_eq!(parse_schedstat("123456789 2000 17\n"), Some(123_456_789));
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn readings_count_nanoseconds_of_threads_that_stay_and_ticks_when_one_left() {
        let threads = |t: &[(u32, u64)]| Some(t.iter().copied().collect::<BTreeMap<_, _>>());
        let reading = |ticks_ms: u64, t: &[(u32, u64)]| CpuReading {
            ticks: Some(Duration::from_millis(ticks_ms)),
            threads: threads(t),
        };
        let before = reading(100, &[(1, 1_000), (2, 5_000)]);
        // Thread 3 started meanwhile: all of its time counts.
        let after = reading(100, &[(1, 1_500), (2, 5_250), (3, 40)]);
        assert_eq!(after.since(&before), Some(Duration::from_nanos(790)));
        // Thread 2 exited: its last slice is unknown, so the ticks are used.
        let after = reading(110, &[(1, 1_500)]);
        assert_eq!(after.since(&before), Some(Duration::from_millis(10)));
        assert_eq!(CpuReading::default().since(&before), None);
        // One thread alone: only when it is in both readings.
        let after = reading(100, &[(1, 1_500), (2, 5_250), (3, 40)]);
        assert_eq!(
            after.thread_since(&before, 2),
            Some(Duration::from_nanos(250))
        );
        assert_eq!(after.thread_since(&before, 3), None);
        assert_eq!(after.thread_since(&CpuReading::default(), 1), None);
    }

    #[test]
    fn own_threads_time_grows_with_work() {
        let me = std::process::id();
        let before = CpuReading::of(me);
        let ticks0 = cpu_time(me).unwrap();
        // Spin until the process's ticks moved by two (20 ms of CPU), at most 10 s.
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while cpu_time(me).unwrap() < ticks0 + Duration::from_millis(20)
            && start.elapsed() < Duration::from_secs(10)
        {
            for i in 0..100_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        let spent = CpuReading::of(me).since(&before).unwrap();
        assert!(
            spent >= Duration::from_millis(1) && spent < Duration::from_secs(30),
            "{spent:?} {x}"
        );
    }

    #[test]
    fn own_process_has_cpu_time_and_rss() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(cpu_time(pid).is_some());
        assert!(cpu_time(u32::MAX).is_none());
    }

    #[test]
    fn snmp_field_by_header_name() {
        let text =
            "Ip: Forwarding\nIp: 1\nTcp: RtoAlgorithm ActiveOpens PassiveOpens\nTcp: 1 17 42\n";
        assert_eq!(parse_snmp(text, "PassiveOpens"), Some(42));
        assert_eq!(parse_snmp(text, "Nope"), None);
    }

    #[test]
    fn accepted_connections_raise_passive_opens() {
        let before = passive_opens().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (_s, _) = l.accept().unwrap();
        assert!(passive_opens().unwrap() > before);
    }
}
