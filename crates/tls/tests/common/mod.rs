//! Test PKI made with rcgen (ECDSA P-256, fast): material in memory ([`Pki::issue`], handed to
//! the loaded types by [`mem_server`] and [`mem_client`]) or written to files in a tempdir for the
//! tests where the files are the point, and an in-memory handshake driver (rustls connections
//! wired with read_tls/write_tls, no sockets).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod policy;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use plugwire_tls::client_loaded::ServerTrust;
use plugwire_tls::{
    build_client_config_from, build_server_config, ClientAuth, ClientRoots, ClientTlsSettings,
    LoadedClientTls, LoadedServerTls, Origin,
};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use time::{Duration, OffsetDateTime};

/// When a certificate is valid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validity {
    Now,
    Expired,
    NotYetValid,
}

/// A CA with its files in `dir`.
pub struct Pki {
    pub dir: PathBuf,
    pub name: String,
    pub ca: CertifiedIssuer<'static, KeyPair>,
    pub ca_crt: PathBuf,
    pub ca_key: PathBuf,
}

pub const CLIENT_AUTH: &[ExtendedKeyUsagePurpose] = &[ExtendedKeyUsagePurpose::ClientAuth];
pub const SERVER_AUTH: &[ExtendedKeyUsagePurpose] = &[ExtendedKeyUsagePurpose::ServerAuth];
pub const NO_EKU: &[ExtendedKeyUsagePurpose] = &[];

impl Pki {
    pub fn new(dir: &Path, name: &str) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let key_pem = key.serialize_pem();
        let ca = CertifiedIssuer::self_signed(params, key).unwrap();
        let ca_crt = dir.join(format!("{name}-ca.crt"));
        let ca_key = dir.join(format!("{name}-ca.key"));
        std::fs::write(&ca_crt, ca.pem()).unwrap();
        std::fs::write(&ca_key, key_pem).unwrap();
        Pki {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            ca,
            ca_crt,
            ca_key,
        }
    }

    /// Issues a leaf in memory.
    pub fn issue(
        &self,
        cn: &str,
        sans: &[&str],
        ekus: &[ExtendedKeyUsagePurpose],
        validity: Validity,
    ) -> Leaf {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = ekus.to_vec();
        let now = OffsetDateTime::now_utc();
        let (nb, na) = match validity {
            Validity::Now => (now - Duration::days(1), now + Duration::days(30)),
            Validity::Expired => (now - Duration::days(30), now - Duration::days(1)),
            Validity::NotYetValid => (now + Duration::days(1), now + Duration::days(30)),
        };
        params.not_before = nb;
        params.not_after = na;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf {
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Issues a leaf; writes `<stem>.crt` and `<stem>.key` (PKCS#8) and returns their paths.
    pub fn leaf(
        &self,
        stem: &str,
        cn: &str,
        sans: &[&str],
        ekus: &[ExtendedKeyUsagePurpose],
        validity: Validity,
    ) -> (PathBuf, PathBuf) {
        let leaf = self.issue(cn, sans, ekus, validity);
        let crt = self.dir.join(format!("{stem}.crt"));
        let keyp = self.dir.join(format!("{stem}.key"));
        std::fs::write(&crt, &leaf.cert_pem).unwrap();
        std::fs::write(&keyp, &leaf.key_pem).unwrap();
        (crt, keyp)
    }

    /// The CA certificate, in memory.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        self.ca.der().clone()
    }

    /// Client certificates verified by this CA, required or optional (`None`: not asked for).
    pub fn client_auth(&self, policy: plugwire_tls::ClientCertPolicy) -> ClientAuth {
        let roots = || Arc::new(ClientRoots::new(vec![self.ca_der()]).unwrap());
        match policy {
            plugwire_tls::ClientCertPolicy::None => ClientAuth::None,
            plugwire_tls::ClientCertPolicy::Optional => ClientAuth::Optional(roots()),
            plugwire_tls::ClientCertPolicy::Required => ClientAuth::Required(roots()),
        }
    }

    /// Trust in this CA for a client config, in memory.
    pub fn trust(&self) -> Arc<ServerTrust> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der()).unwrap();
        Arc::new(ServerTrust {
            roots: Arc::new(roots),
            crls: Vec::new(),
            bundle: PathBuf::from("<memory>"),
            origin: Origin::Default,
        })
    }

    /// A plugin server identity in memory: `localhost` DNS SAN, serverAuth.
    pub fn mem_server(&self) -> Leaf {
        self.issue(
            "example-plugin",
            &["localhost", "example-plugin"],
            SERVER_AUTH,
            Validity::Now,
        )
    }

    /// The gateway client identity in memory: clientAuth.
    pub fn mem_gateway(&self) -> Leaf {
        self.issue("mcp-gateway", &["mcp-gateway"], CLIENT_AUTH, Validity::Now)
    }

    /// A plugin server identity: `localhost` DNS SAN, serverAuth.
    pub fn server(&self, stem: &str) -> (PathBuf, PathBuf) {
        self.leaf(
            stem,
            "example-plugin",
            &["localhost", "example-plugin"],
            SERVER_AUTH,
            Validity::Now,
        )
    }

    /// The gateway client identity: clientAuth.
    pub fn gateway(&self, stem: &str) -> (PathBuf, PathBuf) {
        self.leaf(
            stem,
            "mcp-gateway",
            &["mcp-gateway"],
            CLIENT_AUTH,
            Validity::Now,
        )
    }

    /// An X.509 v1 client certificate, made the way the Python Makefile does
    /// (`openssl x509 -req` without extensions).
    pub fn v1_client(&self, stem: &str) -> (PathBuf, PathBuf) {
        let key = self.dir.join(format!("{stem}.key"));
        let csr = self.dir.join(format!("{stem}.csr"));
        let crt = self.dir.join(format!("{stem}.crt"));
        std::fs::write(&key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
        openssl(&[
            "req",
            "-new",
            "-key",
            p(&key),
            "-subj",
            "/CN=mcp-gateway",
            "-out",
            p(&csr),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            p(&csr),
            "-CA",
            p(&self.ca_crt),
            "-CAkey",
            p(&self.ca_key),
            "-set_serial",
            "4242",
            "-days",
            "30",
            "-out",
            p(&crt),
        ]);
        (crt, key)
    }
}

