//! What the OpenID Provider keeps: grants (an authorization code and the access token it
//! gives) and consents (what a person agreed a portal receives).

use super::Method;
use time::OffsetDateTime;

/// What one authorization code stands for: who logged in to which portal, how, and what
/// the token request must repeat (redirect URI, PKCE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The portal.
    pub client_id: String,
    /// The account.
    pub account_id: String,
    /// The redirect URI of the authorization request, which the token request repeats.
    pub redirect_uri: String,
    /// The scopes granted.
    pub scopes: Vec<String>,
    /// The portal's nonce, returned in the ID token.
    pub nonce: Option<String>,
    /// The PKCE S256 challenge, when the portal sent one.
    pub code_challenge: Option<String>,
    /// When the person proved who they are.
    pub auth_time: OffsetDateTime,
    /// How.
    pub method: Method,
    /// End of the code's life.
    pub code_expires_at: OffsetDateTime,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeemed {
    /// The code was live and is now used; its grant.
    Granted(Grant),
    /// The code had been redeemed before: the access token it gave is now revoked.
    Reused,
    /// No live code has this hash.
    Unknown,
}

/// A person's consent for one portal: a linked portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    /// The portal.
    pub client_id: String,
    /// The scopes it receives.
    pub scopes: Vec<String>,
    /// When consent was (last) given.
    pub granted_at: OffsetDateTime,
}
