//! How [`SliceDeserializer`] hands serde an object's members, an array's elements, a key and a
//! unit variant.

use serde::de::{
    self, Deserialize, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;

use super::{by_serde_json, Declined, Result, SliceDeserializer, StringToken};

/// An object's members, after its `{`.
pub(super) struct Members<'a, 'de> {
    pub(super) de: &'a mut SliceDeserializer<'de>,
    pub(super) first: bool,
}

impl<'de> MapAccess<'de> for Members<'_, 'de> {
    type Error = Declined;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let de = &mut *self.de;
        match de.peek_after_whitespace() {
            Some(b'}') => return Ok(None),
            Some(b',') if !self.first => {
                de.pos += 1;
                if de.peek_after_whitespace() != Some(b'"') {
                    return Err(Declined);
                }
            }
            Some(b'"') if self.first => {}
            _ => return Err(Declined),
        }
        self.first = false;
        let key = de.string_token()?;
        de.expect(b':')?;
        match key {
            StringToken::Plain(key) => seed.deserialize(Key(Borrowed(key))).map(Some),
            // Decoded first, whatever the seed wants: a seed that skips the key (`IgnoredAny`,
            // for a key inside an ignored member) would have serde_json skip it unchecked, and a
            // lone surrogate there is an error to the generic path's `Value` (found by the
            // request fuzzer). serde_json's key reader gives the decoded text to `visit_str`.
            StringToken::Escaped(token) => escaped_key(token, seed).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.de)
    }
}

/// A key with escapes (`token` with its quotes), decoded, then given to `seed`. Out of line:
/// keys rarely have escapes, and the common path stays small.
#[cold]
#[inline(never)]
fn escaped_key<'de, K: DeserializeSeed<'de>>(token: &'de str, seed: K) -> Result<K::Value> {
    let text = by_serde_json(token, |d| String::deserialize(d))?;
    seed.deserialize(Key(Decoded(&text)))
}

/// An array's elements, after its `[`.
pub(super) struct Elements<'a, 'de> {
    pub(super) de: &'a mut SliceDeserializer<'de>,
    pub(super) first: bool,
}

impl<'de> SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Declined;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let de = &mut *self.de;
        match de.peek_after_whitespace() {
            Some(b']') => return Ok(None),
            Some(b',') if !self.first => de.pos += 1,
            Some(_) if self.first => {}
            _ => return Err(Declined),
        }
        self.first = false;
        seed.deserialize(&mut *de).map(Some)
    }
}

/// An object key, as serde_json's map keys read: a string to any visitor that takes one. A key
/// read as a number, a bool or an enum is left to serde_json (the visitor's refusal of a string
/// declines). Generic over how the text is held, so the common key (no escapes, borrowed from
/// the text) has code of its own with no branch.
struct Key<T>(T);

/// How a key's text reaches a visitor.
trait KeyText<'de> {
    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value>;
}

/// A key without escapes, borrowed from the text.
struct Borrowed<'de>(&'de str);

impl<'de> KeyText<'de> for Borrowed<'de> {
    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_str(self.0)
    }
}

/// A key with escapes, decoded (as serde_json gives it: to `visit_str`).
struct Decoded<'a>(&'a str);

impl<'de> KeyText<'de> for Decoded<'_> {
    fn visit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_str(self.0)
    }
}

impl<'de, T: KeyText<'de>> de::Deserializer<'de> for Key<T> {
    type Error = Declined;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.0.visit(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value> {
        Err(Declined)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

/// A unit variant named by a string.
pub(super) struct UnitVariant<'de>(pub(super) &'de str);

impl<'de> EnumAccess<'de> for UnitVariant<'de> {
    type Error = Declined;
    type Variant = Self;

    fn variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<(T::Value, Self)> {
        let name = de::value::BorrowedStrDeserializer::<Declined>::new(self.0);
        Ok((seed.deserialize(name)?, self))
    }
}

impl<'de> VariantAccess<'de> for UnitVariant<'de> {
    type Error = Declined;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, _seed: T) -> Result<T::Value> {
        Err(Declined)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, _visitor: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value> {
        Err(Declined)
    }
}
