//! The authorization request (OpenID Connect Core §3.1.2.1), read and checked in the
//! order that decides where an error may go: until the client and its redirect URI are
//! known good, an error is shown to the person (§3.1.2.6 — never a redirect to an
//! unregistered URI); after that, it goes back to the portal as `error=` on its redirect
//! URI (RFC 6749 §4.1.2.1).

use super::claims::{ACR_IAL3, SCOPES};
use super::client::Client;
use std::collections::HashMap;

/// Longest accepted parameter value, bytes (a whole authorization request travels in the
/// consent form's `request` field, an ID token in `id_token_hint`).
pub const MAX_PARAMETER: usize = 8192;

/// Longest `state` and `nonce`, bytes: they are echoed in the redirect and the ID token,
/// which must stay short enough to come back as an `id_token_hint`.
pub const MAX_ECHOED: usize = 512;

/// What the person is asked again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Prompt {
    /// `prompt=none`: no page may be shown.
    pub none: bool,
    /// `prompt=login`: a new proof, whatever session exists.
    pub login: bool,
    /// `prompt=consent`: ask for consent even if given before.
    pub consent: bool,
}

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    /// The portal.
    pub client_id: String,
    /// Its registered redirect URI, exactly as sent.
    pub redirect_uri: String,
    /// The scopes asked for, `openid` first, no repeats.
    pub scopes: Vec<String>,
    /// Echoed back.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge (RFC 7636 §4.2).
    pub code_challenge: Option<String>,
    /// See [`Prompt`].
    pub prompt: Prompt,
    /// Longest time since the proof, seconds.
    pub max_age: Option<i64>,
    /// Preferred languages, for the page.
    pub ui_locales: Option<String>,
}

/// Why a request is refused, and where the refusal goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// Shown to the person: the portal or its redirect URI cannot be trusted.
    Page(&'static str),
    /// Sent back to the portal's redirect URI.
    Redirect {
        /// Where.
        redirect_uri: String,
        /// `error` (RFC 6749 §4.1.2.1, OpenID Connect Core §3.1.2.6).
        error: &'static str,
        /// `error_description`.
        description: &'static str,
        /// The request's `state`, echoed.
        state: Option<String>,
    },
}

/// The parameters as sent; a repeated parameter is an error (RFC 6749 §3.1).
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Reads `application/x-www-form-urlencoded` text (a query or a form body).
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let mut map = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(text.as_bytes()) {
            if map.len() >= 40 {
                return Err("too many parameters");
            }
            if v.len() > MAX_PARAMETER || k.len() > 64 {
                return Err("a parameter is too long");
            }
            // No parameter of the protocol holds one, and PostgreSQL's text cannot.
            if k.contains('\0') || v.contains('\0') {
                return Err("a parameter holds a NUL character");
            }
            if map.insert(k.into_owned(), v.into_owned()).is_some() {
                return Err("a parameter is repeated");
            }
        }
        Ok(Self(map))
    }

    /// Reads a request's whole query (authorization, logout): at most [`MAX_PARAMETER`]
    /// bytes in all, because the pages that ask the person first carry it back as one
    /// form field, which [`Self::parse`] holds to that length.
    pub fn parse_query(text: &str) -> Result<Self, &'static str> {
        if text.len() > MAX_PARAMETER {
            return Err("the request is too long");
        }
        Self::parse(text)
    }

    /// A parameter's value; empty counts as absent (RFC 6749 §3.1).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.raw(name).filter(|v| !v.is_empty())
    }

    /// A parameter's value as sent, empty or not.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// Whether `s` is a PKCE S256 challenge or a verifier's shape: `len` range of unreserved
