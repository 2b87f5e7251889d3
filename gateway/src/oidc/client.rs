//! The portals, and how one proves at the token endpoint that it is who it says
//! (RFC 6749 §2.3): `client_secret_basic` (§2.3.1; id and secret form-encoded inside
//! HTTP Basic), `private_key_jwt` (OpenID Connect Core §9, RFC 7523 §3), or `none` for a
//! public client, which PKCE then binds instead.

use super::jose;
use crate::config::oidc::ClientConfig;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::collections::HashMap;
use time::OffsetDateTime;

/// The `client_assertion_type` of `private_key_jwt`.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// One portal, with its public keys loaded.
#[derive(Debug, Clone)]
pub struct Client {
    /// As configured.
    pub config: ClientConfig,
    /// Its JWK Set, for `private_key_jwt`.
    pub jwks: Option<Value>,
}

/// Every portal by `client_id`.
#[derive(Debug, Default)]
pub struct Clients(HashMap<String, Client>);

/// What an assertion's `aud` is compared with.
#[derive(Debug, Clone, Copy)]
pub struct Audience<'a> {
    /// The provider's issuer identifier: always accepted.
    pub issuer: &'a str,
    /// The token endpoint's URL: accepted only from clients configured for it.
    pub token_endpoint: &'a str,
}

impl Clients {
    /// Loads the portals' key files.
    pub fn load(configs: &[ClientConfig]) -> Result<Self, String> {
        let mut map = HashMap::new();
        for config in configs {
            let jwks = match &config.jwks {
                None => None,
                Some(path) => {
                    let text = std::fs::read_to_string(path)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    let jwks: Value = serde_json::from_str(&text)
                        .map_err(|e| format!("{}: {e}", path.display()))?;
                    if !jwks["keys"].is_array() {
                        return Err(format!("{}: not a JWK Set", path.display()));
                    }
                    Some(jwks)
                }
            };
            map.insert(
                config.id.clone(),
                Client {
                    config: config.clone(),
                    jwks,
                },
            );
        }
        Ok(Self(map))
    }

    /// The portal with this id.
    pub fn get(&self, id: &str) -> Option<&Client> {
        self.0.get(id)
    }
}

/// Why a client is not authenticated: `invalid_client` (RFC 6749 §5.2), or
/// `invalid_request` when it used more than one method or none it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    /// `invalid_client` or `invalid_request`.
    pub error: &'static str,
    /// Why, for the portal's developers.
    pub description: &'static str,
}

fn invalid_client(description: &'static str) -> AuthError {
    AuthError {
        error: "invalid_client",
        description,
    }
}

/// What the token request carries to authenticate its client.
#[derive(Debug, Default)]
pub struct Credentials<'a> {
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// `client_id` of the form.
    pub client_id: Option<&'a str>,
    /// `client_secret` of the form (refused: only Basic carries secrets here).
    pub client_secret: Option<&'a str>,
    /// `client_assertion_type`.
    pub assertion_type: Option<&'a str>,
    /// `client_assertion`.
    pub assertion: Option<&'a str>,
}

/// The one JWT a `private_key_jwt` assertion may be used for: its `jti` and expiry, so
/// the caller can refuse a replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssertionUse {
    /// The assertion's id.
    pub jti: String,
    /// Its `exp`.
    pub expires_at: OffsetDateTime,
}

/// The credentials of an `Authorization` header of `scheme`, whose name is matched
/// without regard to case (RFC 9110 §11.1).
pub fn credentials<'h>(header: &'h str, scheme: &str) -> Option<&'h str> {
    let (name, rest) = header.split_once(' ')?;
    name.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// Constant-time equality of two secrets.
fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

