//! Python `re` syntax on top of the `regex` crate.
//!
//! Configs written for the Python plugins contain Python patterns and `re.sub` replacement strings.
//! The `regex` crate guarantees linear time (no catastrophic backtracking on hostile payloads), at
//! the price of look-around and back-references: a pattern using them is refused at start-up with a
//! message naming the construct, instead of being silently skipped as the Python plugin does.
//!
//! Pattern differences handled here: `\Z` (Python's end of text) becomes `\z`; a `{` that is not a
//! repetition (`{name}`) is a literal, as in Python; `{,n}` means `{0,n}`; a `[` inside a class is a
//! literal (the `regex` crate would open a nested class); `&&`/`~~` inside a class are literals.

use std::fmt;

use regex::{Captures, Regex, RegexBuilder};

/// Why a Python pattern or replacement cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyRegexError(pub String);

impl fmt::Display for PyRegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PyRegexError {}

/// Upper bound on the compiled size of one pattern (the `regex` default is 10 MiB; a config with a
/// huge alternation should fail at start-up, not eat memory).
const SIZE_LIMIT: usize = 32 * (1 << 20);

/// Compile a Python pattern. `case_insensitive` is `re.IGNORECASE`.
pub fn compile(pattern: &str, case_insensitive: bool) -> Result<Regex, PyRegexError> {
    let translated = translate_pattern(pattern)?;
    RegexBuilder::new(&translated)
        .case_insensitive(case_insensitive)
        .size_limit(SIZE_LIMIT)
        .build()
        .map_err(|e| PyRegexError(format!("pattern {pattern:?} does not compile: {e}")))
}

fn unsupported(pattern: &str, what: &str) -> PyRegexError {
    PyRegexError(format!(
        "pattern {pattern:?} uses {what}, which plugwire's linear-time regex engine does not support; \
         rewrite the pattern without it (for example match the surrounding text and put it back \
         with a group reference in `replace`)"
    ))
}

