//! The executor of a connection's HTTP/2 streams: each call runs inside its connection's task
//! instead of a task of its own.
//!
//! hyper's HTTP/2 server hands every stream (one gRPC call) to its executor. With tokio's
//! executor each call was a new task: spawned by the connection task, woken again by it when the
//! request's body arrived, and waking the connection back with the answer, so one call crossed
//! between two tasks (and often two worker threads, with a `futex` wake-up each way). Here the
//! streams are kept in a [`FuturesUnordered`] that the connection's own task polls right after
//! the connection, so a call is read, answered and written in one poll of one task. The price is
//! that the calls of one connection share its thread; calls on other connections still run in
//! parallel, and a plugin that awaits does not hold the others back. A call that panics is
//! caught and ends alone, as a task of its own would.
//!
//! A stream that answers wakes the connection (h2 queues the frames and wakes the task that
//! writes them), and with everything in one task that wake-up would reschedule the task that
//! is running, which tokio does by waking another worker (a `futex` per call, measured). So the
//! connection and the streams are polled with a waker of our own ([`Coalesce`]): a wake-up that
//! comes while the task is polling them only asks for one more round of the loop, and only one
//! that comes from outside (the socket, a plugin's timer) wakes the task.
//!
//! The connection's writes are corked (see the `cork` module): right before the task returns
//! `Pending`, [`Streams::poll`] releases what the whole poll wrote, so the answers of that poll
//! leave in one write.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

use futures::future::{BoxFuture, FutureExt};
use futures::stream::{FuturesUnordered, StreamExt};

use super::cork::Release;
use crate::self_wake::Coalesce;

/// The streams a connection has spawned and not yet started polling.
#[derive(Clone, Default)]
pub(super) struct InlineExec(Arc<Mutex<Vec<BoxFuture<'static, ()>>>>);

/// hyper spawns a stream only from inside the connection's `poll`, and [`Streams::drive`] takes
/// what was spawned right after each `poll`, so no wake-up is needed here.
impl<F> hyper::rt::Executor<F> for InlineExec
where
    F: Future<Output = ()> + Send + 'static,
{
    fn execute(&self, fut: F) {
        // A call that panics ends alone, as a task of its own would: its stream is dropped
        // (reset), and the connection and its other calls live on.
        let isolated = AssertUnwindSafe(fut).catch_unwind().map(|ended| {
            if ended.is_err() {
                tracing::error!("a gRPC call panicked; its stream was reset");
            }
        });
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::pin(isolated));
    }
}

/// A connection's streams in progress; kept outside [`Streams::drive`] so that the calls in
/// flight survive when the drive is restarted (the drain).
pub(super) struct Streams {
    exec: InlineExec,
    running: FuturesUnordered<BoxFuture<'static, ()>>,
    coalesce: Arc<Coalesce>,
    waker: Waker,
    release: Arc<dyn Release>,
}

impl Streams {
    /// The streams of a connection whose IO is corked, written out by `release`.
    pub(super) fn new(exec: InlineExec, release: Arc<dyn Release>) -> Self {
        let coalesce = Arc::new(Coalesce::default());
        Streams {
            exec,
            running: FuturesUnordered::new(),
            waker: Waker::from(Arc::clone(&coalesce)),
            coalesce,
            release,
        }
    }

    /// Polls `conn` and its streams until `conn` ends.
    pub(super) async fn drive<C: Future>(&mut self, mut conn: Pin<&mut C>) -> C::Output {
        std::future::poll_fn(|cx| self.poll(conn.as_mut(), cx)).await
    }

