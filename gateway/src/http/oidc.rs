//! The OpenID Provider's endpoints (design §12), thin like the rest: each reads its
//! request, calls [`crate::oidc::Provider`], and writes the outcome.
//!
//! They speak OAuth's own error formats, not problem documents: the token and userinfo
//! endpoints answer RFC 6749 §5.2 JSON (`{"error": …}`) and RFC 6750 challenges, because
//! that is what every relying-party library reads; the authorization endpoint either
//! redirects to the portal or shows the person a page. Those answers are marked
//! [`OwnFormat`], so the layer that turns bare refusals into problem documents leaves
//! them alone; what the framework and the edge refuse before these handlers run (a wrong
//! method, a body over the limit, a full pool) becomes a problem document there, and on
//! the token and userinfo paths is then rewritten into OAuth's JSON too
//! ([`super::oauth_refusals`]).
//! `POST /oidc/session`, which the page calls, is an API call and answers problem
//! documents.
//!
//! The browser session is the `__Host-kyso_session` cookie (HttpOnly, Secure,
//! SameSite=Lax, `Path=/`, no `Domain`): the login session the page made, handed over by
//! the page once and never readable by script afterwards.

use super::oidc_pages;
use super::{ApiError, AppState};
use crate::oidc::provider::paths;
use crate::oidc::{Authorize, Logout, OAuthError, Provider};
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kyso_edge::problems::OwnFormat;
use kyso_verify::error::ErrorCode;
use std::sync::Arc;

/// The browser session cookie.
pub const COOKIE: &str = "__Host-kyso_session";

/// The provider, extracted: a gateway without one answers its endpoints 404.
pub struct Op(Arc<Provider>);

impl FromRequestParts<AppState> for Op {
    type Rejection = ApiError;

    async fn from_request_parts(_: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        s.oidc.clone().map(Op).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                "the OpenID Provider is not configured on this gateway",
            )
        })
    }
}

/// The browser session token from the `Cookie` headers.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty() && value.len() < 200).then(|| value.to_owned())
        })
}

/// Marks an answer as the protocol's own (see the module docs) and keeps it out of caches.
fn no_store(mut response: Response) -> Response {
    response.extensions_mut().insert(OwnFormat);
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => no_store((StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response()),
        Err(_) => no_store(oidc_pages::error(
            StatusCode::BAD_REQUEST,
            "the redirect URI cannot be used",
        )),
    }
}

/// An [`Authorize`] outcome as a response.
fn answer(outcome: Authorize) -> Response {
    match outcome {
        Authorize::Page { status, message } => no_store(oidc_pages::error(
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            message,
        )),
        Authorize::Redirect(to) | Authorize::Login(to) => see_other(&to),
        Authorize::Consent(screen) => no_store(oidc_pages::consent(&screen)),
    }
}

fn oauth_error(e: &OAuthError) -> Response {
    let mut response = (
        StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
        axum::Json(if e.error.is_empty() {
            serde_json::json!({ "error_description": e.description })
        } else {
            serde_json::json!({ "error": e.error, "error_description": e.description })
        }),
    )
        .into_response();
    if let Some(challenge) = e.challenge {
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
    }
    no_store(response)
}

/// A form body as text, if it is one.
fn form_text(headers: &HeaderMap, body: &Bytes) -> Option<String> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|t| {
                t.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    is_form
        .then(|| String::from_utf8(body.to_vec()).ok())
        .flatten()
}

/// `GET /.well-known/openid-configuration`.
pub async fn discovery(Op(p): Op) -> Response {
    axum::Json(p.discovery()).into_response()
}

/// `GET /oidc/jwks`.
pub async fn jwks(Op(p): Op) -> Response {
    (
        [(header::CONTENT_TYPE, "application/jwk-set+json")],
        p.jwks().to_string(),
    )
        .into_response()
}

/// `GET /oidc/authorize`.
pub async fn authorize(Op(p): Op, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let session = session_cookie(&headers);
    answer(
        p.authorize(query.as_deref().unwrap_or_default(), session.as_deref())
            .await,
    )
}

/// `POST /oidc/authorize` (OpenID Connect Core §3.1.2.1: the same request as a form):
/// sent on as the same request by `GET`. A portal's form posts cross-site, and the
/// browser sends a `SameSite=Lax` cookie with a top-level `GET` only; answering the post
/// itself would see no session and ask for a new login every time.
pub async fn authorize_form(headers: HeaderMap, body: Bytes) -> Response {
    as_get(paths::AUTHORIZE, &headers, &body)
}

/// A form post answered by `303` to `path` with the form as its query.
fn as_get(path: &str, headers: &HeaderMap, body: &Bytes) -> Response {
    match form_text(headers, body) {
        Some(form) => see_other(&format!("{path}?{form}")),
        None => answer(Authorize::Page {
            status: 400,
            message: "the request is not a form",
        }),
    }
}

/// Whether a browser form post comes from this origin (when the browser says).
fn same_origin(s: &AppState, headers: &HeaderMap) -> bool {
    headers
        .get(header::ORIGIN)
        .is_none_or(|o| o.as_bytes() == s.page.origin.as_bytes())
}