/// Translate Python `re` pattern syntax to `regex` crate syntax, refusing what it cannot express.
pub fn translate_pattern(pattern: &str) -> Result<String, PyRegexError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    // Position just after `[` or `[^` (a `]` there is a literal).
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            i = escape(pattern, &chars, i, in_class, &mut out)?;
            class_start = false;
            continue;
        }
        if in_class {
            i = class_char(&chars, i, &mut in_class, &mut class_start, &mut out);
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                class_start = true;
                out.push('[');
                i += 1;
            }
            '(' if chars.get(i + 1) == Some(&'?') => {
                refuse_extension(pattern, &chars[i + 2..])?;
                out.push('(');
                i += 1;
            }
            '{' => i = brace(&chars, i, &mut out),
            '}' => {
                out.push_str("\\}");
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The escape at `chars[i]` (a backslash): translated into `out`; returns the index after it.
fn escape(
    pattern: &str,
    chars: &[char],
    i: usize,
    in_class: bool,
    out: &mut String,
) -> Result<usize, PyRegexError> {
    let Some(&next) = chars.get(i + 1) else {
        return Err(PyRegexError(format!(
            "pattern {pattern:?} ends with a lone backslash"
        )));
    };
    if !in_class && next.is_ascii_digit() && next != '0' {
        return Err(unsupported(
            pattern,
            &format!("the back-reference \\{next}"),
        ));
    }
    if next == 'Z' && !in_class {
        out.push_str("\\z");
    } else if matches!(next, 'p' | 'P') && chars.get(i + 2) == Some(&'{') {
        // `\p{Greek}` (not Python syntax, but unambiguous): copy through the closing brace.
        let close = chars[i + 2..]
            .iter()
            .position(|&c| c == '}')
            .map(|p| i + 2 + p);
        let end = close.unwrap_or(chars.len() - 1);
        out.extend(&chars[i..=end]);
        return Ok(end + 1);
    } else {
        out.push('\\');
        out.push(next);
    }
    Ok(i + 2)
}

/// One character inside a class `[...]` at `chars[i]`; returns the index after it.
fn class_char(
    chars: &[char],
    i: usize,
    in_class: &mut bool,
    class_start: &mut bool,
    out: &mut String,
) -> usize {
    let c = chars[i];
    match c {
        ']' if !*class_start => *in_class = false,
        '[' => {
            out.push_str("\\[");
            *class_start = false;
            return i + 1;
        }
        '&' | '~' if chars.get(i + 1) == Some(&c) => {
            out.push('\\');
            out.push(c);
            *class_start = false;
            return i + 1;
        }
        '^' if *class_start && out.ends_with('[') => {
            out.push('^');
            return i + 1;
        }
        _ => {}
    }
    out.push(c);
    *class_start = false;
    i + 1
}

/// Refuses the `(?...)` extensions the linear-time engine cannot run; `rest` follows `(?`.
fn refuse_extension(pattern: &str, rest: &[char]) -> Result<(), PyRegexError> {
    let rest: String = rest.iter().take(3).collect();
    if rest.starts_with('=') || rest.starts_with('!') {
        return Err(unsupported(pattern, "look-ahead `(?=...)`/`(?!...)`"));
    }
    if rest.starts_with("<=") || rest.starts_with("<!") {
        return Err(unsupported(pattern, "look-behind `(?<=...)`/`(?<!...)`"));
    }
    if rest.starts_with("P=") {
        return Err(unsupported(pattern, "the named back-reference `(?P=name)`"));
    }
    if rest.starts_with('>') {
        return Err(unsupported(pattern, "an atomic group `(?>...)`"));
    }
    if rest.starts_with('(') {
        return Err(unsupported(pattern, "a conditional group `(?(id)yes|no)`"));
    }
    Ok(())
}

/// The `{` at `chars[i]`: a repetition `{n}`, `{n,}`, `{,m}` or `{n,m}` is copied (`{,m}` as
/// `{0,m}`); anything else is a literal brace. Returns the index after it.
fn brace(chars: &[char], i: usize, out: &mut String) -> usize {
    let mut j = i + 1;
    let mut lo = String::new();
    while j < chars.len() && chars[j].is_ascii_digit() {
        lo.push(chars[j]);
        j += 1;
    }
    let mut hi: Option<String> = None;
    if chars.get(j) == Some(&',') {
        j += 1;
        let mut h = String::new();
        while j < chars.len() && chars[j].is_ascii_digit() {
            h.push(chars[j]);
            j += 1;
        }
        hi = Some(h);
    }
    let closed = chars.get(j) == Some(&'}');
    let valid = closed && (!lo.is_empty() || hi.as_deref().is_some_and(|h| !h.is_empty()));
    if !valid {
        out.push_str("\\{");
        return i + 1;
    }
    out.push('{');
    out.push_str(if lo.is_empty() { "0" } else { &lo });
    if let Some(h) = hi {
        out.push(',');
        out.push_str(&h);
    }
    out.push('}');
    j + 1
}

/// One piece of a parsed `re.sub` replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Group(usize),
    Named(String),
}

/// A Python `re.sub` replacement (`\1`, `\g<1>`, `\g<name>`, `\\`, `\n`, ...) checked against the
/// pattern's groups at start-up and applied without any `$` interpretation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pieces: Vec<Piece>,
}

/// The character of a one-letter escape (`\n`, `\t`, `\r`, `\f`, `\v`, `\a`, `\b`, `\\`).
fn simple_escape(c: char) -> Option<char> {
    Some(match c {
        'n' => '\n',
        't' => '\t',
        'r' => '\r',
        'f' => '\x0c',
        'v' => '\x0b',
        'a' => '\x07',
        'b' => '\x08',
        '\\' => '\\',
        _ => return None,
    })
}

/// The `\g<name>` or `\g<number>` reference starting at `chars[i]`, and the index after it.
fn group_ref(
    repl: &str,
    chars: &[char],
    i: usize,
    regex: &Regex,
    check_index: &dyn Fn(usize) -> Result<(), PyRegexError>,
) -> Result<(Piece, usize), PyRegexError> {
    if chars.get(i + 2) != Some(&'<') {
        return Err(PyRegexError(format!(
            "replacement {repl:?}: `\\g` must be followed by <name> or <number>"
        )));
    }
    let start = i + 3;
    let Some(len) = chars[start..].iter().position(|&c| c == '>') else {
        return Err(PyRegexError(format!(
            "replacement {repl:?}: missing `>` after `\\g<`"
        )));
    };
    let name: String = chars[start..start + len].iter().collect();
    if name.is_empty() {
        return Err(PyRegexError(format!(
            "replacement {repl:?}: empty group name in `\\g<>`"
        )));
    }
    let end = start + len + 1;
    if name.chars().all(|c| c.is_ascii_digit()) {
        let n: usize = name
            .parse()
            .map_err(|_| PyRegexError(format!("replacement {repl:?}: bad group number {name}")))?;
        check_index(n)?;
        return Ok((Piece::Group(n), end));
    }
    if !regex.capture_names().any(|n| n == Some(name.as_str())) {
        return Err(PyRegexError(format!(
            "replacement {repl:?} refers to group <{name}>, which the pattern does not define"
        )));
    }
    Ok((Piece::Named(name), end))
}

