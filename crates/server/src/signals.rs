//! Process signals of `plugwire serve`.
//!
//! SIGTERM and SIGINT start the same graceful drain (Kubernetes sends the first, a terminal the
//! second). SIGHUP is what operators send to "reload": its default action would kill the server
//! at once and lose every call in flight, so it is caught, logged and ignored until a reload
//! meaning is given to it.

use tokio::signal::unix::{signal, SignalKind};

/// Completes on SIGTERM or SIGINT; logs and ignores SIGHUP meanwhile. The handlers are
/// installed when this is CALLED, not when the future is first polled (call it inside the tokio
/// runtime, before binding): a signal that arrives earlier keeps its default action.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    let hup = signal(SignalKind::hangup());
    async move {
        let (mut term, mut int) = match (term, int) {
            (Ok(t), Ok(i)) => (t, i),
            _ => {
                tracing::warn!("cannot install signal handlers; stop with SIGKILL");
                return std::future::pending::<()>().await;
            }
        };
        let mut hup = hup
            .map_err(|e| tracing::warn!("cannot catch SIGHUP ({e}); it will stop the server"))
            .ok();
        loop {
            tokio::select! {
                _ = term.recv() => {
                    tracing::info!("SIGTERM: draining in-flight requests");
                    return;
                }
                _ = int.recv() => {
                    tracing::info!("SIGINT: draining in-flight requests");
                    return;
                }
                Some(()) = async {
                    match hup.as_mut() {
                        Some(h) => h.recv().await,
                        None => std::future::pending().await,
                    }
                } => {
                    tracing::info!("SIGHUP received and ignored (it does not reload or stop the server; send SIGTERM to stop)");
                }
            }
        }
    }
}
