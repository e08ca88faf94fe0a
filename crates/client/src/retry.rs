//! The retry rule the transports share: a connect (raw socket, gRPC) or an MCP handshake tried
//! again with linear backoff, and the failure of one such sequence shared with the calls that
//! queued for it.

use std::future::Future;
use std::time::Duration;

/// Runs `attempt`, then again up to `retries` more times while it fails with an error
/// `retryable` accepts, pausing `delay` × n before the n-th retry (the `reconnect_delay` ×
/// attempt of the plugins YAML). `before_retry` sees each failure that is retried, with n, for
/// a log line. The first success, or the last error and how many attempts were made.
pub(crate) async fn linear<T, E, F, Fut>(
    retries: u32,
    delay: Duration,
    mut attempt: F,
    retryable: impl Fn(&E) -> bool,
    mut before_retry: impl FnMut(&E, u32),
) -> Result<T, (E, u32)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut retry = 0;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) if retry < retries && retryable(&e) => {
                retry += 1;
                before_retry(&e, retry);
                tokio::time::sleep(delay * retry).await;
            }
            Err(e) => return Err((e, retry + 1)),
        }
    }
}

/// The failures of a sequence that callers queue for (one connect sequence at a time, one
/// re-established session at a time): how many there were, and the last one's words. A caller
/// reads [`SharedFailure::seen`] before it queues; when [`SharedFailure::since`] finds a failure
/// recorded after that, the sequence it waited for failed, and it takes those words instead of
/// running its own (so a server that is away gets one sequence, not one per queued call in a row).
#[derive(Debug, Default)]
pub(crate) struct SharedFailure<T = String>(std::sync::Mutex<(u64, T)>);

impl<T: Clone> SharedFailure<T> {
    /// The count to compare with after queueing.
    pub(crate) fn seen(&self) -> u64 {
        crate::relock(&self.0).0
    }

    /// The failure recorded since `seen`, if one was.
    pub(crate) fn since(&self, seen: u64) -> Option<T> {
        let failures = crate::relock(&self.0);
        (failures.0 != seen).then(|| failures.1.clone())
    }

    /// Records a failed sequence.
    pub(crate) fn record(&self, failure: T) {
        let mut failures = crate::relock(&self.0);
        *failures = (failures.0 + 1, failure);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn retries_pause_linearly_and_stop_at_the_bound_or_an_unretryable_error() {
        let started = tokio::time::Instant::now();
        let mut calls = 0;
        let mut seen = Vec::new();
        let failed: Result<(), (u32, u32)> = linear(
            3,
            Duration::from_millis(100),
            || {
                calls += 1;
                std::future::ready(Err(calls))
            },
            |_| true,
            |e, n| seen.push((*e, n)),
        )
        .await;
        assert_eq!(failed, Err((4, 4)), "the last error, after 1 + 3 attempts");
        assert_eq!(seen, vec![(1, 1), (2, 2), (3, 3)]);
        assert_eq!(started.elapsed(), Duration::from_millis(100 + 200 + 300));

        let mut calls = 0;
        let stopped: Result<(), (u32, u32)> = linear(
            3,
            Duration::from_millis(100),
            || {
                calls += 1;
                std::future::ready(Err(calls))
            },
            |e| *e < 2,
            |_, _| {},
        )
        .await;
        assert_eq!(stopped, Err((2, 2)), "the second error is not retried");

        let mut calls = 0;
        let ok: Result<u32, (u32, u32)> = linear(
            3,
            Duration::ZERO,
            || {
                calls += 1;
                std::future::ready(if calls == 3 { Ok(calls) } else { Err(calls) })
            },
            |_| true,
            |_, _| {},
        )
        .await;
        assert_eq!(ok, Ok(3));
    }

    #[test]
    fn a_failure_is_shared_only_with_callers_that_queued_before_it() {
        let shared: SharedFailure = SharedFailure::default();
        let before = shared.seen();
        assert_eq!(shared.since(before), None);
        shared.record("refused".into());
        assert_eq!(shared.since(before).as_deref(), Some("refused"));
        assert_eq!(
            shared.since(shared.seen()),
            None,
            "a caller that queued after it"
        );
    }
}