impl Replacement {
    /// Parse `repl` for `regex`; group references must exist in the pattern (Python checks this at
    /// the first substitution, we at start-up).
    pub fn parse(repl: &str, regex: &Regex) -> Result<Self, PyRegexError> {
        let chars: Vec<char> = repl.chars().collect();
        let mut pieces = Vec::new();
        let mut lit = String::new();
        let groups = regex.captures_len(); // includes group 0
        let check_index = |n: usize| -> Result<(), PyRegexError> {
            if n >= groups {
                Err(PyRegexError(format!(
                    "replacement {repl:?} refers to group {n}, but the pattern has {} group(s)",
                    groups - 1
                )))
            } else {
                Ok(())
            }
        };
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c != '\\' {
                lit.push(c);
                i += 1;
                continue;
            }
            let Some(&next) = chars.get(i + 1) else {
                return Err(PyRegexError(format!(
                    "replacement {repl:?} ends with a lone backslash (write \\\\ for a backslash)"
                )));
            };
            match next {
                'g' => {
                    let (piece, end) = group_ref(repl, &chars, i, regex, &check_index)?;
                    flush(&mut lit, &mut pieces);
                    pieces.push(piece);
                    i = end;
                }
                '0' => {
                    // Octal escape: up to three octal digits.
                    let mut j = i + 1;
                    let mut v: u32 = 0;
                    while j < chars.len() && j < i + 4 && chars[j].is_digit(8) {
                        v = v * 8 + chars[j].to_digit(8).unwrap_or(0);
                        j += 1;
                    }
                    lit.push(char::from_u32(v).unwrap_or('\0'));
                    i = j;
                }
                d if d.is_ascii_digit() => {
                    // \1 .. \99 (Python reads at most two digits; three octal digits are an octal escape).
                    let mut j = i + 1;
                    let mut num = String::new();
                    while j < chars.len() && j < i + 3 && chars[j].is_ascii_digit() {
                        num.push(chars[j]);
                        j += 1;
                    }
                    flush(&mut lit, &mut pieces);
                    let n: usize = num.parse().unwrap_or(0);
                    check_index(n)?;
                    pieces.push(Piece::Group(n));
                    i = j;
                }
                e if simple_escape(e).is_some() => {
                    lit.push(simple_escape(e).unwrap_or(e));
                    i += 2;
                }
                l if l.is_ascii_alphabetic() => {
                    return Err(PyRegexError(format!(
                        "replacement {repl:?}: bad escape \\{l} (Python's re.sub refuses it too; write \\\\{l} for a literal backslash)"
                    )));
                }
                other => {
                    // Python keeps unknown non-letter escapes verbatim.
                    lit.push('\\');
                    lit.push(other);
                    i += 2;
                }
            }
        }
        flush(&mut lit, &mut pieces);
        Ok(Replacement { pieces })
    }

    /// True when the replacement has no group references (a plain string).
    pub fn literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [] => Some(""),
            [Piece::Literal(s)] => Some(s),
            _ => None,
        }
    }

    fn expand(&self, caps: &Captures<'_>, dst: &mut String) {
        for p in &self.pieces {
            match p {
                Piece::Literal(s) => dst.push_str(s),
                // An unmatched group expands to "" (Python 3.5+).
                Piece::Group(n) => dst.push_str(caps.get(*n).map_or("", |m| m.as_str())),
                Piece::Named(n) => dst.push_str(caps.name(n).map_or("", |m| m.as_str())),
            }
        }
    }
}

fn flush(lit: &mut String, pieces: &mut Vec<Piece>) {
    if !lit.is_empty() {
        pieces.push(Piece::Literal(std::mem::take(lit)));
    }
}

