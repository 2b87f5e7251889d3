//! Who a certificate says its holder is (design §5): the account key and its aliases.
//!
//! Identities are read from typed subject attributes, never from DN text, because
//! Vietnamese names and enterprise names contain commas. Sources:
//! - `UID` (0.9.2342.19200300.100.1.1), any string type, possibly several, as
//!   `PREFIX:value` split at the first `:` — `CCCD`, `CMND`, `MST`, `HC` (passport),
//!   `MNS` (budget-unit code);
//! - ETSI EN 319 412-1 §5.1.3 semantics identifiers in `serialNumber` (2.5.4.5) and
//!   `organizationIdentifier` (2.5.4.97): `PNOVN-`, `IDCVN-`, `TINVN-`, `VATVN-`
//!   (and `PASVN-`); other countries are not Vietnamese identities and are ignored.
//!
//! Decisions (also in `docs/identity.md`):
//! - A recognised identifier whose value is malformed makes the whole certificate
//!   `INVALID_IDENTIFIER`, even beside valid ones: a CA that writes garbage is not trusted
//!   to have written the rest right.
//! - Two different CCCDs (or CMNDs, or MSTs of an organization) in one certificate are
//!   ambiguous and also `INVALID_IDENTIFIER`.
//! - Passport numbers and budget-unit codes are kept as aliases but cannot key an account:
//!   a certificate with nothing else is `NO_IDENTITY`.

mod cccd;
mod mst;
mod source;

pub use cccd::{PROVINCE_CODES, validate_cccd, validate_cmnd};
pub use mst::canonical_mst;
pub use source::{Claim, ClaimSource, Claims, claims_of, decode_string};

use crate::error::{ErrorCode, Rejection};
use serde::{Deserialize, Serialize};
use x509_parser::certificate::X509Certificate;

/// The kinds of identifier kyso understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IdentifierKind {
    /// Citizen identity card, 12 digits; the citizen account key.
    #[serde(rename = "CCCD")]
    Cccd,
    /// Legacy identity card, 9 digits; the key only when no CCCD is present.
    #[serde(rename = "CMND")]
    Cmnd,
    /// Passport number; an alias only.
    #[serde(rename = "HC")]
    Passport,
    /// Enterprise tax code; the organization account key.
    #[serde(rename = "MST")]
    Mst,
    /// Budget-unit code of a state body; an alias only.
    #[serde(rename = "MNS")]
    BudgetUnit,
}

impl IdentifierKind {
    /// Whether the identifier belongs to a person (makes the certificate a citizen's).
    pub fn is_personal(self) -> bool {
        matches!(self, Self::Cccd | Self::Cmnd | Self::Passport)
    }

    /// Every kind.
    pub const ALL: [IdentifierKind; 5] = [
        Self::Cccd,
        Self::Cmnd,
        Self::Passport,
        Self::Mst,
        Self::BudgetUnit,
    ];

    /// The name used on the wire and in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cccd => "CCCD",
            Self::Cmnd => "CMND",
            Self::Passport => "HC",
            Self::Mst => "MST",
            Self::BudgetUnit => "MNS",
        }
    }

    /// The kind with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// A validated identifier in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identifier {
    /// Its kind.
    pub kind: IdentifierKind,
    /// Its canonical value.
    pub value: String,
}

/// Whether the account is a person's or an enterprise's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectType {
    /// A person, keyed by CCCD (or CMND).
    Citizen,
    /// An enterprise or branch, keyed by MST.
    Organization,
}

impl SubjectType {
    /// `citizen` or `organization`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Citizen => "citizen",
            Self::Organization => "organization",
        }
    }

    /// The type with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "citizen" => Some(Self::Citizen),
            "organization" => Some(Self::Organization),
            _ => None,
        }
    }
}

/// The identity preview of design §4 (`subject`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// Citizen or organization.
    #[serde(rename = "type")]
    pub subject_type: SubjectType,
    /// The account key.
    pub identifier: Identifier,
    /// Every other personal identifier, each checked for duplicates at registration.
    pub aliases: Vec<Identifier>,
    /// The holder's name (the subject CN).
    pub full_name: String,
    /// The organization (subject O) when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// An email address from the certificate, if it carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_in_cert: Option<String>,
}

/// Why no identity could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// Nothing in the certificate can key an account.
    #[error("{0}")]
    NoIdentity(String),
    /// An identifier is malformed, or the certificate's identifiers contradict each other.
    #[error("{0}")]
    InvalidIdentifier(String),
}

impl IdentityError {
    /// The stable code of design §6.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NoIdentity(_) => ErrorCode::NoIdentity,
            Self::InvalidIdentifier(_) => ErrorCode::InvalidIdentifier,
        }
    }
}

impl From<IdentityError> for Rejection {
    fn from(e: IdentityError) -> Self {
        Rejection::new(e.code(), e.to_string())
    }
}

