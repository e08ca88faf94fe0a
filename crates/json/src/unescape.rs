//! A JSON string's value from the text between its quotes, in one pass.
//!
//! The gateway-side client reads `plugwire serve`'s answer text, pretty-printed JSON inside a
//! JSON string, so on the wire it holds an escape every dozen bytes (each newline, each quote of
//! the inner JSON). Found by a search per escape and copied run by run, that was ~17k
//! instructions of the client's ~117k per call (scripts/bench/findings.md, "The gateway-side
//! client, ninth step"): most runs are a few bytes, shorter than a search's set-up. Here the text
//! is copied eight bytes at a time into a buffer with room to spare, each word tested for a
//! quote, a backslash or a control character with the same bit tricks as the reader
//! (`crate::scan`), and the write position moves on by however many bytes were plain.

use crate::scan::{first_special_in_word, is_special};

/// The value of the JSON string whose text between the quotes is `raw`; `None` where serde_json
/// would refuse it as a string body: an unescaped quote, a control character, a bad escape or a
/// lone surrogate.
pub fn unescape_str(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    // No escape makes its text longer (`\n` is two bytes for one, a `\u` pair twelve for four),
    // and eight bytes of room let a whole word be written past the last plain byte.
    let mut out = vec![0u8; bytes.len() + 8];
    let (mut read, mut written) = (0, 0);
    loop {
        let plain = plain_run(bytes, read, &mut out, written)?;
        read += plain;
        written += plain;
        match bytes.get(read) {
            None => break,
            Some(b'\\') => {
                let (len, char_len) = escape(bytes, read, out.get_mut(written..)?)?;
                read += len;
                written += char_len;
            }
            Some(_) => return None,
        }
    }
    out.truncate(written);
    // Runs were cut at ASCII bytes of a `str` and escapes are written as whole characters, so
    // this check never fails; it is what makes the buffer a `String` without `unsafe`.
    String::from_utf8(out).ok()
}

/// Copies the plain bytes from `bytes[read..]` to `out[written..]` (up to the first quote,
/// backslash or control character, or the end) and returns how many there were. Whole words
/// are copied even when the run ends inside one: the next write overwrites what is past it.
#[inline(always)]
fn plain_run(bytes: &[u8], read: usize, out: &mut [u8], written: usize) -> Option<usize> {
    let mut n = 0;
    while let Some(word) = bytes.get(read + n..read + n + 8) {
        out.get_mut(written + n..written + n + 8)?
            .copy_from_slice(word);
        if let Some(at) = first_special_in_word(word) {
            return Some(n + at);
        }
        n += 8;
    }
    for &b in bytes.get(read + n..)? {
        if is_special(b) {
            break;
        }
        *out.get_mut(written + n)? = b;
        n += 1;
    }
    Some(n)
}

/// What the letter of a one-character escape stands for; 0 where the letter is not one.
const SIMPLE_ESCAPES: [u8; 256] = {
    let mut table = [0u8; 256];
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table[b'/' as usize] = b'/';
    table[b'n' as usize] = b'\n';
    table[b't' as usize] = b'\t';
    table[b'r' as usize] = b'\r';
    table[b'b' as usize] = 0x08;
    table[b'f' as usize] = 0x0c;
    table
};

/// Decodes the escape at `bytes[at]` (a backslash) into the front of `out`: (the escape's length
/// in `bytes`, the character's length in `out`). A table look-up rather than a `match`: the
/// answer text has an escape every dozen bytes.
#[inline(always)]
fn escape(bytes: &[u8], at: usize, out: &mut [u8]) -> Option<(usize, usize)> {
    let letter = *bytes.get(at + 1)?;
    let simple = SIMPLE_ESCAPES[usize::from(letter)];
    if simple != 0 {
        *out.first_mut()? = simple;
        return Some((2, 1));
    }
    if letter != b'u' {
        return None;
    }
    let (ch, len) = unicode_escape(bytes, at)?;
    let written = ch.encode_utf8(out.get_mut(..4)?).len();
    Some((len, written))
}

/// The character of the `\u` escape at `at` and the length of its text: a surrogate pair is
/// two escapes (12 bytes); a lone surrogate is refused.
#[cold]
fn unicode_escape(bytes: &[u8], at: usize) -> Option<(char, usize)> {
    let high = hex4(bytes.get(at + 2..at + 6)?)?;
    if let Some(c) = char::from_u32(high) {
        return Some((c, 6));
    }
    if !(0xD800..0xDC00).contains(&high) || bytes.get(at + 6..at + 8)? != b"\\u" {
        return None;
    }
    let low = hex4(bytes.get(at + 8..at + 12)?)?;
    if !(0xDC00..0xE000).contains(&low) {
        return None;
    }
    let c = char::from_u32(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00))?;
    Some((c, 12))
}

/// Four hex digits (no sign: `from_str_radix` would take a `+`).
fn hex4(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |n, d| {
        let v = char::from(*d).to_digit(16)?;
        Some(n << 4 | v)
    })
}

#[cfg(test)]
#[path = "unescape_tests.rs"]
mod tests;
