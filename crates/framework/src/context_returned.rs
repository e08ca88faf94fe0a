//! The context an `invoke_hook` answer gives back, decoded for what a client keeps of it.
//!
//! A client copies only three maps out of a returned context (`state`, `metadata` and
//! `global_context.state`): the rest of the global context is the caller's. Decoding it whole
//! ([`PluginContext::from_json_str`]) built every string and map of the global context (and of
//! its `user_context`) only to drop them, a sixth of the answer's decoding per call.
//! [`ReturnedContext::from_json_str`] reads the same text with types that check the other
//! members as the full decode would and keep nothing.
//!
//! Why the checks: a context the full decode refuses makes the call fail (the client reports an
//! invalid context), so skipping what is not kept must not accept more. The checking types
//! mirror the full types member by member — same names, same order (serde's derived structs
//! also read an array of their fields in order), same defaults and `null` rules — and read
//! every value through the same `serde_json` paths (`deserialize_any` for a `Value`, strings
//! parsed and their escapes checked, the nesting limit counted), never `IgnoredAny`, which
//! skips without those checks. Tests compare the two decodes on each kind of refusal.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use crate::serde_util::null_as_default;
use crate::{JsonMap, PayloadError, PluginContext};

/// The three maps of a returned context that a client copies into its own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReturnedContext {
    /// The plugin's own state.
    pub state: JsonMap,
    /// The plugin's own metadata.
    pub metadata: JsonMap,
    /// The global context's `state`.
    pub global_state: JsonMap,
}

impl ReturnedContext {
    /// Decodes a returned context's JSON text: accepts exactly the texts
    /// [`PluginContext::from_json_str`] accepts, with its error for those it refuses.
    pub fn from_json_str(text: &str) -> Result<Self, PayloadError> {
        match crate::payloads::decode_text::<Returned>(text) {
            Ok(r) => Ok(ReturnedContext {
                state: r.state,
                metadata: r.metadata,
                global_state: r.global_context.state,
            }),
            // A refusal is rare: the full decode gives its own message.
            Err(e) => Err(PluginContext::from_json_str(text)
                .err()
                .unwrap_or_else(|| PayloadError::new("PluginContext", e))),
        }
    }

    /// Copies the three maps into `ctx`; the rest of `ctx` stays as it is.
    pub fn apply_to(self, ctx: &mut PluginContext) {
        ctx.state = self.state;
        ctx.metadata = self.metadata;
        ctx.global_context.state = self.global_state;
    }
}

/// `PluginContext`'s members, in its order.
#[derive(Deserialize)]
struct Returned {
    #[serde(default, deserialize_with = "null_as_default")]
    state: JsonMap,
    global_context: ReturnedGlobal,
    #[serde(default, deserialize_with = "null_as_default")]
    metadata: JsonMap,
}

/// `GlobalContext`'s members, in its order; only `state` is kept.
#[derive(Deserialize)]
struct ReturnedGlobal {
    #[serde(rename = "request_id")]
    _request_id: Text,
    #[serde(default, rename = "user")]
    _user: Option<AnyJson>,
    #[serde(default, rename = "user_context")]
    _user_context: Option<CheckedUser>,
    #[serde(default, rename = "tenant_id")]
    _tenant_id: Option<Text>,
    #[serde(default, rename = "server_id")]
    _server_id: Option<Text>,
    #[serde(default, rename = "content_type")]
    _content_type: Option<Text>,
    #[serde(default, deserialize_with = "null_as_default")]
    state: JsonMap,
    #[serde(default, deserialize_with = "null_as_default", rename = "metadata")]
    _metadata: Object,
}

/// `UserContext`'s members, in its order; nothing kept.
#[derive(Deserialize)]
struct CheckedUser {
    #[serde(rename = "user_id")]
    _user_id: Text,
    #[serde(default, rename = "email")]
    _email: Option<Text>,
    #[serde(default, rename = "full_name")]
    _full_name: Option<Text>,
    #[serde(default, deserialize_with = "null_as_default", rename = "is_admin")]
    _is_admin: bool,
    #[serde(default, deserialize_with = "null_as_default", rename = "groups")]
    _groups: List<Text>,
    #[serde(default, deserialize_with = "null_as_default", rename = "roles")]
    _roles: List<Text>,
    #[serde(default, rename = "team_id")]
    _team_id: Option<Text>,
    #[serde(default, rename = "teams")]
    _teams: Option<List<Text>>,
    #[serde(default, rename = "department")]
    _department: Option<Text>,
    #[serde(default, deserialize_with = "null_as_default", rename = "attributes")]
    _attributes: Object,
    #[serde(default, rename = "auth_method")]
    _auth_method: Option<Text>,
    #[serde(default, rename = "authenticated_at")]
    _authenticated_at: Option<Text>,
    #[serde(default, rename = "service_account")]
    _service_account: Option<Text>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        rename = "delegation_chain"
    )]
    _delegation_chain: List<Text>,
}

