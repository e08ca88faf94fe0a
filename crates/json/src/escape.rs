//! A string's text escaped exactly as serde_json escapes it. Most strings of a payload need no
//! escape: a string is tested whole first (`crate::scan::has_special`) and copied in one piece.
//! The others are escaped eight bytes at a time between escapes (SWAR on one `u64`): a byte at a
//! time (serde_json's scan) cost more than the word test.

use crate::scan::{first_special_in_word, has_special};

/// `text` escaped for a JSON string, exactly as serde_json escapes it (`"` and `\\` with a
/// backslash; `\b \t \n \f \r` by name; other control characters as `\u00xx`; DEL and
/// non-ASCII as is), eight bytes at a time between escapes. Without the quotes.
pub fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    escape_with::<false>(out, bytes);
}

/// `text` escaped as [`escape_into`] does, then that escaped again: a string of the pretty
/// text as it appears inside the JSON-RPC string (`"` becomes `\\\"`, a newline `\\n`), in one
/// scan.
pub fn escape_twice_into(out: &mut Vec<u8>, bytes: &[u8]) {
    escape_with::<true>(out, bytes);
}

fn escape_with<const TWICE: bool>(out: &mut Vec<u8>, bytes: &[u8]) {
    // Most strings need no escape: tested whole first, they are copied in one piece.
    if !has_special(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // The last few bytes are scanned as a word too, padded with spaces (never escaped):
        // most strings of an answer are short, and a byte at a time cost more than the scan.
        let flagged = match bytes.get(i..i + 8) {
            Some(chunk) => first_special_in_word(chunk),
            None => {
                let mut word = [b' '; 8];
                let tail = &bytes[i..];
                word[..tail.len()].copy_from_slice(tail);
                first_special_in_word(&word)
            }
        };
        match flagged {
            None => {
                i += 8;
                continue;
            }
            Some(at) => i += at,
        }
        let Some(&b) = bytes.get(i) else { break };
        // Escaping the once-escaped form again only adds a backslash in front, except for
        // the `"` or `\\` that follows the first backslash, which gets its own.
        let named: &[u8] = match (b, TWICE) {
            (b'"', false) => b"\\\"",
            (b'\\', false) => b"\\\\",
            (b'"', true) => b"\\\\\\\"",
            (b'\\', true) => b"\\\\\\\\",
            (b'\n', _) => b"\\n",
            (b'\r', _) => b"\\r",
            (b'\t', _) => b"\\t",
            (0x08, _) => b"\\b",
            (0x0c, _) => b"\\f",
            (0x00..=0x1f, _) => b"",
            _ => {
                i += 1;
                continue;
            }
        };
        out.extend_from_slice(&bytes[start..i]);
        if TWICE && b != b'"' && b != b'\\' {
            out.push(b'\\');
        }
        if named.is_empty() {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)]]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(named);
        }
        i += 1;
        start = i;
    }
    out.extend_from_slice(bytes.get(start..).unwrap_or_default());
}

/// The hexadecimal digits serde_json writes in a `\u00xx` escape.
pub(crate) const HEX: &[u8; 16] = b"0123456789abcdef";
