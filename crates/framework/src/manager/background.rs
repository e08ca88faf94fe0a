//! The bounded background queue of `fire_and_forget` plugins.
//!
//! cpex creates one task per fire_and_forget plugin after the chain and bounds them with a
//! semaphore of `PLUGINS_EXECUTION_POOL` permits per call, so the process total is unbounded.
//! plugwire bounds the manager's total instead: at most `limit` background calls run at once
//! (default 10, `None` = unbounded as with 0 in cpex). When every slot is taken the call is
//! dropped, logged and counted ([`Background::overflowed`]); the caller never waits. On
//! [`Background::shutdown`] running calls get a bounded time to finish, then are cancelled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub(super) struct Background {
    slots: Option<Arc<Semaphore>>,
    limit: Option<usize>,
    overflowed: AtomicU64,
    tasks: Mutex<JoinSet<()>>,
}

impl Background {
    pub(super) fn new(limit: Option<usize>) -> Self {
        Background {
            slots: limit.map(|n| Arc::new(Semaphore::new(n))),
            limit,
            overflowed: AtomicU64::new(0),
            tasks: Mutex::new(JoinSet::new()),
        }
    }

    /// Background calls refused because the queue was full, since the manager was built.
    pub(super) fn overflowed(&self) -> u64 {
        self.overflowed.load(Ordering::Relaxed)
    }

    /// Calls still running (finished ones are reaped on every spawn and here).
    pub(super) fn pending(&self) -> usize {
        let mut set = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        while set.try_join_next().is_some() {}
        set.len()
    }

    /// Start `work` in the background if a slot is free; otherwise log and count it. Needs a
    /// Tokio runtime (the manager's calls always have one).
    pub(super) fn spawn<F>(&self, plugin: &str, work: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let permit = match &self.slots {
            None => None,
            Some(s) => match s.clone().try_acquire_owned() {
                Ok(p) => Some(p),
                Err(_) => {
                    let n = self.overflowed.fetch_add(1, Ordering::Relaxed) + 1;
                    tracing::warn!(
                        plugin,
                        limit = self.limit.unwrap_or(0),
                        overflowed_total = n,
                        "fire_and_forget queue full (PLUGINS_EXECUTION_POOL); this background call is dropped"
                    );
                    return;
                }
            },
        };
        let mut set = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        while set.try_join_next().is_some() {}
        set.spawn(async move {
            work.await;
            drop(permit);
        });
    }

    /// Let running calls finish within `grace`, then cancel the rest and wait for them to stop.
    pub(super) async fn shutdown(&self, grace: Duration) {
        let mut set = {
            let mut guard = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *guard)
        };
        if set.is_empty() {
            return;
        }
        let drained =
            tokio::time::timeout(grace, async { while set.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            tracing::warn!(
                running = set.len(),
                "fire_and_forget calls still running at shutdown; cancelled"
            );
            set.abort_all();
            while set.join_next().await.is_some() {}
        }
    }
}
