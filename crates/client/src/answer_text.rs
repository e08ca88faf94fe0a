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
//! between the quotes is checked and unescaped at once (`plugwire_json::unescape_str`, eight
//! bytes at a time).
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
    plugwire_json::unescape_str(std::str::from_utf8(raw).ok()?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use plugwire_mcp::TextResultWriter;

    fn compact(id: i64, text: &str) -> Vec<u8> {
        let mut w = TextResultWriter::new(&RequestId::from(id));
        w.push_str(text);
        w.finish()
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
