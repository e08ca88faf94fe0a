//! A JSON reader for the server's hot path that either decodes exactly what serde_json would
//! decode, or declines.
//!
//! serde_json's reader is general: it tracks lines and columns for its messages, reads a string
//! eight bytes at a time and goes through the same checks for every member of every object.
//! The request of a hook call is one object of short strings, small integers and nested objects
//! (profiled: serde_json's own machinery was ~15k of the ~32k instructions the server spent
//! decoding the benchmark's request). [`SliceDeserializer`] reads the common forms straight from
//! the text: strings without escapes (sixteen bytes per test, in a form the compiler turns into
//! vector compares), plain integers, literals, objects and arrays. Everything else is handed to
//! serde_json itself on the token alone (a string with escapes, a float, a big or negative-zero
//! integer), so its values are serde_json's by construction.
//!
//! What it never does is accept something serde_json refuses or read a value differently: any
//! form it does not read the one obvious way (a struct written as an array, a key read as a
//! number, an enum written as an object, nesting past serde_json's own limit, a raw value)
//! makes it fail with [`Declined`], which carries no message on purpose. The caller then reads
//! the same text with serde_json, which decides and words every error as it always has
//! (`crate::slice_de` tests hold the two together on generated and mutated texts).

use std::fmt;

use serde::de::{self, Visitor};

use access::{Elements, Members, UnitVariant};

use crate::scan::{any_special, first_special_in_word, is_special};

/// serde_json's recursion limit: nesting deeper than this is an error there, so it is one here.
const MAX_DEPTH: usize = 128;

/// The name serde_json gives its `RawValue` newtype; never read here.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The reader gave up: the text may still be valid JSON, so the caller must read it with
/// serde_json to know (and to word the error if it is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Declined;

impl fmt::Display for Declined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("declined by the fast JSON reader; read with serde_json")
    }
}

impl std::error::Error for Declined {}

impl de::Error for Declined {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Declined
    }
}

type Result<T> = std::result::Result<T, Declined>;

/// A deserializer over one JSON text (see the module docs). Use as `&mut SliceDeserializer`, then
/// [`SliceDeserializer::end`] to check that only whitespace follows, as serde_json's `end` does.
#[derive(Debug)]
pub struct SliceDeserializer<'de> {
    text: &'de str,
    pos: usize,
    depth: usize,
}

impl<'de> SliceDeserializer<'de> {
    /// A reader at the start of `text`.
    pub fn new(text: &'de str) -> Self {
        Self {
            text,
            pos: 0,
            depth: 0,
        }
    }

    /// Only whitespace is left.
    pub fn end(&mut self) -> Result<()> {
        match self.peek_after_whitespace() {
            None => Ok(()),
            Some(_) => Err(Declined),
        }
    }

    fn bytes(&self) -> &'de [u8] {
        self.text.as_bytes()
    }

    fn peek_after_whitespace(&mut self) -> Option<u8> {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\n' | b'\t' | b'\r') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    /// Consumes `b` after whitespace.
    fn expect(&mut self, b: u8) -> Result<()> {
        if self.peek_after_whitespace() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Declined)
        }
    }

    /// Consumes a literal such as `true` at the current position.
    fn literal(&mut self, word: &[u8]) -> Result<()> {
        let end = self.pos + word.len();
        if self.bytes().get(self.pos..end) == Some(word) {
            self.pos = end;
            Ok(())
        } else {
            Err(Declined)
        }
    }

    /// The string that starts at the current `"`: its contents when it has no escape (the
    /// common case), or the whole token with its quotes when it has one.
    fn string_token(&mut self) -> Result<StringToken<'de>> {
        let start = self.pos + 1;
        let bytes = self.bytes();
        let stop = next_special(bytes, start);
        match bytes.get(stop) {
            Some(b'"') => {
                self.pos = stop + 1;
                let contents = self.text.get(start..stop).ok_or(Declined)?;
                Ok(StringToken::Plain(contents))
            }
            Some(b'\\') => {
                let mut at = stop;
                loop {
                    match bytes.get(at) {
                        Some(b'\\') => at = next_special(bytes, at + 2),
                        Some(b'"') => break,
                        _ => return Err(Declined),
                    }
                }
                let token = self.text.get(start - 1..at + 1).ok_or(Declined)?;
                self.pos = at + 1;
                Ok(StringToken::Escaped(token))
            }
            _ => Err(Declined),
        }
    }

    /// The number token at the current position (`-`, digits, `.`, `e`, `+`).
    fn number_token(&mut self) -> &'de str {
        let start = self.pos;
        let bytes = self.bytes();
        let mut end = start;
        while let Some(b) = bytes.get(end) {
            if !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') {
                break;
            }
            end += 1;
        }
        self.pos = end;
        self.text.get(start..end).unwrap_or_default()
    }

    fn visit_number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        let token = self.number_token();
        match plain_integer(token) {
            Some(Integer::Unsigned(n)) => visitor.visit_u64(n),
            Some(Integer::Negative(n)) => visitor.visit_i64(n),
            None => by_serde_json(token, |d| de::Deserializer::deserialize_any(d, visitor)),
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth >= MAX_DEPTH {
            return Err(Declined);
        }
        self.pos += 1;
        Ok(())
    }

    fn visit_object<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        self.enter()?;
        let value = visitor.visit_map(Members {
            de: self,
            first: true,
        })?;
        self.depth -= 1;
        self.expect(b'}')?;
        Ok(value)
    }

    fn visit_array<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        self.enter()?;
        let value = visitor.visit_seq(Elements {
            de: self,
            first: true,
        })?;
        self.depth -= 1;
        self.expect(b']')?;
        Ok(value)
    }

    fn visit_string<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        match self.string_token()? {
            StringToken::Plain(s) => visitor.visit_borrowed_str(s),
            StringToken::Escaped(token) => {
                by_serde_json(token, |d| de::Deserializer::deserialize_str(d, visitor))
            }
        }
    }
}

