//! Process signals of `plugwire serve`.
//!
//! SIGTERM and SIGINT start the same graceful drain (Kubernetes sends the first, a terminal the
//! second). SIGHUP asks for a reload (certificates, CA bundle, plugins YAML; see
//! [`crate::reload`]): its default action would kill the server at once and lose every call
//! in flight, so it is always caught, even before the reloader is ready (a request sent then
//! waits for it).

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;

/// Installs the handlers and returns the shutdown future (completes on SIGTERM or SIGINT) and
/// the reload requests (one message per SIGHUP; several SIGHUPs arriving while a reload is
/// still waiting to run make one reload, which reads the files after all of them).
///
/// The handlers are installed when this is CALLED, not when the future is first polled (call
/// it inside the tokio runtime, before binding): a signal that arrives earlier keeps its
/// default action. Dropping the receiver makes SIGHUP logged and ignored.
pub fn install() -> (
    impl std::future::Future<Output = ()> + Send + 'static,
    mpsc::Receiver<()>,
) {
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    let hup = signal(SignalKind::hangup());
    let (reload_tx, reload_rx) = mpsc::channel(1);
    let shutdown = async move {
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
                } => request_reload(&reload_tx),
            }
        }
    };
    (shutdown, reload_rx)
}

fn request_reload(tx: &mpsc::Sender<()>) {
    match tx.try_send(()) {
        Ok(()) => tracing::info!("SIGHUP: reloading certificates and the plugins config"),
        Err(mpsc::error::TrySendError::Full(())) => {
            tracing::info!(
                "SIGHUP: a reload is already pending; it will read the files as they are now"
            );
        }
        Err(mpsc::error::TrySendError::Closed(())) => {
            tracing::info!("SIGHUP received and ignored (nothing to reload in this mode; send SIGTERM to stop)");
        }
    }
}

/// Completes on SIGTERM or SIGINT; SIGHUP is logged and ignored (for embedders without a
/// reloader). Same installation rule as [`install`].
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    install().0
}
