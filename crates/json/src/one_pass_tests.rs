//! [`OnePass`] with serde_json's own compact layout against `serde_json::to_vec`, byte for byte,
//! over generated values, every serde shape, and what it leaves to serde_json.

use std::collections::BTreeMap;

use serde::Serialize;

use super::*;
use crate::testgen::JsonGen;
use crate::{escape_into, escape_twice_into, Compact};

fn one_pass<T: Serialize + ?Sized>(value: &T) -> Option<String> {
    let mut out = Vec::new();
    value.serialize(&mut OnePass::new(&mut out, Compact)).ok()?;
    Some(String::from_utf8(out).unwrap())
}

fn serde<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap()
}

#[test]
fn generated_values_are_written_as_serde_json_writes_them() {
    let mut g = JsonGen(0x9e37_79b9_7f4a_7c15);
    for _ in 0..3000 {
        let v = g.value(0);
        assert_eq!(one_pass(&v), Some(serde(&v)), "{v}");
    }
}

#[test]
fn every_byte_is_escaped_as_serde_json_escapes_it() {
    for b in 0..=0x7fu8 {
        for len in 0..=17 {
            for at in 0..len {
                let mut s = vec![b'x'; len];
                s[at] = b;
                let s = String::from_utf8(s).unwrap();
                let mut once = Vec::new();
                escape_into(&mut once, s.as_bytes());
                let expected = serde(&s);
                assert_eq!(
                    String::from_utf8(once).unwrap(),
                    expected[1..expected.len() - 1],
                    "{s:?}"
                );
                // Twice: the once-escaped text, escaped again.
                let mut twice = Vec::new();
                escape_twice_into(&mut twice, s.as_bytes());
                let again = serde(&expected[1..expected.len() - 1]);
                assert_eq!(
                    String::from_utf8(twice).unwrap(),
                    again[1..again.len() - 1],
                    "{s:?}"
                );
            }
        }
    }
}

#[derive(Serialize)]
enum Shape {
    Unit,
    Newtype(String),
    Tuple(u8, Option<bool>),
    Struct { a: char, b: Vec<()> },
}

#[derive(Serialize)]
struct Shapes {
    unit: (),
    units: Vec<Shape>,
    tuple: (i8, u128, f32),
    empty_map: BTreeMap<String, u8>,
    empty_seq: Vec<u8>,
    newtype: Wrapper,
    keys: BTreeMap<char, Option<i32>>,
    unit_struct: UnitStruct,
}

#[derive(Serialize)]
struct Wrapper(String);

#[derive(Serialize)]
struct UnitStruct;

#[test]
fn every_serde_shape_is_written_without_serde_json() {
    let shapes = Shapes {
        unit: (),
        units: vec![
            Shape::Unit,
            Shape::Newtype("n\"".into()),
            Shape::Tuple(7, None),
            Shape::Struct {
                a: '\n',
                b: vec![(), ()],
            },
        ],
        tuple: (-3, u128::MAX, 0.5),
        empty_map: BTreeMap::new(),
        empty_seq: Vec::new(),
        newtype: Wrapper("w".into()),
        keys: [('k', Some(1)), ('"', None)].into_iter().collect(),
        unit_struct: UnitStruct,
    };
    assert_eq!(one_pass(&shapes), Some(serde(&shapes)));
}

#[test]
fn what_serde_json_decides_is_left_to_it() {
    let number_keys: BTreeMap<u32, u8> = [(1, 2)].into_iter().collect();
    assert_eq!(one_pass(&number_keys), None);
    let raw = serde_json::value::RawValue::from_string("[1, 2]".into()).unwrap();
    assert_eq!(one_pass(&raw), None);
    assert_eq!(one_pass(&serde_bytes_like()), None);
}

/// A value that serializes as bytes.
fn serde_bytes_like() -> impl Serialize {
    struct Bytes;
    impl Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(b"ab")
        }
    }
    Bytes
}