/// What `String` accepts, kept nowhere.
#[derive(Default)]
struct Text;

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Text, E> {
                Ok(Text)
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Text, E> {
                match std::str::from_utf8(v) {
                    Ok(_) => Ok(Text),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Bytes(v), &self)),
                }
            }
        }
        d.deserialize_string(V)
    }
}

/// What `Vec<T>` accepts, kept nowhere.
struct List<T>(PhantomData<T>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(PhantomData)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                while seq.next_element::<T>()?.is_some() {}
                Ok(List(PhantomData))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// What `serde_json::Value` accepts, kept nowhere: read with `deserialize_any` as `Value`
/// reads it, so numbers, strings and nesting are checked the same way.
struct AnyJson;

impl<'de> Deserialize<'de> for AnyJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(AnyVisitor)
    }
}

struct AnyVisitor;

impl<'de> Visitor<'de> for AnyVisitor {
    type Value = AnyJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_i64<E>(self, _: i64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_u64<E>(self, _: u64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<AnyJson, E> {
        serde_json::Number::deserialize(serde::de::value::I128Deserializer::<E>::new(v))
            .map(|_| AnyJson)
    }
    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<AnyJson, E> {
        serde_json::Number::deserialize(serde::de::value::U128Deserializer::<E>::new(v))
            .map(|_| AnyJson)
    }
    fn visit_f64<E>(self, _: f64) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_str<E>(self, _: &str) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_none<E>(self) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<AnyJson, D::Error> {
        AnyJson::deserialize(d)
    }
    fn visit_unit<E>(self) -> Result<AnyJson, E> {
        Ok(AnyJson)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AnyJson, A::Error> {
        while seq.next_element::<AnyJson>()?.is_some() {}
        Ok(AnyJson)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<AnyJson, A::Error> {
        check_object(map, true)
    }
}

/// The members of an object, `Value`'s way. `Value` reads an object whose first member is
/// named after `serde_json`'s raw-value marker as the JSON text in that member's string (and
/// stops there); `first_is_special` says whether that rule applies (it does for a `Value`,
/// not for a `Map`).
fn check_object<'de, A: MapAccess<'de>>(
    mut map: A,
    first_is_special: bool,
) -> Result<AnyJson, A::Error> {
    if first_is_special {
        match map.next_key::<KeyIsRawMarker>()? {
            None => return Ok(AnyJson),
            Some(KeyIsRawMarker(true)) => {
                let text: String = map.next_value()?;
                return serde_json::from_str::<AnyJson>(&text).map_err(serde::de::Error::custom);
            }
            Some(KeyIsRawMarker(false)) => map.next_value::<AnyJson>()?,
        };
    }
    while map.next_entry::<Text, AnyJson>()?.is_some() {}
    Ok(AnyJson)
}

/// The name `serde_json` gives the raw-value marker member.
const RAW_VALUE_MARKER: &str = "$serde_json::private::RawValue";

/// A member name, and whether it is [`RAW_VALUE_MARKER`] (read as `Value` reads a first name).
struct KeyIsRawMarker(bool);

impl<'de> Deserialize<'de> for KeyIsRawMarker {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyIsRawMarker;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_str<E>(self, v: &str) -> Result<KeyIsRawMarker, E> {
                Ok(KeyIsRawMarker(v == RAW_VALUE_MARKER))
            }
        }
        d.deserialize_str(V)
    }
}

/// What `JsonMap` accepts, kept nowhere.
#[derive(Default)]
struct Object;

impl<'de> Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Object;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_unit<E>(self) -> Result<Object, E> {
                Ok(Object)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Object, A::Error> {
                check_object(map, false).map(|_| Object)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
#[path = "context_returned_tests.rs"]
mod tests;