    fn poll<C: Future>(&mut self, mut conn: Pin<&mut C>, cx: &mut Context<'_>) -> Poll<C::Output> {
        self.coalesce.start(cx);
        let waker = self.waker.clone();
        let mut inner = Context::from_waker(&waker);
        for _ in 0..ROUNDS {
            if let Poll::Ready(out) = conn.as_mut().poll(&mut inner) {
                self.coalesce.stop();
                // A connection that closed cleanly wrote its last frames in its shutdown (see
                // the `cork` module); this is for one that ended on an error: one try, as the
                // socket is about to be closed anyway.
                if let Poll::Ready(Err(e)) = self.release.poll_release(cx) {
                    tracing::debug!("gRPC connection's last writes failed: {e}");
                }
                return Poll::Ready(out);
            }
            let spawned =
                std::mem::take(&mut *self.exec.0.lock().unwrap_or_else(PoisonError::into_inner));
            self.running.extend(spawned);
            while let Poll::Ready(Some(())) = self.running.poll_next_unpin(&mut inner) {}
            // Woken while polling (a stream answered, or spawned more): one more round, so the
            // answer is written now. Otherwise back to idle, where a wake-up wakes the task.
            // Idle: what the poll wrote leaves now. If that write failed, one more round, where
            // the connection sees the error.
            if self.coalesce.settle() && self.release(cx) {
                return Poll::Pending;
            }
            self.coalesce.resume();
        }
        // Still woken after every round: yield to the runtime and come back (tokio's
        // cooperative budget, spent, makes its resources wake the task at once and return
        // `Pending` until the task has yielded; looping here would never end).
        self.coalesce.stop();
        cx.waker().wake_by_ref();
        // Its result ignored: after a failed write, every read and write of the connection
        // fails too, which the next poll sees.
        self.release(cx);
        Poll::Pending
    }

    /// Writes out what the connection corked, before the task waits: `true` when written, or
    /// left to finish when the socket (which then wakes the task: `cx`) can take more; `false`
    /// when the write failed.
    fn release(&self, cx: &mut Context<'_>) -> bool {
        match self.release.poll_release(cx) {
            Poll::Ready(Ok(())) | Poll::Pending => true,
            Poll::Ready(Err(e)) => {
                tracing::debug!("gRPC connection's write failed: {e}");
                false
            }
        }
    }
}

