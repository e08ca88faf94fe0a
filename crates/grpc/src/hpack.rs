//! Just enough HPACK (RFC 7541) to re-write a client's request headers: a complete decoder
//! (static and dynamic table, Huffman strings) and an encoder with a dynamic table of its own.
//!
//! Used by [`crate::authority`]: the blocks a client sends are decoded here, one header is
//! changed, and the list is encoded again for the server's decoder. The server's dynamic table
//! holds only what [`Encoder`] put there, so the two cannot fall out of step. A field the client
//! indexed (it expects to send it again) is indexed again: written once as a literal "with
//! incremental indexing", then as its index, so the server's decoder reads an index, not the
//! name and value, on every later request (~5k instructions a call for the Python gRPC client's
//! ten headers). A field the client did not index (`grpc-timeout`, which changes every call) is
//! written as a literal without indexing, never-indexed ones as never-indexed.

use std::collections::VecDeque;
use std::sync::OnceLock;

use crate::huffman_table::{CODES, LENGTHS};

/// Why a header block could not be decoded (the connection is then unusable, as HPACK state
/// is per connection).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HpackError {
    /// The block ended inside a field.
    #[error("header block truncated")]
    Truncated,
    /// An integer does not fit in 32 bits.
    #[error("HPACK integer overflow")]
    IntegerOverflow,
    /// An index names neither a static nor a dynamic table entry.
    #[error("HPACK index {0} out of range")]
    BadIndex(usize),
    /// A Huffman string is malformed (EOS inside, or bad padding).
    #[error("invalid Huffman string")]
    Huffman,
    /// A dynamic table size update above the limit this decoder accepts.
    #[error("HPACK table size update to {0} above the limit")]
    TableSize(usize),
}

/// One header field as decoded: raw name and value bytes.
pub type Field = (Vec<u8>, Vec<u8>);

/// How the sender wrote a field, which [`Encoder`] repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// Indexed, or a literal added to the table: the sender expects it again.
    Indexed,
    /// A literal without indexing.
    Not,
    /// A literal never to be indexed (RFC 7541 §6.2.3: sensitive).
    Never,
}

/// Per-entry overhead of the dynamic table size accounting (RFC 7541 §4.1).
const ENTRY_OVERHEAD: usize = 32;

/// The HPACK decoder of one connection's request direction.
#[derive(Debug)]
pub struct Decoder {
    table: DynamicTable,
    limit: usize,
}

impl Decoder {
    /// A decoder whose table starts at the HTTP/2 default (4096 octets) and may be resized up
    /// to `limit` by the encoder's size updates.
    pub fn new(limit: usize) -> Self {
        Decoder {
            table: DynamicTable::new(4096.min(limit)),
            limit,
        }
    }

    /// Decodes one complete header block.
    pub fn decode(&mut self, src: &[u8]) -> Result<Vec<Field>, HpackError> {
        Ok(self
            .decode_marked(src)?
            .into_iter()
            .map(|(field, _)| field)
            .collect())
    }

    /// Decodes one complete header block, each field with how the sender wrote it.
    pub fn decode_marked(&mut self, mut src: &[u8]) -> Result<Vec<(Field, Indexing)>, HpackError> {
        let mut out = Vec::new();
        while let Some(&first) = src.first() {
            if first & 0x80 != 0 {
                let idx = integer(&mut src, 7)?;
                out.push((self.entry(idx)?.clone(), Indexing::Indexed));
            } else if first & 0xC0 == 0x40 {
                let field = self.literal(&mut src, 6)?;
                self.table.insert(field.clone());
                out.push((field, Indexing::Indexed));
            } else if first & 0xE0 == 0x20 {
                let size = integer(&mut src, 5)?;
                if size > self.limit {
                    return Err(HpackError::TableSize(size));
                }
                self.table.resize(size);
            } else {
                // 0000xxxx (without indexing) and 0001xxxx (never indexed).
                let kind = if first & 0x10 != 0 {
                    Indexing::Never
                } else {
                    Indexing::Not
                };
                out.push((self.literal(&mut src, 4)?, kind));
            }
        }
        Ok(out)
    }

