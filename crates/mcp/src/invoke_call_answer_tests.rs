//! The one-pass answer against the two-pass one (pretty-print, then escape into the JSON-RPC
//! string), byte for byte, over crafted and generated payloads.

use super::*;
use crate::{CallToolResult, Response};
use plugwire_json::testgen::JsonGen;
use serde_json::{json, Value};
use std::io::Write;

/// The generic path's answer bytes for a one-text result.
fn generic_answer(id: &RequestId, text: &str) -> Vec<u8> {
    let result = serde_json::to_value(CallToolResult::text(text)).unwrap();
    serde_json::to_vec(&Response::new(id.clone(), result)).unwrap()
}

/// The answer as it was built before the one-pass writer: the pretty text, then escaped.
fn two_pass<T: Serialize + ?Sized>(id: &RequestId, value: &T) -> Vec<u8> {
    generic_answer(id, &serde_json::to_string_pretty(value).unwrap())
}

fn one_pass<T: Serialize + ?Sized>(id: &RequestId, value: &T) -> Vec<u8> {
    let mut w = TextResultWriter::new(id);
    w.write_pretty(value).unwrap();
    w.finish()
}

/// What [`OnePass`] writes on its own, `None` where it leaves the value to serde_json.
fn direct<T: Serialize + ?Sized>(value: &T) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let done = value.serialize(&mut OnePass::new(&mut out, EscapedPretty::new()));
    done.ok().map(|()| out)
}

/// serde_json's serializer with [`EscapedPretty`]: the bytes `OnePass` must write.
fn serde_escaped<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, EscapedPretty::new());
    value.serialize(&mut ser).unwrap();
    out
}

fn assert_same(id: &RequestId, value: &Value) {
    // Every `Value` is written without falling back to serde_json.
    assert_eq!(
        direct(value).map(String::from_utf8),
        Some(String::from_utf8(serde_escaped(value))),
        "{value}"
    );
    let (ours, theirs) = (one_pass(id, value), two_pass(id, value));
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs),
        "{value}"
    );
    assert_eq!(ours, theirs);
}

#[test]
fn one_pass_matches_two_passes_on_generated_payloads() {
    let mut g = JsonGen(0x9e37_79b9_7f4a_7c15);
    let ids = [
        RequestId::from(0),
        RequestId::from(42),
        RequestId::String("s\"\n".into()),
    ];
    for i in 0..3000 {
        let payload = g.value(0);
        assert_same(&ids[i % ids.len()], &payload);
        // The shape of a real answer around it.
        let answer = json!({"plugin_name": g.string(), "result": {"continue_processing": true,
            "modified_payload": payload, "violation": null, "metadata": {}}});
        assert_same(&ids[i % ids.len()], &answer);
    }
}

#[test]
fn one_pass_matches_two_passes_on_crafted_payloads() {
    let mut deep = json!("leaf \"q\"");
    for i in 0..40 {
        deep = if i % 2 == 0 {
            json!({"k\n": deep, "n": i})
        } else {
            json!([deep, [], {}, i])
        };
    }
    let all_bytes: String = (0u8..0x80).map(char::from).collect();
    let cases = [
        json!(null),
        json!(true),
        json!(0),
        json!(-1.25),
        json!(u64::MAX),
        json!(""),
        json!(all_bytes),
        json!([]),
        json!({}),
        json!([[], {}, [[]], {"": {}}]),
        json!({"a \"quoted\" key\\": "v\u{1F600}é", "\u{1}": ["\t", "\r\n", 1e-7]}),
        deep,
    ];
    for v in &cases {
        assert_same(&RequestId::from(1), v);
    }
}

#[derive(Serialize)]
struct Typed<'a> {
    name: &'a str,
    missing: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<u8>,
    unit: (),
    kind: Kind,
    other: Kind,
    ch: char,
    bytes: serde_bytes_like::Bytes<'a>,
    raw: &'a serde_json::value::RawValue,
    nan: f64,
}

#[derive(Serialize)]
enum Kind {
    Plain,
    Tuple(u8, &'static str),
}

mod serde_bytes_like {
    /// Serialized with `serialize_bytes` (an array of numbers in serde_json).
    pub struct Bytes<'a>(pub &'a [u8]);
    impl serde::Serialize for Bytes<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(self.0)
        }
    }
}

