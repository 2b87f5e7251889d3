//! `kyso-shim serve`: the agent's local HTTP API (design §7), for the registration page.
//!
//! Listens on loopback only, for programs of its own user only (on Linux; others get
//! 403 `CALLER_NOT_ALLOWED`, see [`crate::peer`]). A request is served only when its `Origin` is on the
//! allowlist (others get 403 `ORIGIN_NOT_ALLOWED` and nothing is signed) and its `Host`
//! names this agent (a DNS-rebinding page cannot reach it under another name). A request
//! without an `Origin` is served only when no browser marks it as coming from another
//! site (`Sec-Fetch-Site`), so command-line tools can read the status and certificates. Chrome's
//! Private Network Access preflight is answered for allowed origins. The origin signed
//! into the token is the `Origin` header — the page cannot choose another. PKCS#11 calls
//! and PIN prompts run on blocking threads, one signature at a time.

use crate::pin::PinSource;
use crate::refused::RefusedPins;
use crate::token::{TokenModule, TokenSelector};
use crate::{ShimError, authenticate};
use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use kyso_edge::Refusal;
use kyso_verify::error::AgentCode;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Mutex;

/// What the agent serves with.
pub struct AgentState {
    /// The PKCS#11 module.
    pub module: Arc<TokenModule>,
    /// Its path, for `/v1/status`.
    pub module_path: String,
    /// Origins allowed to use the agent, exactly as browsers send them.
    pub allowed_origins: Vec<String>,
    /// Where PINs come from.
    pub pin: PinSource,
    /// Unattended PINs the token refused, not offered again.
    pub refused: RefusedPins,
    /// Host header values that name this agent (`127.0.0.1:PORT`, `localhost:PORT`).
    pub hosts: Vec<String>,
    /// The address it listens on: the far end of every caller's socket.
    pub address: SocketAddr,
    /// One signature (and PIN prompt) at a time. Held by the blocking work itself, not by
    /// the request: a browser that hangs up mid-dialog does not let a second dialog open
    /// beside the first.
    pub signing: Arc<Mutex<()>>,
}

type Shared = Arc<AgentState>;

/// The agent's problem document (RFC 9457) for `code`.
fn error_response(code: AgentCode, detail: &str, retries_left: Option<u32>) -> Response {
    let status = StatusCode::from_u16(code.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut body = serde_json::json!({
        "type": format!("urn:kyso:agent-error:{code}"),
        "title": code.as_str(),
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    });
    if let Some(n) = retries_left {
        body["retries_left"] = n.into();
    }
    let mut r = (status, body.to_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    r
}

/// An agent error on its way out.
struct AgentError(ShimError);

impl IntoResponse for AgentError {
    fn into_response(self) -> Response {
        let retries = match self.0 {
            ShimError::PinIncorrect { retries_left } => retries_left,
            _ => None,
        };
        error_response(self.0.code(), &self.0.to_string(), retries)
    }
}

fn origin_of(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Whether the connection from `peer` comes from a program of the agent's own user
/// ([`crate::peer`]); `false` when that cannot be told (no peer known).
async fn own_user(state: &AgentState, peer: Option<SocketAddr>) -> bool {
    let Some(peer) = peer else {
        return false;
    };
    let agent = state.address;
    tokio::task::spawn_blocking(move || crate::peer::is_own_user(peer, agent))
        .await
        .unwrap_or(false)
}

/// Host check, origin allowlist, the caller's user, CORS and Private Network Access
/// headers.
async fn guard(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host_ok = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| state.hosts.iter().any(|allowed| allowed == h));
    if !host_ok {
        return error_response(AgentCode::BadRequest, "unexpected Host header", None);
    }
    let origin = origin_of(headers).map(str::to_owned);
    let allowed = origin
        .as_deref()
        .is_some_and(|o| state.allowed_origins.iter().any(|a| a == o));
    let signing = request.uri().path() == "/v1/authenticate";
    // A browser's request from another site without an Origin (an image, a no-cors
    // fetch): no page may make the agent touch the token that way. Tools send no
    // Sec-Fetch-Site and are served.
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v != "same-origin" && v != "none");
    if (origin.is_some() || signing || cross_site) && !allowed {
        return error_response(
            AgentCode::OriginNotAllowed,
            "this origin may not use the signing agent",
            None,
        );
    }
    let preflight = request.method() == Method::OPTIONS;
    let wants_pna = headers
        .get("access-control-request-private-network")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    // Another user's program on this computer may send any Origin it likes: refused
    // whatever it asks ([`crate::peer`]), with the CORS headers below, so that the page
    // of a person whose port another user's agent holds can say so. (A preflight does
    // nothing, and is answered.)
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else if !own_user(&state, peer).await {
        error_response(
            AgentCode::CallerNotAllowed,
            "only programs of the user running the signing agent may use it",
            None,
        )
    } else {
        next.run(request).await
    };
    if let Some(origin) = origin.filter(|_| allowed) {
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            if wants_pna {
                h.insert(
                    "access-control-allow-private-network",
                    HeaderValue::from_static("true"),
                );
            }
        }
    }
    response
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ShimError> + Send + 'static,
) -> Result<T, AgentError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AgentError(ShimError::Token(e.to_string())))?
        .map_err(AgentError)
}

