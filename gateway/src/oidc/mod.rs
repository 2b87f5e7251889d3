//! kyso as the OpenID Provider of portals (design §12): a provincial or ministry portal
//! sends the person here, the person logs in on kyso's page with the USB token or the
//! signing SIM and consents, and the portal receives an ES256-signed ID token with the
//! assurance (`acr`), the method (`amr`) and the claims of the scopes it was granted.
//!
//! - [`request`]: the authorization request, checked in the order that decides where an
//!   error may be sent;
//! - [`client`]: the portals and client authentication at the token endpoint;
//! - [`claims`]: `sub` (pairwise by default), `acr`, `amr`, and the scopes' claims;
//! - [`jose`] (from `kyso-proto`, where it is fuzzed): base64url, ES256 JWS, JWK and
//!   thumbprints, client assertion checks;
//! - [`provider`]: the use cases — authorize, consent, token, userinfo;
//! - [`logout`]: RP-initiated logout, back-channel logout tokens, withdrawing consent.
//!
//! Its configuration, `[oidc]` and the portals it declares, is
//! [`crate::config::oidc`]. What it stores (grants, consents, used client assertions) goes through
//! [`crate::store::OidcStore`]; browser sessions are the gateway's login sessions.

pub mod claims;
pub mod client;
pub mod logout;
pub mod provider;
pub mod request;

pub use crate::config::oidc::OidcConfig;
pub use kyso_proto::jose;
pub use logout::Logout;
pub use provider::{Authorize, ConsentScreen, OAuthError, Provider};
