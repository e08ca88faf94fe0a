//! Makes a gRPC client's `:authority` acceptable to an HTTP/2 server that checks it, for
//! connections over a Unix socket.
//!
//! grpc-core (the Python `grpcio` package, since 1.57) sends the percent-encoded socket path
//! as `:authority` on a Unix socket (`tmp%2Fplugins%2Fgrpc.sock`); grpc-java sends the raw
//! path. Neither is a valid authority (`%` must start an escape in a user part only, `/` is
//! not allowed at all), and the HTTP/2 server under tonic (h2) answers such a request with
//! `RST_STREAM(PROTOCOL_ERROR)` before any service sees it, with no option to relax the
//! check. The authority means nothing on a Unix socket, so [`AuthorityRewriter`] sits between
//! the socket and the server: it passes every frame through unchanged except the request
//! header blocks, which it decodes, gives `:authority: localhost` when the client's value is
//! not a valid authority (what grpc-go, and grpcio before 1.57, send on a Unix socket), and
//! encodes again (see [`crate::hpack`]). Only the client-to-server direction is touched.
//!
//! Whether a connection needs this is decided by its first request: a client sends one
//! authority for every call of a channel, so when the first one is valid (plugwire's own
//! client, grpc-go) its header block goes on as it came and so does everything after it,
//! undecoded ([`AuthorityRewriter::passes_through`]). Decoding and re-encoding every request's
//! headers cost ~7k instructions a call, and h2 more to read the re-encoded block; a client that
//! sent a valid authority first and an invalid one later would get that request refused by h2,
//! as with no rewriter at all.

use crate::hpack::{Decoder, Encoder, HpackError};

/// What replaces an invalid `:authority`.
pub const UDS_AUTHORITY: &[u8] = b"localhost";

/// The client connection preface (RFC 9113 §3.4), passed through unread.
const PREFACE_LEN: usize = 24;
const FRAME_HEADER_LEN: usize = 9;
const HEADERS: u8 = 0x1;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;
/// Frames written are at most this large: the HTTP/2 default every server accepts.
const MAX_FRAME: usize = 16_384;
/// Largest header block buffered; far above any gRPC request's headers.
pub const MAX_HEADER_BLOCK: usize = 1 << 20;
/// Largest dynamic table a client may ask for (the server advertises the 4096 default).
const TABLE_LIMIT: usize = 65_536;

/// Why a connection's byte stream cannot be re-written (the connection is closed).
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The header compression state is broken.
    #[error("request headers: {0}")]
    Hpack(#[from] HpackError),
    /// A header block larger than [`MAX_HEADER_BLOCK`].
    #[error("request header block larger than {MAX_HEADER_BLOCK} bytes")]
    TooLarge,
    /// A frame that is not a valid HEADERS/CONTINUATION where one is required.
    #[error("malformed HTTP/2 header frames: {0}")]
    Frames(&'static str),
}

/// Whether request header blocks are re-written (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Before the first header block is complete: its frames are kept as they came.
    Undecided,
    /// The first `:authority` was invalid: every block is decoded and encoded again.
    Rewrite,
    /// The first `:authority` was valid: everything passes through.
    PassThrough,
}

#[derive(Debug)]
enum State {
    Preface(usize),
    FrameHeader,
    Passthrough(usize),
    Collect { len: usize, kind: u8, flags: u8 },
}

/// A header block being gathered across HEADERS + CONTINUATION frames.
#[derive(Debug)]
struct Pending {
    stream: [u8; 4],
    flags: u8,
    priority: Option<[u8; 5]>,
    block: Vec<u8>,
}

/// The client-to-server byte stream of one HTTP/2 connection, re-written as the module doc
/// says: feed it what the socket gave, forward what it wrote.
#[derive(Debug)]
pub struct AuthorityRewriter {
    state: State,
    header: Vec<u8>,
    payload: Vec<u8>,
    pending: Option<Pending>,
    decoder: Decoder,
    encoder: Encoder,
    rewritten: u64,
    mode: Mode,
    /// The first header block's frames, byte for byte, while [`Mode::Undecided`].
    first_frames: Vec<u8>,
}

impl Default for AuthorityRewriter {
    fn default() -> Self {
        AuthorityRewriter {
            state: State::Preface(PREFACE_LEN),
            header: Vec::with_capacity(FRAME_HEADER_LEN),
            payload: Vec::new(),
            pending: None,
            decoder: Decoder::new(TABLE_LIMIT),
            encoder: Encoder::default(),
            rewritten: 0,
            mode: Mode::Undecided,
            first_frames: Vec::new(),
        }
    }
}