/// One compiled `search`/`replace` rule.
#[derive(Debug, Clone)]
pub struct SubRule {
    /// The translated expression.
    pub regex: Regex,
    /// The parsed replacement template.
    pub replacement: Replacement,
    /// The search for `search` and the `replace` text, when both are plain text (see
    /// [`plain_text`]).
    plain: Option<(memchr::memmem::Finder<'static>, String)>,
}

/// Whether `pattern` means itself, character for character, in Python's `re` and in the
/// `regex` crate alike: letters, digits, `_`, `-` and spaces only (ASCII, so no case or
/// Unicode class question arises). Such a rule is a substring replacement, done with a
/// substring search instead of the regex engine: profiled, the engine's per-search set-up was
/// most of SearchReplace's cost for the common word lists, whose strings rarely match.
fn plain_text(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b' '))
}

impl SubRule {
    /// Compiles a Python-syntax pattern and replacement; errors name what Python would reject.
    pub fn new(search: &str, replace: &str) -> Result<Self, PyRegexError> {
        let regex = compile(search, false)?;
        let replacement = Replacement::parse(replace, &regex)?;
        let plain = match replacement.literal() {
            Some(lit) if plain_text(search) => {
                let finder = memchr::memmem::Finder::new(search.as_bytes()).into_owned();
                Some((finder, lit.to_owned()))
            }
            _ => None,
        };
        Ok(SubRule {
            regex,
            replacement,
            plain,
        })
    }

    /// `re.sub(search, replace, text)`: every match replaced; `None` when nothing matched.
    pub fn apply(&self, text: &str) -> Option<String> {
        if let Some((finder, replace)) = &self.plain {
            return replace_plain(finder, replace, text);
        }
        if !self.regex.is_match(text) {
            return None;
        }
        let out = match self.replacement.literal() {
            Some(lit) => self.regex.replace_all(text, regex::NoExpand(lit)),
            None => self.regex.replace_all(text, |caps: &Captures<'_>| {
                let mut s = String::new();
                self.replacement.expand(caps, &mut s);
                s
            }),
        };
        Some(out.into_owned())
    }
}

/// Every occurrence of `finder`'s needle in `text` replaced, leftmost first and not
/// overlapping (what `re.sub` does with a literal pattern); `None` when there is none. The
/// needle is ASCII, so its matches start and end on character boundaries.
fn replace_plain(finder: &memchr::memmem::Finder<'_>, replace: &str, text: &str) -> Option<String> {
    let needle = finder.needle().len();
    let mut out: Option<String> = None;
    let mut at = 0;
    while let Some(i) = text.get(at..).and_then(|rest| finder.find(rest.as_bytes())) {
        let s = out.get_or_insert_with(|| String::with_capacity(text.len() + replace.len()));
        s.push_str(text.get(at..at + i)?);
        s.push_str(replace);
        at += i + needle;
    }
    let mut s = out?;
    s.push_str(text.get(at..)?);
    Some(s)
}

