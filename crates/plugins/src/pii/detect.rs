//! PII detection and masking over one string.
//!
//! Same detectors, patterns (case-insensitive) and masking formats as the Python `PIIDetector`,
//! with three deliberate changes, all documented in docs/plugins.md:
//! - credit-card candidates must pass the Luhn check (order and tracking numbers are not cards);
//! - overlapping detections of different types are resolved (earliest start, then longest, then
//!   detector order) instead of being spliced over each other, which in Python garbles the text;
//! - the built-in patterns use ASCII word boundaries, so the linear-time engine stays fast on
//!   multi-MiB non-ASCII text (a number glued to a non-ASCII letter is still detected).
//!
//! Detection is linear in the text: each pattern is one left-to-right scan, same-type overlap checks
//! use an ordered map, and masking builds the output in one pass.

use std::collections::BTreeMap;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::pyre;

pub use super::types::{MaskStrategy, PiiType};

/// One compiled detector pattern.
#[derive(Debug, Clone)]
pub struct PiiPattern {
    /// What it detects.
    pub pii_type: PiiType,
    /// The compiled pattern.
    pub regex: Regex,
    /// How a match is masked.
    pub strategy: MaskStrategy,
    /// Extra check on a candidate (Luhn for cards).
    pub validate: Option<fn(&str) -> bool>,
}

/// One detection: byte range in the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// What was found.
    pub pii_type: PiiType,
    /// Byte offset of the match.
    pub start: usize,
    /// Byte offset after the match.
    pub end: usize,
    /// How it is masked.
    pub strategy: MaskStrategy,
}

/// Which built-in detectors are on (all default to true, as in Python).
#[derive(Debug, Clone, Copy)]
pub struct Detectors {
    /// Detect US SSNs.
    pub ssn: bool,
    /// Detect Dutch BSNs.
    pub bsn: bool,
    /// Detect card numbers.
    pub credit_card: bool,
    /// Detect e-mail addresses.
    pub email: bool,
    /// Detect phone numbers.
    pub phone: bool,
    /// Detect IP addresses.
    pub ip_address: bool,
    /// Detect dates of birth.
    pub date_of_birth: bool,
    /// Detect passport numbers.
    pub passport: bool,
    /// Detect driver's licenses.
    pub driver_license: bool,
    /// Detect bank accounts.
    pub bank_account: bool,
    /// Detect medical record numbers.
    pub medical_record: bool,
    /// Detect AWS keys.
    pub aws_keys: bool,
    /// Detect API keys.
    pub api_keys: bool,
    /// plugwire: require a valid Luhn checksum for credit cards.
    pub luhn_check: bool,
}

impl Default for Detectors {
    fn default() -> Self {
        Detectors {
            ssn: true,
            bsn: true,
            credit_card: true,
            email: true,
            phone: true,
            ip_address: true,
            date_of_birth: true,
            passport: true,
            driver_license: true,
            bank_account: true,
            medical_record: true,
            aws_keys: true,
            api_keys: true,
            luhn_check: true,
        }
    }
}

/// ASCII word boundary (see the module doc).
const B: &str = r"(?-u:\b)";

/// A built-in pattern: type, regex source, strategy, extra validation.
type Builtin = (PiiType, String, MaskStrategy, Option<fn(&str) -> bool>);

/// The built-in patterns `d` turns on, in the order they are tried.
fn builtin(d: &Detectors) -> Vec<Builtin> {
    let mut v: Vec<Builtin> = Vec::new();
    let mut add = |t, p: String, s| v.push((t, p, s, None));
    identity_patterns(d, &mut add);
    record_and_secret_patterns(d, &mut add);
    if d.credit_card && d.luhn_check {
        if let Some(card) = v.iter_mut().find(|x| x.0 == PiiType::CreditCard) {
            card.3 = Some(luhn_valid);
        }
    }
    v
}

/// Adds one pattern: type, regex source, strategy.
type Add<'a> = &'a mut dyn FnMut(PiiType, String, MaskStrategy);