async fn status(State(state): State<Shared>) -> Result<Json<serde_json::Value>, AgentError> {
    let module = state.module.clone();
    let tokens = blocking(move || module.list()).await?;
    let present: Vec<_> = tokens
        .iter()
        .map(|t| serde_json::json!({ "label": t.label, "serial": t.serial }))
        .collect();
    Ok(Json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "module": state.module_path,
        "tokens": present,
    })))
}

/// The certificates of `tokens` with the identity the gateway would read from each, as
/// `GET /v1/certificates` and `kyso-shim list` show them. CA certificates, which tokens
/// carry beside their holder's and which never prove anyone's identity, are left out, so
/// a page offers only what can sign someone in.
pub fn certificates_report(tokens: Vec<crate::token::TokenSummary>) -> serde_json::Value {
    let now = time::OffsetDateTime::now_utc();
    let mut out = Vec::new();
    for t in tokens {
        for c in t.certificates {
            if c.is_ca() {
                continue;
            }
            let report = kyso_verify::inspect::inspect(&c.der, now).ok();
            out.push(serde_json::json!({
                "certificate_id": format!("{}:{}", t.serial, c.id),
                "token": { "label": t.label, "serial": t.serial, "model": t.model },
                "label": c.label,
                "subject": report.as_ref().and_then(|r| r.subject.as_ref()),
                "identity_error": report.as_ref().and_then(|r| r.error.as_ref()).map(|e| e.code),
                "certificate": report.as_ref().map(|r| &r.certificate),
            }));
        }
    }
    serde_json::json!({ "certificates": out })
}

async fn certificates(State(state): State<Shared>) -> Result<Json<serde_json::Value>, AgentError> {
    let module = state.module.clone();
    let tokens = blocking(move || module.list()).await?;
    Ok(Json(certificates_report(tokens)))
}

/// `POST /v1/authenticate` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthenticateRequest {
    challenge_nonce: String,
    /// `TOKEN_SERIAL:CKA_ID` from `/v1/certificates`; default: the only token's certificate.
    certificate_id: Option<String>,
}

/// `TOKEN_SERIAL:CKA_ID` split at its last colon: the id is hex, while a serial is any
/// printable text and may hold a colon itself.
fn split_certificate_id(id: &str) -> Option<(&str, &str)> {
    id.rsplit_once(':')
}

