//! A JSON body extractor whose failures are our error codes: too large is
//! `PAYLOAD_TOO_LARGE`, anything else that is not the expected JSON is `MALFORMED_REQUEST`.

use super::ApiError;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use kyso_verify::error::ErrorCode;

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
