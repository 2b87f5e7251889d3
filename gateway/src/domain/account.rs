//! Accounts and login sessions.

use super::registration::Method;
use kyso_verify::identity::{Identifier, Subject};
use time::OffsetDateTime;

/// An IAL3 account, keyed by the identity its certificate proved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Account id (`acc_…`).
    pub id: String,
    /// Citizen or organization, key, aliases, names.
    pub subject: Subject,
    /// Contact email, if given.
    pub email: Option<String>,
    /// Contact phone (E.164), if given.
    pub phone: Option<String>,
    /// Identity assurance level: 3 for certificate-proven accounts.
    pub ial: u8,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

impl Account {
    /// The account key and every alias: all of them belong to this account alone.
    pub fn identifiers(&self) -> Vec<Identifier> {
        identifiers_of(&self.subject)
    }
}

/// The key and every alias of a subject, key first: all are checked for an account.
pub fn identifiers_of(subject: &Subject) -> Vec<Identifier> {
    std::iter::once(subject.identifier.clone())
        .chain(subject.aliases.iter().cloned())
        .collect()
}

/// A login: the bearer token (shown once, stored only as a hash) and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionIssued {
    /// Bearer token for `GET /v1/accounts/me`.
    pub session_token: String,
    /// The account logged in to.
    pub account: Account,
    /// End of the session.
    pub expires_at: OffsetDateTime,
}

/// A login session to store: the token's hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// [`bearer_hash`] of the bearer token.
    pub token_hash: String,
    /// The account logged in to.
    pub account_id: String,
    /// How the person proved who they are (the portals' `amr`).
    pub method: Method,
    /// When the proof was made (the portals' `auth_time`): for a signing SIM, when its
    /// signature was judged, which may be minutes before the page took the session.
    pub proved_at: OffsetDateTime,
    /// End of the session.
    pub expires_at: OffsetDateTime,
}

/// A live login session as read back: whose, since when and how proven (what the OpenID
/// Provider tells portals as `auth_time` and `amr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLogin {
    /// The account.
    pub account: Account,
    /// When the proof was made.
    pub auth_time: OffsetDateTime,
    /// How.
    pub method: Method,
}

/// The SHA-256 (hex) under which a bearer credential is stored — a session token, a
/// registration ticket, a signing-SIM session id, an authorization code or access token
/// — and looked up: a stolen database (a backup, a replica) opens nothing.
pub fn bearer_hash(token: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        token.as_bytes(),
    ))
}
