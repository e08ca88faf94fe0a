use prost::Message;
use serde_json::{json, Value};

use crate::json_struct::{JsonStruct, ProstStruct};
use crate::test_support::obj;

/// Both decoders over the same bytes: the same object (keys in the same order) or the same
/// error.
fn assert_agree(bytes: &[u8]) {
    let fast = JsonStruct::decode(bytes).map(|s| s.0);
    let slow = ProstStruct::decode(bytes).map(|s| s.0);
    match (&fast, &slow) {
        (Ok(f), Ok(s)) => assert_eq!(
            serde_json::to_string(f).unwrap(),
            serde_json::to_string(s).unwrap(),
            "{bytes:02x?}"
        ),
        (Err(f), Err(s)) => assert_eq!(f.to_string(), s.to_string(), "{bytes:02x?}"),
        _ => panic!("{bytes:02x?}: fast {fast:?}, prost {slow:?}"),
    }
}

fn encode(v: Value) -> Vec<u8> {
    JsonStruct(obj(v)).encode_to_vec()
}

fn payload() -> Value {
    json!({
        "name": "search", "args": {"q": "crap", "n": 20, "f": 2.5, "neg": -3, "big": 1e300, "edge": 9007199254740992_i64,
        "t": true, "z": null, "l": [1, "x", null, false, {"deep": {"deeper": []}}], "e": {},
        "utf": "héllo ✓ 😀", "long": "x".repeat(300)},
        "headers": {"x-a": "1", "x-b": "2"}
    })
}

#[test]
fn fast_and_prost_agree_on_valid_payloads() {
    for v in [
        payload(),
        json!({}),
        json!({"": ""}),
        json!({"k": {"k": {"k": {"k": [[[[]]]]}}}}),
    ] {
        let bytes = encode(v.clone());
        assert_agree(&bytes);
        assert_eq!(JsonStruct::decode(bytes.as_slice()).unwrap().0, obj(v));
    }
}

#[test]
fn fast_and_prost_agree_on_every_truncation_and_byte_change() {
    let bytes = encode(payload());
    for end in 0..bytes.len() {
        assert_agree(&bytes[..end]);
    }
    for i in 0..bytes.len() {
        for b in [
            0x00, 0x01, 0x02, 0x05, 0x07, 0x08, 0x0a, 0x10, 0x12, 0x1a, 0x7f, 0x80, 0xc3, 0xff,
        ] {
            let mut changed = bytes.clone();
            changed[i] = b;
            assert_agree(&changed);
        }
    }
}

/// Entry `{key: value}` with the given raw entry body, as a `Struct` field.
fn entry(body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x0a, u8::try_from(body.len()).unwrap()];
    out.extend_from_slice(body);
    out
}

#[test]
fn fast_and_prost_agree_on_unusual_shapes() {
    let cases: Vec<Vec<u8>> = vec![
        // key twice (the last wins in prost), value twice, value before key
        entry(&[0x0a, 1, b'a', 0x0a, 1, b'b', 0x12, 2, 0x20, 1]),
        entry(&[0x0a, 1, b'a', 0x12, 2, 0x20, 1, 0x12, 2, 0x20, 0]),
        entry(&[0x12, 2, 0x20, 1, 0x0a, 1, b'a']),
        // no key, no value, empty entry
        entry(&[0x12, 2, 0x20, 1]),
        entry(&[0x0a, 1, b'a']),
        entry(&[]),
        // a value with no kind, with two kinds, with an unknown field
        entry(&[0x0a, 1, b'a', 0x12, 0]),
        entry(&[0x0a, 1, b'a', 0x12, 4, 0x20, 1, 0x08, 0]),
        entry(&[0x0a, 1, b'a', 0x12, 4, 0x38, 1, 0x20, 1]),
        // an unknown field in the entry and in the struct
        entry(&[0x0a, 1, b'a', 0x18, 1, 0x12, 2, 0x20, 1]),
        [entry(&[0x0a, 1, b'a']), vec![0x10, 1]].concat(),
        // bool as 2, null_value as 5, a non-finite and a negative-zero double
        entry(&[0x0a, 1, b'a', 0x12, 2, 0x20, 2]),
        entry(&[0x0a, 1, b'a', 0x12, 2, 0x08, 5]),
        entry(&[0x0a, 1, b'a', 0x12, 9, 0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f]),
        entry(&[0x0a, 1, b'a', 0x12, 9, 0x11, 0, 0, 0, 0, 0, 0, 0, 0x80]),
        // invalid UTF-8 in a key and in a string value
        entry(&[0x0a, 1, 0xff, 0x12, 2, 0x20, 1]),
        entry(&[0x0a, 1, b'a', 0x12, 3, 0x1a, 1, 0xc3]),
        // a ten-byte varint as a bool, a wrong wire type
        entry(&[
            0x0a, 1, b'a', 0x12, 11, 0x20, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
            0x01,
        ]),
        entry(&[0x0a, 1, b'a', 0x12, 2, 0x18, 1]),
        // the same key in two entries: first place, last value
        [encode(json!({"b": 1, "a": 2})), encode(json!({"b": 3}))].concat(),
    ];
    for bytes in cases {
        assert_agree(&bytes);
    }
}

#[test]
fn deep_nesting_is_left_to_prost_and_agrees() {
    for depth in [15, 16, 17, 30, 40, 200] {
        let mut v = json!(1);
        for _ in 0..depth {
            v = json!({ "k": [v] });
        }
        let bytes = encode(json!({ "top": v }));
        assert_agree(&bytes);
    }
}

#[test]
fn the_benchmark_shape_takes_the_fast_path() {
    let bytes = encode(payload());
    // The first entry's field key is one byte; the entry itself starts after it.
    let (key, value, used) = super::entry_at(&bytes[1..]).expect("fast path");
    assert_eq!((key.as_str(), value), ("name", json!("search")));
    assert!(used > 0 && used < bytes.len());
    // An entry with an unknown field is not taken.
    assert!(super::entry_at(&[4, 0x0a, 1, b'a', 0x18, 1][..]).is_none());
}
