//! The handlers: each decodes its request, calls the core, encodes the answer.

use super::extract::ApiJson;
use super::{ApiError, AppState};
use crate::service::ContactDetails;
use crate::sim::SimService;
use crate::store::Purpose;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use kyso_proto::webeid::AuthToken;
use kyso_verify::error::ErrorCode;
use kyso_verify::identity::SubjectType;
use serde::Deserialize;
use std::sync::Arc;

/// `POST /v1/challenges` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    purpose: Purpose,
}

/// `POST /v1/registrations/token` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenRegistrationRequest {
    challenge_id: String,
    auth_token: AuthToken,
    #[serde(default)]
    intermediates: Vec<String>,
    subject_type: Option<SubjectType>,
}

/// `POST /v1/sessions/token` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenLoginRequest {
    challenge_id: String,
    auth_token: AuthToken,
}

/// `POST /v1/challenges`: a fresh single-use challenge.
pub async fn create_challenge(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.gateway.create_challenge(req.purpose).await?),
    ))
}

/// `POST /v1/registrations/token`: verify the token, answer the identity preview.
pub async fn register_token(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenRegistrationRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let preview = s
        .gateway
        .register_token(
            &req.challenge_id,
            &req.auth_token,
            &req.intermediates,
            req.subject_type,
        )
        .await?;
    Ok(Json(preview))
}

/// `POST /v1/registrations/{ticket}/confirm`: create the previewed account.
pub async fn confirm(
    State(s): State<AppState>,
    Path(ticket): Path<String>,
    ApiJson(contact): ApiJson<ContactDetails>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(s.gateway.confirm(&ticket, contact).await?),
    ))
}

/// `POST /v1/sessions/token`: log in with a token.
pub async fn login_token(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<TokenLoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(Json(
        s.gateway
            .login_token(&req.challenge_id, &req.auth_token)
            .await?,
    ))
}

/// `POST /v1/registrations/sim` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimRegistrationRequest {
    phone: String,
    subject_type: Option<SubjectType>,
}

/// `POST /v1/sessions/sim` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimLoginRequest {
    phone: String,
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
        .start(Purpose::Register, &req.phone, req.subject_type)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

/// `POST /v1/sessions/sim`: push a login request to the phone.
pub async fn start_sim_login(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<SimLoginRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let started = sim_of(&s)?.start(Purpose::Login, &req.phone, None).await?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

/// `GET /v1/registrations/sim/{id}?wait=SECONDS`: the registration's state or result.
pub async fn sim_registration(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let wait = wait_of(query.as_deref())?;
    Ok(Json(sim_of(&s)?.view(&id, Purpose::Register, wait).await?))
}

/// `GET /v1/sessions/sim/{id}?wait=SECONDS`: the login's state or session.
pub async fn sim_login(
    State(s): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let wait = wait_of(query.as_deref())?;
    Ok(Json(sim_of(&s)?.view(&id, Purpose::Login, wait).await?))
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
    Ok(Json(s.gateway.account_for_session(token.trim()).await?))
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers too.
pub async fn readyz(State(s): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    s.gateway.store().ping().await.map_err(|_| {
        ApiError::new(
            ErrorCode::StorageUnavailable,
            "the database does not answer",
        )
    })?;
    Ok(Json(serde_json::json!({ "status": "ready" })))
}

/// Anything else: a problem document, not axum's plain 404.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}
