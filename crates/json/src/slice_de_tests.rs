//! [`SliceDeserializer`] against serde_json: every text it reads gives serde_json's value (the
//! same members in the same order, the same number kinds), and it reads the common forms itself
//! rather than declining them.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use super::*;
use crate::testgen::JsonGen;

fn fast<T: Deserialize<'static>>(text: &'static str) -> Result<T> {
    let mut de = SliceDeserializer::new(text);
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

fn fast_owned<T: DeserializeOwned>(text: &str) -> Result<T> {
    let mut de = SliceDeserializer::new(text);
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Read as a `Value` by both; `Some(text)` (serde_json's value written out, so member order and
/// number kinds count) when this reader accepted it, after checking serde_json agrees.
fn agree(text: &str) -> Option<String> {
    let ours = fast_owned::<Value>(text).ok()?;
    let theirs: Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("accepted what serde_json refuses ({e}): {text:?}"));
    let (ours, theirs) = (ours.to_string(), theirs.to_string());
    assert_eq!(ours, theirs, "different values for {text:?}");
    Some(theirs)
}

#[test]
fn generated_values_are_read_as_serde_json_reads_them() {
    let mut g = JsonGen(0x2545_f491_4f6c_dd1d);
    for _ in 0..3000 {
        let v = g.value(0);
        for text in [v.to_string(), serde_json::to_string_pretty(&v).unwrap()] {
            assert!(agree(&text).is_some(), "declined a plain value: {text}");
        }
    }
}

/// Mutated texts: whatever this reader accepts, serde_json accepts with the same value. The
/// counts show both outcomes happen, so the check is not vacuous.
#[test]
fn mutated_texts_are_accepted_only_as_serde_json_accepts_them() {
    const BYTES: &[u8] = b"{}[]\":,\\ \n\t-+.eE0123456789tfnulra\x01\x1f\x7f";
    let mut g = JsonGen(0x9e37_79b9_7f4a_7c15);
    let (mut accepted, mut declined) = (0, 0);
    for _ in 0..3000 {
        let v = g.value(0);
        let mut text = v.to_string().into_bytes();
        for _ in 0..=g.below(3) {
            let at = g.below(text.len() as u64 + 1) as usize;
            let b = BYTES[g.below(BYTES.len() as u64) as usize];
            match g.below(3) {
                0 => text.insert(at, b),
                1 if at < text.len() => {
                    text.remove(at);
                }
                _ if at < text.len() => text[at] = b,
                _ => text.push(b),
            }
        }
        let Ok(text) = String::from_utf8(text) else {
            continue;
        };
        match agree(&text) {
            Some(_) => accepted += 1,
            None => declined += 1,
        }
    }
    assert!(
        accepted > 300 && declined > 300,
        "{accepted} accepted, {declined} declined"
    );
}

#[test]
fn numbers_have_serde_json_kinds() {
    for text in [
        "0",
        "7",
        "-7",
        "1234567890123456789",
        "9999999999999999999",
        "18446744073709551615",
        "-999999999999999999",
        "-9223372036854775808",
        "-0",
        "0.0",
        "-0.0",
        "1e3",
        "1E-3",
        "2.5e+10",
        "18446744073709551616",
        "-9223372036854775809",
        "123456789.123456789e-5",
    ] {
        assert!(agree(text).is_some(), "{text}");
    }
    // serde_json refuses these; so must this reader.
    for text in [
        "01", "-", "1.", ".5", "1e", "+1", "--1", "1-", "0x10", "1.2.3",
    ] {
        assert_eq!(agree(text), None, "{text}");
    }
    // The integer kinds, not only the values.
    assert!(fast_owned::<Value>("-0").unwrap().is_f64());
    assert!(fast_owned::<Value>("-5").unwrap().is_i64());
    assert!(fast_owned::<Value>("5").unwrap().is_u64());
}

#[test]
fn strings_with_escapes_are_serde_jsons() {
    for text in [
        r#""plain""#,
        r#""a\"b""#,
        r#""tab\tnew\nline""#,
        r#""\\""#,
        r#""\\\"""#,
        r#""\u00e9\u20ac""#,
        r#""\ud83d\ude00""#,
        r#""\/""#,
        "\"é日本\u{7f}\"",
        r#""a very long string of thirty-two+ bytes, then \" an escape""#,
    ] {
        assert!(agree(text).is_some(), "{text}");
    }
    for text in [
        "\"raw\ncontrol\"",
        "\"\u{1}\"",
        r#""\x""#,
        r#""\u12""#,
        r#""unterminated"#,
        r#""\"#,
        r#""\ud800""#,
        r#""\udc00x""#,
    ] {
        assert_eq!(agree(text), None, "{text}");
    }
}

#[test]
fn structure_is_held_to_serde_json_grammar() {
    for text in [
        " { \"a\" : [ 1 , 2 ] , \"b\" : { } }\n",
        "\t[\r\n]",
        "{\"dup\":1,\"x\":2,\"dup\":3}",
        "{\"\\u0061\":1,\"b\\n\":[]}",
        "[null,true,false,\"\"]",
    ] {
        assert!(agree(text).is_some(), "{text}");
    }
    for text in [
        "{\"a\":1,}",
        "[1,]",
        "[,1]",
        "{,}",
        "{\"a\" 1}",
        "{\"a\":1 \"b\":2}",
        "{1:2}",
        "[1 2]",
        "tru",
        "nul",
        "truex",
        "{} {}",
        "",
        "  ",
        "{\"a\":1",
        "[\u{c}]",
    ] {
        assert_eq!(agree(text), None, "{text}");
    }
}

/// serde_json stops at 128 levels; so does this reader.
#[test]
fn deep_nesting_stops_where_serde_json_stops() {
    let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(agree(&nested(127)).is_some());
    for n in [128, 129, 1000] {
        assert!(serde_json::from_str::<Value>(&nested(n)).is_err(), "{n}");
        assert_eq!(agree(&nested(n)), None, "{n}");
    }
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Role {
    User,
    Assistant,
}

#[derive(Debug, PartialEq, Deserialize)]
struct Typed<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    small: u8,
    ratio: f64,
    maybe: Option<i32>,
    role: Role,
    #[serde(default)]
    tags: Vec<String>,
    map: BTreeMap<String, u32>,
}

#[test]
fn typed_models_read_as_with_serde_json() {
    let text = r#"{"name":"n","small":200,"ratio":2,"maybe":null,"role":"assistant",
        "tags":["a","b"],"map":{"k":1},"unknown":{"deep":[1,2.5,"x\n"]}}"#;
    let ours: Typed = fast(text).unwrap();
    assert_eq!(ours, serde_json::from_str::<Typed>(text).unwrap());
    assert!(matches!(ours.name, Cow::Borrowed("n")));
    assert_eq!(ours.role, Role::Assistant);

    // Refused by serde_json, so never accepted here.
    for text in [
        r#"{"name":"n","small":300,"ratio":2,"maybe":null,"role":"user","map":{}}"#,
        r#"{"name":"n","small":1,"ratio":"2","maybe":null,"role":"user","map":{}}"#,
        r#"{"name":"n","small":1,"ratio":2,"maybe":null,"role":"admin","map":{}}"#,
        r#"{"name":"n","name":"m","small":1,"ratio":2,"maybe":null,"role":"user","map":{}}"#,
        r#"{"name":1,"small":1,"ratio":2,"maybe":null,"role":"user","map":{}}"#,
    ] {
        assert!(serde_json::from_str::<Typed>(text).is_err(), "{text}");
        assert_eq!(
            fast::<Typed>(Box::leak(text.into())),
            Err(Declined),
            "{text}"
        );
    }
}

/// A key with escapes is decoded even where the member is skipped: serde_json, skipping it,
/// would not check it, and a lone surrogate there is an error to a `Value` (the generic path).
#[test]
fn keys_of_skipped_members_are_decoded() {
    let with_unknown = |unknown: &str| -> &'static str {
        let text = format!(
            r#"{{"name":"n","small":1,"ratio":2,"maybe":null,"role":"user","map":{{}},"unknown":{unknown}}}"#
        );
        Box::leak(text.into_boxed_str())
    };
    for fine in [
        r#"{"\u00e9":1}"#,
        r#"{"a\"b":[{"\ud83d\ude00":"\ud83d\ude00"}]}"#,
    ] {
        let text = with_unknown(fine);
        let theirs = serde_json::from_str::<Typed>(text).unwrap();
        assert_eq!(fast::<Typed>(text), Ok(theirs), "{text}");
    }
    for lone in [
        r#"{"\ud800":1}"#,
        r#"{"a":{"b\udc00":null}}"#,
        r#"[{"\ud83d x":1}]"#,
    ] {
        let text = with_unknown(lone);
        assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
        assert_eq!(fast::<Typed>(text), Err(Declined), "{text}");
    }
}

