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
    Router::new()
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
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
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

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
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
    axum::serve(listener, router(sim))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Long polls answer now instead of holding the shutdown for up to 30 s.
            stopping.stop_waiting();
        })
        .await
        .map_err(|e| ServeError::Io(format!("server: {e}")))
}