async fn authenticate_route(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: Result<Json<AuthenticateRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<kyso_proto::webeid::AuthToken>, AgentError> {
    let Json(req) = body.map_err(|e| AgentError(ShimError::BadRequest(e.body_text())))?;
    let origin = origin_of(&headers)
        .map(str::to_owned)
        .ok_or_else(|| AgentError(ShimError::BadRequest("no Origin".into())))?;
    if req.challenge_nonce.is_empty() || req.challenge_nonce.len() > 128 {
        return Err(AgentError(ShimError::BadRequest(
            "challenge_nonce must be 1 to 128 characters".into(),
        )));
    }
    let (selector, cert) = match req.certificate_id.as_deref().map(split_certificate_id) {
        None => (TokenSelector::default(), None),
        // The id is checked before the token is asked anything, so a malformed one costs
        // the person no PIN.
        Some(Some((serial, id))) if !id.is_empty() && hex::decode(id).is_ok() => (
            TokenSelector {
                label: None,
                serial: Some(serial.to_owned()),
            },
            Some(id.to_ascii_lowercase()),
        ),
        Some(_) => {
            return Err(AgentError(ShimError::BadRequest(
                "certificate_id is TOKEN_SERIAL:CKA_ID, the id in hex".into(),
            )));
        }
    };
    let one_at_a_time = state.signing.clone().lock_owned().await;
    let st = state.clone();
    let token = blocking(move || {
        let _held_until_the_token_work_ends = one_at_a_time;
        let token = st.module.name_of(&selector)?;
        // From here on, that very token: the PIN asked for it (and remembered against
        // it) is not tried on another plugged in meanwhile.
        let selector = TokenSelector {
            label: Some(token.label.clone()),
            serial: Some(token.serial.clone()),
        };
        // No PIN is asked for a signature no certificate on the token could make.
        st.module.check_signer_shown(&selector, cert.as_deref())?;
        let pin = st.pin.ask(&token.label, &origin)?;
        let unattended = !st.pin.asks_a_person();
        if unattended && st.refused.refused_before(&token.serial, &pin) {
            tracing::warn!(token = %token.label, "the unattended PIN was refused before; not offered again");
            return Err(ShimError::PinRefusedBefore);
        }
        let signed = authenticate(
            &st.module,
            &selector,
            cert.as_deref(),
            &pin,
            &origin,
            &req.challenge_nonce,
        );
        // An empty PIN never reached the token (`TokenModule::login`): nothing it refused.
        if unattended && !pin.is_empty() && matches!(signed, Err(ShimError::PinIncorrect { .. })) {
            st.refused.remember(&token.serial, &pin);
        }
        signed
    })
    .await?;
    tracing::info!(algorithm = %token.algorithm, "signed a challenge");
    Ok(Json(token))
}

/// Largest request body the agent takes.
pub const BODY_BYTES: usize = 16 * 1024;

/// The agent's problem document for a refusal made at the edge (timeouts, body limit,
/// unknown route, wrong method).
pub fn edge_refusal(refusal: Refusal) -> Response {
    let (code, detail) = match refusal {
        Refusal::BodyTimeout => (
            AgentCode::RequestTimeout,
            "the request body did not arrive in time".to_owned(),
        ),
        Refusal::BodyTooLarge => (
            AgentCode::PayloadTooLarge,
            format!("the request body is larger than {BODY_BYTES} bytes"),
        ),
        Refusal::BadRequest(detail) => (AgentCode::BadRequest, detail),
        Refusal::NotFound => (AgentCode::NotFound, "no such endpoint".to_owned()),
        Refusal::MethodNotAllowed => (
            AgentCode::MethodNotAllowed,
            "this endpoint does not take this method; see Allow".to_owned(),
        ),
        Refusal::Overloaded => (AgentCode::TokenError, "the agent is busy; retry".to_owned()),
        Refusal::Other(status) if status.is_server_error() => (
            AgentCode::TokenError,
            format!("the agent failed ({status})"),
        ),
        Refusal::Other(status) => (
            AgentCode::BadRequest,
            format!("the request was refused ({status})"),
        ),
    };
    error_response(code, &detail, None)
}

/// The agent's routes, bodies read whole under `body` inside the guard, so that a 408
/// or 413 carries the CORS headers the page needs to read it.
pub fn router(state: Shared, body: kyso_edge::BodyLimits) -> Router {
    let refuse: kyso_edge::Refuse = Arc::new(edge_refusal);
    let routes = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/certificates", get(certificates))
        .route("/v1/authenticate", post(authenticate_route))
        .fallback(|| async { edge_refusal(Refusal::NotFound) })
        .layer(axum::extract::DefaultBodyLimit::max(body.max_bytes));
    kyso_edge::body::whole_bodies(routes, body, refuse.clone())
        .layer(axum::middleware::from_fn_with_state(
            refuse,
            kyso_edge::problems::ensure,
        ))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::split_certificate_id;

    #[test]
    fn a_certificate_id_is_split_at_its_last_colon() {
        assert_eq!(split_certificate_id("A1B2:0a0b"), Some(("A1B2", "0a0b")));
        assert_eq!(
            split_certificate_id("VN:00:42:0a0b"),
            Some(("VN:00:42", "0a0b")),
            "a serial with colons"
        );
        assert_eq!(split_certificate_id("0a0b"), None);
    }
}
