//! A `PluginResult` as it is read off the wire: [`RawResult`], its members decoded with the
//! defaults and `null` rulings of the Python model, and its `modified_payload` read by a seed.
//!
//! Why a seed: the type of a modified payload depends on the hook, which the result's text does
//! not name. Read as a plain `Deserialize`, the payload could only be kept aside (a `Value`, or
//! its raw text) and decoded again once the hook is applied: a second pass over the largest part
//! of every answer, which was ~8.5k of the 144k instructions of a gateway-side call
//! (scripts/bench/findings.md, "The gateway-side client, seventh step"). With a seed the payload
//! is decoded where it sits ([`crate::ResultSeed`]); `PhantomData<P>` as the seed gives the
//! plain decoding of a `RawResult<P>`, so both go through the one visitor below and cannot
//! drift apart.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use crate::{JsonMap, PluginViolation};

/// The result with `modified_payload` as `P`: a `Value`, raw text, or the typed payload.
pub(crate) struct RawResult<P> {
    pub(crate) continue_processing: bool,
    pub(crate) modified_payload: Option<P>,
    pub(crate) violation: Option<PluginViolation>,
    pub(crate) metadata: Option<JsonMap>,
    pub(crate) http_headers: Option<BTreeMap<String, String>>,
    pub(crate) retry_delay_ms: u64,
    pub(crate) modified_extensions: Option<Value>,
    pub(crate) denial_metadata: Option<Value>,
    pub(crate) executions: Option<Value>,
}

impl<P> RawResult<P> {
    /// A result whose every member is absent: the Python model's defaults (continue, metadata
    /// `{}`, everything else empty).
    pub(crate) fn absent() -> Self {
        RawResult {
            continue_processing: true,
            modified_payload: None,
            violation: None,
            metadata: Some(JsonMap::new()),
            http_headers: None,
            retry_delay_ms: 0,
            modified_extensions: None,
            denial_metadata: None,
            executions: None,
        }
    }
}

impl<'de, P: Deserialize<'de>> Deserialize<'de> for RawResult<P> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawResultSeed(PhantomData::<P>).deserialize(d)
    }
}

