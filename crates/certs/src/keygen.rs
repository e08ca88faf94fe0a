//! Key generation on all cores: RSA-4096 takes a moment per key, so independent keys are made
//! in parallel and each finished key is reported.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rcgen::KeyPair;

use crate::error::{CertsError, Result};
use crate::layout::Identity;
use crate::profile::KeyType;
use crate::request::{Event, Progress};

/// Generates one key per identity, in parallel on the available cores, in `identities` order.
pub(crate) fn generate_keys(
    identities: &[&Identity],
    key_type: KeyType,
    progress: &dyn Progress,
) -> Result<Vec<KeyPair>> {
    let total = identities.len();
    if total == 0 {
        return Ok(Vec::new());
    }
    progress.event(&Event::KeygenStarted {
        count: total,
        key_type,
    });
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(total);
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<Result<KeyPair>>>> = Mutex::new((0..total).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= total {
                    break;
                }
                let result = key_type.generate();
                let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                if result.is_ok() {
                    progress.event(&Event::KeyReady {
                        identity: identities[index],
                        done: finished,
                        total,
                    });
                }
                if let Ok(mut slots) = slots.lock() {
                    slots[index] = Some(result);
                }
            });
        }
    });
    let slots = slots.into_inner().unwrap_or_default();
    slots
        .into_iter()
        .map(|slot| {
            slot.unwrap_or_else(|| {
                Err(CertsError::Crypto {
                    what: "generating keys".into(),
                    reason: "a key-generation thread failed".into(),
                })
            })
        })
        .collect()
}