#[test]
fn one_pass_matches_two_passes_on_typed_values() {
    let raw =
        serde_json::value::RawValue::from_string(r#"{"a": "x\"y\\z", "b":[1, 2]}"#.into()).unwrap();
    let typed = Typed {
        name: "n\"\u{2}",
        missing: None,
        skipped: None,
        unit: (),
        kind: Kind::Plain,
        other: Kind::Tuple(3, "t\n"),
        ch: '"',
        bytes: serde_bytes_like::Bytes(&[0, 34, 92, 255]),
        raw: &raw,
        nan: f64::NAN,
    };
    let id = RequestId::from(9);
    assert_eq!(one_pass(&id, &typed), two_pass(&id, &typed));
    let mut ints = std::collections::BTreeMap::new();
    ints.insert(-3i32, "minus");
    ints.insert(7, "seven");
    assert_eq!(one_pass(&id, &ints), two_pass(&id, &ints));
}

#[test]
fn text_result_writer_matches_the_generic_path_byte_for_byte() {
    let mut text: String = (0u8..0x80).map(char::from).collect();
    text.push_str("é \u{1F600} \\ \" end");
    // Escapes at every offset of the eight-byte scan, next to runs of every length.
    for n in 0..20 {
        for c in ['"', '\\', '\n', '\u{1}', '\u{1f}', '\u{7f}', 'é', ' '] {
            text.extend(std::iter::repeat_n('x', n));
            text.push(c);
            text.extend(std::iter::repeat_n('\u{1F600}', n % 3));
        }
    }
    for id in [
        RequestId::from(0),
        RequestId::from(3),
        RequestId::String("s\"\n".into()),
    ] {
        let expected = generic_answer(&id, &text);
        // Byte by byte, so a write splits every UTF-8 sequence.
        let mut w = TextResultWriter::new(&id);
        for b in text.as_bytes() {
            w.write_all(std::slice::from_ref(b)).unwrap();
        }
        assert_eq!(
            String::from_utf8(w.finish()).unwrap(),
            String::from_utf8(expected.clone()).unwrap()
        );
        let mut w = TextResultWriter::new(&id);
        w.push_str(&text);
        assert_eq!(w.finish(), expected);
    }
    let mut w = TextResultWriter::text_only();
    w.push_str(&text);
    assert_eq!(w.written_since(0), text.as_bytes());
    assert_eq!(w.finish(), generic_answer(&RequestId::from(0), &text));
}

#[test]
fn bytes_that_are_not_utf8_are_replaced_as_before() {
    let bytes: &[u8] = b"a\xff\"b\xe2\x82 \xf0\x9f\x98\x80\n\xc3";
    let expected = generic_answer(&RequestId::from(1), &String::from_utf8_lossy(bytes));
    let mut w = TextResultWriter::new(&RequestId::from(1));
    w.write_all(bytes).unwrap();
    assert_eq!(w.finish(), expected);
    let mut w = TextResultWriter::text_only();
    w.write_all(bytes).unwrap();
    assert_eq!(w.written_since(0), bytes);
    assert_eq!(
        w.finish(),
        generic_answer(&RequestId::from(0), &String::from_utf8_lossy(bytes))
    );
}

#[test]
fn marks_truncate_and_read_back_the_text_in_the_writers_form() {
    let mut w = TextResultWriter::new(&RequestId::from(5));
    assert!(w.text_is_escaped());
    w.push_str("x");
    let mark = w.mark();
    assert_eq!(mark, 1);
    w.write_pretty(&json!({"a": "b\n"})).unwrap();
    assert_eq!(w.written_since(mark), br#"{\n  \"a\": \"b\\n\"\n}"#);
    w.truncate(mark);
    assert_eq!(w.written_since(0), b"x");
    assert_eq!(w.finish(), generic_answer(&RequestId::from(5), "x"));

    let mut w = TextResultWriter::text_only();
    assert!(!w.text_is_escaped());
    w.write_pretty(&json!({"a": "b\n"})).unwrap();
    assert_eq!(w.written_since(0), b"{\n  \"a\": \"b\\n\"\n}");
}

#[derive(Serialize)]
struct AllShapes<'a> {
    name: &'a str,
    missing: Option<u8>,
    some: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<u8>,
    unit: (),
    unit_struct: UnitStruct,
    newtype: Newtype,
    kinds: Vec<Shape>,
    empty: Vec<u8>,
    tuple: (i8, i16, i32, i64, i128, u8, u16, u32, u128, f32),
    ch: char,
    floats: [f64; 5],
    map: std::collections::BTreeMap<String, Newtype>,
    #[serde(serialize_with = "as_display")]
    shown: u32,
}

#[derive(Serialize)]
struct UnitStruct;

#[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
struct Newtype(String);

#[derive(Serialize)]
enum Shape {
    Unit,
    Newtype(Newtype),
    Tuple(u8, &'static str),
    EmptyTuple(),
    Struct { a: char, b: Vec<Shape> },
    EmptyStruct {},
}

fn as_display<S: serde::Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v}\"\n"))
}

