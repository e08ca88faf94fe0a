//! Map keys for [`super`]: written as text, as serde_json accepts them.

use serde::ser::{self, Impossible, Serialize};

use super::{begin, put_str, Entry, Result, WriteError};

/// A map key, as serde_json accepts keys (strings, chars, integers, booleans and unit
/// variants, the others as text): opens the entry (its key written straight from the
/// borrowed text), or skips it.
pub(super) struct KeySer<'a, 'k> {
    pub(super) out: &'a mut Vec<u8>,
    pub(super) skip: Option<&'k str>,
}

impl KeySer<'_, '_> {
    pub(super) fn open(self, key: &str) -> Entry {
        if self.skip == Some(key) {
            return Entry::Skipped;
        }
        let at = begin(1, self.out);
        put_str(1, key, self.out);
        Entry::Open(at)
    }
}

macro_rules! key_as_text {
    ($($f:ident($t:ty)),*) => {
        $(fn $f(self, v: $t) -> Result<Entry> {
            Ok(self.open(&v.to_string()))
        })*
    };
}

macro_rules! key_refused {
    ($($f:ident($($t:ty),*)),*) => {
        $(fn $f(self, $(_: $t),*) -> Result<Entry> {
            Err(WriteError("key must be a string".into()))
        })*
    };
}

macro_rules! key_refused_compound {
    ($($f:ident($($t:ty),*) -> $r:ident),*) => {
        $(fn $f(self, $(_: $t),*) -> Result<Self::$r> {
            Err(WriteError("key must be a string".into()))
        })*
    };
}

impl ser::Serializer for KeySer<'_, '_> {
    type Ok = Entry;
    type Error = WriteError;
    type SerializeSeq = Impossible<Entry, WriteError>;
    type SerializeTuple = Impossible<Entry, WriteError>;
    type SerializeTupleStruct = Impossible<Entry, WriteError>;
    type SerializeTupleVariant = Impossible<Entry, WriteError>;
    type SerializeMap = Impossible<Entry, WriteError>;
    type SerializeStruct = Impossible<Entry, WriteError>;
    type SerializeStructVariant = Impossible<Entry, WriteError>;

    key_as_text!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_char(char)
    );
    key_refused!(
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str)
    );
    key_refused_compound!(
        serialize_seq(Option<usize>) -> SerializeSeq,
        serialize_tuple(usize) -> SerializeTuple,
        serialize_tuple_struct(&'static str, usize) -> SerializeTupleStruct,
        serialize_tuple_variant(&'static str, u32, &'static str, usize) -> SerializeTupleVariant,
        serialize_map(Option<usize>) -> SerializeMap,
        serialize_struct(&'static str, usize) -> SerializeStruct,
        serialize_struct_variant(&'static str, u32, &'static str, usize) -> SerializeStructVariant
    );

    fn serialize_str(self, v: &str) -> Result<Entry> {
        Ok(self.open(v))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Entry> {
        Err(WriteError("key must be a string".into()))
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, v: &'static str) -> Result<Entry> {
        Ok(self.open(v))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Entry> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Entry> {
        Err(WriteError("key must be a string".into()))
    }
}
