//! Start-up and shutdown of `kyso-gateway serve`: configuration to running service.

use crate::clock::SystemClock;
use crate::config::{Config, ConfigError};
use crate::http::{HttpLimits, RateLimiter, router};
use crate::inspect::decode_certificate;
use crate::policy::{CertificatePolicy, TrustStore};
use crate::service::{Gateway, Settings};
use crate::store::{SqliteStore, Store};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Reads certificate files (PEM or DER); errors name the file and the setting.
pub fn read_certificates(paths: &[PathBuf], setting: &str) -> Result<Vec<Vec<u8>>, ConfigError> {
    paths
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p)
                .map_err(|e| ConfigError(format!("{setting}: {}: {e}", p.display())))?;
            decode_certificate(&bytes)
                .map_err(|e| ConfigError(format!("{setting}: {}: {e}", p.display())))
        })
        .collect()
}

/// The certificate policy a configuration describes.
pub fn policy_from(config: &Config) -> Result<CertificatePolicy, ConfigError> {
    let anchors = read_certificates(&config.trust.anchors, "trust.anchors")?;
    let intermediates = read_certificates(&config.trust.intermediates, "trust.intermediates")?;
    let trust = TrustStore::new(&anchors, &intermediates)
        .map_err(|e| ConfigError(format!("trust: {e}")))?;
    Ok(CertificatePolicy::new(
        trust,
        config.policy_options()?,
        config.revocation_checker()?,
    ))
}

/// Opens the configured store and applies migrations.
pub async fn open_store(config: &Config) -> Result<Arc<SqliteStore>, ConfigError> {
    let store = SqliteStore::open(&config.database_url, config.limits.database_connections)
        .await
        .map_err(|e| ConfigError(format!("database_url: {e}")))?;
    store
        .migrate()
        .await
        .map_err(|e| ConfigError(format!("database migration: {e}")))?;
    Ok(Arc::new(store))
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
        _ = terminate => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Runs the gateway until SIGINT/SIGTERM. Prints `kyso-gateway listening on http://ADDR`
/// on stdout once it accepts connections.
pub async fn serve(config: Config) -> Result<(), ConfigError> {
    let policy = policy_from(&config)?;
    if !policy.checks_revocation() {
        tracing::warn!(
            "policy.revocation = \"off\": revoked certificates are NOT refused; use only for tests and demos"
        );
    }
    let store = open_store(&config).await?;
    let limits = &config.limits;
    let settings = Settings {
        origin: config.public_origin.clone(),
        challenge_ttl: time::Duration::seconds(limits.challenge_ttl_seconds.into()),
        ticket_ttl: time::Duration::seconds(limits.ticket_ttl_seconds.into()),
        session_ttl: time::Duration::seconds(limits.session_ttl_seconds.into()),
    };
    let gateway = Arc::new(Gateway::new(
        store.clone(),
        Arc::new(policy),
        Arc::new(SystemClock),
        settings,
    ));
    let limiter = Arc::new(RateLimiter::new(limits.rate_per_minute, limits.rate_burst));
    let http_limits = HttpLimits {
        body_bytes: limits.body_bytes,
        max_concurrent_requests: limits.max_concurrent_requests,
    };
    let app = router(gateway, limiter, &http_limits);

    let purge_store = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = purge_store
                .purge_expired(time::OffsetDateTime::now_utc())
                .await
            {
                tracing::warn!(error = %e, "purging expired challenges, tickets and sessions failed");
            }
        }
    });

    let listen = config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| ConfigError(format!("listen {listen}: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| ConfigError(format!("listen: {e}")))?;
    println!("kyso-gateway listening on http://{addr}");
    tracing::info!(%addr, origin = %config.public_origin, "kyso-gateway started");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .map_err(|e| ConfigError(format!("server: {e}")))
}
