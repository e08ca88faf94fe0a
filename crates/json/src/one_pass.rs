//! [`OnePass`]: serde_json's serializer, with each string's escaping done eight bytes at a time
//! and the punctuation left to a [`Layout`] (see the crate's documentation).

use std::io;

use serde::ser::{self, Serialize};

/// What [`OnePass`] needs of a layout: serde_json's `Formatter` calls for punctuation and
/// whitespace, made on the `Vec` being written (so a layout may look back at what it wrote, and
/// cut it), and the writing of a whole string. Each method's default is serde_json's compact
/// layout ([`Compact`]).
///
/// A layout that also implements serde_json's `Formatter` (for the [`Fallback`] path) makes the
/// same writes through both: [`OnePass`] calls these in the order serde_json's serializer calls
/// the formatter's.
pub trait Layout {
    /// `[`.
    fn begin_array(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.push(b'[');
        Ok(())
    }
    /// `]`.
    fn end_array(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.push(b']');
        Ok(())
    }
    /// Before an element (a comma unless `first`).
    fn begin_array_value(&mut self, out: &mut Vec<u8>, first: bool) -> io::Result<()> {
        if !first {
            out.push(b',');
        }
        Ok(())
    }
    /// After an element.
    fn end_array_value(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }
    /// `{`.
    fn begin_object(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.push(b'{');
        Ok(())
    }
    /// `}`.
    fn end_object(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.push(b'}');
        Ok(())
    }
    /// Before a member's key (a comma unless `first`).
    fn begin_object_key(&mut self, out: &mut Vec<u8>, first: bool) -> io::Result<()> {
        self.begin_array_value(out, first)
    }
    /// After a member's key.
    fn end_object_key(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }
    /// Between a member's key and its value (`:`).
    fn begin_object_value(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.push(b':');
        Ok(())
    }
    /// After a member's value.
    fn end_object_value(&mut self, _out: &mut Vec<u8>) -> io::Result<()> {
        Ok(())
    }
    /// A whole string, quotes included, as serde_json's serializer would write `value` through
    /// this layout's `Formatter` (see [`crate::escape_into`]).
    #[inline]
    fn string(&mut self, out: &mut Vec<u8>, value: &str) {
        out.push(b'"');
        crate::escape_into(out, value.as_bytes());
        out.push(b'"');
    }
}

/// serde_json's compact layout: with it, [`OnePass`] writes the bytes of `serde_json::to_vec`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Compact;

impl Layout for Compact {}

/// serde_json's name for the struct its `RawValue` serializes as.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// Serializes into `out` as `serde_json::Serializer::with_formatter(out, layout)` does, or
/// stops with [`Fallback`] (see the crate's documentation); on `Fallback`, `out` holds part of
/// the value, which the caller cuts off.
pub struct OnePass<'a, L> {
    out: &'a mut Vec<u8>,
    fmt: L,
}

impl<'a, L: Layout> OnePass<'a, L> {
    /// A serializer appending to `out`.
    pub fn new(out: &'a mut Vec<u8>, layout: L) -> Self {
        OnePass { out, fmt: layout }
    }

    #[inline]
    fn string(&mut self, value: &str) {
        self.fmt.string(self.out, value);
    }

    /// A number or literal, written by serde_json's compact printer (the same digits as its
    /// pretty one; none of them needs escaping).
    fn scalar<T: Serialize>(&mut self, value: T) -> Result<(), Fallback> {
        serde_json::to_writer(&mut *self.out, &value).map_err(|_| Fallback)
    }

    /// `{` and the first key's line, for an enum variant written as `{"variant": value}`.
    fn open_variant(&mut self, variant: &str) -> Result<(), Fallback> {
        io(self.fmt.begin_object(self.out))?;
        io(self.fmt.begin_object_key(self.out, true))?;
        self.string(variant);
        io(self.fmt.end_object_key(self.out))?;
        io(self.fmt.begin_object_value(self.out))
    }

    fn close_variant(&mut self) -> Result<(), Fallback> {
        io(self.fmt.end_object_value(self.out))?;
        io(self.fmt.end_object(self.out))
    }

