//! Certificates and TLS clients for the socket-level TLS tests: a tree from plugwire-certs
//! (ECDSA), gateway certificates issued by its CA with other options (expired, other SANs), and
//! clients built by plugwire-tls as a gateway builds them.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use plugwire_certs::{issue, issue_all, Layout, Options, Request};
use plugwire_tls::{build_client_config, resolve_client_tls, ClientTlsLayer};
use tokio_rustls::TlsConnector;

/// A CA, a gateway certificate and plugin `alpha`'s server certificate (SANs `localhost` and
/// `127.0.0.1`) in `dir`.
pub fn certs(dir: &Path) -> Layout {
    issue_all(
        dir,
        &["alpha"],
        &Options::ecdsa().with_sans(&["IP:127.0.0.1"]),
    )
    .unwrap();
    Layout::new(dir)
}

/// A tree in `to` with `from`'s CA and a gateway certificate issued by it with `options`.
pub fn gateway_with(from: &Layout, to: &Path, options: &Options) -> Layout {
    let ca_dir = Layout::new(to).ca_dir();
    std::fs::create_dir_all(&ca_dir).unwrap();
    for entry in std::fs::read_dir(from.ca_dir()).unwrap() {
        let e = entry.unwrap();
        std::fs::copy(e.path(), ca_dir.join(e.file_name())).unwrap();
    }
    issue(to, &Request::gateway(), options, &()).unwrap();
    Layout::new(to)
}

/// Options for a certificate valid for two days, a month ago.
pub fn expired() -> Options {
    Options {
        not_before: Some(time::OffsetDateTime::now_utc() - time::Duration::days(30)),
        days: 2,
        ..Options::ecdsa()
    }
}

/// A client trusting `ca`, presenting `identity` (certificate, key) if any, offering ALPN
/// `alpn` if not empty (gRPC needs `h2`).
pub fn tls_client(ca: &Path, identity: Option<(&Path, &Path)>, alpn: &[u8]) -> TlsConnector {
    let env: HashMap<&str, &str> = HashMap::new();
    let layer = ClientTlsLayer {
        certfile: identity.map(|i| i.0.to_path_buf()),
        keyfile: identity.map(|i| i.1.to_path_buf()),
        ca_bundle: Some(ca.to_path_buf()),
        ..Default::default()
    };
    let settings = resolve_client_tls(Some(&layer), &env).unwrap().unwrap();
    let config = build_client_config(&settings).unwrap();
    if alpn.is_empty() {
        return TlsConnector::from(config);
    }
    let mut config = (*config).clone();
    config.alpn_protocols = vec![alpn.to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// A minimal ClientHello offering only TLS 1.1 (legacy_version 0x0302, no supported_versions).
pub fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02];
    body.extend_from_slice(&[0x11; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x02, 0xc0, 0x13]); // ECDHE_RSA_WITH_AES_128_CBC_SHA
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut hs = vec![0x01, 0x00, 0x00, u8::try_from(body.len()).unwrap()];
    hs.extend_from_slice(&body);
    let mut rec = vec![0x16, 0x03, 0x01, 0x00, u8::try_from(hs.len()).unwrap()];
    rec.extend_from_slice(&hs);
    rec
}
