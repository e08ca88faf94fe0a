//! The answer text of a hook call, taken out of `plugwire serve`'s compact `tools/call` result
//! in one pass.
//!
//! Why: the answer text is pretty-printed JSON inside a JSON string, so on the wire it holds an
//! escape every dozen bytes (each newline, each quote of the inner JSON). serde_json reads such
//! a string escape by escape — a search for the next one, a copy of the run before it into its
//! scratch buffer, the escape, a final UTF-8 check and a copy into a new `String` — and that
//! was the largest share of the client's answer decoding (scripts/bench/findings.md, "The
//! gateway-side client, fifth step"). `plugwire serve` writes that result in one exact form
//! (`{"jsonrpc":"2.0","id":N,"result":{"content":[{"type":"text","text":"…"}],"isError":false}}`,
//! the bytes its generic path gives too); when the body is that form byte for byte, the text
//! between the quotes is checked and unescaped here at once into a `String` sized up front.
//!
//! Anything else — other spacing or member order, another id, a text holding an unescaped
//! quote, a raw control character, a bad escape or a lone surrogate — gives `None` and the
//! caller reads the body with serde as before, so an answer this module takes is one serde
//! would have read into the same text.

use plugwire_mcp::RequestId;

const HEAD: &[u8] = br#"{"jsonrpc":"2.0","id":"#;
const OPEN: &[u8] = br#","result":{"content":[{"type":"text","text":""#;
const CLOSE: &[u8] = br#""}],"isError":false}}"#;

/// The text of `body` when it is the compact one-text result answering `id` (a number).
pub(crate) fn compact_text(body: &[u8], id: &RequestId) -> Option<String> {
    let rest = body.strip_prefix(HEAD)?;
    let id_len = rest.iter().position(|b| *b == b',')?;
    let (number, rest) = rest.split_at(id_len);
    if RequestId::from(canonical_i64(number)?) != *id {
        return None;
    }
    let raw = rest.strip_prefix(OPEN)?.strip_suffix(CLOSE)?;
    unescape(std::str::from_utf8(raw).ok()?)
}