/// characters (RFC 7636 §4.1, §4.2).
pub fn is_pkce_text(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl AuthorizationRequest {
    /// What to answer a request whose parameters could not be read (`message`: a
    /// repeated or too long parameter, say). RFC 6749 §4.1.2.1 sends such errors back to
    /// the portal — but only to a redirect URI that is certainly its: `client_id` and
    /// `redirect_uri` must each appear once and name a registered pair. Else the person
    /// sees a page.
    pub fn unreadable<'c>(
        text: &str,
        message: &'static str,
        clients: impl Fn(&str) -> Option<&'c Client>,
    ) -> RequestError {
        let once = |name: &str| {
            let mut values = url::form_urlencoded::parse(text.as_bytes())
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v);
            match (values.next(), values.next()) {
                (Some(v), None)
                    if !v.is_empty() && v.len() <= MAX_PARAMETER && !v.contains('\0') =>
                {
                    Some(v.into_owned())
                }
                _ => None,
            }
        };
        let (Some(client_id), Some(redirect_uri)) = (once("client_id"), once("redirect_uri"))
        else {
            return RequestError::Page(message);
        };
        let registered =
            clients(&client_id).is_some_and(|c| c.config.redirect_uris.contains(&redirect_uri));
        if !registered {
            return RequestError::Page(message);
        }
        RequestError::Redirect {
            redirect_uri,
            error: "invalid_request",
            description: message,
            state: once("state").filter(|s| s.len() <= MAX_ECHOED),
        }
    }

    /// Checks `params` against the portals in `clients`. `Err(RequestError::Page)` names
    /// what to show; every other refusal carries the portal's redirect URI.
    pub fn check<'c>(
        params: &Params,
        clients: impl Fn(&str) -> Option<&'c Client>,
    ) -> Result<Self, RequestError> {
        let client_id = params.get("client_id").ok_or(RequestError::Page(
            "the request names no portal (client_id)",
        ))?;
        let client =
            clients(client_id).ok_or(RequestError::Page("this portal is not registered"))?;
        let redirect_uri = params
            .get("redirect_uri")
            .ok_or(RequestError::Page("the request has no redirect_uri"))?;
        if !client
            .config
            .redirect_uris
            .iter()
            .any(|u| u == redirect_uri)
        {
            return Err(RequestError::Page(
                "this redirect_uri is not registered for the portal",
            ));
        }
        // A state too long to echo is not echoed: the error then goes back without it.
        let state = params
            .get("state")
            .filter(|s| s.len() <= MAX_ECHOED)
            .map(str::to_owned);
        let refuse = |error: &'static str, description: &'static str| RequestError::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            error,
            description,
            state: state.clone(),
        };
        if params.get("state").is_some_and(|s| s.len() > MAX_ECHOED)
            || params.get("nonce").is_some_and(|n| n.len() > MAX_ECHOED)
        {
            return Err(refuse(
                "invalid_request",
                "state and nonce are limited to 512 bytes",
            ));
        }
        if params.get("request").is_some() {
            return Err(refuse(
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        if params.get("request_uri").is_some() {
            return Err(refuse(
                "request_uri_not_supported",
                "request_uri is not supported",
            ));
        }
        if params.get("response_type") != Some("code") {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        if params.get("response_mode").is_some_and(|m| m != "query") {
            return Err(refuse(
                "invalid_request",
                "only response_mode=query is supported",
            ));
        }
        let mut scopes: Vec<String> = Vec::new();
        for s in params
            .get("scope")
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
        {
            // A scope the provider does not know is ignored (OpenID Connect Core
            // §3.1.2.1: a portal's library may ask for `offline_access` by default); one it
            // knows but this portal may not have is refused (RFC 6749 §3.3).
            if !SCOPES.contains(&s) {
                continue;
            }
            if !client.config.scopes.iter().any(|a| a == s) {
                return Err(refuse(
                    "invalid_scope",
                    "a scope is not allowed for this portal",
                ));
            }
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_owned());
            }
        }
        if !scopes.iter().any(|s| s == "openid") {
            return Err(refuse("invalid_scope", "scope must include openid"));
        }
        scopes.sort_by_key(|s| s != "openid");
        let code_challenge = match (
            params.get("code_challenge"),
            params.get("code_challenge_method"),
        ) {
            (None, None) if client.config.public => {
                return Err(refuse(
                    "invalid_request",
                    "a public client must use PKCE (S256)",
                ));
            }
            (None, None) => None,
            (Some(c), Some("S256")) if is_pkce_text(c, 43, 43) => Some(c.to_owned()),
            (Some(_), Some("S256")) => {
                return Err(refuse(
                    "invalid_request",
                    "code_challenge is not an S256 challenge",
                ));
            }
            _ => {
                return Err(refuse(
                    "invalid_request",
                    "PKCE needs code_challenge with code_challenge_method=S256",
                ));
            }
        };
        // RFC 9700 §2.1.1: a code must be bound to the flow that asked for it, by PKCE or,
        // for a confidential OpenID client, by the nonce.
        if code_challenge.is_none() && params.get("nonce").is_none() {
            return Err(refuse(
                "invalid_request",
                "send a PKCE code_challenge (S256) or a nonce",
            ));
        }
        let mut prompt = Prompt::default();
        let mut values = 0;
        for p in params
            .get("prompt")
            .unwrap_or_default()
            .split(' ')
            .filter(|p| !p.is_empty())
        {
            values += 1;
            match p {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => return Err(refuse("invalid_request", "unknown prompt value")),
            }
        }
        // OpenID Connect Core §3.1.2.1: `none` with any other value is an error.
        if prompt.none && values > 1 {
            return Err(refuse("invalid_request", "prompt=none cannot be combined"));
        }
        let max_age = match params.get("max_age") {
            None => None,
            Some(v) => match v.parse::<i64>() {
                Ok(n) if n >= 0 => Some(n),
                _ => return Err(refuse("invalid_request", "max_age must be whole seconds")),
            },
        };
        if let Some(acr) = params.get("acr_values")
            && !acr.split(' ').any(|a| a == ACR_IAL3)
        {
            return Err(refuse(
                "unmet_authentication_requirements",
                "the only assurance this provider gives is the acr in acr_values_supported",
            ));
        }
        Ok(Self {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            nonce: params.get("nonce").map(str::to_owned),
            code_challenge,
            prompt,
            max_age,
            ui_locales: params.get("ui_locales").map(str::to_owned),
            state,
        })
    }
}