/// A string as it was found.
enum StringToken<'de> {
    /// The contents, with no escape in them.
    Plain(&'de str),
    /// The whole token with its quotes, for serde_json to unescape.
    Escaped(&'de str),
}

/// An integer read without serde_json: at most 19 digits (18 for a negative one), no leading
/// zero, and not `-0` (serde_json reads that one as a float).
enum Integer {
    Unsigned(u64),
    Negative(i64),
}

fn plain_integer(token: &str) -> Option<Integer> {
    let (negative, digits) = match token.strip_prefix('-') {
        Some(rest) => (true, rest.as_bytes()),
        None => (false, token.as_bytes()),
    };
    let longest = if negative { 18 } else { 19 };
    if digits.is_empty() || digits.len() > longest || (digits.len() > 1 && digits[0] == b'0') {
        return None;
    }
    let mut n: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    if !negative {
        return Some(Integer::Unsigned(n));
    }
    let n = i64::try_from(n).ok()?;
    (n != 0).then_some(Integer::Negative(-n))
}

/// `token` read by serde_json alone (a float, a large integer, an escaped string): the same
/// value serde_json gives it inside the whole text, since a token's value does not depend on
/// what surrounds it.
fn by_serde_json<'de, T>(
    token: &'de str,
    read: impl FnOnce(
        &mut serde_json::Deserializer<serde_json::de::StrRead<'de>>,
    ) -> serde_json::Result<T>,
) -> Result<T> {
    let mut d = serde_json::Deserializer::from_str(token);
    let value = read(&mut d).map_err(|_| Declined)?;
    d.end().map_err(|_| Declined)?;
    Ok(value)
}

/// The index of the first `"`, `\\` or control character at or after `from` (`bytes.len()` if
/// none), sixteen bytes at a time (`crate::scan`): a window may run past the string's closing
/// quote, which is where it stops. Only the text's last few bytes are tested one by one.
#[inline(never)] // one copy of the loop; measured faster than inlined into its two callers
fn next_special(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(window) = bytes.get(at..at + 16) {
        if any_special(window) {
            let (low, high) = window.split_at(8);
            return at
                + first_special_in_word(low)
                    .unwrap_or_else(|| 8 + first_special_in_word(high).unwrap_or(8));
        }
        at += 16;
    }
    while let Some(&b) = bytes.get(at) {
        if is_special(b) {
            return at;
        }
        at += 1;
    }
    bytes.len()
}

/// serde_json reads every integer type and `f64` the same way (`deserialize_number`: the token's
/// own kind is visited, the visitor converts); so do these.
macro_rules! numbers_as_serde_json_reads_them {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
                self.deserialize_number(visitor)
            }
        )*
    };
}

impl<'de> de::Deserializer<'de> for &mut SliceDeserializer<'de> {
    type Error = Declined;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek_after_whitespace().ok_or(Declined)? {
            b'{' => self.visit_object(visitor),
            b'[' => self.visit_array(visitor),
            b'"' => self.visit_string(visitor),
            b't' => {
                self.literal(b"true")?;
                visitor.visit_bool(true)
            }
            b'f' => {
                self.literal(b"false")?;
                visitor.visit_bool(false)
            }
            b'n' => {
                self.literal(b"null")?;
                visitor.visit_unit()
            }
            b'-' | b'0'..=b'9' => self.visit_number(visitor),
            _ => Err(Declined),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek_after_whitespace() {
            Some(b't' | b'f') => self.deserialize_any(visitor),
            _ => Err(Declined),
        }
    }

    numbers_as_serde_json_reads_them! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_f64
    }

    /// serde_json reads an `f32` with its own rounding; left to it.
    fn deserialize_f32<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek_after_whitespace() {
            Some(b'"') => self.visit_string(visitor),
            _ => Err(Declined),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek_after_whitespace() {
            Some(b'n') => {
                self.literal(b"null")?;
                visitor.visit_none()
            }
            Some(_) => visitor.visit_some(self),
            None => Err(Declined),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek_after_whitespace() {
            Some(b'n') => {
                self.literal(b"null")?;
                visitor.visit_unit()
            }
            _ => Err(Declined),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        if name == RAW_VALUE_TOKEN {
            return Err(Declined);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek_after_whitespace() {
            Some(b'[') => self.visit_array(visitor),
            _ => Err(Declined),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.peek_after_whitespace() {
            Some(b'{') => self.visit_object(visitor),
            _ => Err(Declined),
        }
    }

    /// An object only: serde_json also reads a struct from an array, which is left to it.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    /// A unit variant written as a string only; the object form is left to serde_json.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.peek_after_whitespace() {
            Some(b'"') => match self.string_token()? {
                StringToken::Plain(name) => visitor.visit_enum(UnitVariant(name)),
                StringToken::Escaped(_) => Err(Declined),
            },
            _ => Err(Declined),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        // Read in full, so an ignored member is held to the same grammar as serde_json's.
        self.deserialize_any(visitor)
    }

    fn deserialize_i128<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Declined)
    }

    fn deserialize_u128<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Declined)
    }
}

impl<'de> SliceDeserializer<'de> {
    /// What serde_json's `deserialize_number` accepts: a number token, nothing else.
    fn deserialize_number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value> {
        match self.peek_after_whitespace() {
            Some(b'-' | b'0'..=b'9') => self.visit_number(visitor),
            _ => Err(Declined),
        }
    }
}

#[path = "slice_de_access.rs"]
mod access;

#[cfg(test)]
#[path = "slice_de_tests.rs"]
mod tests;