impl AuthorityRewriter {
    /// How many requests had their `:authority` replaced so far.
    pub fn rewritten(&self) -> u64 {
        self.rewritten
    }

    /// Whether the connection's first request had a valid `:authority`, so that it and
    /// everything after it pass through untouched: [`Self::feed`] copies its input, and a
    /// reader may as well hand the socket's bytes on directly.
    pub fn passes_through(&self) -> bool {
        self.mode == Mode::PassThrough
    }

    /// Consumes all of `input`, appending what the server should read to `out`.
    pub fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), RewriteError> {
        while !input.is_empty() {
            if self.mode == Mode::PassThrough {
                out.extend_from_slice(input);
                return Ok(());
            }
            match self.state {
                State::Preface(left) | State::Passthrough(left) => {
                    let n = left.min(input.len());
                    out.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    self.state = match (&self.state, left - n) {
                        (_, 0) => State::FrameHeader,
                        (State::Preface(_), rest) => State::Preface(rest),
                        (_, rest) => State::Passthrough(rest),
                    };
                }
                State::FrameHeader => {
                    let n = (FRAME_HEADER_LEN - self.header.len()).min(input.len());
                    self.header.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    if self.header.len() == FRAME_HEADER_LEN {
                        self.frame_header(out)?;
                    }
                }
                State::Collect { len, kind, flags } => {
                    let n = (len - self.payload.len()).min(input.len());
                    self.payload.extend_from_slice(&input[..n]);
                    input = &input[n..];
                    if self.payload.len() == len {
                        self.state = State::FrameHeader;
                        self.header_frame(kind, flags, out)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn frame_header(&mut self, out: &mut Vec<u8>) -> Result<(), RewriteError> {
        let h = &self.header;
        let len = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
        let (kind, flags) = (h[3], h[4]);
        let in_block = self.pending.is_some();
        if kind == HEADERS && !in_block || kind == CONTINUATION && in_block {
            if len > MAX_HEADER_BLOCK {
                return Err(RewriteError::TooLarge);
            }
            self.payload.clear();
            if len == 0 {
                self.header_frame(kind, flags, out)?;
            } else {
                self.state = State::Collect { len, kind, flags };
            }
        } else if in_block {
            return Err(RewriteError::Frames(
                "a header block is interrupted by another frame",
            ));
        } else {
            out.extend_from_slice(&self.header);
            self.state = if len == 0 {
                State::FrameHeader
            } else {
                State::Passthrough(len)
            };
        }
        if !matches!(self.state, State::Collect { .. }) {
            self.header.clear();
        }
        Ok(())
    }

    /// A whole HEADERS or CONTINUATION payload is in `self.payload`.
    fn header_frame(&mut self, kind: u8, flags: u8, out: &mut Vec<u8>) -> Result<(), RewriteError> {
        let mut stream = [0u8; 4];
        stream.copy_from_slice(&self.header[5..9]);
        let payload = std::mem::take(&mut self.payload);
        if self.mode == Mode::Undecided {
            self.first_frames.extend_from_slice(&self.header);
            self.first_frames.extend_from_slice(&payload);
        }
        self.header.clear();
        if kind == HEADERS {
            let mut frag: &[u8] = &payload;
            let mut pad = 0usize;
            if flags & PADDED != 0 {
                let (&p, rest) = frag
                    .split_first()
                    .ok_or(RewriteError::Frames("padded HEADERS without a pad length"))?;
                (pad, frag) = (usize::from(p), rest);
            }
            let priority = if flags & PRIORITY != 0 {
                if frag.len() < 5 {
                    return Err(RewriteError::Frames("HEADERS priority truncated"));
                }
                let mut p = [0u8; 5];
                p.copy_from_slice(&frag[..5]);
                frag = &frag[5..];
                Some(p)
            } else {
                None
            };
            if pad > frag.len() {
                return Err(RewriteError::Frames(
                    "HEADERS padding longer than the frame",
                ));
            }
            self.pending = Some(Pending {
                stream,
                flags,
                priority,
                block: frag[..frag.len() - pad].to_vec(),
            });
        } else if let Some(p) = &mut self.pending {
            if p.stream != stream {
                return Err(RewriteError::Frames("CONTINUATION on another stream"));
            }
            if p.block.len() + payload.len() > MAX_HEADER_BLOCK {
                return Err(RewriteError::TooLarge);
            }
            p.block.extend_from_slice(&payload);
        }
        if flags & END_HEADERS != 0 {
            if let Some(p) = self.pending.take() {
                self.finish(p, out)?;
            }
        }
        Ok(())
    }

    /// Decodes the block, fixes `:authority`, writes HEADERS (+ CONTINUATION) frames.
    fn finish(&mut self, p: Pending, out: &mut Vec<u8>) -> Result<(), RewriteError> {
        let mut fields = self.decoder.decode_marked(&p.block)?;
        if self.mode == Mode::Undecided {
            let needed = fields
                .iter()
                .any(|((name, value), _)| name == b":authority" && !valid_authority(value));
            let first = std::mem::take(&mut self.first_frames);
            if !needed {
                self.mode = Mode::PassThrough;
                out.extend_from_slice(&first);
                return Ok(());
            }
            self.mode = Mode::Rewrite;
        }
        for ((name, value), _) in &mut fields {
            if name == b":authority" && !valid_authority(value) {
                *value = UDS_AUTHORITY.to_vec();
                self.rewritten += 1;
            }
        }
        let mut block = Vec::with_capacity(p.block.len() + 64);
        if let Some(prio) = p.priority {
            block.extend_from_slice(&prio);
        }
        self.encoder.encode(&fields, &mut block);
        let mut chunks = block.chunks(MAX_FRAME).peekable();
        let mut kind = HEADERS;
        let mut flags = p.flags & (END_STREAM | PRIORITY);
        while let Some(chunk) = chunks.next() {
            if chunks.peek().is_none() {
                flags |= END_HEADERS;
            }
            let len = chunk.len();
            out.extend_from_slice(&[(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags]);
            out.extend_from_slice(&p.stream);
            out.extend_from_slice(chunk);
            (kind, flags) = (CONTINUATION, 0);
        }
        if block.is_empty() {
            out.extend_from_slice(&[0, 0, 0, HEADERS, flags | END_HEADERS]);
            out.extend_from_slice(&p.stream);
        }
        Ok(())
    }
}

/// Whether the HTTP/2 server would accept `value` as `:authority` (the `http` crate's rule,
/// which h2 applies).
fn valid_authority(value: &[u8]) -> bool {
    http::uri::Authority::try_from(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hpack;

    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len();
        let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        f.extend_from_slice(&stream.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn request(authority: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![
            (b":method".to_vec(), b"POST".to_vec()),
            (b":scheme".to_vec(), b"http".to_vec()),
            (
                b":path".to_vec(),
                b"/cpex.PluginService/InvokeHook".to_vec(),
            ),
            (b":authority".to_vec(), authority.to_vec()),
            (b"te".to_vec(), b"trailers".to_vec()),
        ]
    }

    /// Parses the rewritten stream back: (preface, frames as (kind, flags, stream, payload)).
    fn frames(mut s: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
        assert_eq!(&s[..24], PREFACE);
        s = &s[24..];
        let mut out = Vec::new();
        while !s.is_empty() {
            let len = usize::from(s[0]) << 16 | usize::from(s[1]) << 8 | usize::from(s[2]);
            let id = u32::from_be_bytes([s[5], s[6], s[7], s[8]]);
            out.push((s[3], s[4], id, s[9..9 + len].to_vec()));
            s = &s[9 + len..];
        }
        out
    }

    /// Feeds `input` one byte at a time (the worst split a socket can give).
    fn feed_bytewise(input: &[u8]) -> Vec<u8> {
        let mut r = AuthorityRewriter::default();
        let mut out = Vec::new();
        for b in input {
            r.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn percent_encoded_socket_path_becomes_localhost_and_other_frames_pass_through() {
        // What grpcio sends: the authority literal, indexed, then referenced from the table.
        let mut block1 = vec![0x83, 0x86, 0x44, 0x1e];
        block1.extend_from_slice(b"/cpex.PluginService/InvokeHook");
        block1.extend_from_slice(&[0x41, 0x16]);
        block1.extend_from_slice(b"tmp%2Fgrpcdbg%2Fs.sock");
        let block2 = [0x83, 0x86, 0xbf, 0xbe]; // both from the dynamic table
        let settings = frame(0x4, 0, 0, &[0, 4, 0, 0, 0xff, 0xff]);
        let data = frame(0x0, 0x1, 1, b"\0\0\0\0\x02hi");
        let mut input = PREFACE.to_vec();
        input.extend(settings.clone());
        input.extend(frame(
            HEADERS,
            END_HEADERS | PADDED,
            1,
            &[[2].as_slice(), &block1, &[0, 0]].concat(),
        ));
        input.extend(data.clone());
        input.extend(frame(HEADERS, END_STREAM, 3, &block2[..2]));
        input.extend(frame(CONTINUATION, END_HEADERS, 3, &block2[2..]));
        let out = feed_bytewise(&input);
        let got = frames(&out);
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(frame(got[0].0, got[0].1, got[0].2, &got[0].3), settings);
        assert_eq!(frame(got[2].0, got[2].1, got[2].2, &got[2].3), data);
        let mut d = Decoder::new(4096);
        for (i, stream, end_stream) in [(1usize, 1u32, 0u8), (3, 3, END_STREAM)] {
            let (kind, flags, id, block) = &got[i];
            assert_eq!(
                (*kind, *flags, *id),
                (HEADERS, END_HEADERS | end_stream, stream)
            );
            let fields = d.decode(block).unwrap();
            assert!(
                fields.contains(&(b":authority".to_vec(), b"localhost".to_vec())),
                "{fields:?}"
            );
            assert!(fields.contains(&(
                b":path".to_vec(),
                b"/cpex.PluginService/InvokeHook".to_vec()
            )));
        }
    }

    #[test]
    fn a_valid_first_authority_lets_the_connection_pass_through_untouched() {
        // plugwire's own client: a valid authority, indexed, then referenced from the table;
        // later blocks are not even decoded (an invalid one included).
        let mut block1 = vec![0x83, 0x86, 0x44, 0x1e];
        block1.extend_from_slice(b"/cpex.PluginService/InvokeHook");
        block1.extend_from_slice(&[0x41, 0x09]);
        block1.extend_from_slice(b"localhost");
        let mut block3 = Vec::new();
        hpack::encode(&request(b"tmp%2Fs.sock"), &mut block3);
        let mut input = PREFACE.to_vec();
        input.extend(frame(0x4, 0, 0, &[0, 4, 0, 0, 0xff, 0xff]));
        input.extend(frame(HEADERS, 0, 1, &block1[..5]));
        input.extend(frame(CONTINUATION, END_HEADERS, 1, &block1[5..]));
        input.extend(frame(0x0, 0x1, 1, b"\0\0\0\0\x02hi"));
        input.extend(frame(
            HEADERS,
            END_HEADERS | END_STREAM,
            3,
            &[0x83, 0x86, 0xbf, 0xbe],
        ));
        input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 5, &block3));
        let mut r = AuthorityRewriter::default();
        let mut out = Vec::new();
        for b in &input {
            r.feed(std::slice::from_ref(b), &mut out).unwrap();
        }
        assert_eq!(out, input);
        assert!(r.passes_through());
        assert_eq!(r.rewritten(), 0);
    }

    #[test]
    fn after_an_invalid_first_authority_a_valid_one_is_kept_and_a_large_block_is_split() {
        let mut first = Vec::new();
        hpack::encode(&request(b"tmp%2Fs.sock"), &mut first);
        let mut fields = request(b"localhost:50051");
        fields.push((b"x-big".to_vec(), vec![b'a'; 40_000]));
        let mut block = Vec::new();
        hpack::encode(&fields, &mut block);
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 1, &first));
        input.extend(frame(HEADERS, END_HEADERS | END_STREAM, 5, &block));
        let mut out = Vec::new();
        let mut r = AuthorityRewriter::default();
        r.feed(&input, &mut out).unwrap();
        assert_eq!(r.rewritten(), 1);
        assert!(!r.passes_through());
        let got = frames(&out);
        assert_eq!((got[0].0, got[0].2), (HEADERS, 1));
        let got = &got[1..];
        assert!(got.len() >= 3 && got.iter().all(|f| f.3.len() <= MAX_FRAME));
        assert_eq!((got[0].0, got[0].1), (HEADERS, END_STREAM));
        let last = got.last().unwrap();
        assert_eq!((last.0, last.1), (CONTINUATION, END_HEADERS));
        let joined: Vec<u8> = got.iter().flat_map(|f| f.3.clone()).collect();
        assert_eq!(Decoder::new(4096).decode(&joined).unwrap(), fields);
    }

    #[test]
    fn broken_header_frames_are_errors() {
        let mut r = AuthorityRewriter::default();
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, 0, 1, &[0x82]));
        input.extend(frame(0x0, 0, 1, b"x"));
        assert!(matches!(
            r.feed(&input, &mut Vec::new()),
            Err(RewriteError::Frames(_))
        ));
        let mut r = AuthorityRewriter::default();
        let mut input = PREFACE.to_vec();
        input.extend(frame(HEADERS, END_HEADERS, 1, &[0xC0]));
        assert!(matches!(
            r.feed(&input, &mut Vec::new()),
            Err(RewriteError::Hpack(HpackError::BadIndex(64)))
        ));
    }
}
