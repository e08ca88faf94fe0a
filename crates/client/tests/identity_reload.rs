//! Client certificate reload: after the gateway's certificate files are replaced by a new
//! identity and `ClientIdentities::reload` runs, the next new connection presents the new
//! certificate, while the connection already open keeps working with the old one.
//!
//! The plugin server is plugwire's, behind a small mTLS-terminating proxy that records the
//! certificate each connection presented.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use plugwire_client::{ClientOptions, ExternalPlugin};
use plugwire_framework::{Plugin, PluginConfig};
use plugwire_metrics::ClientMetrics;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};

struct Proxy {
    port: u16,
    /// The DER of the client certificate of each accepted connection, in order.
    seen: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Bumping it closes every proxied connection.
    cut: tokio::sync::watch::Sender<u32>,
    task: tokio::task::JoinHandle<()>,
}

async fn proxy(tls: Arc<rustls::ServerConfig>, backend: u16) -> Proxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (cut, cut_rx) = tokio::sync::watch::channel(0u32);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let s = seen.clone();
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen, mut cut_rx) = (acceptor.clone(), s.clone(), cut_rx.clone());
            // Only a cut after this connection was accepted closes it.
            cut_rx.borrow_and_update();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let cert = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
                seen.lock().unwrap().push(cert);
                let mut up = TcpStream::connect(("127.0.0.1", backend)).await.unwrap();
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut tls, &mut up) => {}
                    _ = cut_rx.changed() => {}
                }
            });
        }
    });
    Proxy {
        port,
        seen,
        cut,
        task,
    }
}

fn cert_der(path: &str) -> Vec<u8> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

#[tokio::test]
async fn a_rotated_client_certificate_is_used_by_the_next_new_connection() {
    install_crypto();
    let options = plugwire_certs::Options::ecdsa().with_sans(&["IP:127.0.0.1"]);
    let pki = Pki::with(options.clone());
    let backend = start_tcp(None).await;
    let proxy = proxy(pki.server_config(true), backend.port()).await;
    let entry = PluginConfig::from_json(json!({"name": "Scrubber", "kind": "external",
        "mcp": {"proto": "STREAMABLEHTTP", "url": format!("https://127.0.0.1:{}/mcp", proxy.port),
            "tls": {"certfile": pki.client_cert(), "keyfile": pki.client_key(), "ca_bundle": pki.ca()}}}))
    .unwrap();
    let opts = ClientOptions {
        env: env(&[]),
        ..ClientOptions::default()
    };
    let plugin = ExternalPlugin::new(entry, &opts).unwrap();
    plugin.initialize().await.unwrap();
    plugin
        .invoke(tool_payload("a"), &mut ctx("r1"))
        .await
        .unwrap();
    let old = cert_der(&pki.client_cert());
    assert_eq!(proxy.seen.lock().unwrap().clone(), vec![old.clone()]);
    let scrape = ClientMetrics::global().encode();
    assert!(
        scrape.contains("role=\"client\"") && scrape.contains(&pki.client_cert()),
        "client certificate expiry exported:\n{scrape}"
    );

    // Rotate: a new gateway key and certificate from the same CA, in the same files.
    let force = plugwire_certs::Options {
        force: true,
        ..options
    };
    plugwire_certs::issue(
        pki.dir.path(),
        &plugwire_certs::Request::gateway(),
        &force,
        &(),
    )
    .unwrap();
    let new = cert_der(&pki.client_cert());
    assert_ne!(old, new, "a new identity was issued");
    assert_eq!(opts.identities.reload(), Ok(1), "one endpoint reloaded");
    assert_eq!(
        opts.identities.reload(),
        Ok(0),
        "unchanged files are not reloaded"
    );

    // The open connection is unaffected: the call goes through without a new handshake.
    plugin
        .invoke(tool_payload("b"), &mut ctx("r2"))
        .await
        .unwrap();
    assert_eq!(proxy.seen.lock().unwrap().len(), 1);

    // The next new connection presents the new certificate.
    proxy.cut.send_modify(|n| *n += 1);
    plugin
        .invoke(tool_payload("c"), &mut ctx("r3"))
        .await
        .unwrap();
    let seen = proxy.seen.lock().unwrap().clone();
    assert!(
        seen.len() >= 2,
        "a new connection was opened: {}",
        seen.len()
    );
    assert!(
        seen[1..].iter().all(|c| *c == new),
        "every new connection presents the new certificate"
    );
    proxy.task.abort();
    backend.stop().await;
}

