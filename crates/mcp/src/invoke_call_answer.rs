//! The hot path's answer: the `tools/call` result whose one text is the hook's answer, written
//! straight into the response.
//!
//! The answer text is pretty-printed JSON carried inside a JSON string, so every newline,
//! quote and escape of it is escaped a second time on the wire. Printing the text and then
//! escaping it looked at every byte twice (the printer's escape scan, then the string's) and
//! was a large share of a call's instructions (docs/benchmarks.md, "The server's answer in one
//! pass"). [`TextResultWriter::write_pretty`] instead prints with [`EscapedPretty`], a
//! formatter whose punctuation is already in its escaped form: the printer's own scan of each
//! string is the only one, and the runs between escapes are copied once, unchanged (they hold
//! no byte the outer string escapes).

use std::io;

use plugwire_json::{escape_into, escape_twice_into, Layout, OnePass};
use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

use crate::jsonrpc::RequestId;
use crate::plugin_tools::InvokeHookResponse;

/// Builds the success response of a one-text `tools/call` result while the text is being
/// produced: no intermediate `String` or `Value`, and (through
/// [`TextResultWriter::write_pretty`]) no second pass over the text.
/// [`TextResultWriter::finish`] gives the same bytes as serializing
/// `Response::new(id, to_value(CallToolResult::text(text)))`, the generic path's answer.
///
/// The writer made by [`TextResultWriter::new`] holds the text in its escaped form (what goes
/// between the quotes on the wire); the one made by [`TextResultWriter::text_only`] holds it as
/// is, for callers that want the text rather than a response. [`TextResultWriter::written_since`]
/// gives the text in the writer's form ([`TextResultWriter::text_is_escaped`] says which).
#[derive(Debug)]
pub struct TextResultWriter {
    /// The response so far: the envelope's head, then the text.
    buf: Vec<u8>,
    /// Where the text starts in `buf`.
    text_start: usize,
    /// Whether the text in `buf` is escaped for the JSON string.
    escaped: bool,
    /// Whether bytes came through [`std::io::Write`] (maybe not UTF-8: checked at the end).
    raw_bytes: bool,
    /// What the text says, when its writer recorded it ([`TextResultWriter::record_kind`]).
    kind: Option<AnswerKind>,
}

const TEXT_RESULT_OPEN: &[u8] = br#","result":{"content":[{"type":"text","text":""#;
const TEXT_RESULT_CLOSE: &[u8] = br#""}],"isError":false}}"#;

impl TextResultWriter {
    /// Starts the response to request `id`; the text is kept escaped for the JSON string.
    pub fn new(id: &RequestId) -> Self {
        let mut buf = Vec::with_capacity(4096);
        buf.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
        // A string or a number: cannot fail.
        let _ = serde_json::to_writer(&mut buf, id);
        buf.extend_from_slice(TEXT_RESULT_OPEN);
        TextResultWriter {
            text_start: buf.len(),
            buf,
            escaped: true,
            raw_bytes: false,
            kind: None,
        }
    }

    /// A writer that keeps the text as is, for callers that use the text itself
    /// ([`TextResultWriter::written_since`]) rather than the response (its
    /// [`TextResultWriter::finish`] answers request id 0).
    pub fn text_only() -> Self {
        TextResultWriter {
            buf: Vec::with_capacity(2048),
            text_start: 0,
            escaped: false,
            raw_bytes: false,
            kind: None,
        }
    }

    /// Whether [`TextResultWriter::written_since`] gives the text escaped for the JSON string
    /// (each `"` as `\"`, each `\` as `\\`, each newline as `\n`...) or as is.
    pub fn text_is_escaped(&self) -> bool {
        self.escaped
    }

    /// Appends text.
    pub fn push_str(&mut self, text: &str) {
        if self.escaped {
            escape_into(&mut self.buf, text.as_bytes());
        } else {
            self.buf.extend_from_slice(text.as_bytes());
        }
    }