/// Parses one raw claim (`CCCD`/`CMND`/… plus its value) into a validated identifier.
/// `current_year` bounds CCCD birth years.
pub fn parse_claim(
    kind: &str,
    value: &str,
    current_year: i32,
) -> Result<Option<Identifier>, IdentityError> {
    let value = value.trim();
    let ident = |kind, value: &str| {
        Ok(Some(Identifier {
            kind,
            value: value.to_owned(),
        }))
    };
    let cccd =
        |v: &str| validate_cccd(v, current_year).and_then(|()| ident(IdentifierKind::Cccd, v));
    match kind.trim().to_ascii_uppercase().as_str() {
        "CCCD" => cccd(value),
        // A 12-digit value labelled CMND is a CCCD (design §5).
        "CMND" if value.len() == 12 => cccd(value),
        "CMND" => validate_cmnd(value).and_then(|()| ident(IdentifierKind::Cmnd, value)),
        // A 12-digit MST is a personal tax code, which is the CCCD.
        "MST" if value.len() == 12 => cccd(value),
        "MST" => ident(IdentifierKind::Mst, &canonical_mst(value)?),
        "HC" => {
            let upper = value.to_ascii_uppercase();
            if (6..=12).contains(&upper.len()) && upper.bytes().all(|b| b.is_ascii_alphanumeric()) {
                ident(IdentifierKind::Passport, &upper)
            } else {
                Err(IdentityError::InvalidIdentifier(format!(
                    "HC {value:?}: not a passport number"
                )))
            }
        }
        "MNS" => {
            if value.len() == 7 && cccd::all_digits(value) {
                ident(IdentifierKind::BudgetUnit, value)
            } else {
                Err(IdentityError::InvalidIdentifier(format!(
                    "MNS {value:?}: must be 7 digits"
                )))
            }
        }
        _ => Ok(None),
    }
}

/// Reads the holder's identity from a certificate. `current_year` is the year of the
/// verification time (a parameter so that tests control it).
pub fn extract_subject(
    cert: &X509Certificate<'_>,
    current_year: i32,
) -> Result<Subject, IdentityError> {
    let claims = claims_of(cert);
    // Skipped, an unreadable identifier attribute could hide a second, different CCCD
    // beside the one read: the ambiguity rule would not see it.
    if claims.unreadable_identifier {
        return Err(IdentityError::InvalidIdentifier(
            "an identifier attribute (UID, serialNumber or organizationIdentifier) is not \
             readable text"
                .into(),
        ));
    }
    let mut identifiers = Vec::new();
    for claim in &claims.identifiers {
        if let Some(id) = parse_claim(&claim.kind, &claim.value, current_year)?
            && !identifiers.contains(&id)
        {
            identifiers.push(id);
        }
    }
    let of_kind = |k: IdentifierKind| identifiers.iter().filter(move |i| i.kind == k);
    let single = |k: IdentifierKind| -> Result<Option<Identifier>, IdentityError> {
        let mut it = of_kind(k);
        match (it.next(), it.next()) {
            (Some(_), Some(_)) => Err(IdentityError::InvalidIdentifier(format!(
                "the certificate carries two different {} values",
                k.as_str()
            ))),
            (one, None) => Ok(one.cloned()),
            (None, Some(_)) => Ok(None),
        }
    };
    let personal = identifiers.iter().any(|i| i.kind.is_personal());
    let (subject_type, key) = if personal {
        let key = match single(IdentifierKind::Cccd)? {
            Some(k) => k,
            None => single(IdentifierKind::Cmnd)?.ok_or_else(|| {
                IdentityError::NoIdentity(
                    "the certificate names a person but carries neither CCCD nor CMND".into(),
                )
            })?,
        };
        (SubjectType::Citizen, key)
    } else {
        let key = single(IdentifierKind::Mst)?.ok_or_else(|| {
            IdentityError::NoIdentity("the certificate carries no CCCD, CMND or MST".into())
        })?;
        (SubjectType::Organization, key)
    };
    let aliases = identifiers
        .iter()
        .filter(|i| i.kind.is_personal() == personal && **i != key)
        .cloned()
        .collect();
    let full_name = claims
        .common_name
        .clone()
        .or_else(|| claims.organization.clone());
    Ok(Subject {
        subject_type,
        identifier: key,
        aliases,
        full_name: full_name.unwrap_or_default(),
        organization: claims.organization.clone().or_else(|| match subject_type {
            SubjectType::Organization => claims.common_name.clone(),
            SubjectType::Citizen => None,
        }),
        email_in_cert: claims.email,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kind: &str, value: &str) -> Identifier {
        parse_claim(kind, value, 2026).unwrap().unwrap()
    }

    #[test]
    fn prefixes_map_to_kinds() {
        assert_eq!(ok("CCCD", "001090012345").kind, IdentifierKind::Cccd);
        assert_eq!(ok("cmnd", " 012345678 ").kind, IdentifierKind::Cmnd);
        assert_eq!(ok("CMND", "001090012345").kind, IdentifierKind::Cccd);
        assert_eq!(ok("MST", "001090012345").kind, IdentifierKind::Cccd);
        assert_eq!(
            ok("MST", "0301519977029"),
            Identifier {
                kind: IdentifierKind::Mst,
                value: "0301519977-029".into()
            }
        );
        assert_eq!(ok("HC", "c1234567").value, "C1234567");
        assert_eq!(ok("MNS", "1234567").kind, IdentifierKind::BudgetUnit);
        assert_eq!(parse_claim("EMAIL", "x@y", 2026), Ok(None));
    }

    #[test]
    fn malformed_values_are_invalid_identifiers() {
        for (k, v) in [
            ("CCCD", "003090012345"),
            ("CCCD", "012345678"),
            ("CMND", "1234567890"),
            ("MST", "0100112438"),
            ("MST", "12345"),
            ("HC", "C-123"),
            ("MNS", "12"),
        ] {
            let e = parse_claim(k, v, 2026).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidIdentifier, "{k}:{v}");
        }
    }
}