/// An integer written the way serde_json writes one (no sign but `-`, no leading zero, no
/// `-0`): the only form `plugwire serve` sends, so nothing else needs a ruling here.
fn canonical_i64(token: &[u8]) -> Option<i64> {
    let digits = token.strip_prefix(b"-").unwrap_or(token);
    let canonical = match digits {
        [] => false,
        [b'0'] => digits.len() == token.len(),
        [first, ..] => *first != b'0' && digits.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(token).ok()?.parse().ok()
}

/// The value of the JSON string whose text between the quotes is `raw`; `None` when that is
/// not a valid JSON string body (an unescaped quote, a control character, a bad escape, a lone
/// surrogate: what serde_json refuses for a `str`).
pub(crate) fn unescape(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    if has_control(bytes) {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    let mut from = 0;
    while let Some(found) = memchr::memchr2(b'\\', b'"', bytes.get(from..)?) {
        let at = from + found;
        // `at` is an ASCII byte, so a character boundary.
        out.push_str(raw.get(from..at)?);
        if bytes.get(at) == Some(&b'"') {
            return None;
        }
        let (ch, len) = match bytes.get(at + 1)? {
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'n' => ('\n', 2),
            b't' => ('\t', 2),
            b'r' => ('\r', 2),
            b'/' => ('/', 2),
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'u' => unicode_escape(bytes, at)?,
            _ => return None,
        };
        out.push(ch);
        from = at + len;
    }
    out.push_str(raw.get(from..)?);
    Some(out)
}

/// Whether `bytes` holds a byte below 0x20 (JSON strings carry those escaped only). Checked
/// 16 bytes at a time without an early exit per byte, which the compiler turns into vector
/// compares.
fn has_control(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(16);
    let in_chunks = chunks
        .by_ref()
        .any(|c| c.iter().fold(false, |seen, b| seen | (*b < 0x20)));
    in_chunks || chunks.remainder().iter().any(|b| *b < 0x20)
}

/// The character of the `\u` escape at `at` and the length of its text: a surrogate pair is
/// two escapes (12 bytes); a lone surrogate is refused.
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
mod tests {
    use super::*;
    use plugwire_mcp::TextResultWriter;

    fn compact(id: i64, text: &str) -> Vec<u8> {
        let mut w = TextResultWriter::new(&RequestId::from(id));
        w.push_str(text);
        w.finish()
    }

    /// What serde_json makes of the same string body.
    fn serde_string(raw: &str) -> Option<String> {
        serde_json::from_str::<String>(&format!("\"{raw}\"")).ok()
    }

    #[test]
    fn strings_unescape_as_serde_json_reads_them() {
        let cases = [
            "",
            "plain",
            r#"{\n  \"result\": {\n    \"q\": \"a \\\"quoted\\\" \\\\ word\"\n  }\n}"#,
            r"\/\b\f\n\r\t\\",
            r"\u00e9\u0041\u20AC\u0000\u001f",
            r"\ud83d\ude00 and \uD83D\uDE00",
            "été ✓ 😀",
            "\u{7f} del is allowed",
            // Refused by both:
            r"\ud83d alone",
            r"\ude00 alone",
            r"\ud83d\u0041",
            r"\ud83d\ud83d",
            r"\x",
            r"\u12",
            r"\u+123",
            r"\u12g4",
            "tab\tinside",
            "nl\ninside",
            r#"a "quote""#,
            r"ends with \",
        ];
        for raw in cases {
            assert_eq!(unescape(raw), serde_string(raw), "{raw:?}");
        }
        for b in 0u8..0x20 {
            let raw = format!("{}x", char::from(b)).repeat(20);
            assert_eq!(unescape(&raw), None, "{b:#x}");
        }
    }

    /// Each kind of byte and escape at each offset of an eight-byte word, before and after
    /// runs of every length.
    #[test]
    fn every_offset_in_a_word_unescapes_as_serde_json_does() {
        let pieces = [
            "a",
            "é",
            "😀",
            "\u{7f}",
            r"\n",
            r#"\""#,
            r"\\",
            r"\u00e9",
            r"\ud83d\ude00",
            "\"",
            "\u{1}",
            "\u{1f}",
            r"\",
            r"\q",
            r"\ud83d",
        ];
        for len in 0..20 {
            for piece in pieces {
                for at in 0..=len {
                    let raw = format!("{}{piece}{}", "x".repeat(at), "y".repeat(len - at));
                    assert_eq!(unescape(&raw), serde_string(&raw), "{raw:?}");
                }
            }
        }
    }

    #[test]
    fn the_compact_result_gives_its_text() {
        let texts = ["", "{\n  \"result\": {}\n}", "é \" \\ \n\t\u{1} 😀 \u{7f}"];
        for text in texts {
            for id in [0, 7, i64::MAX, -3, i64::MIN] {
                let body = compact(id, text);
                assert_eq!(
                    compact_text(&body, &RequestId::from(id)).as_deref(),
                    Some(text)
                );
                assert_eq!(
                    compact_text(&body, &RequestId::from(id.wrapping_add(1))),
                    None
                );
                assert_eq!(compact_text(&body, &RequestId::from("7")), None);
            }
        }
    }

    #[test]
    fn other_forms_are_left_to_serde() {
        let body = String::from_utf8(compact(12, "{}")).unwrap();
        assert!(compact_text(body.as_bytes(), &RequestId::from(12)).is_some());
        let cases = [
            body.replace("\"id\":12", "\"id\":012"),
            body.replace("\"id\":12", "\"id\":+12"),
            body.replace("\"id\":12", "\"id\":\"12\""),
            body.replace("\"id\":12", "\"id\": 12"),
            body.replace("\"id\":12", "\"id\":12.0"),
            body.replace("\"isError\":false", "\"isError\":true"),
            body.replace("\"text\":\"{}\"", "\"text\":\"{}\",\"x\":1"),
            body.replace("\"text\":\"{}\"", "\"text\":\"{}\"}],\"y\":[{\"z\":\"\""),
            body.replace("{}", "{}\t"),
            format!(" {body}"),
            format!("{body}\n"),
        ];
        for case in cases {
            assert_eq!(
                compact_text(case.as_bytes(), &RequestId::from(12)),
                None,
                "{case}"
            );
        }
        let zero = String::from_utf8(compact(0, "{}")).unwrap();
        assert!(compact_text(zero.as_bytes(), &RequestId::from(0)).is_some());
        let minus_zero = zero.replace("\"id\":0", "\"id\":-0");
        assert_eq!(
            compact_text(minus_zero.as_bytes(), &RequestId::from(0)),
            None
        );
        let mut bad_utf8 = compact(12, "{}");
        let at = bad_utf8.len() - CLOSE.len() - 1;
        bad_utf8[at] = 0xff;
        assert_eq!(compact_text(&bad_utf8, &RequestId::from(12)), None);
    }
}