/// Numbers and addresses that identify a person: SSN/BSN, cards, email, phone, IP, birth date,
/// passport, driver's license.
fn identity_patterns(d: &Detectors, add: Add<'_>) {
    use MaskStrategy::{Partial, Redact};
    use PiiType::*;
    if d.ssn {
        add(Ssn, format!(r"{B}\d{{3}}-\d{{2}}-\d{{4}}{B}"), Partial);
    }
    if d.bsn {
        add(Bsn, format!(r"{B}\d{{9}}{B}"), Partial);
    }
    if d.credit_card {
        add(
            CreditCard,
            format!(r"{B}(?:\d{{4}}[-\s]?){{3}}\d{{4}}{B}"),
            Partial,
        );
    }
    if d.email {
        add(
            Email,
            format!(r"{B}[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{{2,}}{B}"),
            Partial,
        );
    }
    if d.phone {
        add(
            Phone,
            format!(r"{B}(?:\+?1[-.\s]?)?\(?\d{{3}}\)?[-.\s]?\d{{3}}[-.\s]?\d{{4}}{B}"),
            Partial,
        );
        add(Phone, format!(r"{B}\+?[1-9]\d{{1,14}}{B}"), Partial);
    }
    if d.ip_address {
        add(
            IpAddress,
            format!(
                r"{B}(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){{3}}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?){B}"
            ),
            Redact,
        );
        add(
            IpAddress,
            format!(r"{B}(?:[A-Fa-f0-9]{{1,4}}:){{7}}[A-Fa-f0-9]{{1,4}}{B}"),
            Redact,
        );
    }
    if d.date_of_birth {
        add(
            DateOfBirth,
            format!(
                r"{B}(?:DOB|Date of Birth|Born|Birthday)[:\s]+\d{{1,2}}[-/]\d{{1,2}}[-/]\d{{2,4}}{B}"
            ),
            Redact,
        );
        add(
            DateOfBirth,
            format!(r"{B}(?:0[1-9]|1[0-2])[-/](?:0[1-9]|[12]\d|3[01])[-/](?:19|20)\d{{2}}{B}"),
            Redact,
        );
    }
    if d.passport {
        add(Passport, format!(r"{B}[A-Z]{{1,2}}\d{{6,9}}{B}"), Redact);
    }
    if d.driver_license {
        add(
            DriverLicense,
            format!(r"{B}(?:DL|License|Driver'?s? License)[#:\s]+[A-Z0-9]{{5,20}}{B}"),
            Redact,
        );
    }
}

/// Bank accounts, medical records and credentials.
fn record_and_secret_patterns(d: &Detectors, add: Add<'_>) {
    use MaskStrategy::{Partial, Redact};
    use PiiType::*;
    if d.bank_account {
        add(BankAccount, format!(r"{B}\d{{8,17}}{B}"), Redact);
        add(
            BankAccount,
            format!(r"{B}[A-Z]{{2}}\d{{2}}[A-Z0-9]{{4}}\d{{7}}(?:\d{{3}})?{B}"),
            Partial,
        );
    }
    if d.medical_record {
        add(
            MedicalRecord,
            format!(r"{B}(?:MRN|Medical Record)[#:\s]+[A-Z0-9]{{6,12}}{B}"),
            Redact,
        );
    }
    if d.aws_keys {
        add(AwsKey, format!(r"{B}AKIA[0-9A-Z]{{16}}{B}"), Redact);
        add(AwsKey, format!(r"{B}[A-Za-z0-9/+=]{{40}}{B}"), Redact);
    }
    if d.api_keys {
        add(
            ApiKey,
            format!(
                r#"{B}(?:api[_-]?key|apikey|api_token|access[_-]?token)[:\s]+['"]?[A-Za-z0-9\-_]{{20,}}['"]?{B}"#
            ),
            Redact,
        );
    }
}