    /// Appends `value` as serde_json's pretty printer writes it (two-space indent), in one
    /// pass. On an error the text may end with part of it: [`TextResultWriter::truncate`].
    pub fn write_pretty<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        if self.escaped {
            let mark = self.buf.len();
            let mut one_pass = OnePass::new(&mut self.buf, EscapedPretty::new());
            if value.serialize(&mut one_pass).is_ok() {
                return Ok(());
            }
            // What the one-pass serializer leaves to serde_json: see `plugwire_json`.
            self.buf.truncate(mark);
            let mut ser =
                serde_json::Serializer::with_formatter(&mut self.buf, EscapedPretty::new());
            value.serialize(&mut ser)
        } else {
            serde_json::to_writer_pretty(&mut self.buf, value)
        }
    }

    /// Records what the answer just written says, for a layer that counts answers (metrics):
    /// the writer of the answer knows it as it writes it, so that layer need not read it back
    /// out of the text. The writer does not check it against the text: whoever records it
    /// answers for it (a test holds the server's to what the text says).
    pub fn record_kind(&mut self, kind: AnswerKind) {
        self.kind = Some(kind);
    }

    /// What [`TextResultWriter::record_kind`] recorded, taken out (`None` when nothing was:
    /// a writer that did not record it, whose text the caller must read instead).
    pub fn take_kind(&mut self) -> Option<AnswerKind> {
        self.kind.take()
    }

    /// Where the text is now, for [`TextResultWriter::truncate`].
    pub fn mark(&self) -> usize {
        self.buf.len() - self.text_start
    }

    /// The text written since `mark`, in the writer's form
    /// ([`TextResultWriter::text_is_escaped`]), e.g. for a metrics layer that classifies the
    /// answer without decoding it again.
    pub fn written_since(&self, mark: usize) -> &[u8] {
        self.buf
            .get(self.text_start.saturating_add(mark)..)
            .unwrap_or_default()
    }

    /// Drops the text written after `mark` (a writer that failed half-way).
    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(self.text_start.saturating_add(mark));
    }

    /// Closes the string and the response. Bytes written through `Write` that are not UTF-8
    /// (never the case for a serializer's output) are replaced, as `String::from_utf8_lossy`.
    pub fn finish(self) -> Vec<u8> {
        if !self.escaped {
            let mut out = TextResultWriter::new(&RequestId::from(0));
            out.raw_bytes = true;
            escape_into(&mut out.buf, &self.buf);
            return out.finish();
        }
        let TextResultWriter {
            mut buf,
            text_start,
            raw_bytes,
            ..
        } = self;
        // Escaping leaves every byte >= 0x80 where it was and turns ASCII into ASCII, so the
        // invalid sequences of the text are those of its escaped form: replacing them after
        // escaping gives what escaping the replaced text gives.
        if raw_bytes && std::str::from_utf8(&buf[text_start..]).is_err() {
            let fixed = String::from_utf8_lossy(&buf[text_start..]).into_owned();
            buf.truncate(text_start);
            buf.extend_from_slice(fixed.as_bytes());
        }
        buf.extend_from_slice(TEXT_RESULT_CLOSE);
        buf
    }
}

/// What a hook answer says, as metrics count it: what `result` holds when there is one (a
/// violation, whatever else it holds; else a modified payload; else "continue"), else a
/// failure with the error's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerKind {
    /// Nothing changed, nothing refused.
    Continue,
    /// A modified payload.
    Modified,
    /// A violation, with its code when it has a text one.
    Violation(Option<String>),
    /// An error answer (or an answer with neither result nor error), with its message.
    Failed(String),
}

impl AnswerKind {
    /// The kind of an answer held as a value.
    pub fn of_response(answer: &InvokeHookResponse) -> Self {
        let result = match (&answer.result, &answer.error) {
            (Some(serde_json::Value::Object(result)), _) => result,
            (None, Some(error)) => {
                let message = error.get("message").and_then(serde_json::Value::as_str);
                return AnswerKind::Failed(message.unwrap_or_default().to_string());
            }
            _ => return AnswerKind::Failed(String::new()),
        };
        if let Some(v) = result.get("violation").filter(|v| !v.is_null()) {
            let code = v.get("code").and_then(serde_json::Value::as_str);
            return AnswerKind::Violation(code.map(str::to_string));
        }
        if result.get("modified_payload").is_some_and(|m| !m.is_null()) {
            return AnswerKind::Modified;
        }
        AnswerKind::Continue
    }
}

