//! Any `Serialize` value written straight into `google.protobuf.Struct` wire bytes.
//!
//! The server's answer used to take two passes over a plugin's result: serde into a
//! `serde_json::Value` tree (every string copied, every map built with SipHash), then that tree
//! encoded as a `Struct` (every nested length computed again at each level above it). Here
//! serde drives a [`serde::Serializer`] that writes the wire bytes as it goes: one pass, no
//! tree. A nested message's length is not known until its body is written, so one byte is
//! reserved for it and the body shifted along in the rare case (a body of 128 bytes or more)
//! where the length needs more (varints stay minimal, so the bytes are exactly what encoding
//! the `Value` tree gives; `same_bytes_as_the_value_tree` below holds the two together).
//!
//! What a value becomes is what `serde_json::to_value` would make of it, then encoded as
//! [`crate::json_struct`] encodes it: numbers as doubles (a float that is not finite as
//! `null`, as serde_json has it), `None` and unit as `null`, sequences and bytes as lists, maps
//! and structs as `Struct`s (map keys: strings, or integers, booleans and unit variants
//! written as text), enums externally tagged.

use serde::ser::{self, Impossible, Serialize};

use key::KeySer;
pub(crate) use wire::put_str;
use wire::{begin, end, put_null, put_number};

/// Why a value cannot be written as a `Struct` (the cases `serde_json::to_value` also refuses,
/// or a value's own `Serialize` failing).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WriteError(String);

impl ser::Error for WriteError {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        WriteError(msg.to_string())
    }
}

type Result<T = ()> = std::result::Result<T, WriteError>;

/// Writes `value` (a map or struct) as the body of a `Struct` message (its `fields` entries,
/// without a tag or length of its own), leaving out the top-level member named `skip` (the
/// caller carries that one elsewhere). On error `out` may hold a partial body.
pub fn write_struct_body<T: Serialize + ?Sized>(
    value: &T,
    skip: Option<&str>,
    out: &mut Vec<u8>,
) -> Result {
    value.serialize(BodySer { out, skip })
}

/// Writes `value` as the length-delimited field `tag` holding a `Struct` (see
/// [`write_struct_body`]).
pub fn write_struct_field<T: Serialize + ?Sized>(
    tag: u32,
    value: &T,
    skip: Option<&str>,
    out: &mut Vec<u8>,
) -> Result {
    let at = begin(tag, out);
    write_struct_body(value, skip, out)?;
    end(at, out);
    Ok(())
}

/// A `Struct`'s body: only maps and structs (anything else has no place at the top).
struct BodySer<'a, 'k> {
    out: &'a mut Vec<u8>,
    skip: Option<&'k str>,
}

/// One `Value` message's body.
struct ValueSer<'a> {
    out: &'a mut Vec<u8>,
}

/// The entries of a `Struct` being written.
struct MapSer<'a, 'k> {
    out: &'a mut Vec<u8>,
    skip: Option<&'k str>,
    /// The open entry (position of its reserved length byte), between a key and its value;
    /// `Skipped` while a skipped member's value goes by.
    entry: Entry,
    /// What to close at the end.
    close: Closing,
}

#[derive(Clone, Copy)]
enum Entry {
    None,
    Open(usize),
    Skipped,
}

/// The values of a `ListValue` being written.
struct SeqSer<'a> {
    out: &'a mut Vec<u8>,
    /// What to close at the end.
    close: Closing,
}

fn not_a_struct(what: &str) -> WriteError {
    WriteError(format!("a Struct must be a map or a struct, not {what}"))
}

macro_rules! refuse {
    ($($f:ident($($t:ty),*)),* $(,)?) => {
        $(fn $f(self, $(_: $t),*) -> Result<Self::Ok> {
            Err(not_a_struct(stringify!($f)))
        })*
    };
}

