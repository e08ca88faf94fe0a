//! A connection task that wakes itself while it runs is polled again at once, instead of being
//! handed to tokio as a yield.
//!
//! hyper's HTTP/1.1 server wakes its own connection task once per request that has a body: the
//! body channel's "want" signal, sent when our service first reads the body, wakes the task that
//! is polling the service. tokio's multi-thread scheduler treats a task woken during its own poll
//! as a task that yields: it goes to the back of the run queue and an idle worker is woken to
//! steal it (a futex wake, a thread scheduled on the other core). At concurrency 1 that made
//! every call run on both workers, two context switches instead of one, and cost about a fifth of
//! the server's CPU per call (docs/decisions.md #93). [`RepollOnSelfWake`] notes such a wake and
//! polls the future again before returning, so nothing is handed anywhere; a wake from elsewhere
//! (the socket, a timer) passes straight through to the task.
//!
//! A future that keeps waking itself (hyper's own fairness yield after 16 pipelined requests,
//! tokio's cooperative budget running out) is polled again at most [`MAX_REPOLLS`] times, then
//! really yields, so other connections still get their turn.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures::task::AtomicWaker;

/// How many times one poll of the task polls the future again after it woke itself.
pub(crate) const MAX_REPOLLS: usize = 8;

/// Not being polled: a wake goes to the task.
const IDLE: u8 = 0;
/// Being polled: a wake is noted, and the poll goes round again.
const POLLING: u8 = 1;
/// Woken while being polled.
const WOKEN: u8 = 2;

/// See the module docs.
pub(crate) struct RepollOnSelfWake<F> {
    fut: Pin<Box<F>>,
    state: Arc<WakeState>,
    waker: Waker,
}

struct WakeState {
    phase: AtomicU8,
    task: AtomicWaker,
}

impl Wake for WakeState {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // POLLING → WOKEN: the poll in progress goes round again. Already WOKEN: nothing to
        // add. IDLE: nobody is polling, so the task must be scheduled.
        if let Err(IDLE) =
            self.phase
                .compare_exchange(POLLING, WOKEN, Ordering::AcqRel, Ordering::Acquire)
        {
            self.task.wake();
        }
    }
}

impl<F: Future> RepollOnSelfWake<F> {
    pub(crate) fn new(fut: F) -> Self {
        let state = Arc::new(WakeState {
            phase: AtomicU8::new(IDLE),
            task: AtomicWaker::new(),
        });
        RepollOnSelfWake {
            fut: Box::pin(fut),
            waker: Waker::from(Arc::clone(&state)),
            state,
        }
    }
}

impl<F: Future> Future for RepollOnSelfWake<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.state.task.register(cx.waker());
        for _ in 0..=MAX_REPOLLS {
            this.state.phase.store(POLLING, Ordering::Release);
            let polled = this
                .fut
                .as_mut()
                .poll(&mut Context::from_waker(&this.waker));
            // From here a wake goes to the task again (registered above), so none is lost.
            let phase = this.state.phase.swap(IDLE, Ordering::AcqRel);
            if polled.is_ready() || phase != WOKEN {
                return polled;
            }
        }
        // Woke itself every time: yield for real.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
#[path = "self_wake_tests.rs"]
mod tests;
