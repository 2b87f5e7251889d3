//! The OpenID Provider's use cases, with no HTTP in them: what the authorization
//! endpoint decides for a request and a browser session, the consent form, the token
//! exchange (OpenID Connect Core §3.1.3), userinfo (§5.3), and RP-initiated logout.
//! The HTTP layer (`http::oidc`) turns each outcome into a response.

use super::claims::{self, ACR_IAL3, SCOPES, amr, claims_of_scope};
use super::client::{Audience, Clients, Credentials};
use super::jose::{self, KeySet, SigningKey, b64url};
use super::request::{AuthorizationRequest, MAX_PARAMETER, Params, RequestError, is_pkce_text};
use crate::config::oidc::{ClientConfig, OidcConfig};
use crate::domain::account::bearer_hash as token_hash;
use crate::domain::oidc::{Consent, Grant, Redeemed};
use crate::domain::{Account, SessionLogin};
use crate::service::Gateway;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kyso_verify::error::ErrorCode;
use serde_json::{Value, json};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// The provider's endpoints, below the issuer.
pub mod paths {
    /// Discovery (OpenID Connect Discovery §4).
    pub const DISCOVERY: &str = "/.well-known/openid-configuration";
    /// The authorization endpoint.
    pub const AUTHORIZE: &str = "/oidc/authorize";
    /// Where the consent form is posted.
    pub const CONSENT: &str = "/oidc/consent";
    /// Where the page turns its login into the browser session cookie.
    pub const SESSION: &str = "/oidc/session";
    /// The token endpoint.
    pub const TOKEN: &str = "/oidc/token";
    /// The userinfo endpoint.
    pub const USERINFO: &str = "/oidc/userinfo";
    /// The JWK Set.
    pub const JWKS: &str = "/oidc/jwks";
    /// RP-initiated logout.
    pub const LOGOUT: &str = "/oidc/logout";
}

/// The parameter that carries, MAC'd, the time after which a proof satisfies
/// `prompt=login` (so the person, back from the page, is not sent to log in again).
const LOGIN_AFTER: &str = "kyso_login_after";

/// How long a login-time marker stays usable: the time to log in on the page.
const MARKER_LIFETIME: Duration = Duration::minutes(15);
/// How old a proof made for this very request may be and still meet a `max_age` smaller
/// than that (`max_age=0` included): the time to come back from the page and read the
/// consent screen. Past it, `auth_time` would tell the portal a login older than it asked.
const PROOF_GRACE: Duration = Duration::minutes(2);

/// What the authorization endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Authorize {
    /// An error shown to the person, never a redirect.
    Page {
        /// HTTP status.
        status: u16,
        /// What to say.
        message: &'static str,
    },
    /// Back to the portal, with a code or an error.
    Redirect(String),
    /// To kyso's page to log in, which comes back to the request.
    Login(String),
    /// The consent screen.
    Consent(ConsentScreen),
}

/// What the consent screen shows and posts back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentScreen {
    /// The portal's name.
    pub portal: String,
    /// The scopes asked for (their claims are listed).
    pub scopes: Vec<String>,
    /// The authorization request, posted back with the decision.
    pub request: String,
    /// The form's CSRF token, bound to the browser session.
    pub csrf: String,
    /// The origin of the portal's redirect URI (the form's target after the post).
    pub redirect_origin: String,
}

/// A refusal at the token or userinfo endpoint (RFC 6749 §5.2, RFC 6750 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// HTTP status.
    pub status: u16,
    /// `error`; empty for none (RFC 6750 §3.1: a request that sent no credentials gets
    /// no error code).
    pub error: &'static str,
    /// `error_description`.
    pub description: &'static str,
    /// The `WWW-Authenticate` challenge to send, if any.
    pub challenge: Option<&'static str>,
}

/// The provider's forms that carry a CSRF token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Form {
    /// The consent screen.
    Consent,
    /// The logout confirmation.
    Logout,
}

impl Form {
    fn label(self) -> &'static str {
        match self {
            Self::Consent => "consent-csrf",
            Self::Logout => "logout-csrf",
        }
    }
}

