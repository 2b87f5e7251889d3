//! The JSON the store keeps inside rows (`accounts.subject_json`, `tickets.payload`,
//! `sim_sessions.outcome`, `oidc_grants.payload`), as versioned records of their own: renaming a field of the
//! API or of a domain type cannot silently make stored rows unreadable, and a change of
//! shape is a new version read beside the old one.
//!
//! Every record carries `"v": 1`. Rows written before records were versioned have no
//! `v` and the same shape as version 1, except SIM registration outcomes, which then
//! held the certificate's facts rather than its DER: such a row (at most a day old, see
//! `purge_expired`) reads as unreadable and its session as `STORAGE_UNAVAILABLE`.

use super::StoreError;
use crate::domain::oidc::Grant;
use crate::domain::registration::Method;
use crate::domain::{CertificateRecord, Evidence, Login, Registration, SimOutcome, Ticket};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_verify::error::ErrorCode;
use kyso_verify::identity::{Identifier, IdentifierKind, Subject, SubjectType};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The only version written.
const VERSION: u32 = 1;

fn version_one() -> u32 {
    VERSION
}

/// A record and its version.
#[derive(Serialize, Deserialize)]
struct Versioned<T> {
    #[serde(default = "version_one")]
    v: u32,
    #[serde(flatten)]
    body: T,
}

fn corrupt(what: &'static str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what,
        detail: detail.to_string(),
    }
}

fn encode<T: Serialize>(body: T) -> Result<String, StoreError> {
    serde_json::to_string(&Versioned { v: VERSION, body }).map_err(|e| corrupt("record", e))
}

fn decode<T: for<'de> Deserialize<'de>>(what: &'static str, text: &str) -> Result<T, StoreError> {
    let record: Versioned<T> = serde_json::from_str(text).map_err(|e| corrupt(what, e))?;
    if record.v != VERSION {
        return Err(corrupt(what, format!("unknown version {}", record.v)));
    }
    Ok(record.body)
}

#[derive(Serialize, Deserialize)]
struct IdentifierV1 {
    kind: String,
    value: String,
}

impl From<&Identifier> for IdentifierV1 {
    fn from(i: &Identifier) -> Self {
        Self {
            kind: i.kind.as_str().to_owned(),
            value: i.value.clone(),
        }
    }
}

