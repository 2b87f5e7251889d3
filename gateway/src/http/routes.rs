//! The handlers: each decodes its request ([`super::api`]), calls the core, and encodes
//! the domain result as its wire type.

use super::api::{
    AccountBody, AccountCreatedResponse, ChallengeRequest, ChallengeResponse, ConfirmRequest,
    PreviewResponse, SessionResponse, SimLoginRequest, SimRegistrationRequest, SimStartedResponse,
    SimStateResponse, TokenLoginRequest, TokenRegistrationRequest,
};
use super::extract::ApiJson;
use super::{ApiError, AppState};
use crate::domain::Purpose;
use crate::service::decode_intermediates;
use crate::sim::SimService;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use kyso_verify::error::ErrorCode;
use std::sync::Arc;

/// `POST /v1/challenges`: a fresh single-use challenge.
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
pub async fn confirm(
    State(s): State<AppState>,
    Path(ticket): Path<String>,
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
pub async fn start_sim_registration(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<SimRegistrationRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let started = sim_of(&s)?
        .start(
            Purpose::Register,
            &req.phone,
            req.subject_type.map(Into::into),
        )
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SimStartedResponse::from(started)),
    ))
}

/// `POST /v1/sessions/sim`: push a login request to the phone.
pub async fn start_sim_login(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<SimLoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let started = sim_of(&s)?.start(Purpose::Login, &req.phone, None).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SimStartedResponse::from(started)),
    ))
}

/// `GET /v1/registrations/sim/{id}?wait=SECONDS`: the registration's state or result.
pub async fn sim_registration(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let wait = wait_of(query.as_deref())?;
    let view = sim_of(&s)?.view(&id, Purpose::Register, wait).await?;
    Ok(Json(SimStateResponse::from(view)))
}

/// `GET /v1/sessions/sim/{id}?wait=SECONDS`: the login's state or session.
pub async fn sim_login(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let wait = wait_of(query.as_deref())?;
    let view = sim_of(&s)?.view(&id, Purpose::Login, wait).await?;
    Ok(Json(SimStateResponse::from(view)))
}

/// `GET /v1/accounts/me`: the account of a bearer session token.
pub async fn account_me(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthenticated,
                "send Authorization: Bearer <session_token>",
            )
        })?;
    let account = s.gateway.account_for_session(token.trim()).await?;
    Ok(Json(AccountBody::from(account)))
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers, and the trust configuration can still verify a
/// certificate (a trust anchor is valid now).
pub async fn readyz(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    s.gateway.store().ping().await.map_err(|_| {
        ApiError::new(
            ErrorCode::StorageUnavailable,
            "the database does not answer",
        )
    })?;
    if !s.gateway.policy().has_valid_anchor(s.gateway.clock().now()) {
        return Err(ApiError::new(
            ErrorCode::TrustUnavailable,
            "no configured trust anchor is valid now: no certificate can be verified",
        ));
    }
    Ok(Json(serde_json::json!({ "status": "ready" })))
}

/// Anything else: a problem document, not axum's plain 404.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}