    fn literal(&self, src: &mut &[u8], prefix: u8) -> Result<Field, HpackError> {
        let idx = integer(src, prefix)?;
        let name = if idx == 0 {
            string(src)?
        } else {
            self.entry(idx)?.0.clone()
        };
        Ok((name, string(src)?))
    }

    fn entry(&self, idx: usize) -> Result<&Field, HpackError> {
        static STATIC: OnceLock<Vec<Field>> = OnceLock::new();
        let statics = STATIC.get_or_init(|| {
            STATIC_TABLE
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect()
        });
        match idx {
            0 => Err(HpackError::BadIndex(0)),
            i if i <= statics.len() => Ok(&statics[i - 1]),
            i => self
                .table
                .entries
                .get(i - statics.len() - 1)
                .ok_or(HpackError::BadIndex(i)),
        }
    }
}

/// An HPACK dynamic table (RFC 7541 §2.3.2, §4): newest entry first, sized by the §4.1
/// accounting. The decoder keeps the one the client's blocks build; the encoder the one its
/// own blocks build in the receiver.
#[derive(Debug)]
struct DynamicTable {
    entries: VecDeque<Field>,
    size: usize,
    max_size: usize,
}

impl DynamicTable {
    fn new(max_size: usize) -> Self {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// Adds `field`, evicting the oldest entries to make room (§4.4: an entry larger than the
    /// whole table empties it and is not added).
    fn insert(&mut self, field: Field) {
        let len = field.0.len() + field.1.len() + ENTRY_OVERHEAD;
        if len > self.max_size {
            self.entries.clear();
            self.size = 0;
            return;
        }
        self.size += len;
        self.entries.push_front(field);
        self.evict();
    }

    /// A dynamic table size update (§6.3).
    fn resize(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict();
    }

    fn evict(&mut self) {
        while self.size > self.max_size {
            match self.entries.pop_back() {
                Some((n, v)) => self.size -= n.len() + v.len() + ENTRY_OVERHEAD,
                None => break,
            }
        }
    }
}

/// The HPACK encoder of one connection's re-written request direction (see the module doc).
/// Its table is the receiver's, at the HTTP/2 default size the receiver allows without a
/// settings change (4096 octets); it never sends a size update.
#[derive(Debug)]
pub struct Encoder {
    table: DynamicTable,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder {
            table: DynamicTable::new(RECEIVER_TABLE),
        }
    }
}

/// The receiver's dynamic table size, `SETTINGS_HEADER_TABLE_SIZE`'s default.
const RECEIVER_TABLE: usize = 4096;

impl Encoder {
    /// Encodes one header block: what the sender indexed is indexed (added once, referred to
    /// after), the rest as the sender wrote it. Names and values as literals, no Huffman.
    pub fn encode(&mut self, fields: &[(Field, Indexing)], dst: &mut Vec<u8>) {
        for ((name, value), indexing) in fields {
            match indexing {
                Indexing::Indexed => {
                    let found = self
                        .table
                        .entries
                        .iter()
                        .position(|(n, v)| n == name && v == value);
                    if let Some(at) = found {
                        put_integer(STATIC_TABLE.len() + 1 + at, 7, 0x80, dst);
                        continue;
                    }
                    put_literal(0x40, name, value, dst);
                    self.table.insert((name.clone(), value.clone()));
                }
                Indexing::Not => put_literal(0x00, name, value, dst),
                Indexing::Never => put_literal(0x10, name, value, dst),
            }
        }
    }
}

/// Encodes `fields` as literals without indexing (the receiver's dynamic table is never
/// touched): how the tests write a client's blocks.
#[cfg(test)]
pub(crate) fn encode(fields: &[Field], dst: &mut Vec<u8>) {
    for (name, value) in fields {
        put_literal(0x00, name, value, dst);
    }
}

/// A literal field with a literal name: `kind` is its first byte (0x40 with incremental
/// indexing, 0x00 without, 0x10 never indexed), no Huffman coding.
fn put_literal(kind: u8, name: &[u8], value: &[u8], dst: &mut Vec<u8>) {
    dst.push(kind);
    put_string(name, dst);
    put_string(value, dst);
}

fn put_string(s: &[u8], dst: &mut Vec<u8>) {
    put_integer(s.len(), 7, 0x00, dst);
    dst.extend_from_slice(s);
}