impl<'a, 'k> ser::Serializer for BodySer<'a, 'k> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Impossible<(), WriteError>;
    type SerializeTuple = Impossible<(), WriteError>;
    type SerializeTupleStruct = Impossible<(), WriteError>;
    type SerializeTupleVariant = Impossible<(), WriteError>;
    type SerializeMap = MapSer<'a, 'k>;
    type SerializeStruct = MapSer<'a, 'k>;
    type SerializeStructVariant = Impossible<(), WriteError>;

    refuse!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        // `{variant: value}`.
        let entry = begin(1, self.out);
        put_str(1, variant, self.out);
        let inner = begin(2, self.out);
        value.serialize(ValueSer { out: self.out })?;
        end(inner, self.out);
        end(entry, self.out);
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(not_a_struct("a sequence"))
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple> {
        Err(not_a_struct("a tuple"))
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeTuple> {
        Err(not_a_struct("a tuple struct"))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(not_a_struct("a tuple variant"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        Ok(MapSer::new(self.out, self.skip))
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct> {
        Ok(MapSer::new(self.out, self.skip))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(not_a_struct("a struct variant"))
    }
}

impl<'a> MapSer<'a, '_> {
    fn new<'k>(out: &'a mut Vec<u8>, skip: Option<&'k str>) -> MapSer<'a, 'k> {
        MapSer {
            out,
            skip,
            entry: Entry::None,
            close: Closing::Nothing,
        }
    }

    /// Opens the entry of `key` (a skipped key opens nothing).
    fn open(&mut self, key: &str) {
        self.entry = self.key_ser().open(key);
    }

    fn key_ser(&mut self) -> KeySer<'_, '_> {
        KeySer {
            out: self.out,
            skip: self.skip,
        }
    }

    fn value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        match std::mem::replace(&mut self.entry, Entry::None) {
            Entry::Open(at) => {
                let inner = begin(2, self.out);
                value.serialize(ValueSer { out: self.out })?;
                end(inner, self.out);
                end(at, self.out);
                Ok(())
            }
            Entry::Skipped => Ok(()),
            Entry::None => Err(WriteError("a map value without its key".into())),
        }
    }

    fn finish(self) -> Result {
        close_variant(self.close, self.out);
        Ok(())
    }
}

impl ser::SerializeMap for MapSer<'_, '_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result {
        self.entry = key.serialize(self.key_ser())?;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        self.value(value)
    }
    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeStruct for MapSer<'_, '_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.open(key);
        self.value(value)
    }
    fn end(self) -> Result {
        self.finish()
    }
}

impl ser::SerializeStructVariant for MapSer<'_, '_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result {
        self.open(key);
        self.value(value)
    }
    fn end(self) -> Result {
        self.finish()
    }
}

impl SeqSer<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
        let at = begin(1, self.out);
        value.serialize(ValueSer { out: self.out })?;
        end(at, self.out);
        Ok(())
    }
    fn finish(self) -> Result {
        close_variant(self.close, self.out);
        Ok(())
    }
}

macro_rules! seq_impls {
    ($($tr:ident :: $m:ident),*) => {
        $(impl ser::$tr for SeqSer<'_> {
            type Ok = ();
            type Error = WriteError;
            fn $m<T: Serialize + ?Sized>(&mut self, value: &T) -> Result {
                self.element(value)
            }
            fn end(self) -> Result {
                self.finish()
            }
        })*
    };
}

seq_impls!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// What a map or list being written must close when it ends: nothing (a `Struct` body at the
/// top), its own `struct_value`/`list_value` field, or the `{variant: ...}` wrapping of an enum
/// variant as well (reserved length positions, outermost first).
#[derive(Clone, Copy)]
enum Closing {
    Nothing,
    One(usize),
    Variant([usize; 4]),
}

/// Opens `{variant: <field kind of Value>}` as a Value body (`struct_value` with one entry).
fn open_variant(variant: &str, kind: u32, out: &mut Vec<u8>) -> Closing {
    let outer = begin(5, out);
    let entry = begin(1, out);
    put_str(1, variant, out);
    let inner = begin(2, out);
    let body = begin(kind, out);
    Closing::Variant([outer, entry, inner, body])
}

