//! The request form of a payload or a context: compact JSON with the `null` members that
//! pydantic's `exclude_none=True` drops left out, written in one pass.
//!
//! The client's hot path sends a payload and a context per hook call. Building the `Value`
//! tree to strip its nulls, then printing it, cost a tree per call; and serde_json's printer
//! scans every string a byte at a time, which was the largest single function of the client's
//! request (scripts/bench/findings.md, "The gateway-side client, seventh step"). So the form is
//! written by `plugwire_json`'s [`OnePass`] through [`NullStripper`], a layout that notes where
//! each member of a stripped object starts and, when the member's value turns out to be exactly
//! `null`, cuts it off again. What `OnePass` leaves to serde_json is written by serde_json's
//! serializer making the same layout calls ([`Shared`]), so the bytes are the same either way.

use std::cell::RefCell;
use std::io;
use std::rc::Rc;

use plugwire_json::{Layout, OnePass};

/// Which objects of a request form drop their `null` members (pydantic's `exclude_none=True`
/// applies per model, not to free-form dicts): the object itself when `strip`, except the keys
/// in `keep`; and, under the keys in `children`, nested objects with rules of their own.
#[derive(Debug)]
pub(crate) struct NullRule {
    pub(crate) strip: bool,
    pub(crate) keep: &'static [&'static str],
    pub(crate) children: &'static [(&'static str, &'static NullRule)],
}

impl NullRule {
    /// Strips its own nulls only (a model whose fields hold free-form values).
    pub(crate) const fn strip(keep: &'static [&'static str]) -> Self {
        NullRule {
            strip: true,
            keep,
            children: &[],
        }
    }

    fn child(&self, key: &[u8]) -> Option<&'static NullRule> {
        self.children
            .iter()
            .find(|(k, _)| k.as_bytes() == key)
            .map(|(_, r)| *r)
    }

    fn keeps(&self, key: &[u8]) -> bool {
        self.keep.iter().any(|k| k.as_bytes() == key)
    }
}

/// Serializes `value` as compact JSON onto `out`, dropping `null` members as `rule` says: the
/// bytes of `serde_json::to_vec` of the `Value` after removing those members.
pub(crate) fn write_request_form<T: serde::Serialize + ?Sized>(
    value: &T,
    rule: &'static NullRule,
    out: &mut Vec<u8>,
) -> serde_json::Result<()> {
    let mark = out.len();
    if value
        .serialize(&mut OnePass::new(out, NullStripper::new(rule)))
        .is_ok()
    {
        return Ok(());
    }
    // What the one-pass serializer leaves to serde_json (see `plugwire_json`).
    out.truncate(mark);
    let buf = Rc::new(RefCell::new(std::mem::take(out)));
    let formatter = Shared {
        layout: NullStripper::new(rule),
        buf: Rc::clone(&buf),
    };
    let result = {
        let mut ser = serde_json::Serializer::with_formatter(SharedBuf(Rc::clone(&buf)), formatter);
        value.serialize(&mut ser)
    };
    *out = std::mem::take(&mut *buf.borrow_mut());
    result
}

/// One open object or array while [`NullStripper`] writes.
struct Frame {
    rule: Option<&'static NullRule>,
    /// A member was kept (stripped objects write their commas themselves).
    wrote_any: bool,
    /// Where the current member starts (its comma included), where its key's text starts and
    /// ends, and where its value starts.
    member_start: usize,
    key_start: usize,
    key_end: usize,
    value_start: usize,
}

/// serde_json's compact layout ([`Layout`]'s defaults), with the `null` members of stripped
/// objects cut off.
struct NullStripper {
    stack: Vec<Frame>,
    /// The rule of the next object to open (the root's, or a child's under its key).
    pending: Option<&'static NullRule>,
}

impl NullStripper {
    fn new(rule: &'static NullRule) -> Self {
        NullStripper {
            stack: Vec::new(),
            pending: Some(rule),
        }
    }

    fn open(&mut self) {
        let rule = self.pending.take();
        self.stack.push(Frame {
            rule,
            wrote_any: false,
            member_start: 0,
            key_start: 0,
            key_end: 0,
            value_start: 0,
        });
    }

    fn stripping(&self) -> bool {
        self.stack
            .last()
            .and_then(|f| f.rule)
            .is_some_and(|r| r.strip)
    }
}

impl Layout for NullStripper {
    fn begin_array(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.pending = None;
        self.open();
        out.push(b'[');
        Ok(())
    }

    fn end_array(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.stack.pop();
        out.push(b']');
        Ok(())
    }

    fn begin_object(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.open();
        out.push(b'{');
        Ok(())
    }

    fn end_object(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.stack.pop();
        out.push(b'}');
        Ok(())
    }

    fn begin_object_key(&mut self, out: &mut Vec<u8>, first: bool) -> io::Result<()> {
        let start = out.len();
        let stripping = self.stripping();
        let Some(frame) = self.stack.last_mut() else {
            return Ok(());
        };
        frame.member_start = start;
        let comma = if stripping { frame.wrote_any } else { !first };
        if comma {
            out.push(b',');
        }
        frame.key_start = start + usize::from(comma);
        Ok(())
    }