    fn open_seq(&mut self, len: Option<usize>) -> Result<State, Fallback> {
        io(self.fmt.begin_array(self.out))?;
        if len == Some(0) {
            io(self.fmt.end_array(self.out))?;
            return Ok(State::Empty);
        }
        Ok(State::First)
    }

    fn open_map(&mut self, len: Option<usize>) -> Result<State, Fallback> {
        io(self.fmt.begin_object(self.out))?;
        if len == Some(0) {
            io(self.fmt.end_object(self.out))?;
            return Ok(State::Empty);
        }
        Ok(State::First)
    }
}

/// Writes to a `Vec` cannot fail; the layout's `io::Result` is mapped all the same.
#[inline]
fn io(result: io::Result<()>) -> Result<(), Fallback> {
    result.map_err(|_| Fallback)
}

/// Something to leave to serde_json (see the crate's documentation).
#[derive(Debug)]
pub struct Fallback;

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("left to serde_json")
    }
}

impl std::error::Error for Fallback {}

impl ser::Error for Fallback {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Fallback
    }
}

/// Where a sequence or map is, as in serde_json: opened empty (already closed), before its
/// first element, or after one.
#[derive(PartialEq, Eq, Clone, Copy)]
enum State {
    Empty,
    First,
    Rest,
}

/// Numbers, written by serde_json ([`OnePass::scalar`]).
macro_rules! scalars {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(fn $name(self, v: $ty) -> Result<(), Fallback> {
            self.scalar(v)
        })*
    };
}

/// Keys of these types are left to serde_json (it quotes numbers and refuses the rest).
macro_rules! refused {
    ($($name:ident: $ty:ty),* $(,)?) => {
        $(fn $name(self, _: $ty) -> Result<(), Fallback> {
            Err(Fallback)
        })*
    };
}

/// A sequence or map being written.
pub struct Compound<'s, 'a, L> {
    ser: &'s mut OnePass<'a, L>,
    state: State,
}

impl<'s, 'a, L: Layout> ser::Serializer for &'s mut OnePass<'a, L> {
    type Ok = ();
    type Error = Fallback;
    type SerializeSeq = Compound<'s, 'a, L>;
    type SerializeTuple = Compound<'s, 'a, L>;
    type SerializeTupleStruct = Compound<'s, 'a, L>;
    type SerializeTupleVariant = Compound<'s, 'a, L>;
    type SerializeMap = Compound<'s, 'a, L>;
    type SerializeStruct = Compound<'s, 'a, L>;
    type SerializeStructVariant = Compound<'s, 'a, L>;