/// A leaf certificate and its PKCS#8 key, as DER (for the loaded types) and as PEM (for files).
pub struct Leaf {
    pub cert: CertificateDer<'static>,
    pub key: PrivatePkcs8KeyDer<'static>,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Leaf {
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }

    /// The certificate and key as rustls signs with them.
    pub fn certified(&self) -> Arc<CertifiedKey> {
        let provider = plugwire_tls::provider();
        let signer = provider
            .key_provider
            .load_private_key(self.key_der())
            .unwrap();
        Arc::new(CertifiedKey::new(vec![self.cert.clone()], signer))
    }
}

/// A server config built from in-memory material: no file is written or read.
pub fn mem_server(identity: &Leaf, client_auth: ClientAuth) -> Arc<ServerConfig> {
    let loaded =
        LoadedServerTls::new(vec![identity.cert.clone()], identity.key_der(), client_auth).unwrap();
    build_server_config(&loaded).unwrap()
}

/// A client config built from in-memory material: `settings` gives the policies (`verify`,
/// `check_hostname`, `server_name`) and the names in messages; no file is read.
pub fn mem_client(
    settings: &ClientTlsSettings,
    trust: Option<Arc<ServerTrust>>,
    identity: Option<&Leaf>,
) -> Arc<ClientConfig> {
    let loaded = LoadedClientTls::new(trust, identity.map(Leaf::certified));
    build_client_config_from(settings, &loaded).unwrap()
}

pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Runs openssl and panics with its stderr on failure.
pub fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Result of an in-memory handshake.
#[derive(Debug)]
pub struct Outcome {
    pub server: Result<(), rustls::Error>,
    pub client: Result<(), rustls::Error>,
    pub server_conn: ServerConnection,
    pub client_conn: ClientConnection,
}

/// Drives a handshake between the two configs until neither side makes progress.
pub fn handshake(server: Arc<ServerConfig>, client: Arc<ClientConfig>, host: &str) -> Outcome {
    let name = plugwire_tls::server_name(host).unwrap();
    let mut c = ClientConnection::new(client, name).unwrap();
    let mut s = ServerConnection::new(server).unwrap();
    let mut s_err = None;
    let mut c_err = None;
    for _ in 0..64 {
        let mut progressed = false;
        let mut buf = Vec::new();
        while c.wants_write() {
            if c.write_tls(&mut buf).unwrap() == 0 {
                break;
            }
        }
        if !buf.is_empty() && s_err.is_none() {
            progressed = true;
            s_err = feed_server(&mut s, &buf);
        }
        let mut buf = Vec::new();
        while s.wants_write() {
            if s.write_tls(&mut buf).unwrap() == 0 {
                break;
            }
        }
        if !buf.is_empty() && c_err.is_none() {
            progressed = true;
            c_err = feed_client(&mut c, &buf);
        }
        if !progressed {
            break;
        }
    }
    let server = match s_err {
        Some(e) => Err(e),
        None if s.is_handshaking() => {
            Err(rustls::Error::General("server handshake incomplete".into()))
        }
        None => Ok(()),
    };
    let client = match c_err {
        Some(e) => Err(e),
        None if c.is_handshaking() => {
            Err(rustls::Error::General("client handshake incomplete".into()))
        }
        None => Ok(()),
    };
    Outcome {
        server,
        client,
        server_conn: s,
        client_conn: c,
    }
}

pub fn feed_server(s: &mut ServerConnection, mut data: &[u8]) -> Option<rustls::Error> {
    while !data.is_empty() {
        if s.read_tls(&mut data).is_err() {
            return Some(rustls::Error::General("read_tls failed".into()));
        }
        if let Err(e) = s.process_new_packets() {
            return Some(e);
        }
    }
    None
}

fn feed_client(c: &mut ClientConnection, mut data: &[u8]) -> Option<rustls::Error> {
    while !data.is_empty() {
        if c.read_tls(&mut data).is_err() {
            return Some(rustls::Error::General("read_tls failed".into()));
        }
        if let Err(e) = c.process_new_packets() {
            return Some(e);
        }
    }
    None
}

/// Captures tracing output (any level) while `f` runs on this thread.
pub fn capture_logs<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let out = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8_lossy(&buf.0.lock().unwrap()).into_owned();
    (out, text)
}

pub struct Files {
    pub _dir: tempfile::TempDir,
    pub root: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub bundle: PathBuf,
}

/// A CA, a server identity, and the identity as a cert+key bundle, in a tempdir.
pub fn files() -> Files {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let pki = Pki::new(&root, "test");
    let (cert, key) = pki.server("server");
    let bundle = root.join("bundle.pem");
    let text = std::fs::read_to_string(&cert).unwrap() + &std::fs::read_to_string(&key).unwrap();
    std::fs::write(&bundle, text).unwrap();
    Files {
        ca: pki.ca_crt.clone(),
        _dir: dir,
        root,
        cert,
        key,
        bundle,
    }
}