    fn end_object_key(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        if let Some(frame) = self.stack.last_mut() {
            frame.key_end = out.len();
        }
        Ok(())
    }

    fn begin_object_value(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        out.push(b':');
        let Some(frame) = self.stack.last_mut() else {
            return Ok(());
        };
        frame.value_start = out.len();
        // The key's text without its quotes (a key with escapes matches no rule: none needs one).
        let key = out.get(frame.key_start + 1..frame.key_end.saturating_sub(1));
        self.pending = match (frame.rule, key) {
            (Some(rule), Some(key)) => rule.child(key),
            _ => None,
        };
        Ok(())
    }

    fn end_object_value(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        self.pending = None;
        let Some(frame) = self.stack.last_mut() else {
            return Ok(());
        };
        let Some(rule) = frame.rule.filter(|r| r.strip) else {
            frame.wrote_any = true;
            return Ok(());
        };
        let is_null = out.get(frame.value_start..) == Some(b"null".as_slice());
        let key = out.get(frame.key_start + 1..frame.key_end.saturating_sub(1));
        if is_null && !key.is_some_and(|k| rule.keeps(k)) {
            out.truncate(frame.member_start);
        } else {
            frame.wrote_any = true;
        }
        Ok(())
    }
}

/// A layout as serde_json's `Formatter`, for the fallback: the formatter's calls go to the
/// layout on the buffer the serializer's writer ([`SharedBuf`]) appends to, since a formatter
/// only sees a generic writer. Strings are left to serde_json's default (compact) escaping,
/// which is what the layout's default `string` writes.
struct Shared<L> {
    layout: L,
    buf: Rc<RefCell<Vec<u8>>>,
}

/// The formatter calls that [`Shared`] hands to its layout.
macro_rules! to_layout {
    ($($name:ident $(, $first:ident)?);* $(;)?) => {
        $(fn $name<W: ?Sized + io::Write>(&mut self, _w: &mut W $(, $first: bool)?) -> io::Result<()> {
            self.layout.$name(&mut self.buf.borrow_mut() $(, $first)?)
        })*
    };
}

impl<L: Layout> serde_json::ser::Formatter for Shared<L> {
    to_layout! {
        begin_array; end_array; begin_array_value, first; end_array_value;
        begin_object; end_object; begin_object_key, first; end_object_key;
        begin_object_value; end_object_value;
    }
}

/// The writer half of the fallback's shared buffer.
struct SharedBuf(Rc<RefCell<Vec<u8>>>);

impl io::Write for SharedBuf {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(data.len())
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.0.borrow_mut().extend_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap (team rules)

    use std::collections::BTreeMap;

    use serde::Serialize;
    use serde_json::{json, Value};

    use super::*;

    static INNER: NullRule = NullRule::strip(&["kept"]);
    static OUTER: NullRule = NullRule {
        strip: true,
        keep: &[],
        children: &[("inner", &INNER)],
    };

    /// The `Value` form: to a tree, the rules' nulls removed, then compact text.
    fn value_form<T: Serialize>(value: &T) -> String {
        let mut v = serde_json::to_value(value).unwrap();
        if let Value::Object(m) = &mut v {
            m.retain(|_, x| !x.is_null());
            if let Some(Value::Object(inner)) = m.get_mut("inner") {
                inner.retain(|k, x| !x.is_null() || k == "kept");
            }
        }
        serde_json::to_string(&v).unwrap()
    }

    fn request_form<T: Serialize>(value: &T) -> String {
        let mut out = b"head:".to_vec();
        write_request_form(value, &OUTER, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        text.strip_prefix("head:").unwrap().to_string()
    }

    #[test]
    fn one_pass_strips_as_the_value_form_does() {
        let cases = [
            json!({"a": null, "b": 1, "inner": {"x": null, "kept": null, "y": "s\"\n"}, "c": null}),
            json!({"inner": null, "free": {"n": null}, "list": [null, {"z": null}]}),
            json!({"a": null}),
            json!({"inner": {}, "é€": "\u{1}\u{7f}"}),
        ];
        for case in cases {
            assert_eq!(request_form(&case), value_form(&case), "{case}");
        }
    }

    /// Keys that are not strings are left to serde_json, through the same layout.
    #[test]
    fn the_serde_json_fallback_strips_the_same_nulls() {
        #[derive(Serialize)]
        struct Odd {
            a: Option<u8>,
            numbered: BTreeMap<u32, Option<u8>>,
            inner: BTreeMap<String, Option<u8>>,
            b: &'static str,
        }
        let odd = Odd {
            a: None,
            numbered: [(1, None), (2, Some(3))].into_iter().collect(),
            inner: [
                ("kept".into(), None),
                ("gone".into(), None),
                ("x".into(), Some(1)),
            ]
            .into_iter()
            .collect(),
            b: "t\u{1}",
        };
        let mut direct = Vec::new();
        assert!(odd
            .serialize(&mut OnePass::new(&mut direct, NullStripper::new(&OUTER)))
            .is_err());
        assert_eq!(
            request_form(&odd),
            r#"{"numbered":{"1":null,"2":3},"inner":{"kept":null,"x":1},"b":"t\u0001"}"#
        );
        assert_eq!(request_form(&odd), value_form(&odd));
    }
}
