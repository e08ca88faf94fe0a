use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};

use super::*;

/// A socket that records every write call, takes at most `limit` bytes per call (none when
/// `blocked`, then `Pending` with the waker kept) and counts flushes and shutdowns.
#[derive(Default)]
struct Socket {
    writes: Vec<Vec<u8>>,
    limit: Option<usize>,
    blocked: bool,
    broken: bool,
    waiting: Option<Waker>,
    flushes: usize,
    shut: bool,
}

/// The socket shared with the test, which looks at it while the cork owns it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Socket>>);

impl Shared {
    fn get(&self) -> MutexGuard<'_, Socket> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Lets the socket take writes again, waking whoever waits on it.
    fn unblock(&self) {
        let waiting = {
            let mut s = self.get();
            s.blocked = false;
            s.waiting.take()
        };
        if let Some(w) = waiting {
            w.wake();
        }
    }
}

impl AsyncWrite for Shared {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = self.get();
        if s.broken {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if s.blocked {
            s.waiting = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = s.limit.map_or(buf.len(), |l| l.min(buf.len()));
        s.writes.push(buf[..n].to_vec());
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get().flushes += 1;
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get().shut = true;
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Shared {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// A waker that counts its wake-ups.
#[derive(Default)]
struct Counted(AtomicUsize);

impl Wake for Counted {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn setup() -> (
    Corked<Shared>,
    Arc<dyn Release>,
    Shared,
    Arc<Counted>,
    Waker,
) {
    let socket = Shared::default();
    let (corked, release) = cork(socket.clone());
    let counted = Arc::new(Counted::default());
    let waker = Waker::from(Arc::clone(&counted));
    (corked, release, socket, counted, waker)
}

fn write(
    corked: &mut Corked<Shared>,
    cx: &mut Context<'_>,
    bytes: &[u8],
) -> Poll<io::Result<usize>> {
    Pin::new(corked).poll_write(cx, bytes)
}

fn ok<T: std::fmt::Debug>(p: Poll<io::Result<T>>) -> T {
    match p {
        Poll::Ready(Ok(v)) => v,
        other => panic!("expected Ready(Ok), got {other:?}"),
    }
}

#[test]
fn two_frames_and_a_flush_reach_the_socket_in_one_write_at_release() {
    let (mut corked, release, socket, _, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    assert_eq!(ok(write(&mut corked, &mut cx, b"HEADERS+DATA")), 12);
    ok(Pin::new(&mut corked).poll_flush(&mut cx));
    let trailers = [IoSlice::new(b"TRAI"), IoSlice::new(b"LERS")];
    assert_eq!(
        ok(Pin::new(&mut corked).poll_write_vectored(&mut cx, &trailers)),
        8
    );
    ok(Pin::new(&mut corked).poll_flush(&mut cx));
    assert!(
        socket.get().writes.is_empty(),
        "a write reached the socket before the release"
    );
    assert_eq!(socket.get().flushes, 0);

    ok(release.poll_release(&mut cx));
    assert_eq!(socket.get().writes, vec![b"HEADERS+DATATRAILERS".to_vec()]);
    assert_eq!(socket.get().flushes, 1);
    // Nothing more to write: a release without writes does not touch the socket.
    ok(release.poll_release(&mut cx));
    assert_eq!(socket.get().writes.len(), 1);
    assert_eq!(socket.get().flushes, 1);
}

#[test]
fn the_cap_is_respected_and_a_blocked_socket_gives_pending_with_the_callers_waker() {
    let (mut corked, _release, socket, counted, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    socket.get().blocked = true;
    let chunk = vec![7u8; CAP / 4 + 1];
    let mut corked_bytes = 0;
    for _ in 0..3 {
        corked_bytes += ok(write(&mut corked, &mut cx, &chunk));
    }
    // The fourth does not fit whole: the socket is tried, takes nothing, and the rest fits.
    let n = ok(write(&mut corked, &mut cx, &chunk));
    assert_eq!(corked_bytes + n, CAP, "the buffer went past its cap");
    assert!(write(&mut corked, &mut cx, &chunk).is_pending());
    assert_eq!(counted.0.load(Ordering::SeqCst), 0);
    socket.unblock();
    assert_eq!(
        counted.0.load(Ordering::SeqCst),
        1,
        "the caller was not woken"
    );
    // Now the buffer is written out to make room.
    assert_eq!(ok(write(&mut corked, &mut cx, &chunk)), chunk.len());
    let written: usize = socket.get().writes.iter().map(Vec::len).sum();
    assert_eq!(written, CAP);
}

#[test]
fn a_burst_leaves_no_large_buffer_behind() {
    let (mut corked, release, socket, _, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    let mut corked_bytes = 0;
    while corked_bytes < CAP {
        corked_bytes += ok(write(&mut corked, &mut cx, &[1u8; 4096]));
    }
    ok(release.poll_release(&mut cx));
    assert_eq!(socket.get().writes.len(), 1);
    assert!(lock(&corked.0).buf.capacity() <= KEEP);
}

#[test]
fn a_release_the_socket_cannot_take_is_pending_and_finishes_when_woken() {
    let (mut corked, release, socket, counted, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    ok(write(&mut corked, &mut cx, b"0123456789"));
    socket.get().limit = Some(4);
    socket.get().blocked = true;
    assert!(release.poll_release(&mut cx).is_pending());
    socket.unblock();
    assert_eq!(
        counted.0.load(Ordering::SeqCst),
        1,
        "the task was not woken"
    );
    ok(release.poll_release(&mut cx));
    let s = socket.get();
    assert_eq!(s.writes.concat(), b"0123456789".to_vec());
    assert_eq!(s.writes.len(), 3, "partial writes: 4 + 4 + 2");
    assert_eq!(s.flushes, 1);
}

#[test]
fn a_shutdown_writes_the_corked_bytes_first() {
    let (mut corked, _release, socket, _, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    ok(write(&mut corked, &mut cx, b"GOAWAY"));
    ok(Pin::new(&mut corked).poll_shutdown(&mut cx));
    let s = socket.get();
    assert_eq!(s.writes, vec![b"GOAWAY".to_vec()]);
    assert!(s.shut);
}

#[test]
fn a_failed_release_fails_the_connections_reads_and_writes() {
    let (mut corked, release, socket, _, waker) = setup();
    let mut cx = Context::from_waker(&waker);
    ok(write(&mut corked, &mut cx, b"answer"));
    socket.get().broken = true;
    let failed = |p: Poll<io::Result<()>>| matches!(p, Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe);
    assert!(failed(release.poll_release(&mut cx)));
    assert!(matches!(
        write(&mut corked, &mut cx, b"x"),
        Poll::Ready(Err(_))
    ));
    assert!(failed(Pin::new(&mut corked).poll_flush(&mut cx)));
    let mut space = [0u8; 4];
    let mut buf = ReadBuf::new(&mut space);
    assert!(failed(Pin::new(&mut corked).poll_read(&mut cx, &mut buf)));
}
