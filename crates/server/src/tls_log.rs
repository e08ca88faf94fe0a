//! What a TLS handshake did, in words an operator can act on (logged at DEBUG).

use std::io;
use std::net::SocketAddr;

use rustls::ServerConnection;

/// Logs a completed handshake: peer, protocol version, cipher suite, and the client
/// certificate's subject and issuer (or that there was none).
pub fn log_success(peer: SocketAddr, conn: &ServerConnection) {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return;
    }
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_else(|| "?".into());
    let suite = conn
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_else(|| "?".into());
    match conn.peer_certificates().and_then(|c| c.first()) {
        Some(cert) => {
            let (subject, issuer) = subject_issuer(cert.as_ref());
            tracing::debug!(%peer, %version, %suite, client_subject = %subject, client_issuer = %issuer, "TLS handshake ok (client certificate verified)");
        }
        None => {
            tracing::debug!(%peer, %version, %suite, "TLS handshake ok (no client certificate)");
        }
    }
}

/// Subject and issuer of a DER certificate, RFC 4514 style.
pub fn subject_issuer(der: &[u8]) -> (String, String) {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => (cert.subject().to_string(), cert.issuer().to_string()),
        Err(e) => (format!("<unparsable: {e}>"), String::from("?")),
    }
}

/// The reason a handshake failed, worded by plugwire-tls (certificate refusals are also
/// logged, with subject and issuer, by its client-certificate verifier).
pub fn describe_error(err: &io::Error) -> String {
    match err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    {
        Some(tls) => plugwire_tls::describe_server_handshake_error(tls),
        None => format!("{err}"),
    }
}
