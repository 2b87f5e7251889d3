//! Extractors: a JSON body whose failures are our error codes (too large is
//! `PAYLOAD_TOO_LARGE`, anything else that is not the expected JSON is
//! `MALFORMED_REQUEST`), a path parameter, and the client's address.
//!
//! Neither a body nor a path parameter may carry a NUL character: nothing kyso issues or
//! reads contains one, and PostgreSQL's text cannot hold one, so such input would
//! otherwise reach the store and fail there as if the store were down.

use super::ApiError;
use super::client_addr::ClientAddr;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, StatusCode, header};
use kyso_verify::error::ErrorCode;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The client's address: the TCP peer's, or the one a trusted proxy named
/// ([`super::client_addr`]).
pub struct Peer(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(peer_of(&parts.extensions)))
    }
}

/// The client's address as the layer around every answer found it; else the TCP peer's.
pub fn peer_of(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ClientAddr>()
        .map_or_else(|| socket_peer(extensions), |c| c.0)
}

/// The TCP peer's address; `0.0.0.0` for a request that came over no socket (the
/// router called in process).
pub fn socket_peer(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// `Json<T>` with kyso's error mapping.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                ErrorCode::MalformedRequest,
                "Expected request with `Content-Type: application/json`",
            ));
        }
        // Read once (under the body limit), looked at, then parsed from the same bytes.
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    "the request body is larger than the limit",
                )
            } else {
                ApiError::new(ErrorCode::MalformedRequest, e.body_text())
            }
        })?;
        if carries_nul(&bytes) {
            return Err(ApiError::new(
                ErrorCode::MalformedRequest,
                "the body carries a NUL character (\\u0000), which no field takes",
            ));
        }
        Json::<T>::from_bytes(&bytes)
            .map(|Json(v)| ApiJson(v))
            .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, e.body_text()))
    }
}

/// Whether the request says its body is JSON: `application/json` or `application/*+json`,
/// parameters aside (as axum's `Json` decides).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype
                .as_bytes()
                .get(subtype.len().saturating_sub(5)..)
                .is_some_and(|end| subtype.len() > 5 && end.eq_ignore_ascii_case(b"+json")))
}

/// Whether a JSON text holds a NUL character, escaped (`\u0000`) or raw. An escaped
/// backslash before `u0000` is text, not a NUL.
fn carries_nul(json: &[u8]) -> bool {
    let mut at = 0;
    while let Some(&byte) = json.get(at) {
        match byte {
            0 => return true,
            b'\\' if json[at + 1..].starts_with(b"u0000") => return true,
            // The escaped character is skipped, a backslash included.
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
    false
}

/// A path parameter (a ticket, a SIM session, a portal), refused as `MALFORMED_REQUEST`
/// when it does not decode or holds a control character.
pub struct PathText(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathText {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(text) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::new(ErrorCode::MalformedRequest, e.body_text()))?;
        if text.chars().any(char::is_control) {
            return Err(ApiError::new(
                ErrorCode::MalformedRequest,
                "the path holds a control character, which nothing kyso issues does",
            ));
        }
        Ok(Self(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_told_by_its_media_type_parameters_and_case_aside() {
        let of = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            is_json(&headers)
        };
        for yes in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON",
            "application/problem+json",
        ] {
            assert!(of(yes), "{yes}");
        }
        for no in [
            "text/plain",
            "application/jsonx",
            "application/+json",
            "json",
            "",
        ] {
            assert!(!of(no), "{no}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }

    #[test]
    fn a_nul_is_found_raw_or_escaped_but_not_in_an_escaped_backslash() {
        assert!(carries_nul(b"{\"a\":\"x\\u0000\"}"));
        assert!(carries_nul(b"{\"a\":\"x\0\"}"));
        assert!(!carries_nul(b"{\"a\":\"x\\\\u0000\"}"));
        assert!(carries_nul(b"{\"a\":\"x\\\\\\u0000\"}"));
        // A backslash at the very end (a truncated body) is no NUL, and no panic.
        assert!(!carries_nul(b"{\"a\":\"x\\"));
    }
}
