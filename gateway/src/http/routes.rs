//! The handlers: each decodes its request ([`super::api`]), calls the core, and encodes
//! the domain result as its wire type.

use super::api::{
    AccountBody, AccountCreatedResponse, ChallengeRequest, ChallengeResponse, ConfirmRequest,
    LinkedPortal, LinkedPortalsResponse, PreviewResponse, SessionResponse, SimLoginRequest,
    SimRegistrationRequest, SimStartedResponse, SimStateResponse, StatusBody, TokenLoginRequest,
    TokenRegistrationRequest,
};
use super::extract::{ApiJson, PathText, Peer};
use super::{ApiError, AppState};
use crate::domain::Purpose;
use crate::service::decode_intermediates;
use crate::sim::SimService;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use kyso_verify::error::ErrorCode;
use std::sync::Arc;

/// `POST /v1/challenges`: a fresh single-use challenge.
#[utoipa::path(
    post,
    path = "/v1/challenges",
    tag = "proof",
    request_body = ChallengeRequest,
    responses((status = 201, description = "A new challenge, usable once until `expires_at`.", body = ChallengeResponse)),
)]
pub async fn create_challenge(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let challenge = s.gateway.create_challenge(req.purpose.into()).await?;
    Ok((
        StatusCode::CREATED,
        Json(ChallengeResponse::from(challenge)),
    ))
}

/// `POST /v1/registrations/token`: verify the token, answer the identity preview.
#[utoipa::path(
    post,
    path = "/v1/registrations/token",
    tag = "registration",
    request_body = TokenRegistrationRequest,
    responses((status = 200, description = "The verified identity and a ticket to confirm it with; nothing is stored yet.", body = PreviewResponse)),
)]
pub async fn register_token(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenRegistrationRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let extra = decode_intermediates(&req.intermediates)?;
    let preview = s
        .gateway
        .register_token(
            &req.challenge_id,
            &req.auth_token,
            &extra,
            req.subject_type.map(Into::into),
        )
        .await?;
    Ok(Json(PreviewResponse::from(preview)))
}

/// `POST /v1/registrations/{ticket}/confirm`: create the previewed account.
#[utoipa::path(
    post,
    path = "/v1/registrations/{ticket}/confirm",
    tag = "registration",
    params(("ticket" = String, Path, description = "The single-use ticket of the preview.")),
    request_body = ConfirmRequest,
    responses((status = 201, description = "The account, created.", body = AccountCreatedResponse)),
)]
pub async fn confirm(
    State(s): State<AppState>,
    PathText(ticket): PathText,
    ApiJson(req): ApiJson<ConfirmRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let account = s
        .gateway
        .confirm(&ticket, req.email.as_deref(), req.phone.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AccountCreatedResponse::from(account)),
    ))
}

/// `POST /v1/sessions/token`: log in with a token.
#[utoipa::path(
    post,
    path = "/v1/sessions/token",
    tag = "login",
    request_body = TokenLoginRequest,
    responses((status = 200, description = "A session for the account the certificate proves.", body = SessionResponse)),
)]
pub async fn login_token(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenLoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let extra = decode_intermediates(&req.intermediates)?;
    let session = s
        .gateway
        .login_token(&req.challenge_id, &req.auth_token, &extra)
        .await?;
    Ok(Json(SessionResponse::from(session)))
}

fn sim_of(s: &AppState) -> Result<&Arc<SimService>, ApiError> {
    s.sim.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "signing-SIM registration is not configured on this gateway",
        )
    })
}

/// `?wait=SECONDS` of a result read; absent is 0.
fn wait_of(query: Option<&str>) -> Result<std::time::Duration, ApiError> {
    let mut wait = 0;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        match pair.split_once('=') {
            Some(("wait", v)) => {
                wait = v.parse::<u64>().map_err(|_| {
                    ApiError::new(ErrorCode::MalformedRequest, "wait must be whole seconds")
                })?;
            }
            _ => {
                return Err(ApiError::new(
                    ErrorCode::MalformedRequest,
                    "the only query parameter is wait=SECONDS",
                ));
            }
        }
    }
    Ok(std::time::Duration::from_secs(wait))
}

/// `POST /v1/registrations/sim`: push a registration request to the phone.
#[utoipa::path(
    post,
    path = "/v1/registrations/sim",
    tag = "registration",
    request_body = SimRegistrationRequest,
    responses((status = 202, description = "The request is on its way to the phone; read the result with the session id.", body = SimStartedResponse)),
)]
pub async fn start_sim_registration(
    State(s): State<AppState>,
    Peer(requester): Peer,
    ApiJson(req): ApiJson<SimRegistrationRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let started = sim_of(&s)?
        .start(
            Purpose::Register,
            &req.phone,
            req.subject_type.map(Into::into),
            requester,
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SimStartedResponse::from(started)),
    ))
}

/// `POST /v1/sessions/sim`: push a login request to the phone.
#[utoipa::path(
    post,
    path = "/v1/sessions/sim",
    tag = "login",
    request_body = SimLoginRequest,
    responses((status = 202, description = "The request is on its way to the phone; read the result with the session id.", body = SimStartedResponse)),
)]
pub async fn start_sim_login(
    State(s): State<AppState>,
    Peer(requester): Peer,
    ApiJson(req): ApiJson<SimLoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let started = sim_of(&s)?
        .start(Purpose::Login, &req.phone, None, requester)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SimStartedResponse::from(started)),
    ))
}

