//! Finding the bytes a JSON string cannot hold as they are: `"`, `\\` and control characters.
//! Both the reader (`slice_de`, where a string ends) and the writer (`escape`, where to escape)
//! look for them: the writer eight bytes at a time, the reader sixteen (its strings sit inside
//! the whole text, so a window may run past a string's end; measured, the writer's short
//! standalone strings gained nothing from padded windows).

/// Whether any of 16 bytes is `"`, `\\` or a control character: a fold without early exit over a
/// fixed-size array, which the compiler turns into vector compares (a bit mask built lane by
/// lane it leaves scalar, so the byte itself is then found by [`first_special_in_word`]).
#[inline(always)]
pub(crate) fn any_special(window: &[u8]) -> bool {
    let Ok(window) = <&[u8; 16]>::try_from(window) else {
        return true;
    };
    window.iter().fold(false, |seen, &b| seen | is_special(b))
}

/// `"`, `\\` or a control character: a byte a JSON string cannot hold as it is. Bitwise ors, not
/// `||`, so that a fold over it stays free of branches and vectorizes.
#[inline(always)]
pub(crate) fn is_special(b: u8) -> bool {
    (b == b'"') | (b == b'\\') | (b < 0x20)
}

/// The offset of the first of these eight bytes that is a control character, `"` or `\\`
/// (SWAR: the "has a byte less than n" and "has a zero byte" bit tricks on one u64; their
/// lowest flagged byte is always exact, false positives only appear above it).
#[inline(always)]
pub(crate) fn first_special_in_word(chunk: &[u8]) -> Option<usize> {
    let mut word = [0u8; 8];
    word.copy_from_slice(chunk);
    let x = u64::from_le_bytes(word);
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
    let quote = has_zero(x ^ (ONES * u64::from(b'"')));
    let backslash = has_zero(x ^ (ONES * u64::from(b'\\')));
    let flagged = below_space | quote | backslash;
    (flagged != 0).then(|| (flagged.trailing_zeros() / 8) as usize)
}

/// Whether `bytes` holds any `"`, `\\` or control character: most strings of a payload hold
/// none and are copied as they are. Whole 16-byte windows, then one window ending at the last
/// byte (overlapping is harmless for a yes/no); a string under 16 bytes in two overlapping words,
/// under 8 a byte at a time. Nothing is read outside `bytes`, and nothing is copied.
pub(crate) fn has_special(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n >= 16 {
        let mut at = 0;
        while let Some(window) = bytes.get(at..at + 16) {
            if any_special(window) {
                return true;
            }
            at += 16;
        }
        return at < n && any_special(&bytes[n - 16..]);
    }
    if n >= 8 {
        return first_special_in_word(&bytes[..8]).is_some()
            || first_special_in_word(&bytes[n - 8..]).is_some();
    }
    bytes.iter().any(|&b| is_special(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_bytes_are_seen_at_every_offset() {
        for special in [b'"', b'\\', 0x00, 0x08, 0x1f] {
            for at in 0..16 {
                let mut window = [b'a'; 16];
                window[at] = special;
                assert!(any_special(&window), "{special} at {at}");
                let (low, high) = window.split_at(8);
                let found = first_special_in_word(low)
                    .or_else(|| first_special_in_word(high).map(|i| i + 8));
                assert_eq!(found, Some(at), "{special} at {at}");
            }
        }
        for plain in [b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff] {
            assert!(!any_special(&[plain; 16]), "{plain}");
            assert!(!has_special(&[plain; 40]), "{plain}");
            assert_eq!(first_special_in_word(&[plain; 8]), None, "{plain}");
        }
    }

    #[test]
    fn a_special_byte_is_seen_at_every_offset_of_every_length() {
        for special in [b'"', b'\\', 0x00, 0x1f] {
            for len in 0..50 {
                assert!(!has_special(&vec![b'a'; len]), "{len}");
                for at in 0..len {
                    let mut s = vec![b'a'; len];
                    s[at] = special;
                    assert!(has_special(&s), "{special} at {at} of {len}");
                }
            }
        }
    }
}