/// `POST /oidc/consent`: the consent form.
pub async fn consent(
    Op(p): Op,
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !same_origin(&s, &headers) {
        return answer(Authorize::Page {
            status: 403,
            message: "this form was posted from another site",
        });
    }
    let Some(form) = form_text(&headers, &body) else {
        return answer(Authorize::Page {
            status: 400,
            message: "the request is not a form",
        });
    };
    let session = session_cookie(&headers);
    answer(p.consent(&form, session.as_deref()).await)
}

/// `POST /oidc/session`: the page hands over its login (`Authorization: Bearer`), which
/// becomes the browser session cookie.
pub async fn session(Op(p): Op, State(s): State<AppState>, headers: HeaderMap) -> Response {
    if !same_origin(&s, &headers) {
        return ApiError::new(
            ErrorCode::Unauthenticated,
            "only kyso's page may open a browser session",
        )
        .into_response();
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| crate::oidc::client::credentials(v, "Bearer"))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() < 200);
    let Some(token) = token else {
        return ApiError::new(
            ErrorCode::Unauthenticated,
            "send the session token as a Bearer token",
        )
        .into_response();
    };
    let replaced = session_cookie(&headers);
    let left = match p.hand_over(token, replaced.as_deref()).await {
        Ok(Some(left)) => left,
        Ok(None) => {
            return ApiError::new(ErrorCode::Unauthenticated, "no valid session").into_response();
        }
        Err(r) => return ApiError::from(r).into_response(),
    };
    let cookie = format!(
        "{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={}",
        left.whole_seconds()
    );
    match HeaderValue::from_str(&cookie) {
        Ok(v) => no_store((StatusCode::NO_CONTENT, [(header::SET_COOKIE, v)]).into_response()),
        Err(_) => ApiError::new(ErrorCode::Unauthenticated, "no valid session").into_response(),
    }
}

/// `POST /oidc/token`.
pub async fn token(Op(p): Op, headers: HeaderMap, body: Bytes) -> Response {
    let Some(form) = form_text(&headers, &body) else {
        return oauth_error(&OAuthError {
            status: 400,
            error: "invalid_request",
            description: "the body must be application/x-www-form-urlencoded",
            challenge: None,
        });
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match p.token(&form, authorization).await {
        Ok(tokens) => no_store(axum::Json(tokens).into_response()),
        Err(e) => oauth_error(&e),
    }
}

/// `GET` or `POST /oidc/userinfo` with `Authorization: Bearer`.
pub async fn userinfo(Op(p): Op, headers: HeaderMap) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match p.userinfo(authorization).await {
        Ok(claims) => no_store(axum::Json(claims).into_response()),
        Err(e) => oauth_error(&e),
    }
}

/// The header that removes the browser session cookie.
pub const CLEAR_COOKIE: &str =
    "__Host-kyso_session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0";

fn logged_out(outcome: Logout) -> Response {
    let mut response = match outcome {
        Logout::Unavailable => {
            return answer(Authorize::Page {
                status: 503,
                message: "the service is unavailable; try again in a moment",
            });
        }
        Logout::Refused(message) => {
            return answer(Authorize::Page {
                status: 400,
                message,
            });
        }
        Logout::Confirm {
            request,
            csrf,
            redirect_origin,
        } => {
            return no_store(oidc_pages::logout_confirm(
                &request,
                &csrf,
                redirect_origin.as_deref(),
            ));
        }
        Logout::Done(Some(to)) => see_other(&to),
        Logout::Done(None) => no_store(oidc_pages::logged_out()),
    };
    response
        .headers_mut()
        .insert(header::SET_COOKIE, HeaderValue::from_static(CLEAR_COOKIE));
    response
}

/// `GET /oidc/logout`: RP-initiated logout.
pub async fn logout(Op(p): Op, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let session = session_cookie(&headers);
    logged_out(
        p.logout(
            query.as_deref().unwrap_or_default(),
            session.as_deref(),
            None,
        )
        .await,
    )
}

/// `POST /oidc/logout`: the same request as a form, or the person's confirmation
/// (`request` and `csrf`).
pub async fn logout_form(
    Op(p): Op,
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(form) = form_text(&headers, &body) else {
        return as_get(paths::LOGOUT, &headers, &body);
    };
    let confirmation = crate::oidc::request::Params::parse(&form)
        .ok()
        .and_then(|f| {
            let csrf = f.get("csrf")?.to_owned();
            Some((f.raw("request").unwrap_or_default().to_owned(), csrf))
        });
    // A portal's logout request posted cross-site goes on as a `GET` (see
    // `authorize_form`); only the person's own confirmation is answered here.
    let Some((request, csrf)) = confirmation else {
        return as_get(paths::LOGOUT, &headers, &body);
    };
    if !same_origin(&s, &headers) {
        return logged_out(Logout::Refused("this form was posted from another site"));
    }
    let session = session_cookie(&headers);
    logged_out(p.logout(&request, session.as_deref(), Some(&csrf)).await)
}
