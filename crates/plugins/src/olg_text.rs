//! Text helpers of the output length guard: Python's "is this a number" test and character-safe
//! truncation with an ellipsis and an optional word boundary.

/// Python's `float(text)` succeeds: integers, decimals, exponents, inf/nan, surrounding spaces.
pub(crate) fn is_numeric(text: &str) -> bool {
    let t = text.trim();
    !t.is_empty()
        && t.replace('_', "").parse::<f64>().is_ok()
        && !t.starts_with('_')
        && !t.ends_with('_')
}

/// Cut `value` to at most `max` characters including `ellipsis` (optionally at a word boundary).
pub fn truncate(value: &str, max: usize, ellipsis: &str, word_boundary: bool) -> String {
    if max == 0 {
        return String::new();
    }
    let len = value.chars().count();
    if len <= max {
        return value.to_owned();
    }
    let ell_len = ellipsis.chars().count();
    let byte_at = |n: usize| value.char_indices().nth(n).map_or(value.len(), |(i, _)| i);
    if ell_len >= max {
        return value[..byte_at(max)].to_owned();
    }
    let cut = max - ell_len;
    if word_boundary && cut > 0 {
        const BOUNDARY: &[char] = &[
            ' ', '\t', '\n', '\r', '.', ',', ';', ':', '!', '?', '-', '—', '–', '/', '\\', '(',
            ')', '[', ']', '{', '}',
        ];
        let min_search = cut.saturating_sub((max as f64 * 0.2) as usize);
        // Only the search window is materialised (it is 20% of `max`, never the whole text).
        let window: Vec<(usize, char)> = value
            .char_indices()
            .skip(min_search)
            .take(cut - min_search)
            .collect();
        if let Some(&(b, c)) = window.iter().rev().find(|(_, c)| BOUNDARY.contains(c)) {
            let end = b + c.len_utf8();
            return format!("{}{ellipsis}", value[..end].trim_end());
        }
    }
    format!("{}{ellipsis}", &value[..byte_at(cut)])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_respects_word_boundaries() {
        assert_eq!(truncate("hello world", 20, "…", false), "hello world");
        assert_eq!(truncate("hello world", 8, "…", false), "hello w…");
        assert_eq!(truncate("héllo wörld", 8, "...", false), "héllo...");
        assert_eq!(truncate("hello world again", 14, "…", true), "hello world…");
        assert_eq!(
            truncate("hello wonderful world", 14, "…", true),
            "hello wonderf…"
        );
        assert_eq!(truncate("abcdefghij", 3, "...", false), "abc");
        assert_eq!(truncate("😀😀😀😀", 2, "", false), "😀😀");
    }

    #[test]
    fn numbers_are_numeric_strings() {
        for s in ["123", "1.5", "-2e10", " 7 ", "inf", "1_000"] {
            assert!(is_numeric(s), "{s}");
        }
        for s in ["", "abc", "12a", "_1"] {
            assert!(!is_numeric(s), "{s}");
        }
    }
}
