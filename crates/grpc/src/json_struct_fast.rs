//! One `Struct` entry decoded straight from a contiguous slice of the wire bytes.
//!
//! prost's generic decoding pays, for every field of every nested `Value`, its `Buf`
//! bookkeeping, a `DecodeContext`, a default message and a merge loop (profiled: about a
//! third of the instructions of decoding the benchmark's payload, which was itself ~45 % of a
//! raw-socket call). When the caller's buffer holds the whole entry in one chunk (always, for
//! the raw socket's frame and the gRPC request decoded from one slice), the entry is read here
//! with plain slice indexing instead.
//!
//! This path only ever accepts input prost accepts, with the same result: anything it does not
//! handle in the one obvious way (an unknown or repeated field, an unexpected wire type, a
//! varint longer than nine bytes, invalid UTF-8, a length past the end, nesting deeper than
//! [`MAX_DEPTH`]) makes it give up, and the caller decodes the same bytes with prost as before,
//! so the accepted values and every error stay prost's (`fast_and_prost_agree` in the tests).

use serde_json::{Map, Value};

use crate::structs::number;

/// JSON nesting the fast path decodes before it leaves the entry to prost. Each level is three
/// prost messages (`Struct`, its entry, `Value`): 16 levels stay far inside prost's recursion
/// limit (100) for a `Struct` field of any request message, so nothing accepted here is one
/// prost would refuse for depth.
const MAX_DEPTH: usize = 16;

/// Wire types of the fields this path reads.
const VARINT: u64 = 0;
const FIXED64: u64 = 1;
const DELIMITED: u64 = 2;

/// The `Struct` entry whose length-delimited field starts at `chunk[0]` (its length varint):
/// the key, the value and how many bytes of `chunk` it took; `None` to leave it to prost.
pub(crate) fn entry_at(chunk: &[u8]) -> Option<(String, Value, usize)> {
    let mut r = Reader { buf: chunk, pos: 0 };
    let body = r.delimited()?;
    let (key, value) = entry(body, 0)?;
    Some((key, value, r.pos))
}

/// A cursor over one message body.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for i in 0..9 {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }

    /// The next field's tag and wire type; a tag of 0 is invalid (prost refuses it).
    fn key(&mut self) -> Option<(u64, u64)> {
        let k = self.varint()?;
        let tag = k >> 3;
        (tag != 0).then_some((tag, k & 7))
    }

    fn delimited(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let body = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(body)
    }

    fn string(&mut self) -> Option<String> {
        std::str::from_utf8(self.delimited()?)
            .ok()
            .map(str::to_owned)
    }

    fn fixed64(&mut self) -> Option<[u8; 8]> {
        let end = self.pos.checked_add(8)?;
        let bytes = self.buf.get(self.pos..end)?.try_into().ok()?;
        self.pos = end;
        Some(bytes)
    }
}

/// An entry's body: `key` (1) and `value` (2), each at most once; a missing key is `""` and a
/// missing value `null`, as prost's defaults give.
fn entry(body: &[u8], depth: usize) -> Option<(String, Value)> {
    let mut r = Reader { buf: body, pos: 0 };
    let (mut key, mut value) = (None, None);
    while !r.done() {
        match r.key()? {
            (1, DELIMITED) if key.is_none() => key = Some(r.string()?),
            (2, DELIMITED) if value.is_none() => value = Some(value_body(r.delimited()?, depth)?),
            _ => return None,
        }
    }
    Some((key.unwrap_or_default(), value.unwrap_or(Value::Null)))
}

/// A `Value`'s body: at most one field; none is `null`.
fn value_body(body: &[u8], depth: usize) -> Option<Value> {
    let mut r = Reader { buf: body, pos: 0 };
    if r.done() {
        return Some(Value::Null);
    }
    let v = match r.key()? {
        (1, VARINT) => r.varint().map(|_| Value::Null)?,
        (2, FIXED64) => number(f64::from_le_bytes(r.fixed64()?)),
        (3, DELIMITED) => Value::String(r.string()?),
        (4, VARINT) => Value::Bool(r.varint()? != 0),
        (5, DELIMITED) if depth < MAX_DEPTH => {
            Value::Object(struct_body(r.delimited()?, depth + 1)?)
        }
        (6, DELIMITED) if depth < MAX_DEPTH => Value::Array(list_body(r.delimited()?, depth + 1)?),
        _ => return None,
    };
    r.done().then_some(v)
}

/// A `Struct`'s body: entries only, in wire order, a repeated key keeping its first place and
/// its last value (`Map::insert`, as the prost path does).
fn struct_body(body: &[u8], depth: usize) -> Option<Map<String, Value>> {
    let mut r = Reader { buf: body, pos: 0 };
    let mut m = Map::with_capacity(count_fields(body)?);
    while !r.done() {
        match r.key()? {
            (1, DELIMITED) => {
                let (k, v) = entry(r.delimited()?, depth)?;
                m.insert(k, v);
            }
            _ => return None,
        }
    }
    Some(m)
}

/// How many fields a `Struct` or `ListValue` body holds, all of them its one length-delimited
/// field 1: the map or list is then allocated once at its size (profiled: growing the maps,
/// each step rehashing, was ~0.6k instructions of the benchmark's call).
fn count_fields(body: &[u8]) -> Option<usize> {
    let mut r = Reader { buf: body, pos: 0 };
    let mut n = 0;
    while !r.done() {
        match r.key()? {
            (1, DELIMITED) => r.delimited()?,
            _ => return None,
        };
        n += 1;
    }
    Some(n)
}

/// A `ListValue`'s body: values only.
fn list_body(body: &[u8], depth: usize) -> Option<Vec<Value>> {
    let mut r = Reader { buf: body, pos: 0 };
    let mut l = Vec::with_capacity(count_fields(body)?);
    while !r.done() {
        match r.key()? {
            (1, DELIMITED) => l.push(value_body(r.delimited()?, depth)?),
            _ => return None,
        }
    }
    Some(l)
}

#[cfg(test)]
#[path = "json_struct_fast_tests.rs"]
mod tests;
