//! How much of the link order (`crates/cli/link-order.txt`) the measured binary still has, and
//! where those functions sit. The idle RSS row depends on it (docs/decisions.md #96): the list is
//! a profile of an earlier build, so it decays as code changes, and a build that skipped it
//! (another linker) has the same names spread over the whole code.

use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

/// The listed functions found in a binary's symbol table.
#[derive(Debug, PartialEq)]
pub(crate) struct Coverage {
    pub listed: usize,
    pub found: usize,
    /// Bytes from the lowest to the highest address of a found function.
    pub found_span: u64,
    /// Bytes from the lowest to the highest address of any function.
    pub code_span: u64,
}

/// Counts the functions of `list` (one symbol a line, `#` comments) in `nm` output.
pub(crate) fn coverage(list: &str, nm_output: &str) -> Coverage {
    let listed: HashSet<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut found = HashSet::new();
    let (mut found_range, mut code_range) = (None::<(u64, u64)>, None::<(u64, u64)>);
    let widen = |range: &mut Option<(u64, u64)>, at: u64| {
        *range = Some(range.map_or((at, at), |(lo, hi)| (lo.min(at), hi.max(at))));
    };
    for line in nm_output.lines() {
        let mut fields = line.split_whitespace();
        let (Some(address), Some(kind), Some(name)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Ok(address) = u64::from_str_radix(address, 16) else {
            continue;
        };
        if !matches!(kind, "t" | "T" | "w" | "W") {
            continue;
        }
        widen(&mut code_range, address);
        if listed.contains(name) && found.insert(name) {
            widen(&mut found_range, address);
        }
    }
    let span = |range: Option<(u64, u64)>| range.map_or(0, |(lo, hi)| hi - lo);
    Coverage {
        listed: listed.len(),
        found: found.len(),
        found_span: span(found_range),
        code_span: span(code_range),
    }
}

/// One line for the report's machine table.
pub(crate) fn describe(binary: &Path, list: &Path) -> String {
    let list_text = match std::fs::read_to_string(list) {
        Ok(text) => text,
        Err(e) => return format!("not checked: cannot read {}: {e}", list.display()),
    };
    let nm = match Command::new("nm")
        .arg("--defined-only")
        .arg(binary)
        .output()
    {
        Ok(out) if out.status.success() => out.stdout,
        Ok(out) => {
            return format!(
                "not checked: `nm` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )
        }
        Err(e) => return format!("not checked: cannot run `nm`: {e}"),
    };
    let c = coverage(&list_text, &String::from_utf8_lossy(&nm));
    let mb = |bytes: u64| bytes as f64 / 1e6;
    format!(
        "{} of the {} functions `{}` lists are in the binary, within {:.1} MB of its {:.1} MB of code{}",
        c.found,
        c.listed,
        list.display(),
        mb(c.found_span),
        mb(c.code_span),
        if c.decayed() {
            " (decayed: `make link-order` regenerates it; idle RSS grows as it decays)"
        } else {
            ""
        }
    )
}

impl Coverage {
    /// Fewer than nine in ten listed functions found: the code or its dependencies changed
    /// enough since the list was profiled that the idle RSS row measures an unordered binary.
    pub(crate) fn decayed(&self) -> bool {
        self.found * 10 < self.listed * 9
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_with_under_nine_in_ten_names_found_has_decayed() {
        let with = |found, listed| Coverage {
            listed,
            found,
            found_span: 0,
            code_span: 0,
        };
        assert!(!with(3168, 3170).decayed());
        assert!(!with(9, 10).decayed());
        assert!(with(2295, 3171).decayed());
        assert!(with(0, 10).decayed());
    }

    #[test]
    fn counts_listed_functions_and_the_span_they_take() {
        let list = "# comment\nstart\ncall\ngone\n\n";
        let nm = "0000000000001000 T start\n\
                  0000000000001400 t call\n\
                  0000000000002000 T other\n\
                  0000000000009000 t late\n\
                  0000000000003000 D start_data\n\
                  0000000000001400 t call\n\
                  garbage line\n";
        assert_eq!(
            coverage(list, nm),
            Coverage {
                listed: 3,
                found: 2,
                found_span: 0x400,
                code_span: 0x8000
            }
        );
    }

    #[test]
    fn data_symbols_do_not_count_as_code() {
        let c = coverage(
            "table\n",
            "0000000000004000 D table\n0000000000001000 T main\n",
        );
        assert_eq!((c.found, c.code_span), (0, 0));
    }
}
