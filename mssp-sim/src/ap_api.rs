//! The AP side over HTTP (`/mss/v1/…`), authenticated with HTTP Basic `ap_id:secret`.
//!
//! Every answer that carries an ETSI status is HTTP 200, faults included. The exceptions:
//! 401 for missing or wrong credentials (`104 UNAUTHORIZED_ACCESS`), 400 for a body or
//! query that cannot be decoded (`101 WRONG_PARAM`, or `102 MISSING_PARAM` for a missing
//! field), 413 for a body over the limit (`101`), and 404 for an unknown transaction or
//! another AP's (`101`). Those answers carry only `{"status": …}` ([`FaultBody`]).

use crate::simulator::Simulator;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode as Http, header};
use axum::response::{IntoResponse, Response};
use kyso_proto::mss::{SignatureRequest, Status, StatusCode};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The body of the non-200 answers: just an ETSI status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultBody {
    /// The fault.
    pub status: Status,
}

/// A non-200 answer with an ETSI status.
pub(crate) fn fault_response(http: Http, code: StatusCode) -> Response {
    (
        http,
        Json(FaultBody {
            status: Status::of(code),
        }),
    )
        .into_response()
}

/// The authenticated AP of a request.
pub(crate) struct ApCaller(pub String);

impl FromRequestParts<Arc<Simulator>> for ApCaller {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        sim: &Arc<Simulator>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match sim.authenticate(header) {
            Some(ap) => Ok(Self(ap)),
            None => {
                let mut r = fault_response(Http::UNAUTHORIZED, StatusCode::UnauthorizedAccess);
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"kyso-mssp-sim\""),
                );
                Err(r)
            }
        }
    }
}

/// A body that could not be read or decoded: its HTTP status and ETSI code.
pub(crate) struct BadBody(Http, StatusCode);

impl IntoResponse for BadBody {
    fn into_response(self) -> Response {
        fault_response(self.0, self.1)
    }
}

/// Decodes a JSON body; a body that cannot be read or decoded is a 400/413, never a 500.
pub(crate) fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, BadBody> {
    let bytes = body.map_err(|e| {
        let http = if e.status() == Http::PAYLOAD_TOO_LARGE {
            Http::PAYLOAD_TOO_LARGE
        } else {
            Http::BAD_REQUEST
        };
        BadBody(http, StatusCode::WrongParam)
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        let code = if e.to_string().starts_with("missing field") {
            StatusCode::MissingParam
        } else {
            StatusCode::WrongParam
        };
        BadBody(Http::BAD_REQUEST, code)
    })
}

/// `POST /mss/v1/signature`.
pub(crate) async fn submit(
    State(sim): State<Arc<Simulator>>,
    ApCaller(ap): ApCaller,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match json_body::<SignatureRequest>(body) {
        Ok(req) => Json(sim.submit(&ap, &req)).into_response(),
        Err(bad) => bad.into_response(),
    }
}

/// `?wait_ms=N`.
#[derive(Deserialize)]
pub(crate) struct PollQuery {
    wait_ms: Option<u64>,
}

/// `GET /mss/v1/signature/{mssp_trans_id}?wait_ms=N`.
pub(crate) async fn status(
    State(sim): State<Arc<Simulator>>,
    ApCaller(ap): ApCaller,
    Path(id): Path<String>,
    query: Result<Query<PollQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return fault_response(Http::BAD_REQUEST, StatusCode::WrongParam);
    };
    let wait = Duration::from_millis(query.wait_ms.unwrap_or(0));
    match sim.status(&ap, &id, wait).await {
        Some(status) => Json(status).into_response(),
        None => fault_response(Http::NOT_FOUND, StatusCode::WrongParam),
    }
}

/// `?msisdn=…`.
#[derive(Deserialize)]
pub(crate) struct CertificateQuery {
    msisdn: Option<String>,
}

/// `GET /mss/v1/certificate?msisdn=…`.
pub(crate) async fn certificate(
    State(sim): State<Arc<Simulator>>,
    ApCaller(_): ApCaller,
    query: Result<Query<CertificateQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else {
        return fault_response(Http::BAD_REQUEST, StatusCode::WrongParam);
    };
    match query.msisdn {
        Some(msisdn) => Json(sim.certificate(&msisdn)).into_response(),
        None => Json(kyso_proto::mss::CertificateAnswer {
            msisdn: String::new(),
            status: Status::of(StatusCode::MissingParam),
            certificate_chain: Vec::new(),
        })
        .into_response(),
    }
}