/// The token endpoint's `WWW-Authenticate` on a 401: the HTTP scheme it takes.
const BASIC_CHALLENGE: &str = "Basic realm=\"kyso\"";

fn oauth(status: u16, error: &'static str, description: &'static str) -> OAuthError {
    OAuthError {
        status,
        error,
        description,
        challenge: None,
    }
}

/// The provider.
pub struct Provider {
    issuer: String,
    keys: KeySet,
    clients: Clients,
    pairwise_secret: Vec<u8>,
    form_key: aws_lc_rs::hmac::Key,
    code_ttl: Duration,
    token_ttl: Duration,
    gateway: Arc<Gateway>,
    /// Back-channel logout deliveries under way, waited for at shutdown.
    pub(super) deliveries: tokio_util::task::TaskTracker,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// The provider `config` describes, on `gateway`, whose page is at `public_origin`.
    pub fn new(
        config: &OidcConfig,
        public_origin: &str,
        gateway: Arc<Gateway>,
    ) -> Result<Self, String> {
        let mut keys = Vec::new();
        for path in &config.signing_keys {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("oidc.signing_keys: {}: {e}", path.display()))?;
            keys.push(
                SigningKey::from_pem(&text)
                    .map_err(|e| format!("oidc.signing_keys: {}: {e}", path.display()))?,
            );
        }
        let keys = KeySet::new(keys).ok_or("oidc.signing_keys: at least one key is required")?;
        Ok(Self {
            issuer: config
                .issuer
                .clone()
                .unwrap_or_else(|| public_origin.to_owned()),
            keys,
            clients: Clients::load(&config.clients).map_err(|e| format!("oidc.clients: {e}"))?,
            pairwise_secret: config.pairwise_secret.expose().as_bytes().to_vec(),
            form_key: aws_lc_rs::hmac::Key::new(
                aws_lc_rs::hmac::HMAC_SHA256,
                config.form_secret.expose().as_bytes(),
            ),
            code_ttl: Duration::seconds(config.code_ttl_seconds.into()),
            token_ttl: Duration::seconds(config.token_ttl_seconds.into()),
            gateway,
            deliveries: tokio_util::task::TaskTracker::new(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// The discovery document (OpenID Connect Discovery §3).
    pub fn discovery(&self) -> Value {
        let claims: Vec<&str> = [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
        ]
        .into_iter()
        .chain(
            SCOPES
                .iter()
                .flat_map(|s| claims_of_scope(s).iter().copied()),
        )
        .collect();
        json!({
            "issuer": self.issuer,
            "authorization_endpoint": self.url(paths::AUTHORIZE),
            "token_endpoint": self.url(paths::TOKEN),
            "userinfo_endpoint": self.url(paths::USERINFO),
            "jwks_uri": self.url(paths::JWKS),
            "end_session_endpoint": self.url(paths::LOGOUT),
            "scopes_supported": SCOPES,
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["pairwise", "public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": [ACR_IAL3],
            "claims_supported": claims,
            "prompt_values_supported": ["none", "login", "consent"],
            "ui_locales_supported": ["vi", "en"],
            "claims_parameter_supported": false,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "authorization_response_iss_parameter_supported": true,
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": false,
        })
    }

    /// The JWK Set.
    pub fn jwks(&self) -> Value {
        self.keys.jwks()
    }

    fn now(&self) -> OffsetDateTime {
        self.gateway.clock().now()
    }

    fn mac(&self, label: &str, value: &str) -> String {
        let message = format!("{label}\0{value}");
        b64url(aws_lc_rs::hmac::sign(&self.form_key, message.as_bytes()))
    }

    fn mac_matches(&self, label: &str, value: &str, mac: &str) -> bool {
        let expected = self.mac(label, value);
        aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_bytes(), mac.as_bytes())
            .is_ok()
    }

    /// The CSRF token of one of the provider's forms for a browser session, bound to the
    /// form and to the request it carries: a token from one form cannot be posted to the
    /// other, nor with another request.
    pub(crate) fn csrf(&self, form: Form, session_token: &str, request: &str) -> String {
        self.mac(
            form.label(),
            &format!("{}\0{request}", token_hash(session_token)),
        )
    }

    /// Whether `csrf` is `form`'s token for this browser session and this request.
    pub(crate) fn csrf_matches(
        &self,
        form: Form,
        session_token: &str,
        request: &str,
        csrf: &str,
    ) -> bool {
        csrf.len() < 100
            && self.mac_matches(
                form.label(),
                &format!("{}\0{request}", token_hash(session_token)),
                csrf,
            )
    }

    /// The core the provider serves.
    pub(crate) fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The issuer identifier.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A portal's configuration.
    pub(crate) fn client_config(&self, client_id: &str) -> Option<&ClientConfig> {
        self.clients.get(client_id).map(|c| &c.config)
    }

    /// `claims` signed with the provider's key, with this `typ`.
    pub(crate) fn sign_typed(&self, claims: &Value, typ: &str) -> Result<String, jose::JoseError> {
        self.keys.sign_typed(claims, typ)
    }

    /// `redirect_uri` with `pairs` added to its query, and `iss` (RFC 9207).
    fn back_to(&self, redirect_uri: &str, pairs: &[(&str, Option<&str>)]) -> Authorize {
        let Ok(mut url) = url::Url::parse(redirect_uri) else {
            return Authorize::Page {
                status: 400,
                message: "this redirect_uri is not registered for the portal",
            };
        };
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in pairs {
                if let Some(v) = v {
                    query.append_pair(k, v);
                }
            }
            query.append_pair("iss", &self.issuer);
        }
        Authorize::Redirect(url.into())
    }

    /// `error` for `req`, sent back to its portal with its `state`.
    fn back_with_error(
        &self,
        req: &AuthorizationRequest,
        error: &str,
        description: &str,
    ) -> Authorize {
        self.back_to(
            &req.redirect_uri,
            &[
                ("error", Some(error)),
                ("error_description", Some(description)),
                ("state", req.state.as_deref()),
            ],
        )
    }

    /// What a request whose portal and redirect URI are known good gets when the store
    /// (or the random source) fails: `temporarily_unavailable` at the portal (RFC 6749
    /// §4.1.2.1), which can say so or retry — and which a silent request (`prompt=none`)
    /// must get an answer from, never a page.
    fn unavailable(&self, req: &AuthorizationRequest) -> Authorize {
        self.back_with_error(
            req,
            "temporarily_unavailable",
            "the service is unavailable; try again in a moment",
        )
    }

    /// `login_required` (OpenID Connect Core §3.1.2.6).
    fn login_required(&self, req: &AuthorizationRequest) -> Authorize {
        self.back_with_error(req, "login_required", "the person must log in")
    }

    fn refused(&self, e: RequestError) -> Authorize {
        match e {
            RequestError::Page(message) => Authorize::Page {
                status: 400,
                message,
            },
            RequestError::Redirect {
                redirect_uri,
                error,
                description,
                state,
            } => self.back_to(
                &redirect_uri,
                &[
                    ("error", Some(error)),
                    ("error_description", Some(description)),
                    ("state", state.as_deref()),
                ],
            ),
        }
    }

    /// The login of a browser session, `None` when there is none (or it ended).
    pub(crate) async fn browser_login_of(&self, token: &str) -> Result<Option<SessionLogin>, ()> {
        self.browser_login(Some(token)).await
    }

    /// The login of a browser session, `None` when there is none (or it ended).
    async fn browser_login(&self, session: Option<&str>) -> Result<Option<SessionLogin>, ()> {
        let Some(token) = session else {
            return Ok(None);
        };
        match self.gateway.session_login(token).await {
            Ok(login) => Ok(Some(login)),
            Err(r) if r.code == ErrorCode::Unauthenticated => Ok(None),
            Err(_) => Err(()),
        }
    }

    /// An authorization request read and checked, or what to answer instead.
    fn checked(&self, query: &str) -> Result<(Params, AuthorizationRequest), Authorize> {
        let params = Params::parse_query(query).map_err(|message| {
            self.refused(AuthorizationRequest::unreadable(query, message, |id| {
                self.clients.get(id)
            }))
        })?;
        let req = AuthorizationRequest::check(&params, |id| self.clients.get(id))
            .map_err(|e| self.refused(e))?;
        Ok((params, req))
    }

    /// The authorization endpoint: `query` as sent, `session` the browser session's token.
    pub async fn authorize(&self, query: &str, session: Option<&str>) -> Authorize {
        let (params, req) = match self.checked(query) {
            Ok(checked) => checked,
            Err(refused) => return refused,
        };
        let Ok(login) = self.browser_login(session).await else {
            return self.unavailable(&req);
        };
        let now = self.now();
        let satisfies = |l: &SessionLogin| self.fresh_enough(&params, &req, l, now);
        let (login, session) = match (login, session) {
            (Some(l), Some(s)) if satisfies(&l) => (l, s),
            _ if req.prompt.none => return self.login_required(&req),
            _ => return self.login_path(query, &req, now),
        };
        // OpenID Connect Core §3.1.2.2: a silent request that names whom it expects (an
        // ID token this portal was given) is answered for that person only.
        if req.prompt.none && !self.hint_names(&params, &req.client_id, &login.account.id) {
            return self.login_required(&req);
        }
        let Ok(consents) = self.gateway.store().consents(&login.account.id).await else {
            return self.unavailable(&req);
        };
        let covered = consents
            .iter()
            .find(|c| c.client_id == req.client_id)
            .is_some_and(|c| req.scopes.iter().all(|s| c.scopes.contains(s)));
        if covered && !req.prompt.consent {
            return self.issue_code(&req, &login, session).await;
        }
        if req.prompt.none {
            return self.back_with_error(&req, "consent_required", "the person has not consented");
        }
        let portal = self
            .clients
            .get(&req.client_id)
            .map(|c| c.config.name.clone())
            .unwrap_or_default();
        Authorize::Consent(ConsentScreen {
            portal,
            redirect_origin: url::Url::parse(&req.redirect_uri)
                .map(|u| u.origin().ascii_serialization())
                .unwrap_or_default(),
            scopes: req.scopes,
            request: query.to_owned(),
            csrf: self.csrf(Form::Consent, session, query),
        })
    }

    /// What a login-time marker vouches for: the time, bound to the request it was made
    /// for (so it cannot be carried over to another portal's or another request's
    /// `prompt=login`).
    fn marker_input(at: &str, req: &AuthorizationRequest) -> String {
        [
            at,
            &req.client_id,
            &req.redirect_uri,
            req.state.as_deref().unwrap_or_default(),
            req.nonce.as_deref().unwrap_or_default(),
            req.code_challenge.as_deref().unwrap_or_default(),
        ]
        .join("\0")
    }

    /// The time after which a proof satisfies this request's `prompt=login` or `max_age`:
    /// from the MAC'd marker the request carries back from the page, if it was made for
    /// this request less than [`MARKER_LIFETIME`] ago.
    fn login_after(
        &self,
        params: &Params,
        req: &AuthorizationRequest,
        now: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        let (at, mac) = params.get(LOGIN_AFTER)?.split_once('.')?;
        if !self.mac_matches(LOGIN_AFTER, &Self::marker_input(at, req), mac) {
            return None;
        }
        let after = OffsetDateTime::from_unix_timestamp(at.parse().ok()?).ok()?;
        (now - after <= MARKER_LIFETIME && after <= now).then_some(after)
    }

    /// Whether `login` is fresh enough for `req` (OpenID Connect Core §3.1.2.1):
    /// `prompt=login` needs a proof made after the request sent the person to log in;
    /// `max_age` a proof at most that old, or one made for this request at most
    /// [`PROOF_GRACE`] ago (so `max_age=0`, like `prompt=login`, is met by the proof the
    /// person just made, and no proof is older than `max_age` by more than the grace).
    fn fresh_enough(
        &self,
        params: &Params,
        req: &AuthorizationRequest,
        login: &SessionLogin,
        now: OffsetDateTime,
    ) -> bool {
        let proven_since = self
            .login_after(params, req, now)
            .is_some_and(|after| login.auth_time >= after);
        let age = now - login.auth_time;
        let young_enough = req.max_age.is_none_or(|m| age <= Duration::seconds(m));
        // A proof made for this request meets a max_age only while it is young enough
        // or within the grace; prompt=login needs such a proof whatever the age asked.
        let proof_counts = proven_since && (young_enough || age <= PROOF_GRACE);
        if req.prompt.login {
            proof_counts
        } else {
            young_enough || proof_counts
        }
    }

    /// Where kyso's page logs the person in and then returns to this request. The return
    /// carries the time the new proof must be younger than, MAC'd and bound to the
    /// request; the page's language is the first of `ui_locales` it speaks (`vi`, `en`).
    /// A request too long to come back is sent back to its portal as `invalid_request`.
    fn login_path(
        &self,
        query: &str,
        req: &AuthorizationRequest,
        now: OffsetDateTime,
    ) -> Authorize {
        let mut back = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if k != LOGIN_AFTER {
                back.append_pair(&k, &v);
            }
        }
        let at = now.unix_timestamp().to_string();
        let mac = self.mac(LOGIN_AFTER, &Self::marker_input(&at, req));
        back.append_pair(LOGIN_AFTER, &format!("{at}.{mac}"));
        let back = back.finish();
        // The request comes back with the marker, written out again (which may escape
        // what the portal sent bare): past the length the consent form carries, refused
        // now rather than after the person has signed in.
        if back.len() > MAX_PARAMETER {
            return self.back_with_error(req, "invalid_request", "the request is too long");
        }
        let target = format!("{}?{back}", paths::AUTHORIZE);
        let encoded: String = url::form_urlencoded::byte_serialize(target.as_bytes()).collect();
        let lang = req
            .ui_locales
            .iter()
            .flat_map(|l| l.split(' '))
            .map(|l| l.split('-').next().unwrap_or_default().to_ascii_lowercase())
            .find(|l| l == "vi" || l == "en")
            .map(|l| format!("&lang={l}"))
            .unwrap_or_default();
        Authorize::Login(format!("/?continue={encoded}{lang}#/login"))
    }

    /// Stores a grant for `req` and `login` and sends the code back.
    async fn issue_code(
        &self,
        req: &AuthorizationRequest,
        login: &SessionLogin,
        session: &str,
    ) -> Authorize {
        let Ok(code) = self.gateway.random(32, &URL_SAFE_NO_PAD) else {
            return self.unavailable(req);
        };
        // Noted first: a portal that may have a code is one this session's logout tells.
        // (If storing the code then fails, the portal is told of a logout it did not
        // need: harmless.) A session a logout ended meanwhile issues nothing.
        match self
            .gateway
            .store()
            .note_session_portal(&token_hash(session), &req.client_id)
            .await
        {
            Ok(true) => {}
            // A silent request gets its answer at the portal, never a page.
            Ok(false) if req.prompt.none => return self.login_required(req),
            Ok(false) => {
                return Authorize::Page {
                    status: 400,
                    message: "this sign-in has ended; start again from the portal",
                };
            }
            Err(_) => return self.unavailable(req),
        }
        let grant = Grant {
            client_id: req.client_id.clone(),
            account_id: login.account.id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            scopes: req.scopes.clone(),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            auth_time: login.auth_time,
            method: login.method,
            code_expires_at: self.now() + self.code_ttl,
        };
        if self
            .gateway
            .store()
            .put_grant(&token_hash(&code), &grant)
            .await
            .is_err()
        {
            return self.unavailable(req);
        }
        self.back_to(
            &req.redirect_uri,
            &[("code", Some(&code)), ("state", req.state.as_deref())],
        )
    }

    /// The consent form posted back: `allow` records consent and issues a code, `deny`
    /// sends `access_denied`.
    pub async fn consent(&self, form: &str, session: Option<&str>) -> Authorize {
        let expired = Authorize::Page {
            status: 400,
            message: "this form has expired; start again from the portal",
        };
        let Ok(form) = Params::parse(form) else {
            return expired;
        };
        let Some(session) = session else {
            return expired;
        };
        let query = form.raw("request").unwrap_or_default();
        if !form
            .get("csrf")
            .is_some_and(|c| self.csrf_matches(Form::Consent, session, query, c))
        {
            return expired;
        }
        let (params, req) = match self.checked(query) {
            Ok(checked) => checked,
            Err(refused) => return refused,
        };
        let login = match self.browser_login(Some(session)).await {
            Ok(Some(l)) => l,
            Ok(None) => return expired,
            Err(()) => return self.unavailable(&req),
        };
        match form.get("decision") {
            // The consent screen was shown for a fresh enough login; an allow must be
            // too. One that grew too old on the screen sends the person to prove it
            // again, and back to this request — not to a dead end. (A deny needs no
            // proof.)
            Some("allow") if !self.fresh_enough(&params, &req, &login, self.now()) => {
                self.login_path(query, &req, self.now())
            }
            Some("allow") => {
                let consent = Consent {
                    client_id: req.client_id.clone(),
                    scopes: req.scopes.clone(),
                    granted_at: self.now(),
                };
                if self
                    .gateway
                    .store()
                    .put_consent(&login.account.id, &consent)
                    .await
                    .is_err()
                {
                    return self.unavailable(&req);
                }
                self.issue_code(&req, &login, session).await
            }
            Some("deny") => self.back_with_error(&req, "access_denied", "the person declined"),
            _ => expired,
        }
    }

    /// The token endpoint: `form` the body, `authorization` the header.
    pub async fn token(
        &self,
        form: &str,
        authorization: Option<&str>,
    ) -> Result<Value, OAuthError> {
        let mut client = None;
        let answer = self.exchange(form, authorization, &mut client).await;
        crate::metrics::oidc_token(
            client.unwrap_or("unauthenticated"),
            answer.as_ref().map_or_else(|e| e.error, |_| "issued"),
        );
        answer
    }

    /// [`Self::token`]'s work; `authenticated` is set to the client once it has proven
    /// who it is (the metric's label: never a name a stranger chose).
    async fn exchange<'s>(
        &'s self,
        form: &str,
        authorization: Option<&str>,
        authenticated: &mut Option<&'s str>,
    ) -> Result<Value, OAuthError> {
        let params = Params::parse(form).map_err(|d| oauth(400, "invalid_request", d))?;
        let now = self.now();
        let creds = Credentials {
            authorization,
            client_id: params.get("client_id"),
            client_secret: params.get("client_secret"),
            assertion_type: params.get("client_assertion_type"),
            assertion: params.get("client_assertion"),
        };
        let token_url = self.url(paths::TOKEN);
        let (client, assertion) = self
            .clients
            .authenticate(
                &creds,
                &Audience {
                    issuer: &self.issuer,
                    token_endpoint: &token_url,
                },
                now,
            )
            .map_err(|e| OAuthError {
                status: if e.error == "invalid_client" {
                    401
                } else {
                    400
                },
                error: e.error,
                description: e.description,
                // Every 401 says how to authenticate (RFC 9110 §15.5.2): HTTP Basic
                // is the scheme the endpoint takes.
                challenge: (e.error == "invalid_client").then_some(BASIC_CHALLENGE),
            })?;
        *authenticated = Some(client.config.id.as_str());
        let store = self.gateway.store();
        if let Some(used) = assertion {
            let first = store
                .use_assertion(&client.config.id, &used.jti, used.expires_at)
                .await
                .map_err(|_| unavailable())?;
            if !first {
                return Err(OAuthError {
                    challenge: Some(BASIC_CHALLENGE),
                    ..oauth(
                        401,
                        "invalid_client",
                        "this client assertion was used before",
                    )
                });
            }
        }
        if params.get("grant_type") != Some("authorization_code") {
            return Err(oauth(
                400,
                "unsupported_grant_type",
                "only authorization_code is supported",
            ));
        }
        let code = params
            .get("code")
            .ok_or_else(|| oauth(400, "invalid_request", "code is required"))?;
        let redirect_uri = params
            .get("redirect_uri")
            .ok_or_else(|| oauth(400, "invalid_request", "redirect_uri is required"))?;
        let invalid_grant = |d| oauth(400, "invalid_grant", d);
        let unknown = "the code is unknown, expired, or not this client's";
        // The code's bindings are checked against a read before the code is used: a
        // request that cannot prove them (a stolen code without its PKCE verifier, the
        // wrong redirect URI) neither uses the code up nor revokes the tokens it gave.
        // A read also keeps strangers from making the writer work: a public client
        // proves nothing but its id, and its token requests are not rate-limited.
        let issued = crate::metrics::store(
            "issued_grant",
            store.issued_grant(&token_hash(code), &client.config.id),
        )
        .await
        .map_err(|_| unavailable())?
        .ok_or_else(|| invalid_grant(unknown))?;
        check_bindings(&issued, redirect_uri, params.get("code_verifier"))?;
        let access_token = self
            .gateway
            .random(32, &URL_SAFE_NO_PAD)
            .map_err(|_| unavailable())?;
        let expires_at = now + self.token_ttl;
        let redeemed = crate::metrics::store(
            "redeem_code",
            store.redeem_code(
                &token_hash(code),
                &client.config.id,
                &token_hash(&access_token),
                expires_at,
                now,
            ),
        )
        .await
        .map_err(|_| unavailable())?;
        let grant = match redeemed {
            Redeemed::Granted(g) => g,
            Redeemed::Reused => {
                return Err(invalid_grant(
                    "this code was used before; the tokens it gave are revoked",
                ));
            }
            Redeemed::Unknown => return Err(invalid_grant(unknown)),
        };
        let account = self.account(&grant.account_id).await?;
        let mut claims = self.id_claims(&grant, &account, now);
        claims.insert("at_hash".into(), json!(at_hash(&access_token)));
        let id_token = self
            .keys
            .sign(&Value::Object(claims))
            .map_err(|_| unavailable())?;
        Ok(json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.token_ttl.whole_seconds(),
            "id_token": id_token,
            "scope": grant.scopes.join(" "),
        }))
    }

    async fn account(&self, id: &str) -> Result<Account, OAuthError> {
        self.gateway
            .store()
            .account(id)
            .await
            .map_err(|_| unavailable())?
            .ok_or_else(|| oauth(400, "invalid_grant", "the account is gone"))
    }

    /// The `sub` `client_id` sees for `account_id`.
    pub(crate) fn subject_for(&self, client_id: &str, account_id: &str) -> String {
        let (kind, sector) = self
            .clients
            .get(client_id)
            .map(|c| (c.config.subject_type, c.config.sector()))
            .unwrap_or_default();
        claims::subject(kind, &self.pairwise_secret, &sector, account_id)
    }

    /// The ID token's claims: who (`sub`), for whom, when and how surely — no scope's
    /// claims, which userinfo gives (OpenID Connect Core §5.4, as login.gov does). An ID
    /// token travels back in URLs as `id_token_hint` (logout, silent sign-in), into
    /// browser histories and proxies' logs; a CCCD or a name has no place there.
    fn id_claims(
        &self,
        grant: &Grant,
        account: &Account,
        now: OffsetDateTime,
    ) -> serde_json::Map<String, Value> {
        let mut c = serde_json::Map::new();
        let fixed = [
            ("iss", json!(self.issuer)),
            (
                "sub",
                json!(self.subject_for(&grant.client_id, &account.id)),
            ),
            ("aud", json!(grant.client_id)),
            ("azp", json!(grant.client_id)),
            ("iat", json!(now.unix_timestamp())),
            ("exp", json!((now + self.token_ttl).unix_timestamp())),
            ("auth_time", json!(grant.auth_time.unix_timestamp())),
            ("acr", json!(ACR_IAL3)),
            ("amr", json!(amr(grant.method))),
        ];
        for (k, v) in fixed {
            c.insert(k.into(), v);
        }
        if let Some(nonce) = &grant.nonce {
            c.insert("nonce".into(), json!(nonce));
        }
        c
    }

    /// The userinfo endpoint: the claims the access token's grant releases, while the
    /// portal it was issued to is still configured. Errors as RFC 6750 §3.1 has them: no
    /// error code when no token came, `invalid_request` (400) for a malformed one,
    /// `invalid_token` (401) for one that opens nothing.
    pub async fn userinfo(&self, authorization: Option<&str>) -> Result<Value, OAuthError> {
        let invalid = OAuthError {
            status: 401,
            error: "invalid_token",
            description: "the access token is unknown, expired or revoked",
            challenge: Some("Bearer error=\"invalid_token\""),
        };
        let token = authorization
            .and_then(|h| super::client::credentials(h, "Bearer"))
            .ok_or(OAuthError {
                status: 401,
                error: "",
                description: "send the access token as a Bearer token",
                challenge: Some("Bearer"),
            })?
            .trim();
        if token.is_empty() || token.len() >= 200 {
            return Err(OAuthError {
                status: 400,
                error: "invalid_request",
                description: "the Bearer token is empty or too long to be an access token",
                challenge: Some("Bearer error=\"invalid_request\""),
            });
        }
        let grant = self
            .gateway
            .store()
            .access_grant(&token_hash(token), self.now())
            .await
            .map_err(|_| unavailable())?
            .ok_or(invalid.clone())?;
        // A portal taken out of the configuration gets nothing more with its tokens.
        if self.clients.get(&grant.client_id).is_none() {
            return Err(invalid);
        }
        let account = match self.account(&grant.account_id).await {
            Ok(account) => account,
            Err(e) if e.status == 503 => return Err(e),
            Err(_) => return Err(invalid),
        };
        let mut c = claims::claims(&account, &grant.scopes);
        c.insert(
            "sub".into(),
            json!(self.subject_for(&grant.client_id, &account.id)),
        );
        Ok(Value::Object(c))
    }

    /// How long the page's bearer session token has left as a live session (it then
    /// becomes the browser session cookie): `None` when it is none; `Err` when the store
    /// cannot tell.
    pub(crate) async fn session_lifetime(
        &self,
        session_token: &str,
    ) -> Result<Option<(SessionLogin, Duration)>, ()> {
        let Some(login) = self.browser_login(Some(session_token)).await? else {
            return Ok(None);
        };
        let left = login.auth_time + self.gateway.settings().session_ttl - self.now();
        Ok((left > Duration::ZERO).then_some((login, left)))
    }

    /// Whether the request's `id_token_hint`, if any, is one of the provider's ID tokens
    /// for `client_id` about the account `account_id`.
    fn hint_names(&self, params: &Params, client_id: &str, account_id: &str) -> bool {
        let Some(hint) = params.get("id_token_hint") else {
            return true;
        };
        self.own_id_token(hint).is_some_and(|claims| {
            claims["aud"] == client_id
                && claims["sub"].as_str() == Some(self.subject_for(client_id, account_id).as_str())
        })
    }

    /// Verifies one of the provider's own ID tokens (an `id_token_hint`), expired or
    /// not; its claims.
    pub fn own_id_token(&self, token: &str) -> Option<Value> {
        let claims = jose::verify(token, &self.keys.jwks()).ok()?;
        // Only ID tokens: a logout token (which has `events`) is signed by the same key.
        (claims["iss"] == self.issuer.as_str() && claims.get("events").is_none()).then_some(claims)
    }
}

