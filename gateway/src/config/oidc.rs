//! `[oidc]`: the provider's keys and secrets, lifetimes, and the portals (clients) it
//! serves, declared in configuration (design §12). Validated here, so a portal with an
//! unusable redirect URI or scope stops the gateway at start-up, not at a person's login.

use super::{ConfigError, Secret};
use serde::Deserialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// The scopes the provider knows. `vn_identity` carries the Vietnamese identifiers
/// (what each releases: `oidc::claims::claims_of_scope`).
pub const SCOPES: [&str; 5] = ["openid", "profile", "vn_identity", "email", "phone"];

/// Whether a portal sees a pairwise or the public subject identifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    /// Different per sector (the default).
    #[default]
    Pairwise,
    /// The account id, the same for every portal that asks for it.
    Public,
}

/// The OpenID Provider; absent, its endpoints answer 404.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer identifier: `public_origin`, the only value it may take (the provider's
    /// pages, the sign-in page and the challenges it signs are one site); kept so that a
    /// configuration naming it stays valid.
    #[serde(default)]
    pub issuer: Option<String>,
    /// P-256 private keys (PKCS#8 PEM files): the first signs, every one is published in
    /// the JWKS. Rotate by putting the new key first and dropping the old one once the
    /// tokens it signed have expired.
    pub signing_keys: Vec<PathBuf>,
    /// Keys the pairwise `sub` values: changing it changes every portal's view of every
    /// person, so it is set once and kept (at least 32 characters).
    pub pairwise_secret: Secret,
    /// Keys the CSRF tokens of the provider's forms (at least 32 characters); may change,
    /// which only spoils forms open at that moment.
    pub form_secret: Secret,
    /// Lifetime of an authorization code, seconds.
    #[serde(default = "default_code_ttl")]
    pub code_ttl_seconds: u32,
    /// Lifetime of ID and access tokens, seconds.
    #[serde(default = "default_token_ttl")]
    pub token_ttl_seconds: u32,
    /// The portals.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
}

/// `[[oidc.clients]]`: one portal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Its `client_id`.
    pub id: String,
    /// Its name as people know it, shown on the consent screen.
    pub name: String,
    /// Its secret for `client_secret_basic`.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// A JWK Set file of its public keys for `private_key_jwt`.
    #[serde(default)]
    pub jwks: Option<PathBuf>,
    /// Also accept the token endpoint's URL as its assertions' `aud`, as older libraries
    /// send it. Off by default: an assertion a portal made for another authorization
    /// server that named kyso's token endpoint as its own could then be replayed here
    /// (audience injection); the issuer is the one value no other server can claim.
    #[serde(default)]
    pub token_endpoint_audience: bool,
    /// Without a secret or keys the portal is public (a browser or native app) and must
    /// use PKCE; say so explicitly, so a forgotten secret is an error, not a public client.
    #[serde(default)]
    pub public: bool,
    /// Its redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Where it may ask to be sent after logout, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// The scopes it may ask for.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// `pairwise` (the default) or `public`.
    #[serde(default)]
    pub subject_type: SubjectKind,
    /// The sector its pairwise `sub` is computed for; defaults to the host of its
    /// redirect URIs (which must then share one host). Portals of one sector see the
    /// same `sub`.
    #[serde(default)]
    pub sector: Option<String>,
    /// Where logout tokens are posted when a person logs out or withdraws consent.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
}

fn default_code_ttl() -> u32 {
    60
}
fn default_token_ttl() -> u32 {
    600
}
fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into()]
}

/// `https://…`, or `http://` on a loopback host (a portal under test), with no fragment.
pub(crate) fn is_acceptable_uri(uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && url.host_str().is_some()
        && (url.scheme() == "https" || (url.scheme() == "http" && loopback))
}

