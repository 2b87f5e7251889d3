//! The HTTP API's request and response bodies (design §4): wire types of their own, so
//! the API's shape is decided here, in one place, and neither the domain nor the stored
//! records can change it by accident. Each response type is built from the domain value
//! it shows.

use crate::domain::{Account, Challenge, Preview, Purpose, SessionIssued};
use crate::sim::{SimStarted, SimView};
use kyso_proto::webeid::AuthToken;
use kyso_verify::certificate::CertificateFacts;
use kyso_verify::error::ErrorCode;
use kyso_verify::identity::{Identifier, Subject, SubjectType};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// An RFC 9457 problem document: every refusal, whatever the route.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemDocument {
    /// `urn:kyso:error:` and the code.
    #[serde(rename = "type")]
    #[schema(example = "urn:kyso:error:CHALLENGE_NOT_FOUND")]
    pub problem_type: String,
    /// The code's title in Vietnamese (the page shows its own translation).
    pub title: &'static str,
    /// The HTTP status, repeated.
    #[schema(example = 404)]
    pub status: u16,
    /// The stable code clients act on.
    #[schema(schema_with = error_code_schema)]
    pub code: &'static str,
    /// What exactly was wrong, in English; never a secret.
    pub detail: String,
    /// The request's `X-Request-Id`, to quote to an operator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// The `code` property: one of the table's wire names.
fn error_code_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(ErrorCode::ALL.iter().map(|c| c.as_str())))
        .description(Some("A code of the gateway's error table."))
        .build()
}

/// The forms of a Vietnamese mobile number the gateway reads: `0`, `84` or `+84` and nine
/// digits, spaces, dots and hyphens anywhere between them, spaces around (which first
/// digits are mobile is checked beyond this).
fn phone_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .pattern(Some(
            r"^\s*[ .-]*(\+[ .-]*8[ .-]*4|8[ .-]*4|0)([ .-]*[0-9]){9}[ .-]*\s*$",
        ))
        .examples(["0912345678", "+84912345678"])
        .description(Some(
            "A Vietnamese mobile number: `0912…`, `84912…` or `+84912…`.",
        ))
        .build()
}

/// [`phone_schema`], or null.
fn optional_phone_schema() -> utoipa::openapi::Schema {
    utoipa::openapi::schema::OneOfBuilder::new()
        .item(phone_schema())
        .item(utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::Type::Null))
        .into()
}

/// `/healthz` and `/readyz` when all is well.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusBody {
    /// `ok` (live) or `ready`.
    pub status: &'static str,
}

/// What a challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PurposeBody {
    /// Registering a new account.
    Register,
    /// Logging in.
    Login,
}

impl From<PurposeBody> for Purpose {
    fn from(p: PurposeBody) -> Self {
        match p {
            PurposeBody::Register => Purpose::Register,
            PurposeBody::Login => Purpose::Login,
        }
    }
}

/// A citizen's or an organization's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SubjectTypeBody {
    /// A person, keyed by CCCD (or CMND).
    Citizen,
    /// An enterprise or branch, keyed by MST.
    Organization,
}

impl From<SubjectTypeBody> for SubjectType {
    fn from(t: SubjectTypeBody) -> Self {
        match t {
            SubjectTypeBody::Citizen => SubjectType::Citizen,
            SubjectTypeBody::Organization => SubjectType::Organization,
        }
    }
}

impl From<SubjectType> for SubjectTypeBody {
    fn from(t: SubjectType) -> Self {
        match t {
            SubjectType::Citizen => SubjectTypeBody::Citizen,
            SubjectType::Organization => SubjectTypeBody::Organization,
        }
    }
}

/// `POST /v1/challenges` request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// `register` or `login`.
    pub purpose: PurposeBody,
}

/// `POST /v1/challenges` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeResponse {
    /// Id to send back with the signed token.
    #[schema(example = "yDq3o2b3Qk6cO1d8Zr7uVw")]
    pub challenge_id: String,
    /// What to sign (standard base64 of 32 random bytes, 44 characters).
    #[schema(
        example = "k0Ff3F8pJ2s7gQnV9h5mC1xYbR4tLwE6aZ0uDiKoSjM=",
        min_length = 44,
        max_length = 44
    )]
    pub nonce: String,
    /// The origin the signature must bind.
    #[schema(example = "https://dichvucong.example.vn")]
    pub origin: String,
    /// End of its life.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<Challenge> for ChallengeResponse {
    fn from(c: Challenge) -> Self {
        Self {
            challenge_id: c.id,
            nonce: c.nonce,
            origin: c.origin,
            expires_at: c.expires_at,
        }
    }
}

/// `POST /v1/registrations/token` request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRegistrationRequest {
    /// The `register` challenge.
    #[schema(example = "yDq3o2b3Qk6cO1d8Zr7uVw")]
    pub challenge_id: String,
    /// The Web eID 1.0 token the agent made.
    pub auth_token: AuthToken,
    /// Intermediate CA certificates (standard base64 DER, at most 4).
    #[serde(default)]
    #[schema(max_items = 4)]
    pub intermediates: Vec<String>,
    /// The account type asked for.
    pub subject_type: Option<SubjectTypeBody>,
}

