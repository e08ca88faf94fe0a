//! Graceful drain of one HTTP/1.1 connection, without losing a request a client already sent.
//!
//! hyper's own graceful shutdown closes a kept-alive connection as soon as it is between
//! requests, even when the next request is already in the socket buffer: the client then gets
//! EOF for a call it has sent, and the Python gateway does not retry it. So a draining
//! connection is kept open and read instead:
//! - a request that arrives (or is in progress) is answered, and that answer carries
//!   `connection: close`, so hyper closes the connection right after it and the client knows
//!   not to reuse it;
//! - a connection with no request in progress for [`DRAIN_IDLE_GRACE`] is closed (a request
//!   written at that very moment is the one case no HTTP/1.1 server can tell apart; a gateway
//!   pool under load is never idle that long, an idle pool does not lose anything);
//! - at the drain deadline ([`Phase::Closed`]) whatever is left is closed.
//!
//! Each connection holds a permit of its listener's connection cap; the listener's drain is
//! over when every permit is back.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::task::AtomicWaker;

use http::{header, HeaderValue, Response};
use tokio::sync::{watch, OwnedSemaphorePermit};
use tokio::time::Instant;

use crate::limits::DRAIN_IDLE_GRACE;

/// Where a listener is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Accepting and serving.
    Serving,
    /// Listener closed; connections finish what was sent and close.
    Draining,
    /// Drain deadline passed: every connection is closed now.
    Closed,
}

/// One connection's view of the drain, and its slot of the listener's connection cap.
pub(crate) struct Drain {
    phase: watch::Receiver<Phase>,
    state: Arc<ConnState>,
    _permit: OwnedSemaphorePermit,
}

struct ConnState {
    in_flight: AtomicUsize,
    last_done: Mutex<Instant>,
}

impl Drain {
    pub(crate) fn new(phase: watch::Receiver<Phase>, permit: OwnedSemaphorePermit) -> Self {
        Drain {
            phase,
            state: Arc::new(ConnState {
                in_flight: AtomicUsize::new(0),
                last_done: Mutex::new(Instant::now()),
            }),
            _permit: permit,
        }
    }

    /// What the connection's service uses to mark requests busy and answers last.
    pub(crate) fn tracker(&self) -> Tracker {
        Tracker {
            phase: self.phase.clone(),
            state: Arc::clone(&self.state),
        }
    }

    /// Completes when the drain starts (for connections still in their TLS handshake: they
    /// have sent no request, so they are dropped).
    pub(crate) async fn stopping(&mut self) {
        let _ = self.phase.wait_for(|p| *p != Phase::Serving).await;
    }