fn put_integer(mut n: usize, prefix: u8, first: u8, dst: &mut Vec<u8>) {
    let max = (1usize << prefix) - 1;
    if n < max {
        dst.push(first | n as u8);
        return;
    }
    dst.push(first | max as u8);
    n -= max;
    while n >= 128 {
        dst.push((n % 128) as u8 | 0x80);
        n /= 128;
    }
    dst.push(n as u8);
}

fn integer(src: &mut &[u8], prefix: u8) -> Result<usize, HpackError> {
    let (&first, rest) = src.split_first().ok_or(HpackError::Truncated)?;
    *src = rest;
    let max = (1usize << prefix) - 1;
    let mut n = usize::from(first) & max;
    if n < max {
        return Ok(n);
    }
    let mut shift = 0u32;
    loop {
        let (&b, rest) = src.split_first().ok_or(HpackError::Truncated)?;
        *src = rest;
        if shift > 28 {
            return Err(HpackError::IntegerOverflow);
        }
        n += usize::from(b & 0x7F) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return u32::try_from(n)
                .map(|_| n)
                .map_err(|_| HpackError::IntegerOverflow);
        }
    }
}

fn string(src: &mut &[u8]) -> Result<Vec<u8>, HpackError> {
    let huffman = src.first().is_some_and(|b| b & 0x80 != 0);
    let len = integer(src, 7)?;
    if src.len() < len {
        return Err(HpackError::Truncated);
    }
    let (raw, rest) = src.split_at(len);
    *src = rest;
    if huffman {
        huffman_decode(raw)
    } else {
        Ok(raw.to_vec())
    }
}

/// A binary tree of the Huffman code: each node is `[child for 0, child for 1]`, where a
/// child is `-1` (none), a node index, or `LEAF | symbol`.
fn tree() -> &'static Vec<[i32; 2]> {
    static TREE: OnceLock<Vec<[i32; 2]>> = OnceLock::new();
    TREE.get_or_init(|| {
        let mut nodes = vec![[-1i32; 2]];
        for (sym, (&code, &len)) in CODES.iter().zip(LENGTHS.iter()).enumerate() {
            let mut node = 0usize;
            for i in (0..len).rev() {
                let bit = ((code >> i) & 1) as usize;
                if i == 0 {
                    nodes[node][bit] = LEAF | sym as i32;
                } else {
                    if nodes[node][bit] < 0 {
                        nodes.push([-1; 2]);
                        nodes[node][bit] = (nodes.len() - 1) as i32;
                    }
                    node = nodes[node][bit] as usize;
                }
            }
        }
        nodes
    })
}

const LEAF: i32 = 1 << 20;

fn huffman_decode(src: &[u8]) -> Result<Vec<u8>, HpackError> {
    let tree = tree();
    let mut out = Vec::with_capacity(src.len() * 8 / 5);
    let (mut node, mut depth, mut all_ones) = (0usize, 0u32, true);
    for byte in src {
        for i in (0..8).rev() {
            let bit = ((byte >> i) & 1) as usize;
            let next = tree[node][bit];
            depth += 1;
            all_ones &= bit == 1;
            if next < 0 {
                // Only the 30-bit EOS code is missing from the tree.
                return Err(HpackError::Huffman);
            }
            if next & LEAF != 0 {
                out.push((next & 0xFF) as u8);
                (node, depth, all_ones) = (0, 0, true);
            } else {
                node = next as usize;
            }
        }
    }
    // Padding: fewer than 8 bits, all ones (a prefix of EOS).
    if depth > 7 || !all_ones {
        return Err(HpackError::Huffman);
    }
    Ok(out)
}

