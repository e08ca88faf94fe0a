use super::wire::{put_key, put_varint};
use super::*;
use crate::json_struct::JsonStruct;
use prost::encoding::WireType;
use prost::Message;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The two-pass bytes: `serde_json::to_value`, then the `Value` tree encoded as a `Struct`.
fn two_pass<T: Serialize>(v: &T) -> Vec<u8> {
    match serde_json::to_value(v).unwrap() {
        Value::Object(m) => JsonStruct(m).encode_to_vec(),
        other => panic!("not an object: {other}"),
    }
}

fn one_pass<T: Serialize>(v: &T) -> Vec<u8> {
    let mut out = Vec::new();
    write_struct_body(v, None, &mut out).unwrap();
    out
}

#[derive(Serialize)]
enum Shape {
    Unit,
    Newtype(u8),
    Tuple(i32, String),
    Struct { a: Option<f64>, b: Vec<u8> },
}

#[derive(Serialize)]
struct Typed {
    name: String,
    count: u64,
    neg: i64,
    ratio: f32,
    flag: bool,
    nothing: Option<u8>,
    unit: (),
    letter: char,
    bytes: serde_bytes_like::Bytes,
    shapes: Vec<Shape>,
    by_number: BTreeMap<u32, &'static str>,
    by_bool: BTreeMap<bool, u8>,
    nan: f64,
    inf: f64,
    big: u128,
    tuple: (u8, &'static str),
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<u8>,
    raw: Value,
}

/// A type whose `Serialize` calls `serialize_bytes` (serde's `Vec<u8>` is a sequence).
mod serde_bytes_like {
    pub struct Bytes(pub Vec<u8>);
    impl serde::Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }
}

fn long(n: usize) -> String {
    "é\"x\n".repeat(n)
}

#[test]
fn same_bytes_as_the_value_tree() {
    let typed = Typed {
        name: long(3),
        count: u64::MAX,
        neg: i64::MIN,
        ratio: 0.1,
        flag: true,
        nothing: None,
        unit: (),
        letter: 'ß',
        bytes: serde_bytes_like::Bytes(vec![0, 1, 255]),
        shapes: vec![
            Shape::Unit,
            Shape::Newtype(7),
            Shape::Tuple(-3, long(40)),
            Shape::Struct {
                a: Some(2.5),
                b: vec![1, 2],
            },
            Shape::Struct { a: None, b: vec![] },
        ],
        by_number: [(3, "three"), (10, "ten")].into(),
        by_bool: [(false, 0), (true, 1)].into(),
        nan: f64::NAN,
        inf: f64::NEG_INFINITY,
        big: u128::from(u64::MAX),
        tuple: (1, "one"),
        skipped: None,
        raw: json!({"k": [1, 2.5, null, {"deep": {"deeper": long(5000)}}], "": {}}),
    };
    assert_eq!(one_pass(&typed), two_pass(&typed));
    // Lengths of one, two and three varint bytes, at every depth.
    for n in [0, 1, 31, 32, 33, 4095, 4096, 4097, 40_000] {
        let v = json!({"s": long(n), "o": {"l": [long(n), {"x": long(n)}]}});
        assert_eq!(one_pass(&v), two_pass(&v), "{n}");
    }
    let empty: Map<String, Value> = Map::new();
    assert!(one_pass(&empty).is_empty());
}

#[test]
fn decodes_back_to_the_value() {
    let v = json!({"a": {"b": [1, "two", true, null, {"c": long(100)}]}, "n": -4});
    let back = JsonStruct::decode(one_pass(&v).as_slice()).unwrap();
    assert_eq!(Value::Object(back.0), v);
}

#[test]
fn the_skipped_member_is_left_out_at_the_top_only() {
    let v = json!({"keep": 1, "drop": {"drop": 2}, "last": 3});
    let mut out = Vec::new();
    write_struct_body(&v, Some("drop"), &mut out).unwrap();
    assert_eq!(out, two_pass(&json!({"keep": 1, "last": 3})));
    let nested = json!({"keep": {"drop": 2}});
    let mut out = Vec::new();
    write_struct_body(&nested, Some("drop"), &mut out).unwrap();
    assert_eq!(out, two_pass(&nested));
}

#[test]
fn what_serde_json_refuses_is_refused() {
    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    struct Key(u8, u8);
    let by_tuple: BTreeMap<Key, u8> = [(Key(1, 2), 3)].into();
    assert!(serde_json::to_value(&by_tuple).is_err());
    assert!(write_struct_body(&by_tuple, None, &mut Vec::new()).is_err());
    // Not a map at the top.
    assert!(write_struct_body(&[1, 2], None, &mut Vec::new()).is_err());
    assert!(write_struct_body("text", None, &mut Vec::new()).is_err());
    let huge = json!({"n": 1}); // serde_json's own numbers always fit.
    assert!(write_struct_body(&huge, None, &mut Vec::new()).is_ok());
    let mut m = BTreeMap::new();
    m.insert("n", u128::MAX);
    assert!(write_struct_body(&m, None, &mut Vec::new()).is_err());
}

#[test]
fn a_field_wraps_the_body() {
    let v = json!({"s": long(50)});
    let mut out = Vec::new();
    write_struct_field(2, &v, None, &mut out).unwrap();
    let body = two_pass(&v);
    let mut want = vec![0x12];
    prost::encoding::encode_varint(body.len() as u64, &mut want);
    want.extend_from_slice(&body);
    assert_eq!(out, want);
}

#[test]
fn varints_and_keys_are_prosts() {
    // Every width from one to ten bytes, at both sides of each boundary.
    let mut edges = vec![0, 1, u64::MAX];
    for k in 1..=9 {
        let edge = 1u64 << (7 * k);
        edges.extend([edge - 1, edge, edge + 1]);
    }
    for v in edges {
        let (mut ours, mut prosts) = (Vec::new(), Vec::new());
        put_varint(v, &mut ours);
        prost::encoding::encode_varint(v, &mut prosts);
        assert_eq!(ours, prosts, "{v}");
    }
    for tag in [1, 2, 15, 16, 2047, 2048, (1 << 29) - 1] {
        for wire_type in [
            WireType::LengthDelimited,
            WireType::SixtyFourBit,
            WireType::Varint,
        ] {
            let (mut ours, mut prosts) = (Vec::new(), Vec::new());
            put_key(tag, wire_type, &mut ours);
            prost::encoding::encode_key(tag, wire_type, &mut prosts);
            assert_eq!(ours, prosts, "{tag} {wire_type:?}");
        }
    }
}