impl Clients {
    /// Authenticates the client of a token request. An assertion's `aud` must be the
    /// provider's issuer, or the token endpoint for a client configured to send that.
    /// On success: the client, and for `private_key_jwt` the assertion's use to record.
    pub fn authenticate(
        &self,
        creds: &Credentials<'_>,
        audience: &Audience<'_>,
        now: OffsetDateTime,
    ) -> Result<(&Client, Option<AssertionUse>), AuthError> {
        let basic = creds.authorization.and_then(|h| credentials(h, "Basic"));
        let methods = usize::from(basic.is_some())
            + usize::from(creds.assertion.is_some())
            + usize::from(creds.client_secret.is_some());
        if methods > 1 {
            return Err(AuthError {
                error: "invalid_request",
                description: "use exactly one client authentication method",
            });
        }
        if creds.client_secret.is_some() {
            return Err(invalid_client(
                "client_secret_post is not supported: send the secret with HTTP Basic",
            ));
        }
        if let Some(b64) = basic {
            return self.basic(b64.trim(), creds.client_id).map(|c| (c, None));
        }
        if let Some(assertion) = creds.assertion {
            return self
                .assertion(creds, assertion, audience, now)
                .map(|(c, u)| (c, Some(u)));
        }
        let id = creds
            .client_id
            .ok_or_else(|| invalid_client("no client authentication"))?;
        match self.get(id) {
            Some(c) if c.config.public => Ok((c, None)),
            _ => Err(invalid_client("this client must authenticate")),
        }
    }

    fn basic(&self, b64: &str, form_id: Option<&str>) -> Result<&Client, AuthError> {
        let fail = || invalid_client("client authentication failed");
        let decoded = STANDARD.decode(b64).map_err(|_| fail())?;
        let text = String::from_utf8(decoded).map_err(|_| fail())?;
        let (id, secret) = text.split_once(':').ok_or_else(fail)?;
        // RFC 6749 §2.3.1: both are form-encoded before being joined.
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let (id, secret) = (decode(id), decode(secret));
        if form_id.is_some_and(|f| f != id.as_str()) {
            return Err(fail());
        }
        let client = self.get(&id).ok_or_else(fail)?;
        match &client.config.secret {
            Some(expected) if same_secret(expected.expose(), &secret) => Ok(client),
            _ => Err(fail()),
        }
    }

    fn assertion(
        &self,
        creds: &Credentials<'_>,
        assertion: &str,
        audience: &Audience<'_>,
        now: OffsetDateTime,
    ) -> Result<(&Client, AssertionUse), AuthError> {
        let fail = invalid_client;
        if creds.assertion_type != Some(JWT_BEARER) {
            return Err(fail("client_assertion_type must be jwt-bearer"));
        }
        // The issuer names the client; the signature then decides whether it is.
        let claims =
            unverified_claims(assertion).ok_or_else(|| fail("the assertion is not a JWT"))?;
        let id = claims["iss"].as_str().unwrap_or_default();
        let client = self
            .get(id)
            .ok_or_else(|| fail("client authentication failed"))?;
        if creds.client_id.is_some_and(|f| f != id) {
            return Err(fail("client authentication failed"));
        }
        let jwks = client
            .jwks
            .as_ref()
            .ok_or_else(|| fail("this client has no registered keys"))?;
        let claims =
            jose::verify(assertion, jwks).map_err(|_| fail("client authentication failed"))?;
        if claims["sub"].as_str() != Some(id) {
            return Err(fail("the assertion's sub must be the client_id"));
        }
        // One string: a list would let an assertion made for several servers count here.
        let aud_ok = claims["aud"].as_str().is_some_and(|a| {
            a == audience.issuer
                || (client.config.token_endpoint_audience && a == audience.token_endpoint)
        });
        if !aud_ok {
            return Err(fail(
                "the assertion's aud must be the issuer, as one string",
            ));
        }
        let exp = claims["exp"]
            .as_i64()
            .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok())
            .ok_or_else(|| fail("the assertion has no exp"))?;
        // Expired, or valid for longer than an assertion needs to be (its jti is kept
        // until then).
        if exp <= now || exp > now + time::Duration::minutes(10) {
            return Err(fail(
                "the assertion's exp must be within the next 10 minutes",
            ));
        }
        let jti = claims["jti"]
            .as_str()
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or_else(|| fail("the assertion has no jti"))?;
        Ok((
            client,
            AssertionUse {
                jti: jti.to_owned(),
                expires_at: exp,
            },
        ))
    }
}

/// The claims of a compact JWS, before its signature is checked (only to find the key).
fn unverified_claims(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::credentials;

    #[test]
    fn the_scheme_is_matched_without_regard_to_case_and_must_stand_alone() {
        assert_eq!(credentials("Basic YWJj", "Basic"), Some("YWJj"));
        assert_eq!(credentials("bAsIc  YWJj ", "Basic"), Some("YWJj"));
        assert_eq!(credentials("BasicYWJj", "Basic"), None);
        assert_eq!(credentials("Bearer x", "Basic"), None);
        assert_eq!(credentials("", "Bearer"), None);
    }
}