/// Closes what was opened, innermost first (closing one only moves bytes after it, so the
/// outer positions stay valid).
fn close_variant(close: Closing, out: &mut Vec<u8>) {
    match close {
        Closing::Nothing => {}
        Closing::One(at) => end(at, out),
        Closing::Variant(positions) => {
            for at in positions.into_iter().rev() {
                end(at, out);
            }
        }
    }
}

impl<'a> ser::Serializer for ValueSer<'a> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = SeqSer<'a>;
    type SerializeTuple = SeqSer<'a>;
    type SerializeTupleStruct = SeqSer<'a>;
    type SerializeTupleVariant = SeqSer<'a>;
    type SerializeMap = MapSer<'a, 'static>;
    type SerializeStruct = MapSer<'a, 'static>;
    type SerializeStructVariant = MapSer<'a, 'static>;

    fn serialize_bool(self, v: bool) -> Result {
        self.out.extend_from_slice(&[0x20, u8::from(v)]);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result {
        self.serialize_f64(f64::from(v))
    }
    #[allow(clippy::cast_precision_loss)]
    fn serialize_i64(self, v: i64) -> Result {
        // As `serde_json::Number::as_f64` rounds it.
        self.serialize_f64(v as f64)
    }
    #[allow(clippy::cast_precision_loss)]
    fn serialize_i128(self, v: i128) -> Result {
        match i64::try_from(v) {
            Ok(v) => self.serialize_i64(v),
            Err(_) => match u64::try_from(v) {
                Ok(v) => self.serialize_u64(v),
                Err(_) => Err(WriteError("number out of range".into())),
            },
        }
    }
    fn serialize_u8(self, v: u8) -> Result {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result {
        self.serialize_f64(f64::from(v))
    }
    #[allow(clippy::cast_precision_loss)]
    fn serialize_u64(self, v: u64) -> Result {
        self.serialize_f64(v as f64)
    }
    fn serialize_u128(self, v: u128) -> Result {
        match u64::try_from(v) {
            Ok(v) => self.serialize_u64(v),
            Err(_) => Err(WriteError("number out of range".into())),
        }
    }
    fn serialize_f32(self, v: f32) -> Result {
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result {
        put_number(v, self.out);
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result {
        self.serialize_str(v.encode_utf8(&mut [0u8; 4]))
    }
    fn serialize_str(self, v: &str) -> Result {
        put_str(3, v, self.out);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result {
        // serde_json makes bytes a list of numbers.
        let at = begin(6, self.out);
        for b in v {
            let e = begin(1, self.out);
            put_number(f64::from(*b), self.out);
            end(e, self.out);
        }
        end(at, self.out);
        Ok(())
    }
    fn serialize_none(self) -> Result {
        put_null(self.out);
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result {
        put_null(self.out);
        Ok(())
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Result {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _: &'static str, v: &T) -> Result {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result {
        let outer = begin(5, self.out);
        let entry = begin(1, self.out);
        put_str(1, variant, self.out);
        let inner = begin(2, self.out);
        value.serialize(ValueSer { out: self.out })?;
        end(inner, self.out);
        end(entry, self.out);
        end(outer, self.out);
        Ok(())
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq> {
        let at = begin(6, self.out);
        Ok(SeqSer {
            out: self.out,
            close: Closing::One(at),
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Self::SerializeTuple> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        let close = open_variant(variant, 6, self.out);
        Ok(SeqSer {
            out: self.out,
            close,
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap> {
        let at = begin(5, self.out);
        let mut m = MapSer::new(self.out, None);
        m.close = Closing::One(at);
        Ok(m)
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Self::SerializeStruct> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant> {
        let close = open_variant(variant, 5, self.out);
        let mut m = MapSer::new(self.out, None);
        m.close = close;
        Ok(m)
    }
}

#[path = "struct_writer_key.rs"]
mod key;
#[path = "struct_writer_wire.rs"]
mod wire;

#[cfg(test)]
#[path = "struct_writer_tests.rs"]
mod tests;
