//! A mutation fuzzer for the stable toolchain: inputs from the corpus, mutated at random
//! (bit flips, interesting bytes and tokens, cuts, copies, splices), run under
//! `catch_unwind`. A panicking input is written to the corpus as `crash-<hash>` and the run
//! fails, so it is kept and replayed by the tests until fixed.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::Targets;

/// Largest input tried (bigger inputs test the allocator, not the decoders).
pub const MAX_INPUT: usize = 64 * 1024;

const TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"-1",
    b"1e999",
    b"\\u0000",
    b"\\ud800",
    b"\"jsonrpc\":\"2.0\"",
    b"\"method\":\"tools/call\"",
    b"\"invoke_hook\"",
    b"\"id\":",
    b"\"params\":",
    b"\"arguments\":",
    b"\"payload\":",
    b"\"context\":",
    b"data: ",
    b"event: message\n",
    b"\n\n",
    b"\r\n",
    b"{{ env.HOME }}",
    b"{{ env.NOPE }}",
    b"{{ env.X | default('d') }}",
    b"plugins:\n",
    b"  - name: ",
    b"    kind: ",
    b"\n  ",
    b"-----BEGIN CERTIFICATE-----\n",
    b"-----END CERTIFICATE-----\n",
    b"-----BEGIN PRIVATE KEY-----\n",
    b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n",
    b"&a",
    b"*a",
    b"<<: ",
    b"!!binary ",
    b"? ",
];

/// Result of one target's run.
#[derive(Debug)]
pub struct RunStats {
    /// Inputs executed.
    pub execs: u64,
    /// Crashing inputs written to the corpus.
    pub crashes: Vec<PathBuf>,
}

/// Inputs of `dir`, sorted by name (missing dir: none).
pub fn corpus(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

/// Mutates inputs of `dir` for `target` during `duration`.
pub fn run(targets: &Targets, target: &str, dir: &Path, duration: Duration, seed: u64) -> RunStats {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut pool: Vec<Vec<u8>> = corpus(dir).into_iter().map(|(_, b)| b).collect();
    if pool.is_empty() {
        pool.push(Vec::new());
    }
    let start = Instant::now();
    let mut stats = RunStats {
        execs: 0,
        crashes: Vec::new(),
    };
    while start.elapsed() < duration {
        let base = pool[rng.random_range(0..pool.len())].clone();
        let other = &pool[rng.random_range(0..pool.len())];
        let input = mutate(&mut rng, base, other);
        stats.execs += 1;
        let crashed = catch_unwind(AssertUnwindSafe(|| targets.run(target, &input))).is_err();
        if crashed {
            let mut h = DefaultHasher::new();
            input.hash(&mut h);
            let path = dir.join(format!("crash-{:016x}", h.finish()));
            if std::fs::create_dir_all(dir).is_ok() && std::fs::write(&path, &input).is_ok() {
                stats.crashes.push(path);
            }
            // One crash per run: it is fixed (and replayed) before fuzzing on.
            break;
        }
    }
    stats
}

fn mutate(rng: &mut StdRng, mut data: Vec<u8>, other: &[u8]) -> Vec<u8> {
    let rounds = 1 + rng.random_range(0..4);
    for _ in 0..rounds {
        let len = data.len();
        match rng.random_range(0..8) {
            0 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] ^= 1 << rng.random_range(0..8);
            }
            1 if len > 0 => {
                let i = rng.random_range(0..len);
                data[i] = *[0u8, 0x7f, 0x80, 0xff, b'"', b'\\', b'\n', b':']
                    .get(rng.random_range(0..8))
                    .unwrap_or(&0);
            }
            2 => {
                let i = rng.random_range(0..=len);
                let t = TOKENS[rng.random_range(0..TOKENS.len())];
                data.splice(i..i, t.iter().copied());
            }
            3 if len > 0 => {
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..=16)).min(len);
                data.drain(a..b);
            }
            4 if len > 0 => {
                let a = rng.random_range(0..len);
                let b = (a + rng.random_range(1..=64)).min(len);
                let chunk = data[a..b].to_vec();
                let at = rng.random_range(0..=data.len());
                data.splice(at..at, chunk);
            }
            5 if !other.is_empty() => {
                let cut = rng.random_range(0..=len);
                let from = rng.random_range(0..other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => data.truncate(rng.random_range(0..len)),
            _ => {
                let i = rng.random_range(0..=len);
                data.insert(i, rng.random());
            }
        }
    }
    data.truncate(MAX_INPUT);
    data
}