/// `GET /v1/registrations/sim/{id}?wait=SECONDS`: the registration's state or result.
#[utoipa::path(
    get,
    path = "/v1/registrations/sim/{id}",
    tag = "registration",
    params(
        ("id" = String, Path, description = "The signing-SIM session."),
        ("wait" = Option<u64>, Query, description = "Seconds to wait for the person before answering `pending` (long poll; capped by the gateway)."),
    ),
    responses((status = 200, description = "Pending, or the preview to confirm; a failed session is a problem document.", body = SimStateResponse)),
)]
pub async fn sim_registration(
    State(s): State<AppState>,
    PathText(id): PathText,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let wait = wait_of(query.as_deref())?;
    let view = sim_of(&s)?.view(&id, Purpose::Register, wait).await?;
    Ok(Json(SimStateResponse::from(view)))
}

/// `GET /v1/sessions/sim/{id}?wait=SECONDS`: the login's state or session.
#[utoipa::path(
    get,
    path = "/v1/sessions/sim/{id}",
    tag = "login",
    params(
        ("id" = String, Path, description = "The signing-SIM session."),
        ("wait" = Option<u64>, Query, description = "Seconds to wait for the person before answering `pending` (long poll; capped by the gateway)."),
    ),
    responses((status = 200, description = "Pending, or the session; a failed session is a problem document.", body = SimStateResponse)),
)]
pub async fn sim_login(
    State(s): State<AppState>,
    PathText(id): PathText,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let wait = wait_of(query.as_deref())?;
    let view = sim_of(&s)?.view(&id, Purpose::Login, wait).await?;
    Ok(Json(SimStateResponse::from(view)))
}

/// The bearer session token of a request.
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme's name is case-insensitive (RFC 9110 §11.1).
        .and_then(|v| crate::oidc::client::credentials(v, "Bearer"))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "send Authorization: Bearer <session_token>",
            )
        })
}

/// `GET /v1/accounts/me`: the account of a bearer session token.
#[utoipa::path(
    get,
    path = "/v1/accounts/me",
    tag = "account",
    security(("session" = [])),
    responses((status = 200, description = "The account of the session.", body = AccountBody)),
)]
pub async fn account_me(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let account = s.gateway.account_for_session(bearer(&headers)?).await?;
    Ok(Json(AccountBody::from(account)))
}

/// `GET /v1/accounts/me/portals`: the portals linked to the account.
#[utoipa::path(
    get,
    path = "/v1/accounts/me/portals",
    tag = "account",
    security(("session" = [])),
    responses((status = 200, description = "The portals the person consented to, with what each receives.", body = LinkedPortalsResponse)),
)]
pub async fn linked_portals(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let account = s.gateway.account_for_session(bearer(&headers)?).await?;
    let portals = match &s.oidc {
        None => Vec::new(),
        Some(p) => p
            .linked(&account.id)
            .await?
            .into_iter()
            .map(|(consent, name)| LinkedPortal::of(consent, name))
            .collect(),
    };
    Ok(Json(LinkedPortalsResponse { portals }))
}

/// `DELETE /v1/accounts/me/portals/{client_id}`: withdraws consent; the portal's tokens
/// are revoked and it is told by back-channel logout.
#[utoipa::path(
    delete,
    path = "/v1/accounts/me/portals/{client_id}",
    tag = "account",
    security(("session" = [])),
    params(("client_id" = String, Path, description = "The linked portal.")),
    responses((status = 204, description = "The link is withdrawn.")),
)]
pub async fn unlink_portal(
    State(s): State<AppState>,
    PathText(client_id): PathText,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    let account = s.gateway.account_for_session(bearer(&headers)?).await?;
    let provider = s.oidc.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            "this portal is not linked to the account",
        )
    })?;
    provider.withdraw(&account.id, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1/sessions/current`: logs out. The session ends (the browser session
/// cookie with it, which the answer also clears) and the linked portals are told by
/// back-channel logout.
#[utoipa::path(
    delete,
    path = "/v1/sessions/current",
    tag = "login",
    security(("session" = [])),
    responses((status = 204, description = "The session is over.")),
)]
pub async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let token = bearer(&headers)?;
    let account = s.gateway.account_for_session(token).await?;
    match &s.oidc {
        Some(p) => p.end(token, &account.id).await?,
        None => {
            s.gateway.end_session(token).await?;
        }
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, super::oidc::CLEAR_COOKIE)],
    ))
}

/// `GET /healthz`: the process answers.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    responses((status = 200, description = "The process answers (liveness only).", body = StatusBody, example = json!({"status": "ok"}))),
)]
pub async fn healthz() -> impl IntoResponse {
    Json(StatusBody { status: "ok" })
}

/// `GET /readyz`: the database answers, and the trust configuration can still verify a
/// certificate (a trust anchor is valid now).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses((status = 200, description = "The database answers and a trust anchor is valid now.", body = StatusBody, example = json!({"status": "ready"}))),
)]
pub async fn readyz(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    s.gateway.ready().await?;
    Ok(Json(StatusBody { status: "ready" }))
}

/// Anything else: a problem document, not axum's plain 404.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}