fn unavailable() -> OAuthError {
    oauth(
        503,
        "temporarily_unavailable",
        "the service is unavailable; retry",
    )
}

/// OpenID Connect Core §3.1.3.6: base64url of the left half of SHA-256 of the token.
fn at_hash(access_token: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes());
    b64url(&digest.as_ref()[..16])
}

/// A token request's proof that it continues the authorization request of `grant`
/// (RFC 6749 §4.1.3: the same `redirect_uri`; RFC 7636 §4.6: the verifier of its
/// challenge, and none without one).
fn check_bindings(
    grant: &Grant,
    redirect_uri: &str,
    code_verifier: Option<&str>,
) -> Result<(), OAuthError> {
    let invalid_grant = |d| oauth(400, "invalid_grant", d);
    if grant.redirect_uri != redirect_uri {
        return Err(invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&grant.code_challenge, code_verifier) {
        (None, None) => Ok(()),
        (Some(challenge), Some(verifier)) if is_pkce_text(verifier, 43, 128) => {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
            if b64url(digest) == *challenge {
                Ok(())
            } else {
                Err(invalid_grant(
                    "code_verifier does not match the code_challenge",
                ))
            }
        }
        (Some(_), _) => Err(invalid_grant("a valid code_verifier is required")),
        (None, Some(_)) => Err(invalid_grant(
            "the authorization request had no code_challenge",
        )),
    }
}
