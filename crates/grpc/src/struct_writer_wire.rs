//! The protobuf wire primitives [`super`] writes with: keys, varints, strings, numbers, and
//! length-delimited fields whose length is filled in once their body is written.

use prost::encoding::WireType;

/// Starts the length-delimited field `tag`: its key, and one byte reserved for the length.
/// Returns where that byte is, for [`end`].
pub(super) fn begin(tag: u32, out: &mut Vec<u8>) -> usize {
    put_key(tag, WireType::LengthDelimited, out);
    out.push(0);
    out.len() - 1
}

/// Writes the length of the body written since [`begin`] into the reserved byte, moving the
/// body along when the length takes more than one byte: one `memmove` of the body (a
/// `Vec::splice` here cost three times as much, item by item).
pub(super) fn end(at: usize, out: &mut Vec<u8>) {
    let body_start = at + 1;
    let len = out.len() - body_start;
    if len < 0x80 {
        // Fits in one varint byte (checked just above).
        out[at] = len as u8;
        return;
    }
    let mut varint = [0u8; 10];
    let n = varint_into(len as u64, &mut varint);
    let old_end = out.len();
    out.resize(old_end + n - 1, 0);
    out.copy_within(body_start..old_end, at + n);
    out[at..at + n].copy_from_slice(&varint[..n]);
}

/// `v` as a protobuf varint (minimal: seven bits a byte, low bits first) into `buf`; returns
/// how many bytes it took.
fn varint_into(mut v: u64, buf: &mut [u8; 10]) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        buf[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    buf[n] = v as u8;
    n + 1
}

/// Appends `v` as a varint; most of this writer's varints (keys, short lengths) are one byte,
/// which is one `push` here where prost's generic `encode_varint` went through `BufMut`.
#[inline]
pub(super) fn put_varint(v: u64, out: &mut Vec<u8>) {
    if v < 0x80 {
        out.push(v as u8);
    } else {
        put_long_varint(v, out);
    }
}

#[cold]
fn put_long_varint(v: u64, out: &mut Vec<u8>) {
    let mut varint = [0u8; 10];
    let n = varint_into(v, &mut varint);
    out.extend_from_slice(&varint[..n]);
}

/// A field's key: its number and wire type, as one varint.
#[inline]
pub(super) fn put_key(tag: u32, wire_type: WireType, out: &mut Vec<u8>) {
    put_varint((u64::from(tag) << 3) | wire_type as u64, out);
}

/// A string field: its key, its length and its bytes.
pub(crate) fn put_str(tag: u32, s: &str, out: &mut Vec<u8>) {
    put_key(tag, WireType::LengthDelimited, out);
    put_varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// `Value.number_value` (field 2, a double), or `null` for what JSON cannot hold.
pub(super) fn put_number(f: f64, out: &mut Vec<u8>) {
    if !f.is_finite() {
        return put_null(out);
    }
    put_key(2, WireType::SixtyFourBit, out);
    out.extend_from_slice(&f.to_le_bytes());
}

/// `Value.null_value` (field 1, enum 0).
pub(super) fn put_null(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0x08, 0x00]);
}
