//! Reading a JSON text into a seed the way the hot paths do: [`SliceDeserializer`] where it takes
//! the text, serde_json where it declines, and serde_json only on a text a `serde_json::Value`
//! would decode.
//!
//! That last check is why this is one piece of code. A fast path answers a body only if the
//! generic path (which decodes the whole text into a `Value`, as Python's `json` does) would have
//! taken it, and serde_json reading into a typed seed skips what the seed ignores (an unknown
//! member, a raw value) without checking it: a number out of range such as `1e999` there is
//! refused by a `Value`, not by the skip (found by the server's request fuzzer).
//! [`SliceDeserializer`] reads every value in full, so it needs no such check.

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::SliceDeserializer;

/// `seed` read from `text` (only whitespace after it): by [`SliceDeserializer`], or, where it
/// declines, by [`read_checked_seed`]. `None` when neither takes it: the caller's generic path
/// decides and words the error.
pub fn read_seed<'de, S: DeserializeSeed<'de> + Clone>(
    text: &'de str,
    seed: S,
) -> Option<S::Value> {
    let mut fast = SliceDeserializer::new(text);
    match seed.clone().deserialize(&mut fast) {
        Ok(value) if fast.end().is_ok() => Some(value),
        _ => read_checked_seed(text, seed),
    }
}

/// `seed` read from `text` by serde_json, after the whole text is checked to decode as a
/// `serde_json::Value` would (see the module docs); `None` otherwise.
pub fn read_checked_seed<'de, S: DeserializeSeed<'de>>(
    text: &'de str,
    seed: S,
) -> Option<S::Value> {
    serde_json::from_str::<ValidJson>(text).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = seed.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

/// [`read_checked_seed`] of a plain type (no seed).
pub fn read_checked<'de, T: Deserialize<'de>>(text: &'de str) -> Option<T> {
    read_checked_seed(text, std::marker::PhantomData::<T>)
}

/// A JSON text read in full as a `Value` is (every number, string and key decoded, not
/// skipped) without building anything: it decodes exactly when `serde_json::Value` does.
struct ValidJson;

impl<'de> Deserialize<'de> for ValidJson {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValidJson)
    }
}

impl<'de> Visitor<'de> for ValidJson {
    type Value = ValidJson;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_unit<E>(self) -> Result<Self, E> {
        Ok(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<ValidJson>()?.is_some() {}
        Ok(self)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        while map.next_key::<ValidJson>()?.is_some() {
            map.next_value::<ValidJson>()?;
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::Value;

    use super::*;

    /// Texts a `Value` refuses although a typed read skipping the bad part would take them.
    #[test]
    fn a_skipped_member_is_held_to_what_a_value_accepts() {
        #[derive(Deserialize)]
        #[allow(dead_code)]
        struct OnlyA {
            a: u8,
        }
        for text in [
            r#"{"a":1,"b":1e999}"#,
            r#"{"a":1,"b":[-1e400]}"#,
            r#"{"b":{"c":"\ud800"},"a":1}"#,
        ] {
            assert!(
                serde_json::from_str::<OnlyA>(text).is_ok(),
                "serde_json skips it: {text}"
            );
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text}");
            assert!(read_checked::<OnlyA>(text).is_none(), "{text}");
            assert!(
                read_seed(text, std::marker::PhantomData::<OnlyA>).is_none(),
                "{text}"
            );
        }
        let ok = r#"{"b":{"c":[1e300,"\u00e9"]},"a":7}"#;
        assert_eq!(read_checked::<OnlyA>(ok).map(|v| v.a), Some(7));
        assert_eq!(
            read_seed(ok, std::marker::PhantomData::<OnlyA>).map(|v| v.a),
            Some(7)
        );
    }

    /// Where the fast reader declines (an `f32` here), serde_json reads the text.
    #[test]
    fn what_the_fast_reader_declines_is_read_by_serde_json() {
        let text = r#"{"x":0.1}"#;
        let mut fast = SliceDeserializer::new(text);
        assert!(BTreeMap::<String, f32>::deserialize(&mut fast).is_err());
        let read = read_seed(text, std::marker::PhantomData::<BTreeMap<String, f32>>);
        assert_eq!(read, serde_json::from_str(text).ok());
        assert_eq!(
            read_seed("[1] x", std::marker::PhantomData::<Vec<u8>>),
            None
        );
    }
}