#[tokio::test]
async fn a_broken_rotation_keeps_the_old_certificate() {
    install_crypto();
    let pki = Pki::new();
    let entry = PluginConfig::from_json(json!({"name": "Scrubber", "kind": "external",
        "mcp": {"proto": "STREAMABLEHTTP", "url": "https://127.0.0.1:9/mcp",
            "tls": {"certfile": pki.client_cert(), "keyfile": pki.client_key(), "ca_bundle": pki.ca()}}}))
    .unwrap();
    let opts = ClientOptions {
        env: env(&[]),
        ..ClientOptions::default()
    };
    let _plugin = ExternalPlugin::new(entry, &opts).unwrap();
    // Half-written rotation: the certificate file is not PEM any more.
    std::fs::write(pki.client_cert(), b"not a certificate").unwrap();
    let errors = opts.identities.reload().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].contains("Scrubber"), "{errors:?}");
}

/// A plugwire gRPC server presenting `server`'s plugin certificate and accepting only client
/// certificates issued by `clients`' CA.
async fn grpc_server_trusting(
    server: &Pki,
    clients: &Pki,
) -> (
    u16,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    use rustls::pki_types::PrivateKeyDer;
    let p = server.layout.plugin("scrubber");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&p.cert)
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(&p.key).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(clients.layout.ca_cert()).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let backend: Arc<dyn plugwire_server::Backend> =
        Arc::new(plugwire_server::ManagerBackend::new(server_manager().await));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        plugwire_server::grpc::run_tls(
            listener,
            Arc::new(config).into(),
            backend,
            plugwire_server::ConnLimits::default(),
            async {
                let _ = rx.await;
            },
        )
        .await
        .unwrap();
    });
    (port, stop, task)
}

#[tokio::test]
async fn a_grpc_entry_presents_its_rotated_certificate_on_the_next_connection() {
    install_crypto();
    // The server's identity and CA; the gateway's first certificate comes from the same CA,
    // which the server does not accept. The "rotation" is to a certificate of `accepted`'s CA.
    let server_pki = Pki::new();
    let accepted = Pki::new();
    let (port, stop, task) = grpc_server_trusting(&server_pki, &accepted).await;

    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("gw.crt"), files.path().join("gw.key"));
    std::fs::copy(server_pki.client_cert(), &cert).unwrap();
    std::fs::copy(server_pki.client_key(), &key).unwrap();
    let cfg = plugwire_framework::GrpcClientConfig {
        target: Some(format!("127.0.0.1:{port}")),
        uds: None,
        tls: Some(plugwire_framework::GrpcClientTLSConfig {
            files: plugwire_framework::TlsFiles {
                certfile: Some(cert.display().to_string()),
                keyfile: Some(key.display().to_string()),
                ca_bundle: Some(server_pki.ca()),
                ..Default::default()
            },
            ..Default::default()
        }),
    };
    let opts = ClientOptions {
        env: env(&[]),
        call_timeout: std::time::Duration::from_secs(10),
        ..ClientOptions::default()
    };
    let plugwire_client::Remote::Grpc(client) =
        plugwire_client::remote::grpc_remote("Scrubber", &cfg, &opts).unwrap()
    else {
        panic!("a grpc entry builds a gRPC remote")
    };
    let refused = client.get_plugin_configs().await;
    assert!(
        refused.is_err(),
        "the server refuses a certificate of the other CA: {refused:?}"
    );
    assert_eq!(opts.identities.reload(), Ok(0), "files unchanged so far");

    // Rotate in place: the files now hold an identity the server accepts.
    std::fs::copy(accepted.client_cert(), &cert).unwrap();
    std::fs::copy(accepted.client_key(), &key).unwrap();
    assert_eq!(opts.identities.reload(), Ok(1), "the gRPC entry reloaded");
    let configs = client.get_plugin_configs().await.unwrap();
    assert_eq!(configs.len(), 1, "the new connection was accepted");

    let _ = stop.send(());
    task.await.unwrap();
}