/// The Luhn checksum over the digits of `s` (separators ignored).
pub fn luhn_valid(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() < 12 {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The compiled detector.
#[derive(Debug, Clone)]
pub struct PiiDetector {
    /// Grouped by type, in first-seen order (Python's dict insertion order).
    groups: Vec<(PiiType, Vec<PiiPattern>)>,
    whitelist: Vec<Regex>,
    redaction_text: String,
}

/// A user-supplied pattern (`custom_patterns` item), before compilation.
#[derive(Debug, Clone)]
pub struct CustomPattern {
    /// Reported type (usually `custom`).
    pub pii_type: PiiType,
    /// The regular expression (Python syntax).
    pub pattern: String,
    /// How a match is masked.
    pub strategy: MaskStrategy,
    /// Off keeps the entry without using it.
    pub enabled: bool,
}

impl PiiDetector {
    /// Build; a custom or whitelist pattern that does not compile is an error naming it
    /// (`Err((index, is_whitelist, message))`).
    pub fn new(
        detectors: &Detectors,
        custom: &[CustomPattern],
        whitelist: &[String],
        redaction_text: &str,
    ) -> Result<Self, (usize, bool, String)> {
        let mut groups: Vec<(PiiType, Vec<PiiPattern>)> = Vec::new();
        let mut push = |p: PiiPattern| match groups.iter_mut().find(|g| g.0 == p.pii_type) {
            Some(g) => g.1.push(p),
            None => groups.push((p.pii_type, vec![p])),
        };
        for (t, pat, strategy, validate) in builtin(detectors) {
            // The built-in patterns are ours and known to compile.
            let regex = regex::RegexBuilder::new(&pat)
                .case_insensitive(true)
                .build()
                .map_err(|e| (usize::MAX, false, format!("built-in pattern {pat:?}: {e}")))?;
            push(PiiPattern {
                pii_type: t,
                regex,
                strategy,
                validate,
            });
        }
        for (i, c) in custom.iter().enumerate() {
            if !c.enabled {
                continue;
            }
            let regex = pyre::compile(&c.pattern, true).map_err(|e| (i, false, e.0))?;
            push(PiiPattern {
                pii_type: c.pii_type,
                regex,
                strategy: c.strategy,
                validate: None,
            });
        }
        let whitelist = whitelist
            .iter()
            .enumerate()
            .map(|(i, w)| pyre::compile(w, true).map_err(|e| (i, true, e.0)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PiiDetector {
            groups,
            whitelist,
            redaction_text: redaction_text.to_owned(),
        })
    }

    /// True when no detector is enabled.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    fn whitelisted(&self, matched: &str) -> bool {
        self.whitelist.iter().any(|w| w.is_match(matched))
    }

    /// All detections in `text`, non-overlapping, sorted by start.
    pub fn detect(&self, text: &str) -> Vec<Detection> {
        let mut all: Vec<(Detection, usize)> = Vec::new();
        for (order, (t, patterns)) in self.groups.iter().enumerate() {
            // Accepted ranges of this type: start -> end (non-overlapping).
            let mut seen: BTreeMap<usize, usize> = BTreeMap::new();
            for p in patterns {
                for m in p.regex.find_iter(text) {
                    let (s, e) = (m.start(), m.end());
                    if s == e {
                        continue;
                    }
                    if p.validate.is_some_and(|f| !f(m.as_str())) || self.whitelisted(m.as_str()) {
                        continue;
                    }
                    let before = seen.range(..=s).next_back().is_some_and(|(_, &pe)| pe > s);
                    let after = seen.range(s..e).next().is_some();
                    if before || after {
                        continue;
                    }
                    seen.insert(s, e);
                    all.push((
                        Detection {
                            pii_type: *t,
                            start: s,
                            end: e,
                            strategy: p.strategy,
                        },
                        order,
                    ));
                }
            }
        }
        // Across types: earliest start, then longest, then detector order wins.
        all.sort_by(|(a, ao), (b, bo)| {
            a.start
                .cmp(&b.start)
                .then((b.end - b.start).cmp(&(a.end - a.start)))
                .then(ao.cmp(bo))
        });
        let mut out = Vec::with_capacity(all.len());
        let mut last_end = 0;
        for (d, _) in all {
            if d.start >= last_end {
                last_end = d.end;
                out.push(d);
            }
        }
        out
    }

    /// `text` with every detection replaced (detections as returned by `detect`).
    pub fn mask(&self, text: &str, detections: &[Detection]) -> String {
        let mut out = String::with_capacity(text.len());
        let mut pos = 0;
        for d in detections {
            out.push_str(&text[pos..d.start]);
            out.push_str(&self.mask_value(&text[d.start..d.end], d.pii_type, d.strategy));
            pos = d.end;
        }
        out.push_str(&text[pos..]);
        out
    }

    /// The masked form of one value (Python `_apply_mask`; lengths count characters, not bytes).
    pub fn mask_value(&self, value: &str, t: PiiType, strategy: MaskStrategy) -> String {
        let redacted = || self.redaction_text.clone();
        let n = value.chars().count();
        let last4 = || value.chars().skip(n.saturating_sub(4)).collect::<String>();
        match strategy {
            MaskStrategy::Redact => redacted(),
            MaskStrategy::Remove => String::new(),
            MaskStrategy::Hash => {
                let digest = Sha256::digest(value.as_bytes());
                let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
                format!("[HASH:{hex}]")
            }
            MaskStrategy::Tokenize => format!("[TOKEN:{:08x}]", rand::random::<u32>()),
            MaskStrategy::Partial => match t {
                PiiType::Ssn if n >= 4 => format!("***-**-{}", last4()),
                PiiType::Bsn if n >= 4 => format!("*****{}", last4()),
                PiiType::CreditCard if n >= 4 => format!("****-****-****-{}", last4()),
                PiiType::Phone if n >= 4 => format!("***-***-{}", last4()),
                PiiType::Ssn | PiiType::Bsn | PiiType::CreditCard | PiiType::Phone => redacted(),
                PiiType::Email => {
                    let parts: Vec<&str> = value.split('@').collect();
                    match parts.as_slice() {
                        [name, domain] => {
                            let nc: Vec<char> = name.chars().collect();
                            if nc.len() > 2 {
                                format!("{}***{}@{domain}", nc[0], nc[nc.len() - 1])
                            } else {
                                format!("***@{domain}")
                            }
                        }
                        _ => redacted(),
                    }
                }
                _ => {
                    if n > 2 {
                        let mut cs = value.chars();
                        let first = cs.next().unwrap_or('*');
                        let last = cs.next_back().unwrap_or('*');
                        let mut s = String::with_capacity(value.len());
                        s.push(first);
                        s.extend(std::iter::repeat_n('*', n - 2));
                        s.push(last);
                        s
                    } else {
                        redacted()
                    }
                }
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn det(detectors: Detectors) -> PiiDetector {
        PiiDetector::new(&detectors, &[], &[], "[REDACTED]").unwrap()
    }

    fn only(f: impl FnOnce(&mut Detectors)) -> PiiDetector {
        let mut d = Detectors {
            ssn: false,
            bsn: false,
            credit_card: false,
            email: false,
            phone: false,
            ip_address: false,
            date_of_birth: false,
            passport: false,
            driver_license: false,
            bank_account: false,
            medical_record: false,
            aws_keys: false,
            api_keys: false,
            luhn_check: true,
        };
        f(&mut d);
        det(d)
    }

    fn run(d: &PiiDetector, text: &str) -> String {
        let found = d.detect(text);
        d.mask(text, &found)
    }

    #[test]
    fn partial_formats_match_python() {
        assert_eq!(
            run(&only(|d| d.ssn = true), "SSN 123-45-6789."),
            "SSN ***-**-6789."
        );
        assert_eq!(
            run(&only(|d| d.bsn = true), "BSN 123456782"),
            "BSN *****6782"
        );
        assert_eq!(
            run(&only(|d| d.email = true), "mail john.doe@example.com now"),
            "mail j***e@example.com now"
        );
        assert_eq!(
            run(&only(|d| d.email = true), "jo@example.com"),
            "***@example.com"
        );
        assert_eq!(
            run(&only(|d| d.phone = true), "call (555) 123-4567"),
            "call (***-***-4567"
        );
        assert_eq!(
            run(&only(|d| d.credit_card = true), "card 4111 1111 1111 1111"),
            "card ****-****-****-1111"
        );
        assert_eq!(
            run(&only(|d| d.bank_account = true), "IBAN NL91ABNA0417164300"),
            "IBAN N****************0"
        );
    }

    #[test]
    fn redacting_detectors() {
        let d = only(|d| {
            d.ip_address = true;
            d.date_of_birth = true;
            d.passport = true;
            d.driver_license = true;
            d.medical_record = true;
            d.aws_keys = true;
            d.api_keys = true;
        });
        assert_eq!(run(&d, "from 10.0.0.1"), "from [REDACTED]");
        assert_eq!(
            run(&d, "v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
            "v6 [REDACTED]"
        );
        assert_eq!(run(&d, "DOB: 1/2/1990"), "[REDACTED]");
        assert_eq!(run(&d, "on 12/31/1999"), "on [REDACTED]");
        assert_eq!(run(&d, "passport X1234567"), "passport [REDACTED]");
        assert_eq!(run(&d, "DL# D1234567"), "[REDACTED]");
        assert_eq!(run(&d, "MRN: 12345678"), "[REDACTED]");
        assert_eq!(run(&d, "key AKIAIOSFODNN7EXAMPLE"), "key [REDACTED]");
        assert_eq!(run(&d, "api_key: abcdefghijklmnopqrstuvwxyz"), "[REDACTED]");
    }

    #[test]
    fn luhn_separates_cards_from_order_numbers() {
        assert!(luhn_valid("4111 1111 1111 1111"));
        assert!(luhn_valid("5500-0000-0000-0004"));
        assert!(!luhn_valid("1234-5678-9012-3456"));
        let d = only(|d| d.credit_card = true);
        assert_eq!(
            run(&d, "order 1234-5678-9012-3456"),
            "order 1234-5678-9012-3456"
        );
        let no_luhn = only(|d| {
            d.credit_card = true;
            d.luhn_check = false;
        });
        assert_eq!(
            run(&no_luhn, "order 1234-5678-9012-3456"),
            "order ****-****-****-3456"
        );
    }

    #[test]
    fn overlapping_types_do_not_garble_text() {
        // SSN and the international phone pattern overlap; the SSN (earliest, longest) wins.
        let d = det(Detectors::default());
        assert_eq!(run(&d, "SSN 123-45-6789"), "SSN ***-**-6789");
    }

    #[test]
    fn whitelist_is_case_insensitive_search_in_the_match() {
        let d = PiiDetector::new(
            &Detectors::default(),
            &[],
            &["TEST@example.com".to_owned()],
            "[X]",
        )
        .unwrap();
        assert_eq!(run(&d, "a test@example.com b"), "a test@example.com b");
        assert_eq!(run(&d, "a bob@example.com b"), "a b***b@example.com b");
    }

    #[test]
    fn hash_is_stable_and_tokenize_is_random() {
        let d = det(Detectors::default());
        let h = d.mask_value("secret", PiiType::Custom, MaskStrategy::Hash);
        // sha256("secret") = 2bb80d53...
        assert_eq!(h, "[HASH:2bb80d53]");
        let t1 = d.mask_value("x", PiiType::Custom, MaskStrategy::Tokenize);
        assert!(t1.starts_with("[TOKEN:") && t1.len() == 16, "{t1}");
        assert_eq!(d.mask_value("x", PiiType::Custom, MaskStrategy::Remove), "");
    }

    #[test]
    fn unicode_text_keeps_char_boundaries() {
        let d = det(Detectors::default());
        assert_eq!(
            run(
                &d,
                "Grüße, schreib an juergen@example.com 😀 SSN 123-45-6789 ✓"
            ),
            "Grüße, schreib an j***n@example.com 😀 SSN ***-**-6789 ✓"
        );
        // The ASCII-only local part is still found next to a non-ASCII letter (Python finds nothing).
        assert_eq!(run(&d, "jürgen@example.com"), "jür***n@example.com");
        // Other-type partial counts characters.
        assert_eq!(
            d.mask_value("äbcdé", PiiType::Passport, MaskStrategy::Partial),
            "ä***é"
        );
    }

    #[test]
    fn custom_patterns_join_their_type() {
        let custom = vec![CustomPattern {
            pii_type: PiiType::Custom,
            pattern: r"EMP-\d{5}".into(),
            strategy: MaskStrategy::Redact,
            enabled: true,
        }];
        let d = PiiDetector::new(&Detectors::default(), &custom, &[], "[R]").unwrap();
        assert_eq!(run(&d, "id emp-12345"), "id [R]");
        let bad = vec![CustomPattern {
            pattern: "(?<=x)y".into(),
            ..custom[0].clone()
        }];
        let e = PiiDetector::new(&Detectors::default(), &bad, &[], "[R]").unwrap_err();
        assert_eq!(e.0, 0);
        assert!(e.2.contains("look-behind"));
    }
}
