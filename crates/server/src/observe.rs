//! The server's one-line metric hooks, so that the accept loops and start-up record into
//! [`ServerMetrics::global`] without knowing its families: connections open by transport,
//! TLS handshakes by result, the `plugin_info` gauge, config generation. Certificate expiry is
//! recorded from the loaded material, in `crate::reload`.

use std::future::Future;
use std::io;
use std::sync::Arc;

use plugwire_metrics::{HandshakeResult, ServerMetrics, Transport};
use plugwire_tls::{CertRefusal, ServerTlsSettings};
use rustls::{CertificateError, OtherError};

use crate::backend::Backend;
use crate::metered::Metered;

/// The `listener` label of the main port's handshakes (the only TLS listener).
pub const MAIN_LISTENER: &str = "main";

/// Runs one connection's future, counted in `plugwire_open_connections{transport}` while it
/// runs.
pub async fn counted<F: Future>(transport: Transport, connection: F) -> F::Output {
    let _open = ServerMetrics::global().connection_opened(transport);
    connection.await
}

/// A completed handshake.
pub fn handshake_accepted() {
    ServerMetrics::global().tls_handshake(MAIN_LISTENER, HandshakeResult::Accepted);
}

/// A handshake rustls (or the socket) failed; the reason is read from the error.
pub fn handshake_failed(err: &io::Error) {
    ServerMetrics::global().tls_handshake(MAIN_LISTENER, classify(err));
}

/// The reason of a failed handshake: plugwire-tls's own refusals (checked before webpki's)
/// first, then rustls' typed errors.
pub fn classify(err: &io::Error) -> HandshakeResult {
    let tls = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>());
    if let Some(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(e)))) = tls {
        return match e.downcast_ref::<CertRefusal>() {
            Some(CertRefusal::NoClientAuthEku { .. }) => HandshakeResult::WrongEku,
            Some(CertRefusal::NotAllowed { .. }) => HandshakeResult::Policy,
            _ => HandshakeResult::Other,
        };
    }
    HandshakeResult::from_io_error(err)
}

/// A handshake that never started properly: nothing sent, plaintext, timeout.
pub fn handshake_other() {
    ServerMetrics::global().tls_handshake(MAIN_LISTENER, HandshakeResult::Other);
}

/// A backend, metered into [`ServerMetrics::global`].
pub fn metered<B: Backend>(backend: B) -> Arc<dyn Backend> {
    metered_arc(Arc::new(backend))
}

/// [`metered`] for a backend already shared.
pub fn metered_arc(backend: Arc<dyn Backend>) -> Arc<dyn Backend> {
    Arc::new(Metered::new(backend, ServerMetrics::global()))
}

/// Start-up: ContextForge's `plugin_info{server_name, transport, ssl_enabled}` (transport
/// `http` or `stdio`, as there) and config generation 1.
pub fn server_started(transport: &str, tls: Option<&ServerTlsSettings>) {
    let m = ServerMetrics::global();
    if !m.enabled() {
        return;
    }
    m.set_info(
        plugwire_mcp::lifecycle::SERVER_NAME,
        transport,
        tls.is_some(),
    );
    m.config_loaded(1, true);
    // The certificate expiry of a TLS listener is recorded from its loaded material when it
    // starts serving (crate::reload::follow_certificates), not by reading the files again.
    m.preregister_listener(MAIN_LISTENER);
}
