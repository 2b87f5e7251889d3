//! Extractors: a JSON body whose failures are our error codes (too large is
//! `PAYLOAD_TOO_LARGE`, anything else that is not the expected JSON is
//! `MALFORMED_REQUEST`), and the client's address.

use super::ApiError;
use super::client_addr::ClientAddr;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, StatusCode};
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
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                "the request body is larger than the limit",
            )),
            Err(e) => Err(ApiError::new(ErrorCode::MalformedRequest, e.body_text())),
        }
    }
}