/// Reads a [`RawResult`] (a JSON object) whose `modified_payload`, when present and not `null`,
/// is read by `S`.
///
/// The rulings, as the Python model's: a missing `continue_processing` or a `null` one is
/// `true`; a missing `metadata` is `{}` and a `null` one stays `null`; a `null`
/// `retry_delay_ms` is 0; every other member is optional; unknown members are ignored (a
/// newer peer's); a repeated member is refused.
pub(crate) struct RawResultSeed<S>(pub(crate) S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for RawResultSeed<S> {
    type Value = RawResult<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for RawResultSeed<S> {
    type Value = RawResult<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct RawResult")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut seed = Some(self.0);
        let mut seen = [false; Member::COUNT];
        let mut out = RawResult::absent();
        while let Some(member) = map.next_key::<Member>()? {
            if let Some(index) = member.index() {
                if std::mem::replace(&mut seen[index], true) {
                    return Err(A::Error::duplicate_field(Member::NAMES[index]));
                }
            }
            match member {
                Member::ContinueProcessing => {
                    out.continue_processing = map.next_value::<Option<bool>>()?.unwrap_or(true);
                }
                Member::ModifiedPayload => {
                    // `seen` refuses a second `modified_payload`, so the seed is still here.
                    let seed = seed
                        .take()
                        .ok_or_else(|| A::Error::duplicate_field("modified_payload"))?;
                    out.modified_payload = map.next_value_seed(NullOr(seed))?;
                }
                Member::Violation => out.violation = map.next_value()?,
                Member::Metadata => out.metadata = map.next_value()?,
                Member::HttpHeaders => out.http_headers = map.next_value()?,
                Member::RetryDelayMs => {
                    out.retry_delay_ms = map.next_value::<Option<u64>>()?.unwrap_or_default();
                }
                Member::ModifiedExtensions => out.modified_extensions = map.next_value()?,
                Member::DenialMetadata => out.denial_metadata = map.next_value()?,
                Member::Executions => out.executions = map.next_value()?,
                Member::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

/// A member name of a result, compared where it sits (no `String` per key).
#[derive(Clone, Copy)]
enum Member {
    ContinueProcessing,
    ModifiedPayload,
    Violation,
    Metadata,
    HttpHeaders,
    RetryDelayMs,
    ModifiedExtensions,
    DenialMetadata,
    Executions,
    Other,
}

impl Member {
    const COUNT: usize = 9;
    /// The wire names, in the order of the variants.
    const NAMES: [&'static str; Member::COUNT] = [
        "continue_processing",
        "modified_payload",
        "violation",
        "metadata",
        "http_headers",
        "retry_delay_ms",
        "modified_extensions",
        "denial_metadata",
        "executions",
    ];
    const ALL: [Member; Member::COUNT] = [
        Member::ContinueProcessing,
        Member::ModifiedPayload,
        Member::Violation,
        Member::Metadata,
        Member::HttpHeaders,
        Member::RetryDelayMs,
        Member::ModifiedExtensions,
        Member::DenialMetadata,
        Member::Executions,
    ];

    fn index(self) -> Option<usize> {
        (!matches!(self, Member::Other)).then_some(self as usize)
    }

    fn named(name: &str) -> Member {
        Member::NAMES
            .iter()
            .position(|n| *n == name)
            .map_or(Member::Other, |i| Member::ALL[i])
    }
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Names;
        impl Visitor<'_> for Names {
            type Value = Member;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Member, E> {
                Ok(Member::named(v))
            }
        }
        d.deserialize_identifier(Names)
    }
}

/// `S`'s value, or `None` for a JSON `null` (what `Option<T>` does for a `Deserialize` `T`).
#[derive(Debug, Clone, Copy)]
pub struct NullOr<S>(pub S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for NullOr<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for NullOr<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or a value")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use serde::de::DeserializeSeed;
    use serde_json::json;

    use crate::{HookType, PluginResult, ResultSeed};

    fn seeded(hook: HookType, text: &str) -> Option<PluginResult> {
        let mut de = serde_json::Deserializer::from_str(text);
        let result = ResultSeed(hook).deserialize(&mut de).ok()?;
        de.end().ok()?;
        Some(result)
    }

    fn from_value(hook: HookType, text: &str) -> Option<PluginResult> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        PluginResult::from_json(hook, v).ok()
    }

    /// Every hook over results of every shape (and wrong ones): the payload decoded in place
    /// gives what the `Value` path and the raw-text path give, or all three refuse.
    #[test]
    fn the_seeded_result_agrees_with_the_value_and_text_paths_for_every_hook() {
        let results = [
            r#"{}"#,
            r#"{"continue_processing":null,"retry_delay_ms":null,"metadata":null}"#,
            r#"{"continue_processing":false,"violation":{"reason":"r","description":"d","code":"C"}}"#,
            r#"{"modified_payload":null,"metadata":{"k":1},"http_headers":{"a":"b"}}"#,
            r#"{"modified_payload":{"name":"t","args":{"q":"x"}},"retry_delay_ms":5}"#,
            r#"{"modified_payload":{"name":"t","result":{"content":[]}}}"#,
            r#"{"modified_payload":{"prompt_id":"p","args":{"a":"b"}}}"#,
            r#"{"modified_payload":{"uri":"u","content":{"text":"x"}}}"#,
            r#"{"modified_payload":{"message":{"role":"user","content":[]}}}"#,
            r#"{"modified_payload":{"headers":{"a":"b"}}}"#,
            r#"{"modified_payload":{"status":"allow"}}"#,
            r#"{"modified_payload":{}}"#,
            r#"{"modified_payload":5}"#,
            r#"{"modified_extensions":{"x":1},"denial_metadata":{"d":1},"executions":[{"plugin_name":"p"},7]}"#,
            r#"{"denial_metadata":[1],"executions":{"not":"a list"},"future_key":[1,2]}"#,
            r#"{"continue_processing":"yes"}"#,
            r#"{"retry_delay_ms":-1}"#,
            r#"{"http_headers":{"a":1}}"#,
            r#"{"violation":{"reason":"r"}}"#,
            r#"[true,null,null,{},null,0]"#,
            r#"null"#,
        ];
        let mut agreed_ok = 0;
        for hook in HookType::ALL {
            for text in results {
                let seeded = seeded(hook, text);
                assert_eq!(seeded, from_value(hook, text), "{hook} {text}");
                assert_eq!(
                    seeded,
                    PluginResult::from_json_str(hook, text).ok(),
                    "{hook} {text}"
                );
                agreed_ok += usize::from(seeded.is_some());
            }
        }
        assert!(agreed_ok > 150, "only {agreed_ok} results decoded");

        // A repeated member: refused by both text paths, the last one kept by the `Value` one.
        for text in [
            r#"{"metadata":{},"metadata":{"k":1}}"#,
            r#"{"modified_payload":null,"modified_payload":null}"#,
        ] {
            let hook = HookType::ToolPreInvoke;
            assert_eq!(seeded(hook, text), None, "{text}");
            assert!(PluginResult::from_json_str(hook, text).is_err(), "{text}");
            assert!(from_value(hook, text).is_some(), "{text}");
        }
    }

    /// The Python model's rulings: a missing `continue_processing` or a `null` one is true, a
    /// missing `metadata` is `{}` and a `null` one stays `null`, a `null` delay is 0, unknown
    /// members are ignored; an array (serde's positional form of a struct) is not a result.
    #[test]
    fn defaults_nulls_unknown_members_and_arrays() {
        let hook = HookType::ToolPreInvoke;
        let empty = seeded(hook, "{}").expect("an empty object is a result");
        assert!(empty.continue_processing);
        assert_eq!(empty.metadata, Some(serde_json::Map::new()));
        assert_eq!(empty.retry_delay_ms, 0);

        let nulls = seeded(
            hook,
            r#"{"continue_processing":null,"metadata":null,"retry_delay_ms":null,"x":{"y":[1]}}"#,
        )
        .expect("nulls are accepted");
        assert!(nulls.continue_processing);
        assert_eq!(nulls.metadata, None);
        assert_eq!(nulls.retry_delay_ms, 0);

        let modified = seeded(
            hook,
            &json!({"modified_payload": {"name": "t"}}).to_string(),
        )
        .expect("a tool payload");
        let payload = modified.modified_payload.expect("decoded in place");
        assert_eq!(payload.to_json()["name"], "t");

        assert_eq!(seeded(hook, "[true,null,null,{},null,0]"), None);
        assert_eq!(from_value(hook, "[true,null,null,{},null,0]"), None);
    }

    /// A repeated member of the modified payload: the text path keeps the last (as Python's
    /// `json` does), the seeded path refuses, and the client then takes the generic path.
    #[test]
    fn a_member_repeated_inside_the_modified_payload_is_refused_in_place() {
        let text = r#"{"modified_payload":{"name":"a","name":"b"}}"#;
        let hook = HookType::ToolPreInvoke;
        assert_eq!(seeded(hook, text), None);
        let kept = PluginResult::from_json_str(hook, text).expect("the last one wins");
        let payload = kept.modified_payload.expect("a payload");
        assert_eq!(payload.to_json()["name"], "b");
    }
}
