//! The PII types and masking strategies, named as in Python (`PIIType`, `MaskingStrategy`), so
//! `custom_patterns[].type` and `mask_strategy` accept the same strings.

use std::fmt;
use std::str::FromStr;

/// The kinds of PII, named as in Python (`PIIType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiType {
    /// US social security number.
    Ssn,
    /// Dutch citizen service number (BSN).
    Bsn,
    /// Payment card number (Luhn-checked).
    CreditCard,
    /// E-mail address.
    Email,
    /// Phone number.
    Phone,
    /// IPv4 or IPv6 address.
    IpAddress,
    /// Date of birth.
    DateOfBirth,
    /// Passport number.
    Passport,
    /// Driver's license number.
    DriverLicense,
    /// Bank account number (IBAN and others).
    BankAccount,
    /// Medical record number.
    MedicalRecord,
    /// AWS access key or secret.
    AwsKey,
    /// Generic API key.
    ApiKey,
    /// A `custom_patterns` entry.
    Custom,
}

impl PiiType {
    /// Every type, in the order Python reports them.
    pub const ALL: [PiiType; 14] = [
        PiiType::Ssn,
        PiiType::Bsn,
        PiiType::CreditCard,
        PiiType::Email,
        PiiType::Phone,
        PiiType::IpAddress,
        PiiType::DateOfBirth,
        PiiType::Passport,
        PiiType::DriverLicense,
        PiiType::BankAccount,
        PiiType::MedicalRecord,
        PiiType::AwsKey,
        PiiType::ApiKey,
        PiiType::Custom,
    ];

    /// The name in config keys and violation details.
    pub const fn as_str(self) -> &'static str {
        match self {
            PiiType::Ssn => "ssn",
            PiiType::Bsn => "bsn",
            PiiType::CreditCard => "credit_card",
            PiiType::Email => "email",
            PiiType::Phone => "phone",
            PiiType::IpAddress => "ip_address",
            PiiType::DateOfBirth => "date_of_birth",
            PiiType::Passport => "passport",
            PiiType::DriverLicense => "driver_license",
            PiiType::BankAccount => "bank_account",
            PiiType::MedicalRecord => "medical_record",
            PiiType::AwsKey => "aws_key",
            PiiType::ApiKey => "api_key",
            PiiType::Custom => "custom",
        }
    }
}

impl fmt::Display for PiiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PiiType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PiiType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = PiiType::ALL.iter().map(|t| t.as_str()).collect();
                format!("unknown PII type {s:?}; known types: {}", known.join(", "))
            })
    }
}

/// How a detected value is replaced (`MaskingStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskStrategy {
    /// `redaction_text`.
    Redact,
    /// Keep a recognisable tail (`***-**-6789`, `j***e@example.com`, ...).
    Partial,
    /// `[HASH:<first 8 hex of sha256>]`: the same value always gives the same mask.
    Hash,
    /// `[TOKEN:<8 random hex>]`.
    Tokenize,
    /// The empty string.
    Remove,
}

impl FromStr for MaskStrategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "redact" => MaskStrategy::Redact,
            "partial" => MaskStrategy::Partial,
            "hash" => MaskStrategy::Hash,
            "tokenize" => MaskStrategy::Tokenize,
            "remove" => MaskStrategy::Remove,
            _ => {
                return Err(format!(
                    "unknown masking strategy {s:?}; use one of redact, partial, hash, tokenize, remove"
                ))
            }
        })
    }
}