/// RFC 7541 Appendix A.
const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn f(n: &str, v: &str) -> Field {
        (n.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    /// RFC 7541 C.4: three requests with Huffman coding, sharing the dynamic table.
    #[test]
    fn rfc_7541_c4_requests_with_huffman() {
        let mut d = Decoder::new(4096);
        let first = d
            .decode(&hex("8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff"))
            .unwrap();
        assert_eq!(
            first,
            vec![
                f(":method", "GET"),
                f(":scheme", "http"),
                f(":path", "/"),
                f(":authority", "www.example.com"),
            ]
        );
        let second = d.decode(&hex("8286 84be 5886 a8eb 1064 9cbf")).unwrap();
        assert_eq!(second[3], f(":authority", "www.example.com"));
        assert_eq!(second[4], f("cache-control", "no-cache"));
        let third = d
            .decode(&hex(
                "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            ))
            .unwrap();
        assert_eq!(third[2], f(":path", "/index.html"));
        assert_eq!(third[3], f(":authority", "www.example.com"));
        assert_eq!(third[4], f("custom-key", "custom-value"));
    }

    /// What the Python gRPC client sends on each call: mostly indexed, one changing literal.
    fn call(n: usize) -> Vec<(Field, Indexing)> {
        use Indexing::*;
        vec![
            (f(":method", "POST"), Indexed),
            (f(":scheme", "http"), Indexed),
            (f(":path", "/cpex.PluginService/InvokeHook"), Indexed),
            (f(":authority", "localhost"), Indexed),
            (f("grpc-timeout", &format!("{}m", 30_000 - n)), Not),
            (f("content-type", "application/grpc"), Indexed),
            (f("user-agent", "grpc-python/1.76.0 grpc-c/51.0.0"), Indexed),
            (f("authorization", "secret"), Never),
            (f("te", "trailers"), Indexed),
        ]
    }

    #[test]
    fn the_encoder_indexes_what_the_sender_indexed_and_the_receiver_keeps_in_step() {
        let mut e = Encoder::default();
        let mut d = Decoder::new(4096);
        let mut sizes = Vec::new();
        for n in 0..5 {
            let fields = call(n);
            let mut block = Vec::new();
            e.encode(&fields, &mut block);
            sizes.push(block.len());
            // The receiver reads the same fields, and how they were written.
            assert_eq!(d.decode_marked(&block).unwrap(), fields, "call {n}");
        }
        // From the second call on, the seven indexed fields are one byte each: only the
        // timeout and the never-indexed field are literals (a type byte, two lengths, the text).
        let literals = (3 + "grpc-timeout".len() + "29999m".len())
            + (3 + "authorization".len() + "secret".len());
        assert!(sizes[0] > 150, "{sizes:?}");
        assert!(sizes[1..].iter().all(|&s| s == 7 + literals), "{sizes:?}");
        assert_eq!(d.table.size, e.table.size);
    }

    #[test]
    fn the_encoder_evicts_in_step_with_the_receiver() {
        let mut e = Encoder::default();
        let mut d = Decoder::new(4096);
        for n in 0..200usize {
            // A new value every call fills the 4096-octet table and evicts the oldest entries;
            // one field larger than the table (RFC 7541 §4.4) empties it now and then.
            let big = if n % 37 == 0 { 5000 } else { n % 50 };
            let fields = vec![
                (f("x-seq", &n.to_string()), Indexing::Indexed),
                (f("x-pad", &"p".repeat(big)), Indexing::Indexed),
                (f(":path", "/same"), Indexing::Indexed),
            ];
            let mut block = Vec::new();
            e.encode(&fields, &mut block);
            assert_eq!(d.decode_marked(&block).unwrap(), fields, "call {n}");
            assert_eq!(
                (d.table.size, d.table.entries.len()),
                (e.table.size, e.table.entries.len()),
                "call {n}"
            );
            assert!(e.table.size <= 4096);
        }
    }

    #[test]
    fn encoded_fields_decode_back_and_leave_no_table_entry() {
        let fields = vec![
            f(":path", "/cpex.PluginService/InvokeHook"),
            f("x", &"y".repeat(300)),
        ];
        let mut buf = Vec::new();
        encode(&fields, &mut buf);
        let mut d = Decoder::new(4096);
        assert_eq!(d.decode(&buf).unwrap(), fields);
        assert!(d.table.entries.is_empty());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        let mut d = Decoder::new(4096);
        assert_eq!(d.decode(&[0xBE]), Err(HpackError::BadIndex(62)));
        assert_eq!(d.decode(&[0x41, 0x05, b'a']), Err(HpackError::Truncated));
        assert_eq!(
            d.decode(&[0x3F, 0xE1, 0x7F]),
            Err(HpackError::TableSize(16_384))
        );
        assert_eq!(d.decode(&[0x41, 0x81, 0x00]), Err(HpackError::Huffman));
    }
}
