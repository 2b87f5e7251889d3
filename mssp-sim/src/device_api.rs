//! The phone side over HTTP (`/device/v1/{msisdn}/…`): what the SIM applet shows and
//! what the person answers. No AP credentials: the caller plays the phone.
//!
//! HTTP status by answer: `SIGNED`/`REJECTED` 200, `PIN_INCORRECT` 403, `PIN_BLOCKED`
//! 423, `NOT_FOUND` 404, `BAD_REQUEST` 400 (undecodable body), `DEVICE_ERROR` 500.

use crate::ap_api::json_body;
use crate::simulator::{DeviceResult, Simulator};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode as Http;
use axum::response::{IntoResponse, Response};
use kyso_proto::mss::{ConfirmRequest, DeviceAnswer};
use std::sync::Arc;

fn answer(result: DeviceResult) -> Response {
    let http = match result {
        DeviceResult::Signed | DeviceResult::Rejected => Http::OK,
        DeviceResult::PinIncorrect { .. } => Http::FORBIDDEN,
        DeviceResult::PinBlocked => Http::LOCKED,
        DeviceResult::NotFound => Http::NOT_FOUND,
        DeviceResult::DeviceError => Http::INTERNAL_SERVER_ERROR,
    };
    let tries_left = match result {
        DeviceResult::PinIncorrect { tries_left } => Some(tries_left),
        _ => None,
    };
    (
        http,
        Json(DeviceAnswer {
            result: result.name().to_owned(),
            tries_left,
        }),
    )
        .into_response()
}

fn bad_request() -> Response {
    (
        Http::BAD_REQUEST,
        Json(DeviceAnswer {
            result: "BAD_REQUEST".into(),
            tries_left: None,
        }),
    )
        .into_response()
}

/// `GET /device/v1/{msisdn}/requests`: the outstanding requests (at most one).
pub(crate) async fn list(
    State(sim): State<Arc<Simulator>>,
    Path(msisdn): Path<String>,
) -> Response {
    match sim.pending(&msisdn) {
        Some(pending) => Json(pending).into_response(),
        None => answer(DeviceResult::NotFound),
    }
}

/// `POST /device/v1/{msisdn}/requests/{id}/confirm` with `{"pin": …}`.
pub(crate) async fn confirm(
    State(sim): State<Arc<Simulator>>,
    Path((msisdn, id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Ok(req) = json_body::<ConfirmRequest>(body) else {
        return bad_request();
    };
    answer(sim.confirm(&msisdn, &id, &req.pin))
}

/// `POST /device/v1/{msisdn}/requests/{id}/reject`.
pub(crate) async fn reject(
    State(sim): State<Arc<Simulator>>,
    Path((msisdn, id)): Path<(String, String)>,
) -> Response {
    answer(sim.reject(&msisdn, &id))
}