impl OidcConfig {
    /// Checks what serde cannot: secrets long enough, clients unique and usable, and the
    /// issuer the gateway's own `public_origin`.
    pub fn check(&self, public_origin: &str) -> Result<(), ConfigError> {
        let bad = |key: String, why: &str| Err(ConfigError::invalid(key, why));
        // The provider's endpoints are at the root of the gateway's origin, and the pages
        // it sends people to (sign-in, consent, logout) check that their requests come
        // from that origin and sign challenges bound to it: another issuer would advertise
        // endpoints on a site where every sign-in fails. Compared exactly, as portals
        // compare it (OpenID Connect Discovery 1.0 §4.3).
        if let Some(issuer) = &self.issuer
            && issuer != public_origin
        {
            return bad(
                "oidc.issuer".into(),
                "must be the gateway's public_origin, spelled the same (or left out): the \
                 provider's endpoints and pages are served at that origin",
            );
        }
        if self.signing_keys.is_empty() {
            return bad(
                "oidc.signing_keys".into(),
                "at least one signing key is required",
            );
        }
        for (key, secret) in [
            ("oidc.pairwise_secret", &self.pairwise_secret),
            ("oidc.form_secret", &self.form_secret),
        ] {
            if secret.expose().len() < 32 {
                return bad(key.into(), "must be at least 32 characters");
            }
        }
        if self.code_ttl_seconds == 0 || self.code_ttl_seconds > 600 {
            return bad("oidc.code_ttl_seconds".into(), "must be 1 to 600 seconds");
        }
        if self.token_ttl_seconds == 0 || self.token_ttl_seconds > 86_400 {
            return bad(
                "oidc.token_ttl_seconds".into(),
                "must be 1 to 86400 seconds",
            );
        }
        let mut ids = HashSet::new();
        for (i, client) in self.clients.iter().enumerate() {
            client.check(&format!("oidc.clients[{i}]"))?;
            if !ids.insert(client.id.as_str()) {
                return bad(format!("oidc.clients[{i}].id"), "two clients have this id");
            }
        }
        Ok(())
    }

    pub(crate) fn relative_to(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.signing_keys.iter_mut().for_each(fix);
        for client in &mut self.clients {
            if let Some(jwks) = &mut client.jwks {
                fix(jwks);
            }
        }
    }
}

impl ClientConfig {
    fn check(&self, at: &str) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError::invalid(format!("{at}.{key}"), why));
        let printable =
            |s: &str| !s.is_empty() && s.len() <= 200 && s.chars().all(|c| c.is_ascii_graphic());
        if !printable(&self.id) {
            return bad("id", "must be 1 to 200 printable ASCII characters");
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 120 {
            return bad("name", "must be 1 to 120 characters");
        }
        let confidential = self.secret.is_some() || self.jwks.is_some();
        if confidential == self.public {
            return bad(
                "public",
                "a client has a secret or keys (confidential), or is declared public = true, not both and not neither",
            );
        }
        // One way to authenticate: with both, the weaker credential would decide.
        if self.secret.is_some() && self.jwks.is_some() {
            return bad(
                "jwks",
                "a client authenticates with a secret or with keys, not both",
            );
        }
        if let Some(secret) = &self.secret
            && secret.expose().len() < 32
        {
            return bad("secret", "must be at least 32 characters");
        }
        if self.redirect_uris.is_empty() {
            return bad("redirect_uris", "at least one redirect URI is required");
        }
        for (key, uris) in [
            ("redirect_uris", &self.redirect_uris),
            ("post_logout_redirect_uris", &self.post_logout_redirect_uris),
        ] {
            if !uris.iter().all(|u| is_acceptable_uri(u)) {
                return bad(
                    key,
                    "every URI must be https:// (http:// only on loopback) without a fragment",
                );
            }
        }
        if let Some(uri) = &self.backchannel_logout_uri
            && !is_acceptable_uri(uri)
        {
            return bad(
                "backchannel_logout_uri",
                "must be https:// (http:// only on loopback)",
            );
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            return bad("scopes", "must include openid");
        }
        if let Some(s) = self.scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
            return Err(ConfigError::invalid(
                format!("{at}.scopes"),
                format!(
                    "{s:?} is not a scope this provider knows ({})",
                    SCOPES.join(", ")
                ),
            ));
        }
        if self.sector.is_none() {
            let hosts: HashSet<_> = self
                .redirect_uris
                .iter()
                .filter_map(|u| url::Url::parse(u).ok()?.host_str().map(str::to_owned))
                .collect();
            if hosts.len() > 1 {
                return bad(
                    "sector",
                    "the redirect URIs have several hosts: name the sector their pairwise sub is computed for",
                );
            }
        }
        Ok(())
    }

    /// The sector of its pairwise `sub`.
    pub fn sector(&self) -> String {
        self.sector.clone().unwrap_or_else(|| {
            self.redirect_uris
                .first()
                .and_then(|u| url::Url::parse(u).ok()?.host_str().map(str::to_owned))
                .unwrap_or_default()
        })
    }
}