/// `POST /v1/sessions/token` request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenLoginRequest {
    /// The `login` challenge.
    pub challenge_id: String,
    /// The Web eID 1.0 token the agent made.
    pub auth_token: AuthToken,
    /// Intermediate CA certificates (standard base64 DER, at most 4), as at registration.
    #[serde(default)]
    #[schema(max_items = 4)]
    pub intermediates: Vec<String>,
}

/// `POST /v1/registrations/{ticket}/confirm` request.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// Required for organizations.
    #[schema(example = "ketoan@congty.example.vn")]
    pub email: Option<String>,
    /// Vietnamese mobile number, any accepted form.
    #[schema(schema_with = optional_phone_schema)]
    pub phone: Option<String>,
}

/// `POST /v1/registrations/sim` request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimRegistrationRequest {
    /// The phone, `0912…`, `84912…` or `+84912…`.
    #[schema(schema_with = phone_schema)]
    pub phone: String,
    /// The account type asked for.
    pub subject_type: Option<SubjectTypeBody>,
}

/// `POST /v1/sessions/sim` request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SimLoginRequest {
    /// The phone.
    #[schema(schema_with = phone_schema)]
    pub phone: String,
}

/// A typed identifier, e.g. `{"kind": "CCCD", "value": "001090012345"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentifierBody {
    /// `CCCD`, `CMND`, `MST`, `HC` or `MNS`.
    #[schema(example = "CCCD")]
    pub kind: &'static str,
    /// The canonical value.
    #[schema(example = "001090012345")]
    pub value: String,
}

impl From<&Identifier> for IdentifierBody {
    fn from(i: &Identifier) -> Self {
        Self {
            kind: i.kind.as_str(),
            value: i.value.clone(),
        }
    }
}

/// Who the certificate proves (design §4 `subject`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectBody {
    /// `citizen` or `organization`.
    #[serde(rename = "type")]
    pub subject_type: SubjectTypeBody,
    /// The account key.
    pub identifier: IdentifierBody,
    /// Every other personal identifier.
    pub aliases: Vec<IdentifierBody>,
    /// The holder's name.
    pub full_name: String,
    /// The organization, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// An email address from the certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_in_cert: Option<String>,
}

impl From<&Subject> for SubjectBody {
    fn from(s: &Subject) -> Self {
        Self {
            subject_type: s.subject_type.into(),
            identifier: (&s.identifier).into(),
            aliases: s.aliases.iter().map(Into::into).collect(),
            full_name: s.full_name.clone(),
            organization: s.organization.clone(),
            email_in_cert: s.email_in_cert.clone(),
        }
    }
}

/// The certificate that proved an identity (design §4 `certificate`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CertificateBody {
    /// Subject DN for display.
    pub subject: String,
    /// Issuer DN for display.
    pub issuer: String,
    /// Serial number, lowercase hex.
    pub serial: String,
    /// notBefore.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// notAfter.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// SHA-256 of the DER, lowercase hex.
    pub fingerprint_sha256: String,
    /// `RSA-2048`, `EC-P256`, …
    pub key: String,
    /// e.g. `sha256WithRSAEncryption`.
    pub signature_algorithm: String,
    /// keyUsage bits that are set.
    pub key_usage: Vec<String>,
    /// extendedKeyUsage purposes.
    pub extended_key_usage: Vec<String>,
    /// Whether basicConstraints says CA.
    pub is_ca: bool,
    /// OCSP responder URLs.
    pub ocsp_urls: Vec<String>,
    /// Issuer certificate URLs.
    pub ca_issuers_urls: Vec<String>,
    /// CRL URLs.
    pub crl_urls: Vec<String>,
}

impl From<CertificateFacts> for CertificateBody {
    fn from(f: CertificateFacts) -> Self {
        Self {
            subject: f.subject,
            issuer: f.issuer,
            serial: f.serial,
            not_before: f.not_before,
            not_after: f.not_after,
            fingerprint_sha256: f.fingerprint_sha256,
            key: f.key,
            signature_algorithm: f.signature_algorithm,
            key_usage: f.key_usage,
            extended_key_usage: f.extended_key_usage,
            is_ca: f.is_ca,
            ocsp_urls: f.ocsp_urls,
            ca_issuers_urls: f.ca_issuers_urls,
            crl_urls: f.crl_urls,
        }
    }
}

/// The identity preview with its ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewResponse {
    /// Single-use ticket for the confirmation.
    pub ticket: String,
    /// The identity.
    pub subject: SubjectBody,
    /// The certificate.
    pub certificate: CertificateBody,
    /// Always 3.
    pub ial: u8,
    /// End of the ticket's life.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<Preview> for PreviewResponse {
    fn from(p: Preview) -> Self {
        Self {
            ticket: p.ticket,
            subject: (&p.subject).into(),
            certificate: p.certificate.into(),
            ial: crate::domain::IAL,
            expires_at: p.expires_at,
        }
    }
}

