//! The closed sets of label values. Open sets (plugin, hook, violation code, listener,
//! certificate path) are strings chosen by the configuration, never by a peer, except where
//! [`crate::calls`] caps them.

use rustls::{AlertDescription, CertificateError, PeerIncompatible};

/// How one hook call ended, as an alert rule wants to group it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The plugin let the request through unchanged.
    Continue,
    /// The plugin let it through with a modified payload.
    Modified,
    /// The plugin blocked it with a violation (its code is counted separately).
    Violation,
    /// The plugin (or the call itself) failed.
    Error,
    /// The plugin did not answer within its timeout.
    Timeout,
}

impl Outcome {
    /// Every outcome, in label order.
    pub const ALL: [Outcome; 5] = [
        Outcome::Continue,
        Outcome::Modified,
        Outcome::Violation,
        Outcome::Error,
        Outcome::Timeout,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Continue => "continue",
            Outcome::Modified => "modified",
            Outcome::Violation => "violation",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// The result of one server-side TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandshakeResult {
    /// Completed.
    Accepted,
    /// The client presented no certificate where one is required.
    NoCert,
    /// The client certificate does not chain to the configured CA.
    UnknownCa,
    /// A certificate is expired or not yet valid.
    Expired,
    /// The client certificate lacks the clientAuth extended key usage.
    WrongEku,
    /// Refused by an identity policy (allow-list, revocation, name check).
    Policy,
    /// No protocol version in common (e.g. a TLS 1.0 client).
    ProtocolVersion,
    /// Anything else: timeouts, plaintext on the TLS port, resets, bad records.
    Other,
}

impl HandshakeResult {
    /// Every result, in label order.
    pub const ALL: [HandshakeResult; 8] = [
        HandshakeResult::Accepted,
        HandshakeResult::NoCert,
        HandshakeResult::UnknownCa,
        HandshakeResult::Expired,
        HandshakeResult::WrongEku,
        HandshakeResult::Policy,
        HandshakeResult::ProtocolVersion,
        HandshakeResult::Other,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            HandshakeResult::Accepted => "accepted",
            HandshakeResult::NoCert => "no_cert",
            HandshakeResult::UnknownCa => "unknown_ca",
            HandshakeResult::Expired => "expired",
            HandshakeResult::WrongEku => "wrong_eku",
            HandshakeResult::Policy => "policy",
            HandshakeResult::ProtocolVersion => "protocol_version",
            HandshakeResult::Other => "other",
        }
    }

    /// Classifies a failed handshake as the server's rustls reports it.
    pub fn from_rustls(err: &rustls::Error) -> Self {
        use rustls::Error as E;
        match err {
            E::NoCertificatesPresented => HandshakeResult::NoCert,
            E::InvalidCertificate(c) => Self::from_certificate_error(c),
            // A TLS 1.0/1.1 ClientHello carries no `signature_algorithms` extension, and rustls
            // refuses it for that before it looks at the versions: the server's log explains it
            // as a version refusal too (plugwire-tls's `describe_server_handshake_error`).
            E::PeerIncompatible(
                PeerIncompatible::Tls12NotOffered
                | PeerIncompatible::Tls12NotOfferedOrEnabled
                | PeerIncompatible::Tls13RequiredForQuic
                | PeerIncompatible::SupportedVersionsExtensionRequired
                | PeerIncompatible::SignatureAlgorithmsExtensionRequired
                | PeerIncompatible::ServerDoesNotSupportTls12Or13,
            ) => HandshakeResult::ProtocolVersion,
            E::AlertReceived(AlertDescription::ProtocolVersion) => HandshakeResult::ProtocolVersion,
            // The client refused *our* certificate: not a client-identity problem.
            _ => HandshakeResult::Other,
        }
    }

    /// Classifies a failed handshake as tokio-rustls reports it (an I/O error that wraps the
    /// rustls error, or a plain I/O error such as a reset).
    pub fn from_io_error(err: &std::io::Error) -> Self {
        err.get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
            .map_or(HandshakeResult::Other, Self::from_rustls)
    }

    fn from_certificate_error(err: &CertificateError) -> Self {
        use CertificateError as C;
        match err {
            C::UnknownIssuer
            | C::BadSignature
            | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => {
                HandshakeResult::UnknownCa
            }
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => HandshakeResult::Expired,
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => HandshakeResult::WrongEku,
            C::Revoked
            | C::ApplicationVerificationFailure
            | C::NotValidForName
            | C::NotValidForNameContext { .. } => HandshakeResult::Policy,
            _ => HandshakeResult::Other,
        }
    }
}

/// What carries a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Plain HTTP over TCP (including the health port).
    Http,
    /// HTTP over TLS.
    Https,
    /// HTTP over a Unix socket.
    Unix,
    /// gRPC.
    Grpc,
    /// The raw Unix-socket protocol.
    Raw,
}

impl Transport {
    /// Every transport, in label order.
    pub const ALL: [Transport; 5] = [
        Transport::Http,
        Transport::Https,
        Transport::Unix,
        Transport::Grpc,
        Transport::Raw,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Https => "https",
            Transport::Unix => "unix",
            Transport::Grpc => "grpc",
            Transport::Raw => "raw",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// Which certificate of the process a certificate file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CertRole {
    /// The server's own certificate.
    Server,
    /// A CA bundle (client CA on the server, server CA on the gateway).
    Ca,
    /// The gateway's client identity.
    Client,
}

impl CertRole {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            CertRole::Server => "server",
            CertRole::Ca => "ca",
            CertRole::Client => "client",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rustls_errors_map_to_the_reasons_an_operator_alerts_on() {
        use rustls::Error as E;
        let cert = |c| HandshakeResult::from_rustls(&E::InvalidCertificate(c));
        assert_eq!(
            HandshakeResult::from_rustls(&E::NoCertificatesPresented),
            HandshakeResult::NoCert
        );
        assert_eq!(
            cert(CertificateError::UnknownIssuer),
            HandshakeResult::UnknownCa
        );
        assert_eq!(cert(CertificateError::Expired), HandshakeResult::Expired);
        assert_eq!(
            cert(CertificateError::InvalidPurpose),
            HandshakeResult::WrongEku
        );
        assert_eq!(
            cert(CertificateError::ApplicationVerificationFailure),
            HandshakeResult::Policy
        );
        assert_eq!(cert(CertificateError::Revoked), HandshakeResult::Policy);
        assert_eq!(
            HandshakeResult::from_rustls(&E::PeerIncompatible(
                PeerIncompatible::SupportedVersionsExtensionRequired
            )),
            HandshakeResult::ProtocolVersion
        );
        assert_eq!(
            HandshakeResult::from_rustls(&E::PeerIncompatible(
                PeerIncompatible::SignatureAlgorithmsExtensionRequired
            )),
            HandshakeResult::ProtocolVersion,
            "what rustls says to a TLS 1.1 ClientHello"
        );
        assert_eq!(
            HandshakeResult::from_rustls(&E::DecryptError),
            HandshakeResult::Other
        );
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, E::NoCertificatesPresented);
        assert_eq!(HandshakeResult::from_io_error(&io), HandshakeResult::NoCert);
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(
            HandshakeResult::from_io_error(&reset),
            HandshakeResult::Other
        );
    }

    #[test]
    fn label_values_follow_the_declared_order() {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            assert_eq!(o.index(), i);
        }
        for (i, t) in Transport::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
        }
    }
}