/// Forms serde_json reads but this reader leaves to it: an `f32` (serde_json rounds it its own
/// way), a struct written as an array, an enum written as an object, a key read as a number, a raw value.
#[test]
fn rarer_forms_are_left_to_serde_json() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Pair {
        a: u8,
        b: u8,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    enum Shape {
        Circle { r: u8 },
    }
    assert!(serde_json::from_str::<f32>("0.1").is_ok());
    assert_eq!(fast::<f32>("0.1").err(), Some(Declined));
    assert!(serde_json::from_str::<Pair>("[1,2]").is_ok());
    assert_eq!(fast::<Pair>("[1,2]").err(), Some(Declined));
    assert!(serde_json::from_str::<Shape>(r#"{"Circle":{"r":1}}"#).is_ok());
    assert_eq!(fast::<Shape>(r#"{"Circle":{"r":1}}"#).err(), Some(Declined));
    assert!(serde_json::from_str::<BTreeMap<u8, u8>>(r#"{"1":2}"#).is_ok());
    assert_eq!(fast::<BTreeMap<u8, u8>>(r#"{"1":2}"#).err(), Some(Declined));
    let raw = r#"{"a":[1, 2]}"#;
    assert!(serde_json::from_str::<Box<serde_json::value::RawValue>>(raw).is_ok());
    assert_eq!(
        fast::<Box<serde_json::value::RawValue>>(raw).err(),
        Some(Declined)
    );
}

#[test]
fn the_string_scan_finds_the_first_special_byte_at_any_offset() {
    for special in [b'"', b'\\', 0x00, 0x1f] {
        for len in 0..40 {
            for at in 0..len {
                let mut s = vec![b'a'; len];
                s[at] = special;
                if at + 1 < len {
                    s[at + 1] = b'"';
                }
                assert_eq!(next_special(&s, 0), at, "{special} at {at} of {len}");
            }
            assert_eq!(next_special(&vec![0x7f; len], 0), len);
        }
    }
}
