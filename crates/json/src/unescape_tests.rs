//! [`unescape_str`] against serde_json reading the same string body.

use super::*;
use crate::testgen::JsonGen;

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
        assert_eq!(unescape_str(raw), serde_string(raw), "{raw:?}");
    }
    for b in 0u8..0x20 {
        let raw = format!("{}x", char::from(b)).repeat(20);
        assert_eq!(unescape_str(&raw), None, "{b:#x}");
    }
}

/// Each kind of byte and escape at each offset of an eight-byte word, before and after runs of
/// every length (the word loop, its tail and the escapes meet at every alignment).
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
                assert_eq!(unescape_str(&raw), serde_string(&raw), "{raw:?}");
            }
        }
    }
}

/// Generated strings, escaped by serde_json, come back whole; and the same bodies with a byte
/// dropped or repeated are accepted or refused as serde_json accepts or refuses them.
#[test]
fn generated_strings_round_trip_and_mutations_agree() {
    let mut gen = JsonGen(0x5eed_u64);
    let (mut accepted, mut refused) = (0, 0);
    for _ in 0..3000 {
        let s = gen.string();
        let quoted = serde_json::to_string(&s).unwrap();
        let raw = &quoted[1..quoted.len() - 1];
        assert_eq!(unescape_str(raw).as_deref(), Some(s.as_str()), "{raw:?}");
        if raw.is_empty() {
            continue;
        }
        let at = gen.below(raw.len() as u64) as usize;
        if !raw.is_char_boundary(at) {
            continue;
        }
        let (head, tail) = raw.split_at(at);
        let next = tail.chars().next().map_or(0, char::len_utf8);
        for mutated in [
            format!("{head}{}", &tail[next..]),
            format!("{head}{}{tail}", &tail[..next]),
        ] {
            let ours = unescape_str(&mutated);
            assert_eq!(ours, serde_string(&mutated), "{mutated:?}");
            if ours.is_some() {
                accepted += 1;
            } else {
                refused += 1;
            }
        }
    }
    assert!(accepted > 100 && refused > 100, "{accepted} / {refused}");
}