    /// Drives `conn` until it ends, the drain closes it (see the module doc), or it has had
    /// no request in progress for `idle_limit` while serving.
    ///
    /// `idle_limit` is the header-read timeout (slowloris guard, and how long a kept-alive
    /// connection may stay idle). hyper's own (`header_read_timeout`) arms a boxed timer for
    /// every request and cancels it once the headers are in: an allocation and a timer-wheel
    /// insert and removal per call (profiled: ~1.7k instructions of ~100k). Here one timer per
    /// connection does the same job: it fires at the earliest when the limit could have
    /// passed, and re-arms from the last request's end (docs/decisions.md #92).
    pub(crate) async fn run<C, E>(self, conn: C, idle_limit: Duration) -> Result<(), E>
    where
        C: Future<Output = Result<(), E>>,
    {
        tokio::pin!(conn);
        let mut phase = self.phase.clone();
        // The TLS handshake has its own timeout: the idle clock starts with the HTTP.
        self.state.mark_done();
        // While serving, the connection's task wakes several times per request; the drain
        // signal and the idle timer are polled only when they fired (see `WhenWoken`), not
        // on each of those.
        {
            let draining = WhenWoken::new(phase.wait_for(|p| *p != Phase::Serving));
            let idle = WhenWoken::new(idle_for(&self.state, idle_limit));
            tokio::pin!(draining);
            tokio::pin!(idle);
            tokio::select! {
                biased;
                r = &mut conn => return r,
                _ = draining => {}
                _ = idle => {
                    tracing::debug!(
                        "closed a connection with no request for {idle_limit:?} (header read timeout)"
                    );
                    return Ok(());
                }
            }
        }
        let drain_start = Instant::now();
        loop {
            tokio::select! {
                r = &mut conn => return r,
                _ = phase.wait_for(|p| *p == Phase::Closed) => return Ok(()),
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    if self.state.idle_since(drain_start) >= DRAIN_IDLE_GRACE {
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// Completes once `state` has had no request in progress for `limit`: the timer is set for
/// the earliest moment that can be true and, when it fires too early (a request came and went
/// meanwhile, or is still in progress), set again from what it finds.
async fn idle_for(state: &ConnState, limit: Duration) {
    let mut deadline = Instant::now() + limit;
    loop {
        tokio::time::sleep_until(deadline).await;
        let now = Instant::now();
        match state.idle_from() {
            None => deadline = now + limit,
            Some(last) if now.saturating_duration_since(last) >= limit => return,
            Some(last) => deadline = last + limit,
        }
    }
}

impl ConnState {
    /// When the last request ended, `None` while one is in progress.
    fn idle_from(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        // A poisoned stamp (a panic while setting an `Instant`) is still an `Instant`.
        Some(*self.last_done.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stamps now as the end of the last request.
    fn mark_done(&self) {
        *self.last_done.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// How long no request has been in progress, counted from `floor` at the earliest.
    fn idle_since(&self, floor: Instant) -> Duration {
        self.idle_from()
            .map_or(Duration::ZERO, |last| last.max(floor).elapsed())
    }
}

/// Marks requests in progress on one connection, and adds `connection: close` to answers
/// given while draining.
#[derive(Clone)]
pub(crate) struct Tracker {
    phase: watch::Receiver<Phase>,
    state: Arc<ConnState>,
}

impl Tracker {
    /// A request is in progress until the guard is dropped.
    pub(crate) fn begin(&self) -> Busy {
        self.state.in_flight.fetch_add(1, Ordering::AcqRel);
        Busy(Arc::clone(&self.state))
    }

    /// The answer, marked as the connection's last when the server is draining.
    pub(crate) fn finish<B>(&self, mut resp: Response<B>) -> Response<B> {
        // `has_changed` is one atomic load; `borrow` takes the channel's lock, which every
        // connection shares. The phase only ever leaves `Serving`, and this receiver was made
        // while serving, so "unchanged" means serving (a closed channel is checked too).
        if self.phase.has_changed().unwrap_or(true) && *self.phase.borrow() != Phase::Serving {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// A future polled only after its own waker fired (and on the first poll). `tokio::select!`
/// polls every branch whenever the task wakes; for a drain signal that is a lock of the
/// channel's waiter list, shared by every connection, on each of a request's wake-ups.
pub(crate) struct WhenWoken<F> {
    fut: Pin<Box<F>>,
    flag: Arc<WokenFlag>,
    waker: Waker,
}

struct WokenFlag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for WokenFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

impl<F: Future> WhenWoken<F> {
    pub(crate) fn new(fut: F) -> Self {
        let flag = Arc::new(WokenFlag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        WhenWoken {
            fut: Box::pin(fut),
            waker: Waker::from(Arc::clone(&flag)),
            flag,
        }
    }
}

impl<F: Future> Future for WhenWoken<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        this.flag.task.register(cx.waker());
        if !this.flag.woken.swap(false, Ordering::AcqRel) {
            return Poll::Pending;
        }
        this.fut
            .as_mut()
            .poll(&mut Context::from_waker(&this.waker))
    }
}

/// A request in progress (see [`Tracker::begin`]).
pub(crate) struct Busy(Arc<ConnState>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.mark_done();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}