/// Typed values of every serde shape the answer's types could use are written by `OnePass`
/// itself, byte for byte as serde_json writes them.
#[test]
fn one_pass_writes_every_serde_shape_itself() {
    let mut map = std::collections::BTreeMap::new();
    map.insert("k\"\u{1}".to_string(), Newtype("v\\".into()));
    map.insert(String::new(), Newtype(String::new()));
    let shapes = AllShapes {
        name: "n\"\u{2}\u{2028}",
        missing: None,
        some: Some("\t"),
        skipped: None,
        unit: (),
        unit_struct: UnitStruct,
        newtype: Newtype("é\r".into()),
        kinds: vec![
            Shape::Unit,
            Shape::Newtype(Newtype("x".into())),
            Shape::Tuple(3, "t\n"),
            Shape::EmptyTuple(),
            Shape::Struct {
                a: '\\',
                b: vec![Shape::Unit, Shape::EmptyStruct {}],
            },
            Shape::EmptyStruct {},
        ],
        empty: vec![],
        tuple: (
            -1,
            -2,
            -3,
            i64::MIN,
            i128::MIN,
            255,
            65535,
            u32::MAX,
            u128::MAX,
            0.1,
        ),
        ch: '\u{1F600}',
        floats: [f64::NAN, f64::INFINITY, -0.0, 1e300, 2.5e-8],
        map,
        shown: 7,
    };
    assert_eq!(
        direct(&shapes).map(String::from_utf8),
        Some(String::from_utf8(serde_escaped(&shapes)))
    );
    let id = RequestId::from(4);
    assert_eq!(one_pass(&id, &shapes), two_pass(&id, &shapes));
}

/// What `OnePass` leaves to serde_json (bytes, a `RawValue`, keys that are not strings) comes
/// out as serde_json writes it, and an error is serde_json's own.
#[test]
fn what_one_pass_leaves_to_serde_json_comes_out_the_same() {
    let raw = serde_json::value::RawValue::from_string(r#"{"a":"\n"}"#.into()).unwrap();
    assert!(direct(&serde_bytes_like::Bytes(b"ab")).is_none());
    assert!(direct(&raw).is_none());
    let mut ints = std::collections::BTreeMap::new();
    ints.insert(1u8, "x");
    assert!(direct(&ints).is_none());
    let id = RequestId::from(2);
    let nested = json!({"a": [1, "b"]});
    let value = (&nested, &raw, serde_bytes_like::Bytes(b"\"\\"), &ints);
    assert_eq!(one_pass(&id, &value), two_pass(&id, &value));

    struct Fails;
    impl Serialize for Fails {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("refused \"here\""))
        }
    }
    let mut bad_keys = std::collections::BTreeMap::new();
    bad_keys.insert(vec![1u8], 0);
    for (ours, theirs) in [
        (
            TextResultWriter::new(&id).write_pretty(&[Fails]),
            serde_json::to_string_pretty(&[Fails]).map(drop),
        ),
        (
            TextResultWriter::new(&id).write_pretty(&bad_keys),
            serde_json::to_string_pretty(&bad_keys).map(drop),
        ),
    ] {
        let (ours, theirs) = (ours.unwrap_err(), theirs.unwrap_err());
        assert_eq!(ours.to_string(), theirs.to_string());
    }
}
