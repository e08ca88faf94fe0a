//! The raw Unix-socket framing target: the bytes a peer writes, as frames, through
//! `plugwire_grpc::frame` (length prefix, type sniffing) and through the real server
//! (`plugwire_server::raw_socket::run`) on a Unix socket.
//!
//! What must hold for any bytes: no panic; the server answers only whole frames of at most
//! `MAX_FRAME_LEN`, never more answers than complete request frames, each answer decodable as
//! the answer type of what [`frame::sniff`] took the request for; a frame the sniffer refuses
//! (or an oversized length) ends the connection instead of being answered.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use plugwire_grpc::frame::{self, Request, HEADER_LEN, MAX_FRAME_LEN};
use plugwire_grpc::pb::cpex as pb;
use plugwire_server::raw_socket::{self, RawSocketOptions};
use plugwire_server::Backend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// What the server should do with the bytes, frame by frame, as far as a frame is whole.
#[derive(Debug, PartialEq)]
enum Expect {
    /// Answered with this answer type.
    Answer(&'static str),
    /// The connection is closed here (oversized or undecodable).
    Close,
}

/// Splits `data` into the frames the server sees and what each should get.
fn expectations(data: &[u8]) -> Vec<Expect> {
    let mut out = Vec::new();
    let mut rest = data;
    while rest.len() >= HEADER_LEN {
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&rest[..HEADER_LEN]);
        let Ok(len) = frame::body_len(header) else {
            out.push(Expect::Close);
            return out;
        };
        let Some(body) = rest.get(HEADER_LEN..HEADER_LEN + len) else {
            return out; // incomplete: the peer's EOF ends it, unanswered
        };
        out.push(match frame::sniff(body) {
            Ok(Request::GetPluginConfigs) => Expect::Answer("configs"),
            Ok(Request::GetPluginConfig(_)) => Expect::Answer("config"),
            Ok(Request::InvokeHook(_) | Request::Unknown) => Expect::Answer("invoke"),
            Err(_) => Expect::Close,
        });
        if out.last() == Some(&Expect::Close) {
            return out;
        }
        rest = &rest[HEADER_LEN + len..];
    }
    out
}

/// The answer frames in `bytes`; panics on a partial or oversized one.
fn answers(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        assert!(bytes.len() >= HEADER_LEN, "a partial answer header");
        let mut header = [0u8; HEADER_LEN];
        header.copy_from_slice(&bytes[..HEADER_LEN]);
        let len = frame::body_len(header).expect("an answer within MAX_FRAME_LEN");
        let body = bytes
            .get(HEADER_LEN..HEADER_LEN + len)
            .expect("a whole answer body");
        out.push(body);
        bytes = &bytes[HEADER_LEN + len..];
    }
    out
}

fn check_answer(kind: &str, body: &[u8]) {
    let ok = match kind {
        "configs" => frame::decode::<pb::GetPluginConfigsResponse>(body, "configs").is_ok(),
        "config" => frame::decode::<pb::GetPluginConfigResponse>(body, "config").is_ok(),
        _ => frame::decode::<pb::InvokeHookResponse>(body, "invoke").is_ok(),
    };
    assert!(ok, "the answer to a {kind} request does not decode as one");
}

/// A raw-socket server for the target, on a socket in `dir`, serving `backend`.
pub struct RawServer {
    path: PathBuf,
}

impl RawServer {
    /// Binds and spawns the server on the current runtime (it runs while the runtime is driven).
    pub fn start(dir: &std::path::Path, backend: Arc<dyn Backend>) -> Result<Self, String> {
        let path = dir.join("raw.sock");
        let listener = raw_socket::bind_unix_0600(&path, "fuzz").map_err(|e| e.to_string())?;
        let options = RawSocketOptions {
            idle: Duration::from_secs(5),
            ..RawSocketOptions::default()
        };
        tokio::spawn(raw_socket::run(
            listener,
            backend,
            options,
            std::future::pending(),
        ));
        Ok(RawServer { path })
    }

    /// Writes `data` on a new connection, half-closes, reads everything the server sends back
    /// and checks it against [`expectations`].
    pub async fn exchange(&self, data: &[u8]) {
        let expect = expectations(data);
        let Ok(mut conn) = UnixStream::connect(&self.path).await else {
            panic!("the raw-socket server stopped accepting");
        };
        // The server may close early (a refused frame): a write error is expected then.
        let (mut rd, mut wr) = conn.split();
        let write = async {
            let _ = wr.write_all(data).await;
            let _ = wr.shutdown().await;
        };
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut got));
        let ((), read) = tokio::join!(write, read);
        assert!(
            read.is_ok(),
            "the server neither answered nor closed within 10 s"
        );
        let frames = answers(&got);
        let wanted: Vec<&str> = expect
            .iter()
            .filter_map(|e| match e {
                Expect::Answer(k) => Some(*k),
                Expect::Close => None,
            })
            .collect();
        assert!(
            frames.len() <= wanted.len(),
            "{} answers to {} answerable frames",
            frames.len(),
            wanted.len()
        );
        if !expect.contains(&Expect::Close) {
            assert_eq!(
                frames.len(),
                wanted.len(),
                "a whole request went unanswered"
            );
        }
        // Every answerable frame before the end is answered when the server reads it all; a
        // peer reset can only cut the tail, so the answers are a prefix of what was wanted.
        for (kind, body) in wanted.iter().zip(&frames) {
            assert!(body.len() <= MAX_FRAME_LEN);
            check_answer(kind, body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_follow_the_frames() {
        // An empty message, then a name (GetPluginConfig), then an oversized header.
        let mut data = vec![0, 0, 0, 0];
        data.extend_from_slice(&[0, 0, 0, 3, 0x0a, 0x01, b'P']);
        data.extend_from_slice(&[0xff, 0, 0, 0]);
        assert_eq!(
            expectations(&data),
            vec![
                Expect::Answer("configs"),
                Expect::Answer("config"),
                Expect::Close
            ]
        );
        // A partial body is neither answered nor refused.
        assert_eq!(expectations(&[0, 0, 0, 9, 1]), vec![]);
    }
}