/// Rounds of one poll of a connection (see [`Streams::poll`]).
const ROUNDS: usize = 16;

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::task::Wake;

    use hyper::rt::Executor;

    use super::*;

    /// The runtime's waker of the connection's task: counts how often the task is woken.
    struct Counted(AtomicUsize);

    impl Wake for Counted {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A connection as hyper's behaves toward its streams: spawns one on its executor at the
    /// first poll, ends once that stream has answered, and is woken by the answer.
    struct Conn<F> {
        exec: InlineExec,
        stream: Option<F>,
        answered: Arc<AtomicBool>,
        waker: Arc<Mutex<Option<Waker>>>,
    }

    impl<F: Future<Output = ()> + Send + Unpin + 'static> Future for Conn<F> {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            if self.answered.load(Ordering::SeqCst) {
                return Poll::Ready(());
            }
            *self.waker.lock().unwrap_or_else(PoisonError::into_inner) = Some(cx.waker().clone());
            if let Some(call) = self.stream.take() {
                let (answered, waker) = (Arc::clone(&self.answered), Arc::clone(&self.waker));
                self.exec.execute(async move {
                    call.await;
                    answered.store(true, Ordering::SeqCst);
                    let woken = waker.lock().unwrap_or_else(PoisonError::into_inner).take();
                    if let Some(woken) = woken {
                        woken.wake();
                    }
                });
            }
            Poll::Pending
        }
    }

    fn setup<F>(call: F) -> (Streams, Conn<F>, Arc<Counted>, Waker) {
        let exec = InlineExec::default();
        let conn = Conn {
            exec: exec.clone(),
            stream: Some(call),
            answered: Arc::default(),
            waker: Arc::default(),
        };
        let counted = Arc::new(Counted(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&counted));
        let (_, release) = super::super::cork::cork(Socket::default());
        (Streams::new(exec, release), conn, counted, waker)
    }

    /// A socket that records each write call.
    #[derive(Clone, Default)]
    struct Socket(Arc<Mutex<Vec<Vec<u8>>>>);

    impl tokio::io::AsyncWrite for Socket {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let mut writes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            writes.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// A connection that, at each poll, writes and flushes what its calls queued (as h2 writes
    /// an answer's `HEADERS` + `DATA` and then its trailers), and never ends.
    struct Writer {
        io: super::super::cork::Corked<Socket>,
        queued: Arc<Mutex<Queued>>,
    }

    /// Frames queued for the connection, and its waker (as h2's streams wake the connection).
    #[derive(Default)]
    struct Queued(Vec<&'static [u8]>, Option<Waker>);

    impl Future for Writer {
        type Output = ();
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            use tokio::io::AsyncWrite;
            let frames = {
                let mut queued = self.queued.lock().unwrap_or_else(PoisonError::into_inner);
                queued.1 = Some(cx.waker().clone());
                std::mem::take(&mut queued.0)
            };
            for frame in frames {
                assert!(Pin::new(&mut self.io).poll_write(cx, frame).is_ready());
                assert!(Pin::new(&mut self.io).poll_flush(cx).is_ready());
            }
            Poll::Pending
        }
    }

    #[test]
    fn the_frames_of_one_poll_leave_in_one_write_before_the_task_waits() {
        let socket = Socket::default();
        let (io, release) = super::super::cork::cork(socket.clone());
        let exec = InlineExec::default();
        let mut streams = Streams::new(exec.clone(), release);
        let queued = Arc::new(Mutex::new(Queued::default()));
        let mut conn = std::pin::pin!(Writer {
            io,
            queued: Arc::clone(&queued)
        });
        let counted = Arc::new(Counted(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&counted));
        let mut cx = Context::from_waker(&waker);
        // Two calls answer in the same poll; each answer is two writes and two flushes.
        for _ in 0..2 {
            let queued = Arc::clone(&queued);
            exec.execute(async move {
                let waker = {
                    let mut q = queued.lock().unwrap_or_else(PoisonError::into_inner);
                    q.0.extend([&b"HEADERS+DATA;"[..], &b"TRAILERS;"[..]]);
                    q.1.take()
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
            });
        }
        assert_eq!(streams.poll(conn.as_mut(), &mut cx), Poll::Pending);
        let writes = socket
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        assert_eq!(
            writes,
            vec![b"HEADERS+DATA;TRAILERS;HEADERS+DATA;TRAILERS;".to_vec()]
        );
        assert_eq!(counted.0.load(Ordering::SeqCst), 0, "the task woke itself");
    }

    #[test]
    fn a_call_answered_at_once_is_written_in_the_same_poll_without_waking_the_task() {
        let (mut streams, conn, counted, waker) = setup(std::future::ready(()));
        let mut conn = std::pin::pin!(conn);
        let mut cx = Context::from_waker(&waker);
        assert_eq!(streams.poll(conn.as_mut(), &mut cx), Poll::Ready(()));
        assert_eq!(counted.0.load(Ordering::SeqCst), 0, "the task woke itself");
    }

    #[test]
    fn a_panicking_call_ends_alone_and_the_connection_lives_on() {
        let (mut streams, conn, _counted, waker) = setup(Box::pin(async { panic!("boom") }));
        let answered = Arc::clone(&conn.answered);
        let mut conn = std::pin::pin!(conn);
        let mut cx = Context::from_waker(&waker);
        // The panic does not reach the connection's poll; the connection is still pending.
        assert_eq!(streams.poll(conn.as_mut(), &mut cx), Poll::Pending);
        assert!(
            streams.running.is_empty(),
            "the panicked call is still running"
        );
        assert!(!answered.load(Ordering::SeqCst));
    }

    #[test]
    fn a_call_woken_from_outside_wakes_the_task_once_and_is_then_written() {
        let (tx, rx) = futures::channel::oneshot::channel::<()>();
        let call = Box::pin(async move {
            let _ = rx.await;
        });
        let (mut streams, conn, counted, waker) = setup(call);
        let mut conn = std::pin::pin!(conn);
        let mut cx = Context::from_waker(&waker);
        assert_eq!(streams.poll(conn.as_mut(), &mut cx), Poll::Pending);
        assert_eq!(counted.0.load(Ordering::SeqCst), 0);
        let _ = tx.send(());
        assert_eq!(
            counted.0.load(Ordering::SeqCst),
            1,
            "the task was not woken"
        );
        assert_eq!(streams.poll(conn.as_mut(), &mut cx), Poll::Ready(()));
        assert_eq!(counted.0.load(Ordering::SeqCst), 1, "the task woke itself");
    }
}