impl IdentifierV1 {
    fn into_domain(self) -> Result<Identifier, StoreError> {
        Ok(Identifier {
            kind: IdentifierKind::from_name(&self.kind)
                .ok_or_else(|| corrupt("identifier", format!("kind {:?}", self.kind)))?,
            value: self.value,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct SubjectV1 {
    #[serde(rename = "type")]
    subject_type: String,
    identifier: IdentifierV1,
    aliases: Vec<IdentifierV1>,
    full_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email_in_cert: Option<String>,
}

impl From<&Subject> for SubjectV1 {
    fn from(s: &Subject) -> Self {
        Self {
            subject_type: s.subject_type.as_str().to_owned(),
            identifier: (&s.identifier).into(),
            aliases: s.aliases.iter().map(Into::into).collect(),
            full_name: s.full_name.clone(),
            organization: s.organization.clone(),
            email_in_cert: s.email_in_cert.clone(),
        }
    }
}

impl SubjectV1 {
    fn into_domain(self) -> Result<Subject, StoreError> {
        Ok(Subject {
            subject_type: SubjectType::from_name(&self.subject_type)
                .ok_or_else(|| corrupt("subject", format!("type {:?}", self.subject_type)))?,
            identifier: self.identifier.into_domain()?,
            aliases: self
                .aliases
                .into_iter()
                .map(IdentifierV1::into_domain)
                .collect::<Result<_, _>>()?,
            full_name: self.full_name,
            organization: self.organization,
            email_in_cert: self.email_in_cert,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct CertificateV1 {
    fingerprint: String,
    issuer: String,
    serial: String,
    #[serde(with = "time::serde::timestamp")]
    not_after: OffsetDateTime,
}

impl From<&CertificateRecord> for CertificateV1 {
    fn from(c: &CertificateRecord) -> Self {
        Self {
            fingerprint: c.fingerprint.clone(),
            issuer: c.issuer.clone(),
            serial: c.serial.clone(),
            not_after: c.not_after,
        }
    }
}

impl From<CertificateV1> for CertificateRecord {
    fn from(c: CertificateV1) -> Self {
        Self {
            fingerprint: c.fingerprint,
            issuer: c.issuer,
            serial: c.serial,
            not_after: c.not_after,
        }
    }
}

/// The evidence, binary fields in standard base64. Also the audit log's `evidence`.
#[derive(Serialize, Deserialize)]
pub(crate) struct EvidenceV1 {
    method: String,
    challenge_id: String,
    signed_data: String,
    signature: String,
    algorithm: String,
    certificate: String,
}

impl From<&Evidence> for EvidenceV1 {
    fn from(e: &Evidence) -> Self {
        Self {
            method: e.method.as_str().to_owned(),
            challenge_id: e.challenge_id.clone(),
            signed_data: STANDARD.encode(&e.signed_data),
            signature: STANDARD.encode(&e.signature),
            algorithm: e.algorithm.clone(),
            certificate: STANDARD.encode(&e.certificate),
        }
    }
}

impl EvidenceV1 {
    fn into_domain(self) -> Result<Evidence, StoreError> {
        let b64 = |field: &str| STANDARD.decode(field).map_err(|e| corrupt("evidence", e));
        Ok(Evidence {
            method: Method::from_name(&self.method)
                .ok_or_else(|| corrupt("evidence", format!("method {:?}", self.method)))?,
            challenge_id: self.challenge_id,
            signed_data: b64(&self.signed_data)?,
            signature: b64(&self.signature)?,
            algorithm: self.algorithm,
            certificate: b64(&self.certificate)?,
        })
    }
}

/// The evidence as the audit log keeps it (JSON, binary fields in base64).
pub fn evidence_json(e: &Evidence) -> serde_json::Value {
    serde_json::to_value(EvidenceV1::from(e)).unwrap_or_default()
}

/// `accounts.subject_json`.
pub fn encode_subject(s: &Subject) -> Result<String, StoreError> {
    encode(SubjectV1::from(s))
}

/// Reads `accounts.subject_json`.
pub fn decode_subject(text: &str) -> Result<Subject, StoreError> {
    decode::<SubjectV1>("subject", text)?.into_domain()
}

#[derive(Serialize, Deserialize)]
struct TicketV1 {
    id: String,
    #[serde(with = "time::serde::timestamp")]
    expires_at: OffsetDateTime,
    subject: SubjectV1,
    certificate: CertificateV1,
    evidence: EvidenceV1,
}

/// `tickets.payload`.
pub fn encode_ticket(t: &Ticket) -> Result<String, StoreError> {
    encode(TicketV1 {
        id: t.id.clone(),
        expires_at: t.expires_at,
        subject: (&t.subject).into(),
        certificate: (&t.certificate).into(),
        evidence: (&t.evidence).into(),
    })
}

/// Reads `tickets.payload`.
pub fn decode_ticket(text: &str) -> Result<Ticket, StoreError> {
    let t: TicketV1 = decode("ticket", text)?;
    Ok(Ticket {
        id: t.id,
        expires_at: t.expires_at,
        subject: t.subject.into_domain()?,
        certificate: t.certificate.into(),
        evidence: t.evidence.into_domain()?,
    })
}

/// `oidc_grants.payload`: what the token request must match and the ID token tells.
#[derive(Serialize, Deserialize)]
struct GrantV1 {
    redirect_uri: String,
    scopes: Vec<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    #[serde(with = "time::serde::timestamp")]
    auth_time: OffsetDateTime,
    method: String,
}

/// `oidc_grants.payload` of `g` (its client, account and expiry are columns).
pub fn encode_grant(g: &Grant) -> Result<String, StoreError> {
    encode(GrantV1 {
        redirect_uri: g.redirect_uri.clone(),
        scopes: g.scopes.clone(),
        nonce: g.nonce.clone(),
        code_challenge: g.code_challenge.clone(),
        auth_time: g.auth_time,
        method: g.method.as_str().to_owned(),
    })
}

/// Reads a grant back from its columns and `oidc_grants.payload`.
pub fn decode_grant(
    client_id: String,
    account_id: String,
    code_expires_at: OffsetDateTime,
    payload: &str,
) -> Result<Grant, StoreError> {
    let g: GrantV1 = decode("grant", payload)?;
    Ok(Grant {
        client_id,
        account_id,
        redirect_uri: g.redirect_uri,
        scopes: g.scopes,
        nonce: g.nonce,
        code_challenge: g.code_challenge,
        auth_time: g.auth_time,
        method: Method::from_name(&g.method)
            .ok_or_else(|| corrupt("grant", format!("method {:?}", g.method)))?,
        code_expires_at,
    })
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum OutcomeV1 {
    /// Rows written before tickets were stored by hash also hold the ticket as issued;
    /// it is not read.
    Registered {
        subject: SubjectV1,
        /// Standard base64 DER.
        certificate: String,
        #[serde(with = "time::serde::timestamp")]
        ticket_expires_at: OffsetDateTime,
    },
    LoggedIn {
        account_id: String,
        certificate: CertificateV1,
        evidence: EvidenceV1,
    },
    Refused {
        code: String,
        detail: String,
    },
}

/// `sim_sessions.outcome`.
pub fn encode_outcome(o: &SimOutcome) -> Result<String, StoreError> {
    encode(match o {
        SimOutcome::Registered(r) => OutcomeV1::Registered {
            subject: (&r.subject).into(),
            certificate: STANDARD.encode(&r.certificate),
            ticket_expires_at: r.ticket_expires_at,
        },
        SimOutcome::LoggedIn(l) => OutcomeV1::LoggedIn {
            account_id: l.account_id.clone(),
            certificate: (&l.certificate).into(),
            evidence: (&l.evidence).into(),
        },
        SimOutcome::Refused { code, detail } => OutcomeV1::Refused {
            code: code.as_str().to_owned(),
            detail: detail.clone(),
        },
    })
}

/// Reads `sim_sessions.outcome`.
pub fn decode_outcome(text: &str) -> Result<SimOutcome, StoreError> {
    Ok(match decode("SIM outcome", text)? {
        OutcomeV1::Registered {
            subject,
            certificate,
            ticket_expires_at,
        } => SimOutcome::Registered(Box::new(Registration {
            subject: subject.into_domain()?,
            certificate: STANDARD
                .decode(certificate)
                .map_err(|e| corrupt("SIM outcome", e))?,
            ticket_expires_at,
        })),
        OutcomeV1::LoggedIn {
            account_id,
            certificate,
            evidence,
        } => SimOutcome::LoggedIn(Box::new(Login {
            account_id,
            certificate: certificate.into(),
            evidence: evidence.into_domain()?,
        })),
        OutcomeV1::Refused { code, detail } => SimOutcome::Refused {
            code: ErrorCode::from_name(&code)
                .ok_or_else(|| corrupt("SIM outcome", format!("code {code:?}")))?,
            detail,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject() -> Subject {
        Subject {
            subject_type: SubjectType::Citizen,
            identifier: Identifier {
                kind: IdentifierKind::Cccd,
                value: "001090012345".into(),
            },
            aliases: vec![Identifier {
                kind: IdentifierKind::Cmnd,
                value: "012345678".into(),
            }],
            full_name: "Nguyễn Văn An".into(),
            organization: None,
            email_in_cert: Some("an@example.vn".into()),
        }
    }

    #[test]
    fn records_round_trip_and_carry_their_version() {
        let s = subject();
        let text = encode_subject(&s).unwrap();
        assert!(text.contains("\"v\":1"), "{text}");
        assert_eq!(decode_subject(&text).unwrap(), s);
        let refused = SimOutcome::Refused {
            code: ErrorCode::CertRevoked,
            detail: "revoked".into(),
        };
        assert_eq!(
            decode_outcome(&encode_outcome(&refused).unwrap()).unwrap(),
            refused
        );
    }

    /// A row written before records were versioned: the subject as the API showed it.
    #[test]
    fn unversioned_rows_of_the_same_shape_read_as_version_one() {
        let legacy = r#"{"type":"organization","identifier":{"kind":"MST","value":"0100112437"},"aliases":[],"full_name":"Công ty A","organization":"Công ty A"}"#;
        let s = decode_subject(legacy).unwrap();
        assert_eq!(s.subject_type, SubjectType::Organization);
        assert_eq!(s.identifier.kind, IdentifierKind::Mst);
    }

    #[test]
    fn unknown_versions_and_values_are_corrupt_not_guessed() {
        let v2 = encode_subject(&subject())
            .unwrap()
            .replace("\"v\":1", "\"v\":2");
        assert!(matches!(
            decode_subject(&v2),
            Err(StoreError::Corrupt { .. })
        ));
        let bad_kind = encode_subject(&subject()).unwrap().replace("CMND", "XYZ");
        assert!(decode_subject(&bad_kind).is_err());
    }
}
