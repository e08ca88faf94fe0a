//! How [`SliceDeserializer`] hands serde an object's members, an array's elements, a key and a
//! unit variant.

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
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
            StringToken::Plain(key) => seed.deserialize(Key(key)).map(Some),
            // As a string value: serde_json's key reader gives a string visitor the same string.
            StringToken::Escaped(token) => by_serde_json(token, |d| seed.deserialize(d)).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.de)
    }
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

/// An object key without escapes, as serde_json's map keys read: a string to any visitor that
/// takes one. A key read as a number, a bool or an enum is left to serde_json (the visitor's
/// refusal of a string declines).
struct Key<'de>(&'de str);

impl<'de> de::Deserializer<'de> for Key<'de> {
    type Error = Declined;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_str(self.0)
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