    fn serialize_bool(self, v: bool) -> Result<(), Fallback> {
        self.out
            .extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    scalars! {
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128, serialize_f32: f32, serialize_f64: f64
    }

    fn serialize_char(self, v: char) -> Result<(), Fallback> {
        self.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_str(self, v: &str) -> Result<(), Fallback> {
        self.string(v);
        Ok(())
    }

    fn serialize_bytes(self, _: &[u8]) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_none(self) -> Result<(), Fallback> {
        self.serialize_unit()
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), Fallback> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Fallback> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Fallback> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Fallback> {
        self.string(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        self.open_variant(variant)?;
        value.serialize(&mut *self)?;
        self.close_variant()
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'s, 'a, L>, Fallback> {
        let state = self.open_seq(len)?;
        Ok(Compound { ser: self, state })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'s, 'a, L>, Fallback> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Compound<'s, 'a, L>, Fallback> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'s, 'a, L>, Fallback> {
        self.open_variant(variant)?;
        self.serialize_seq(Some(len))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'s, 'a, L>, Fallback> {
        let state = self.open_map(len)?;
        Ok(Compound { ser: self, state })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Compound<'s, 'a, L>, Fallback> {
        if name == RAW_VALUE_TOKEN {
            return Err(Fallback);
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'s, 'a, L>, Fallback> {
        self.open_variant(variant)?;
        self.serialize_map(Some(len))
    }
}

impl<L: Layout> Compound<'_, '_, L> {
    fn element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Fallback> {
        let ser = &mut *self.ser;
        io(ser
            .fmt
            .begin_array_value(ser.out, self.state == State::First))?;
        self.state = State::Rest;
        value.serialize(&mut *ser)?;
        io(ser.fmt.end_array_value(ser.out))
    }

    fn end_seq(&mut self) -> Result<(), Fallback> {
        if self.state == State::Empty {
            return Ok(());
        }
        io(self.ser.fmt.end_array(self.ser.out))
    }

    fn end_map(&mut self) -> Result<(), Fallback> {
        if self.state == State::Empty {
            return Ok(());
        }
        io(self.ser.fmt.end_object(self.ser.out))
    }
}

impl<L: Layout> ser::SerializeSeq for Compound<'_, '_, L> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Fallback> {
        self.element(value)
    }

    fn end(mut self) -> Result<(), Fallback> {
        self.end_seq()
    }
}

impl<L: Layout> ser::SerializeTuple for Compound<'_, '_, L> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Fallback> {
        self.element(value)
    }

    fn end(mut self) -> Result<(), Fallback> {
        self.end_seq()
    }
}

impl<L: Layout> ser::SerializeTupleStruct for Compound<'_, '_, L> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Fallback> {
        self.element(value)
    }

    fn end(mut self) -> Result<(), Fallback> {
        self.end_seq()
    }
}

impl<L: Layout> ser::SerializeTupleVariant for Compound<'_, '_, L> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Fallback> {
        self.element(value)
    }

    fn end(mut self) -> Result<(), Fallback> {
        self.end_seq()?;
        self.ser.close_variant()
    }
}

impl<L: Layout> ser::SerializeMap for Compound<'_, '_, L> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), Fallback> {
        let ser = &mut *self.ser;
        io(ser
            .fmt
            .begin_object_key(ser.out, self.state == State::First))?;
        self.state = State::Rest;
        key.serialize(KeySerializer { ser: &mut *ser })?;
        io(ser.fmt.end_object_key(ser.out))
    }

    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), Fallback> {
        let ser = &mut *self.ser;
        io(ser.fmt.begin_object_value(ser.out))?;
        value.serialize(&mut *ser)?;
        io(ser.fmt.end_object_value(ser.out))
    }

    fn end(mut self) -> Result<(), Fallback> {
        self.end_map()
    }
}

impl<L: Layout> ser::SerializeStruct for Compound<'_, '_, L> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        ser::SerializeMap::serialize_entry(self, key, value)
    }

    fn end(mut self) -> Result<(), Fallback> {
        self.end_map()
    }
}

impl<L: Layout> ser::SerializeStructVariant for Compound<'_, '_, L> {
    type Ok = ();
    type Error = Fallback;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        ser::SerializeMap::serialize_entry(self, key, value)
    }

    fn end(mut self) -> Result<(), Fallback> {
        self.end_map()?;
        self.ser.close_variant()
    }
}

/// A map key: strings (and what serde_json writes as one: `char`, a unit variant, a newtype
/// around one) are written here; any other key is left to serde_json, which quotes numbers
/// and refuses the rest.
struct KeySerializer<'s, 'a, L> {
    ser: &'s mut OnePass<'a, L>,
}

impl<L: Layout> ser::Serializer for KeySerializer<'_, '_, L> {
    type Ok = ();
    type Error = Fallback;
    type SerializeSeq = ser::Impossible<(), Fallback>;
    type SerializeTuple = ser::Impossible<(), Fallback>;
    type SerializeTupleStruct = ser::Impossible<(), Fallback>;
    type SerializeTupleVariant = ser::Impossible<(), Fallback>;
    type SerializeMap = ser::Impossible<(), Fallback>;
    type SerializeStruct = ser::Impossible<(), Fallback>;
    type SerializeStructVariant = ser::Impossible<(), Fallback>;

    fn serialize_str(self, v: &str) -> Result<(), Fallback> {
        self.ser.string(v);
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Fallback> {
        self.ser.string(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Fallback> {
        self.ser.string(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        value.serialize(self)
    }

    refused! {
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_f32: f32, serialize_f64: f64, serialize_bytes: &[u8]
    }

    fn serialize_none(self) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_unit(self) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Fallback> {
        Err(Fallback)
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Fallback> {
        Err(Fallback)
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Fallback> {
        Err(Fallback)
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Fallback> {
        Err(Fallback)
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Fallback> {
        Err(Fallback)
    }

    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Fallback> {
        Err(Fallback)
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Fallback> {
        Err(Fallback)
    }
}

#[cfg(test)]
#[path = "one_pass_tests.rs"]
mod tests;
