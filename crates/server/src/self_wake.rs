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

/// The waker a task gives what it polls, so that a wake during its own poll is noted instead of
/// scheduling the task: used by [`RepollOnSelfWake`] and by gRPC's connection driver
/// (`grpc/inline.rs`), which polls a connection and its calls in rounds.
#[derive(Default)]
pub(crate) struct Coalesce {
    phase: AtomicU8,
    task: AtomicWaker,
}

impl Coalesce {
    /// A poll by the task of `cx` starts: wakes are noted from now on.
    pub(crate) fn start(&self, cx: &Context<'_>) {
        self.task.register(cx.waker());
        self.resume();
    }

    /// After a round: `true` when nothing woke the polled futures during it, and wakes go to
    /// the task again (registered by [`Self::start`], so none is lost); `false` when something
    /// did, and the caller goes round again ([`Self::resume`]) or gives up ([`Self::stop`]).
    pub(crate) fn settle(&self) -> bool {
        self.phase
            .compare_exchange(POLLING, IDLE, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }

    /// Another round: wakes are noted again.
    pub(crate) fn resume(&self) {
        self.phase.store(POLLING, Ordering::SeqCst);
    }

    /// The poll is over: wakes go to the task.
    pub(crate) fn stop(&self) {
        self.phase.store(IDLE, Ordering::SeqCst);
    }
}

impl Wake for Coalesce {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // POLLING → WOKEN: the poll in progress goes round again. Already WOKEN: nothing to
        // add. IDLE: nobody is polling, so the task must be scheduled.
        if let Err(IDLE) =
            self.phase
                .compare_exchange(POLLING, WOKEN, Ordering::SeqCst, Ordering::SeqCst)
        {
            self.task.wake();
        }
    }
}

/// See the module docs.
pub(crate) struct RepollOnSelfWake<F> {
    fut: Pin<Box<F>>,
    coalesce: Arc<Coalesce>,
    waker: Waker,
}

impl<F: Future> RepollOnSelfWake<F> {
    pub(crate) fn new(fut: F) -> Self {
        let coalesce = Arc::new(Coalesce::default());
        RepollOnSelfWake {
            fut: Box::pin(fut),
            waker: Waker::from(Arc::clone(&coalesce)),
            coalesce,
        }
    }
}

impl<F: Future> Future for RepollOnSelfWake<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.coalesce.start(cx);
        for _ in 0..=MAX_REPOLLS {
            let polled = this
                .fut
                .as_mut()
                .poll(&mut Context::from_waker(&this.waker));
            if polled.is_ready() {
                this.coalesce.stop();
                return polled;
            }
            if this.coalesce.settle() {
                return Poll::Pending;
            }
            this.coalesce.resume();
        }
        // Woke itself every time: yield for real.
        this.coalesce.stop();
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
#[path = "self_wake_tests.rs"]
mod tests;
