//! Serving HTTP for kyso's programs (the gateway, the signing agent, the simulator) so
//! that slow or many clients cannot stall them (design §6), and what every such program
//! needs around it: graceful shutdown and logging.
//!
//! - [`serve`]: the accept loop — a global cap on open connections below the process's
//!   file-descriptor limit, HTTP/1 with one timer for the request head and for idle
//!   keep-alive connections, a graceful shutdown with a deadline.
//! - `stall`: an answer the client stops reading ends its connection.
//! - [`body`]: the whole request body read against a deadline and a size limit before
//!   anything else runs, so a slow body holds no worker.
//! - [`gate`]: a concurrency limit shared by every route it covers, with a bounded wait.
//! - [`problems`]: no refusal leaves without a problem document.
//! - [`nofile`]: the file-descriptor limit and the connection budget it allows.
//! - [`process`]: the shutdown signal and the log set-up.
//!
//! Each program says how its refusals look ([`Refusal`] → its own problem document), so
//! this crate knows no error codes.

pub mod body;
pub mod gate;
pub mod nofile;
pub mod problems;
pub mod process;
pub mod serve;
mod stall;

pub use body::BodyLimits;
pub use serve::{ClientKey, EdgeLimits, Share, serve_with_limits};

use axum::http::StatusCode;
use axum::response::Response;
use std::sync::Arc;

/// A refusal made at the edge, before or around the program's own handlers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The request body did not arrive within the body deadline (408).
    BodyTimeout,
    /// The request body is larger than the limit (413).
    BodyTooLarge,
    /// The request is malformed (400): an unreadable body, an undecodable path.
    BadRequest(String),
    /// No such route (404).
    NotFound,
    /// The route exists, not with this method (405; `Allow` is kept).
    MethodNotAllowed,
    /// The program is at its concurrency limit and the wait ran out (503).
    Overloaded,
    /// Any other refusal the framework made with this status.
    Other(StatusCode),
}

impl Refusal {
    /// The refusal a bare framework response with `status` stands for.
    pub fn of_status(status: StatusCode) -> Self {
        match status {
            StatusCode::NOT_FOUND => Self::NotFound,
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::PAYLOAD_TOO_LARGE => Self::BodyTooLarge,
            StatusCode::REQUEST_TIMEOUT => Self::BodyTimeout,
            StatusCode::BAD_REQUEST => Self::BadRequest("the request is malformed".into()),
            other => Self::Other(other),
        }
    }
}

/// How a program turns a [`Refusal`] into its problem document.
pub type Refuse = Arc<dyn Fn(Refusal) -> Response + Send + Sync>;