/// Apply `rules` in order, each to the previous output (as the Python plugin does).
/// `None` when no rule matched.
pub fn apply_all(rules: &[SubRule], text: &str) -> Option<String> {
    let mut current: Option<String> = None;
    for rule in rules {
        let input = current.as_deref().unwrap_or(text);
        if let Some(next) = rule.apply(input) {
            current = Some(next);
        }
    }
    current
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sub(search: &str, replace: &str, text: &str) -> String {
        let r = SubRule::new(search, replace).unwrap();
        r.apply(text).unwrap_or_else(|| text.to_owned())
    }

    #[test]
    fn python_group_references_are_translated() {
        assert_eq!(sub(r"(\w+)@(\w+)", r"\2 at \1", "bob@home"), "home at bob");
        assert_eq!(sub(r"(\w+)@(\w+)", r"\g<2>0", "bob@home"), "home0");
        assert_eq!(sub(r"(?P<user>\w+)@", r"<\g<user>>", "bob@x"), "<bob>x");
        assert_eq!(sub(r"(?P<user>\w+)@", r"\g<0>!", "bob@x"), "bob@!x");
    }

    #[test]
    fn dollar_signs_and_backslashes_are_literal() {
        assert_eq!(sub("price", "$1 and ${x}", "the price"), "the $1 and ${x}");
        assert_eq!(sub("a", r"\\", "cat"), r"c\t");
        assert_eq!(sub("a", r"x\ny", "a"), "x\ny");
        assert_eq!(sub("a", r"\.", "a"), r"\.");
    }

    #[test]
    fn plain_text_rules_replace_as_the_regex_does() {
        let texts = [
            "crap crapcrap xcrapx",
            "",
            "no match",
            "ccrap",
            "crcrapap",
            "aaaa",
            "a a a",
            "\u{e9}crap\u{1F600}crap",
            "CRAP crap",
        ];
        for (search, replace) in [
            ("crap", "crud"),
            ("a", "aa"),
            ("aa", "b"),
            ("a a", "_"),
            ("crap", ""),
        ] {
            let rule = SubRule::new(search, replace).unwrap();
            assert!(rule.plain.is_some(), "{search}");
            let regex_only = SubRule {
                plain: None,
                ..rule.clone()
            };
            for text in texts {
                assert_eq!(
                    rule.apply(text),
                    regex_only.apply(text),
                    "{search} in {text:?}"
                );
            }
        }
        // Anything with syntax, or a replacement with group references, keeps the regex.
        for (search, replace) in [
            ("a.c", "x"),
            ("(a)", r"\1"),
            ("a", r"\g<0>"),
            ("A|b", "x"),
            ("é", "e"),
        ] {
            assert!(
                SubRule::new(search, replace).unwrap().plain.is_none(),
                "{search}"
            );
        }
    }

    #[test]
    fn unmatched_optional_group_expands_to_empty() {
        assert_eq!(sub(r"a(b)?c", r"[\1]", "ac abc"), "[] [b]");
    }

    #[test]
    fn unicode_text_is_handled_per_character() {
        assert_eq!(sub("ü", "ue", "Müller und Günther"), "Mueller und Guenther");
        assert_eq!(sub(r"\w+", "X", "naïve café"), "X X");
        assert_eq!(sub("😀+", "🙂", "hi 😀😀!"), "hi 🙂!");
    }

    #[test]
    fn python_only_pattern_syntax_is_translated() {
        assert_eq!(sub(r"end\Z", "END", "the end"), "the END");
        assert_eq!(sub(r"\{name\}", "Bob", "hi {name}"), "hi Bob");
        assert_eq!(sub("{name}", "Bob", "hi {name}"), "hi Bob");
        assert_eq!(sub("a{,2}b", "X", "aaab"), "aX");
        assert_eq!(sub("[[]", "(", "a[b"), "a(b");
        assert_eq!(sub("[]a]", "-", "]a"), "--");
        assert_eq!(sub("[^]a]", "-", "]ab"), "]a-");
        assert_eq!(sub("[&&]", "+", "a&&b"), "a++b");
        assert_eq!(sub(r"\p{Greek}+", "G", "alpha αβγ"), "alpha G");
    }

    #[test]
    fn lookaround_and_backreferences_are_refused_with_the_pattern_named() {
        for (p, what) in [
            ("foo(?=bar)", "look-ahead"),
            ("foo(?!bar)", "look-ahead"),
            ("(?<=x)foo", "look-behind"),
            ("(?<!x)foo", "look-behind"),
            (r"(a)\1", "back-reference"),
            ("(?P<x>a)(?P=x)", "named back-reference"),
            ("(?>a)", "atomic"),
        ] {
            let e = SubRule::new(p, "x").unwrap_err().to_string();
            assert!(e.contains(what), "{p}: {e}");
            assert!(e.contains(&format!("{p:?}")), "{p}: {e}");
        }
        // Named groups themselves are fine.
        assert!(SubRule::new("(?<n>a)", "x").is_ok());
    }

    #[test]
    fn bad_replacements_are_refused() {
        assert!(SubRule::new("(a)", r"\2")
            .unwrap_err()
            .0
            .contains("group 2"));
        assert!(SubRule::new("(a)", r"\g<nope>")
            .unwrap_err()
            .0
            .contains("<nope>"));
        assert!(SubRule::new("(a)", r"\q")
            .unwrap_err()
            .0
            .contains("bad escape"));
        assert!(SubRule::new("(a)", "x\\")
            .unwrap_err()
            .0
            .contains("lone backslash"));
        assert!(SubRule::new("(unclosed", "x")
            .unwrap_err()
            .0
            .contains("does not compile"));
    }

    #[test]
    fn rules_chain_in_order() {
        let rules = vec![
            SubRule::new("crap", "crud").unwrap(),
            SubRule::new("crud", "yikes").unwrap(),
        ];
        assert_eq!(
            apply_all(&rules, "what a crap day").as_deref(),
            Some("what a yikes day")
        );
        assert_eq!(apply_all(&rules, "crud").as_deref(), Some("yikes"));
        assert_eq!(apply_all(&rules, "fine"), None);
    }
}
