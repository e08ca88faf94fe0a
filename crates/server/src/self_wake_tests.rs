use std::sync::atomic::AtomicUsize;
use std::sync::Mutex;

use super::*;

/// The task's waker: counts how often the task was scheduled.
#[derive(Default)]
struct Scheduled(AtomicUsize);

impl Wake for Scheduled {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn task() -> (Arc<Scheduled>, Waker) {
    let s = Arc::new(Scheduled::default());
    (Arc::clone(&s), Waker::from(s))
}

/// Wakes itself on each of its first `self_wakes` polls (like hyper's body channel), then is
/// ready; counts its polls.
struct WakesItself {
    self_wakes: usize,
    polls: Arc<AtomicUsize>,
}

impl Future for WakesItself {
    type Output = &'static str;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        if self.self_wakes == 0 {
            return Poll::Ready("done");
        }
        self.self_wakes -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn wakes_itself(self_wakes: usize) -> (WakesItself, Arc<AtomicUsize>) {
    let polls = Arc::new(AtomicUsize::new(0));
    let fut = WakesItself {
        self_wakes,
        polls: Arc::clone(&polls),
    };
    (fut, polls)
}

#[test]
fn a_self_wake_is_polled_again_in_the_same_poll_and_the_task_is_not_scheduled() {
    let (scheduled, waker) = task();
    let (fut, polls) = wakes_itself(1);
    let mut fut = RepollOnSelfWake::new(fut);
    let got = Pin::new(&mut fut).poll(&mut Context::from_waker(&waker));
    assert_eq!(got, Poll::Ready("done"));
    assert_eq!(polls.load(Ordering::SeqCst), 2);
    assert_eq!(
        scheduled.0.load(Ordering::SeqCst),
        0,
        "no yield handed to the scheduler"
    );
}

#[test]
fn a_future_that_keeps_waking_itself_yields_for_real_after_the_cap() {
    let (scheduled, waker) = task();
    let (fut, polls) = wakes_itself(usize::MAX);
    let mut fut = RepollOnSelfWake::new(fut);
    let got = Pin::new(&mut fut).poll(&mut Context::from_waker(&waker));
    assert_eq!(got, Poll::Pending);
    assert_eq!(polls.load(Ordering::SeqCst), MAX_REPOLLS + 1);
    assert_eq!(
        scheduled.0.load(Ordering::SeqCst),
        1,
        "the task yields once"
    );
}

/// Pending until its stored waker is used from outside (a socket becoming readable).
struct WaitsForOutside {
    waker: Arc<Mutex<Option<Waker>>>,
    ready: Arc<AtomicUsize>,
}

impl Future for WaitsForOutside {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.ready.load(Ordering::SeqCst) > 0 {
            return Poll::Ready(());
        }
        if let Ok(mut slot) = self.waker.lock() {
            *slot = Some(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[test]
fn a_wake_from_outside_between_polls_schedules_the_task() {
    let (scheduled, waker) = task();
    let stored = Arc::new(Mutex::new(None::<Waker>));
    let ready = Arc::new(AtomicUsize::new(0));
    let mut fut = RepollOnSelfWake::new(WaitsForOutside {
        waker: Arc::clone(&stored),
        ready: Arc::clone(&ready),
    });
    let mut cx = Context::from_waker(&waker);
    assert_eq!(Pin::new(&mut fut).poll(&mut cx), Poll::Pending);
    assert_eq!(scheduled.0.load(Ordering::SeqCst), 0);

    ready.store(1, Ordering::SeqCst);
    let inner = stored.lock().ok().and_then(|mut s| s.take());
    inner.expect("the future stored its waker").wake();
    assert_eq!(
        scheduled.0.load(Ordering::SeqCst),
        1,
        "the outside wake reached the task"
    );
    assert_eq!(Pin::new(&mut fut).poll(&mut cx), Poll::Ready(()));
}
