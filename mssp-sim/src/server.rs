//! The HTTP service: routes, start-up and graceful shutdown of `kyso-mssp-sim serve`.

use crate::config::{Config, ConfigError};
use crate::simulator::Simulator;
use crate::{ap_api, device_api, phone_page};
use axum::Router;
use axum::routing::{get, post};
use std::io::Write;
use std::sync::Arc;

/// Largest request body accepted, bytes. A legitimate signature request is under 3 KiB.
pub const BODY_LIMIT: usize = 16 * 1024;

/// The simulator's routes: AP API, device API, phone page and `/healthz`.
pub fn router(sim: Arc<Simulator>) -> Router {
    let routes = Router::new()
        .route("/mss/v1/signature", post(ap_api::submit))
        .route("/mss/v1/signature/{mssp_trans_id}", get(ap_api::status))
        .route("/mss/v1/certificate", get(ap_api::certificate))
        .route("/device/v1/{msisdn}/requests", get(device_api::list))
        .route(
            "/device/v1/{msisdn}/requests/{id}/confirm",
            post(device_api::confirm),
        )
        .route(
            "/device/v1/{msisdn}/requests/{id}/reject",
            post(device_api::reject),
        )
        .route("/phone/{msisdn}", get(phone_page::phone_page))
        .route("/healthz", get(|| async { "ok" }))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT));
    kyso_edge::body::whole_bodies(
        routes,
        kyso_edge::BodyLimits {
            deadline: std::time::Duration::from_secs(10),
            max_bytes: BODY_LIMIT,
        },
        Arc::new(edge_refusal),
    )
    .with_state(sim)
}

/// Why `serve` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration or the test PKI cannot be used (exit code 2).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Listening or serving failed.
    #[error("{0}")]
    Io(String),
}

/// What the simulator answers for a refusal made at the edge (a slow or oversized body):
/// a bare status with a short JSON reason, as the simulated operator is not kyso's API.
fn edge_refusal(refusal: kyso_edge::Refusal) -> axum::response::Response {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let status = match refusal {
        kyso_edge::Refusal::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
        kyso_edge::Refusal::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        kyso_edge::Refusal::NotFound => StatusCode::NOT_FOUND,
        kyso_edge::Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        kyso_edge::Refusal::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        kyso_edge::Refusal::BadRequest(_) => StatusCode::BAD_REQUEST,
        kyso_edge::Refusal::Other(status) => status,
    };
    (
        status,
        axum::Json(serde_json::json!({ "error": status.canonical_reason() })),
    )
        .into_response()
}

/// Runs the simulator until SIGINT/SIGTERM. Prints `kyso-mssp-sim listening on
/// http://ADDR` as the first stdout line once it accepts connections.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    let listen = config.listen_addr()?;
    let sim = Arc::new(Simulator::from_config(&config)?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| ServeError::Io(format!("listen {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ServeError::Io(format!("listen: {e}")))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "kyso-mssp-sim listening on http://{addr}")
        .and_then(|()| out.flush())
        .map_err(|e| ServeError::Io(format!("stdout: {e}")))?;
    drop(out);
    let aps: Vec<&str> = config.ap.iter().map(|a| a.id.as_str()).collect();
    let interactive: Vec<String> = sim
        .interactive_numbers()
        .into_iter()
        .map(|(n, p)| format!("{n} ({p})"))
        .collect();
    tracing::info!(
        %addr,
        aps = ?aps,
        interactive = ?interactive,
        automatic = crate::numbers::TEST_NUMBERS.len(),
        "kyso-mssp-sim started"
    );
    let stopping = sim.clone();
    let limits = kyso_edge::EdgeLimits {
        header_read: std::time::Duration::from_secs(10),
        write_stall: std::time::Duration::from_secs(10),
        max_connections: kyso_edge::nofile::connection_budget(
            1024,
            kyso_edge::nofile::raise_nofile_limit(),
        ),
        shutdown_grace: std::time::Duration::from_secs(5),
        shares: Vec::new(),
    };
    let shutdown = async move {
        kyso_edge::process::shutdown_signal().await;
        // Long polls answer now instead of holding the shutdown for up to 30 s.
        stopping.stop_waiting();
    };
    kyso_edge::serve_with_limits(listener, router(sim), limits, shutdown)
        .await
        .map_err(|e| ServeError::Io(format!("server: {e}")))
}