impl std::io::Write for TextResultWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.write_all(bytes)?;
        Ok(bytes.len())
    }

    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        // Escaping works byte by byte (only ASCII is escaped), so a UTF-8 sequence split
        // between two writes comes out whole.
        self.raw_bytes = true;
        if self.escaped {
            escape_into(&mut self.buf, bytes);
        } else {
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The hexadecimal digits of a `\u00xx` escape.
const HEX: &[u8; 16] = b"0123456789abcdef";

/// serde_json's `PrettyFormatter` (two-space indent) with its output escaped for a JSON string:
/// a newline is written `\n`, a quote `\"`, the printer's own escapes get a second backslash
/// (`\"` inside a value becomes `\\\"`). What it does not override writes bytes the outer string
/// keeps as they are: numbers, `true`/`false`/`null`, and the unescaped runs of strings.
struct EscapedPretty {
    depth: usize,
    has_value: bool,
}

/// A comma, an escaped newline, then up to 32 levels of indentation; deeper levels add spaces.
const LINE: &[u8] = b",\\n                                                                ";
const LINE_HEAD: usize = 3;

impl EscapedPretty {
    fn new() -> Self {
        EscapedPretty {
            depth: 0,
            has_value: false,
        }
    }

    /// (Comma,) newline and the indentation of the current depth, in as few writes as fit.
    fn line<W: ?Sized + std::io::Write>(&self, w: &mut W, comma: bool) -> std::io::Result<()> {
        let from = usize::from(!comma);
        let spaces = self.depth * 2;
        let inline = spaces.min(LINE.len() - LINE_HEAD);
        w.write_all(&LINE[from..LINE_HEAD + inline])?;
        for _ in 0..(spaces - inline) / 2 {
            w.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl Formatter for EscapedPretty {
    fn begin_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b"\\\"")
    }

    fn end_string<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b"\\\"")
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        escape: CharEscape,
    ) -> std::io::Result<()> {
        let named: &[u8] = match escape {
            CharEscape::Quote => b"\\\\\\\"",
            CharEscape::ReverseSolidus => b"\\\\\\\\",
            CharEscape::Solidus => b"\\\\/",
            CharEscape::Backspace => b"\\\\b",
            CharEscape::FormFeed => b"\\\\f",
            CharEscape::LineFeed => b"\\\\n",
            CharEscape::CarriageReturn => b"\\\\r",
            CharEscape::Tab => b"\\\\t",
            CharEscape::AsciiControl(b) => {
                let (hi, lo) = (HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]);
                return w.write_all(&[b'\\', b'\\', b'u', b'0', b'0', hi, lo]);
            }
        };
        w.write_all(named)
    }

    fn write_raw_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut escaped = Vec::with_capacity(fragment.len() + 16);
        escape_into(&mut escaped, fragment.as_bytes());
        w.write_all(&escaped)
    }

    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.line(w, false)?;
        }
        w.write_all(b"]")
    }

    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.line(w, !first)
    }

    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth += 1;
        self.has_value = false;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.depth -= 1;
        if self.has_value {
            self.line(w, false)?;
        }
        w.write_all(b"}")
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        self.line(w, !first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _: &mut W) -> std::io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// [`OnePass`] writes through the same formatter calls, and strings escaped twice in one scan:
/// `\"`, the string's text as the pretty printer escapes it and that escaped again, `\"`.
impl Layout for EscapedPretty {
    #[inline]
    fn begin_array(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        Formatter::begin_array(self, out)
    }

    #[inline]
    fn end_array(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        Formatter::end_array(self, out)
    }

    #[inline]
    fn begin_array_value(&mut self, out: &mut Vec<u8>, first: bool) -> io::Result<()> {
        Formatter::begin_array_value(self, out, first)
    }

    #[inline]
    fn end_array_value(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        Formatter::end_array_value(self, out)
    }

    #[inline]
    fn begin_object(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        Formatter::begin_object(self, out)
    }

    #[inline]
    fn end_object(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        Formatter::end_object(self, out)
    }

    #[inline]
    fn begin_object_key(&mut self, out: &mut Vec<u8>, first: bool) -> io::Result<()> {
        Formatter::begin_object_key(self, out, first)
    }

    #[inline]
    fn end_object_key(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        Formatter::end_object_key(self, out)
    }

    #[inline]
    fn begin_object_value(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        Formatter::begin_object_value(self, out)
    }

    #[inline]
    fn end_object_value(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        Formatter::end_object_value(self, out)
    }

    #[inline]
    fn string(&mut self, out: &mut Vec<u8>, value: &str) {
        out.extend_from_slice(b"\\\"");
        escape_twice_into(out, value.as_bytes());
        out.extend_from_slice(b"\\\"");
    }
}

#[cfg(test)]
#[path = "invoke_call_answer_tests.rs"]
mod tests;
