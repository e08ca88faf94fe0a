//! A hook's payload decoded from any serde deserializer, e.g. in the middle of a request.
//!
//! The server's hot path decodes the payload while it reads the request envelope, instead of
//! skipping over the payload's text and reading it again (see `plugwire_mcp`'s
//! `InvokeHookCall::parse_decoded`); the client's decodes a result's modified payload while
//! it reads the answer (`crate::ResultSeed`). Both go through the same hook → model tables as
//! every other decoding ([`HookPayload::from_json_str`], [`ModifiedPayload::from_json_str`]),
//! so the models cannot drift apart.

use std::marker::PhantomData;

use serde::de::Error as _;
use serde::Deserializer;

use crate::payloads::JsonSource;
use crate::{HookPayload, HookType, ModifiedPayload, PayloadError};

impl HookPayload {
    /// Decodes the input payload of `hook` from `d`: the same models, accepted values and
    /// defaults as [`HookPayload::from_json_str`]. Errors are serde's (without the model name):
    /// a caller that words them for a peer decodes through `from_json_str` instead.
    pub fn deserialize_for<'de, D: Deserializer<'de>>(
        hook: HookType,
        d: D,
    ) -> Result<Self, D::Error> {
        seeded(d, |source| Self::decode_input(hook, source))
    }
}

impl ModifiedPayload {
    /// Decodes a modified payload of `hook` from `d`: the same models, accepted values and
    /// defaults as [`ModifiedPayload::from_json_str`], errors as
    /// [`HookPayload::deserialize_for`]'s.
    pub fn deserialize_for<'de, D: Deserializer<'de>>(
        hook: HookType,
        d: D,
    ) -> Result<Self, D::Error> {
        seeded(d, |source| Self::decode(hook, source))
    }
}

/// `decode` run on `d` as a [`JsonSource`], with serde's own error given back on failure.
fn seeded<'de, D: Deserializer<'de>, T>(
    d: D,
    decode: impl FnOnce(Seeded<'_, 'de, D>) -> Result<T, PayloadError>,
) -> Result<T, D::Error> {
    let mut error = None;
    let decoded = decode(Seeded {
        d,
        error: &mut error,
        input: PhantomData,
    });
    decoded.map_err(|e| error.unwrap_or_else(|| D::Error::custom(e)))
}

/// A modified payload of the hook, read where it sits (see [`ModifiedPayload::deserialize_for`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ModifiedPayloadSeed(pub(crate) HookType);

impl<'de> serde::de::DeserializeSeed<'de> for ModifiedPayloadSeed {
    type Value = ModifiedPayload;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<ModifiedPayload, D::Error> {
        ModifiedPayload::deserialize_for(self.0, d)
    }
}

/// A deserializer as a [`JsonSource`]: serde's own error is kept aside, so the caller gets it
/// back rather than a [`PayloadError`] (the caller abandons the read on any error).
struct Seeded<'e, 'de, D: Deserializer<'de>> {
    d: D,
    error: &'e mut Option<D::Error>,
    input: PhantomData<&'de ()>,
}

impl<'de, D: Deserializer<'de>> JsonSource for Seeded<'_, 'de, D> {
    fn decode<T: serde::de::DeserializeOwned>(self, model: &str) -> Result<T, PayloadError> {
        T::deserialize(self.d).map_err(|e| {
            let message = e.to_string();
            *self.error = Some(e);
            PayloadError::new(model, message)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every hook, over payloads of every hook's shape (and wrong ones): the same value, or an
    /// error for both. (A repeated member is the one difference, by design: the text decoder
    /// retries through a `Value`, the caller of `deserialize_for` takes the text path then.)
    #[test]
    fn agrees_with_the_text_decoder_for_every_hook() {
        let payloads = [
            r#"{"name":"t","args":{"q":"x","n":[1,null]},"headers":{"a":"b"}}"#,
            r#"{"name":"t"}"#,
            r#"{"name":"t","args":null,"headers":null,"extra":1}"#,
            r#"{"name":"t","result":{"content":[{"type":"text","text":"x"}]}}"#,
            r#"{"prompt_id":"p","args":{"a":"b"}}"#,
            r#"{"prompt_id":"p","args":{"a":1}}"#,
            r#"{"uri":"u","metadata":null,"content":{"text":"x"}}"#,
            r#"{"agent_id":"a","messages":[{"role":"user"}],"tools":["t"],"model":null}"#,
            r#"{"path":"/x","method":"GET","client_host":null,"headers":{"a":"b"}}"#,
            r#"{"message":{"role":"user","content":[{"type":"text","text":"hi"}]}}"#,
            r#"{"message":{"role":"nobody"}}"#,
            r#"{"raw_token":"t","source":"bearer"}"#,
            r#"{"target_name":"n","target_type":"tool"}"#,
            r#"{}"#,
            r#"{"name":5}"#,
        ];
        let mut agreed_ok = 0;
        for hook in HookType::ALL {
            for text in payloads {
                let mut de = serde_json::Deserializer::from_str(text);
                let seeded = HookPayload::deserialize_for(hook, &mut de).ok();
                let from_text = HookPayload::from_json_str(hook, text).ok();
                assert_eq!(seeded, from_text, "{hook} {text}");
                agreed_ok += usize::from(seeded.is_some());
            }
        }
        assert!(agreed_ok > 20, "only {agreed_ok} payloads decoded");
    }
}