/// `POST /v1/registrations/{ticket}/confirm` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountCreatedResponse {
    /// The new account's id.
    pub account_id: String,
    /// Its identity.
    pub subject: SubjectBody,
    /// 3.
    pub ial: u8,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Account> for AccountCreatedResponse {
    fn from(a: Account) -> Self {
        Self {
            account_id: a.id,
            subject: (&a.subject).into(),
            ial: a.ial,
            created_at: a.created_at,
        }
    }
}

/// An account (`GET /v1/accounts/me`, and in a login).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountBody {
    /// Account id.
    pub id: String,
    /// Its identity.
    pub subject: SubjectBody,
    /// Contact email.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Contact phone (E.164).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// 3.
    pub ial: u8,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Account> for AccountBody {
    fn from(a: Account) -> Self {
        Self {
            subject: (&a.subject).into(),
            id: a.id,
            email: a.email,
            phone: a.phone,
            ial: a.ial,
            created_at: a.created_at,
        }
    }
}

/// A login.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// Bearer token for `GET /v1/accounts/me`; shown once.
    pub session_token: String,
    /// The account.
    pub account: AccountBody,
    /// End of the session.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<SessionIssued> for SessionResponse {
    fn from(s: SessionIssued) -> Self {
        Self {
            session_token: s.session_token,
            account: s.account.into(),
            expires_at: s.expires_at,
        }
    }
}

/// `POST /v1/registrations/sim` and `/v1/sessions/sim` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct SimStartedResponse {
    /// Id to read the result with.
    pub session_id: String,
    /// The code the phone shows too.
    #[schema(example = "4821", pattern = "^[0-9]{4}$")]
    pub verification_code: String,
    /// The person must answer by then.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl From<SimStarted> for SimStartedResponse {
    fn from(s: SimStarted) -> Self {
        Self {
            session_id: s.session_id,
            verification_code: s.verification_code,
            expires_at: s.expires_at,
        }
    }
}

/// `GET /v1/registrations/sim/{id}` and `/v1/sessions/sim/{id}` answer (failures are
/// problem documents).
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum SimStateResponse {
    /// Waiting for the person.
    Pending(SimStartedResponse),
    /// Done: `result` is always `OK` (failures are refusals).
    Complete {
        /// `OK`.
        #[schema(example = "OK")]
        result: &'static str,
        /// The session.
        session_id: String,
        /// The registration preview, or the login.
        #[serde(flatten)]
        outcome: Box<SimCompleteBody>,
    },
}

/// What a successful SIM session gives the browser.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SimCompleteBody {
    /// Registration: confirm with the ticket.
    Registered(Box<PreviewResponse>),
    /// Login.
    LoggedIn(Box<SessionResponse>),
}

impl From<SimView> for SimStateResponse {
    fn from(v: SimView) -> Self {
        match v {
            SimView::Pending(started) => Self::Pending(started.into()),
            SimView::Registered {
                session_id,
                preview,
            } => Self::Complete {
                result: "OK",
                session_id,
                outcome: Box::new(SimCompleteBody::Registered(Box::new((*preview).into()))),
            },
            SimView::LoggedIn {
                session_id,
                session,
            } => Self::Complete {
                result: "OK",
                session_id,
                outcome: Box::new(SimCompleteBody::LoggedIn(Box::new((*session).into()))),
            },
        }
    }
}

/// A portal the account is linked to: it signed in with this account and the person
/// consented to what it receives.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedPortal {
    /// The portal's `client_id`.
    #[schema(example = "dvc-tinh-a")]
    pub client_id: String,
    /// Its name.
    #[schema(example = "Cổng Dịch vụ công tỉnh A")]
    pub name: String,
    /// The scopes it was granted.
    pub scopes: Vec<String>,
    /// The claims those scopes release.
    pub claims: Vec<String>,
    /// When consent was (last) given.
    #[serde(with = "time::serde::rfc3339")]
    pub linked_at: OffsetDateTime,
}

/// `GET /v1/accounts/me/portals`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkedPortalsResponse {
    /// Oldest link first; empty when none (or when the gateway is no OpenID Provider).
    pub portals: Vec<LinkedPortal>,
}

impl LinkedPortal {
    /// The wire form of a consent and its portal's name.
    pub fn of(consent: crate::domain::oidc::Consent, name: String) -> Self {
        let claims = consent
            .scopes
            .iter()
            .flat_map(|s| crate::oidc::claims::claims_of_scope(s).iter())
            .map(|c| (*c).to_owned())
            .collect();
        Self {
            client_id: consent.client_id,
            name,
            scopes: consent.scopes,
            claims,
            linked_at: consent.granted_at,
        }
    }
}
