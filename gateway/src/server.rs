//! `kyso-gateway serve`: the running service, from start-up to graceful shutdown.

use crate::clock::{Clock, SystemClock};
use crate::config::LimitsConfig;
use crate::config::{Config, UnavailableMode};
use crate::domain::network::{ProxyNet, block_key, client_key};
use crate::entropy::SystemEntropy;
use crate::http::page::PageSettings;
use crate::http::{AppState, HttpLimits, Limiters, RateLimiter, router};
use crate::revocation::OcspCrlChecker;
use crate::service::{Gateway, Settings};
use crate::sim::SimService;
use crate::sim::mss_http::HttpMssp;
use crate::startup::{StartupError, ocsp_crl_checker, open_store, policy_with};
use kyso_edge::nofile::{connection_budget, raise_nofile_limit};
use kyso_edge::process::shutdown_signal;
use kyso_edge::{BodyLimits, ClientKey, EdgeLimits, Share, serve_with_limits};
use kyso_verify::policy::{NoRevocationCheck, RevocationChecker};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// What a peer's connections count against: `limits.max_connections_per_client` for its
/// address (an IPv6 /64: one subscriber), and `limits.max_connections_per_ipv6_network`
/// for an IPv6 peer's /48; nothing for a trusted proxy, which carries everyone's
/// connections.
fn connection_shares(limits: &LimitsConfig, proxies: Vec<ProxyNet>) -> Vec<Share> {
    let proxies = Arc::new(proxies);
    let counted = move |key: fn(IpAddr) -> Option<IpAddr>| -> ClientKey {
        let proxies = proxies.clone();
        Arc::new(move |ip| {
            if proxies.iter().any(|p| p.contains(ip)) {
                None
            } else {
                key(ip)
            }
        })
    };
    let mut shares = vec![Share {
        max: limits.max_connections_per_client,
        key: counted(|ip| Some(client_key(ip))),
    }];
    if limits.max_connections_per_ipv6_network > 0 {
        shares.push(Share {
            max: limits.max_connections_per_ipv6_network,
            key: counted(|ip| match client_key(ip) {
                IpAddr::V4(_) => None,
                v6 @ IpAddr::V6(_) => Some(block_key(v6)),
            }),
        });
    }
    shares
}

/// Keeps cached CRLs current: every minute, downloads again those that expire within
/// the refresh margin, so registrations do not wait on a CRL download.
async fn refresh_crls(checker: Arc<OcspCrlChecker>, clock: Arc<dyn Clock>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        let renewed = checker.refresh_crls(clock.now()).await;
        if renewed > 0 {
            tracing::info!(renewed, "CRLs refreshed");
        }
    }
}

/// Runs the gateway until SIGINT/SIGTERM. Prints `kyso-gateway listening on http://ADDR`
/// on stdout once it accepts connections.
pub async fn serve(config: Config) -> Result<(), StartupError> {
    // One clock for every decision of the running service.
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let checker = ocsp_crl_checker(&config)?;
    let revocation: Arc<dyn RevocationChecker> = match &checker {
        Some(c) => c.clone(),
        None => {
            tracing::warn!(
                "policy.revocation = \"off\": revoked certificates are NOT refused; use only for tests and demos"
            );
            Arc::new(NoRevocationCheck)
        }
    };
    if let Some(checker) = checker {
        if config.policy.revocation_unavailable == UnavailableMode::SoftFail {
            tracing::warn!(
                "policy.revocation_unavailable = \"soft-fail\": a certificate whose status cannot be checked is accepted"
            );
        }
        tokio::spawn(refresh_crls(checker, clock.clone()));
    }
    let policy = policy_with(&config, revocation, None)?;
    let store = open_store(&config).await?;
    store.ensure_schema().await?;
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
        clock.clone(),
        Arc::new(SystemEntropy),
        settings,
    ));
    let sim = match &config.sim {
        None => None,
        Some(sim) => {
            let mssp = HttpMssp::new(
                &sim.provider_url,
                &sim.ap_id,
                sim.ap_secret.expose(),
                Duration::from_secs(sim.http_timeout_seconds.into()),
            )
            .map_err(|e| StartupError::Mssp(e.to_string()))?;
            let service = Arc::new(SimService::new(
                gateway.clone(),
                Arc::new(mssp),
                sim.settings(),
            ));
            let resumed = service
                .claim()
                .await
                .map_err(|e| StartupError::Mssp(format!("claiming pending SIM sessions: {e}")))?;
            if resumed > 0 {
                tracing::info!(taken_over = resumed, "pending SIM sessions taken over");
            }
            tokio::spawn(service.clone().keep_claiming());
            Some(service)
        }
    };
    let oidc = match &config.oidc {
        None => None,
        Some(oidc) => Some(Arc::new(
            crate::oidc::Provider::new(oidc, &config.public_origin, gateway.clone())
                .map_err(StartupError::Oidc)?,
        )),
    };
    let limiters = Limiters {
        requests: Arc::new(match limits.ipv6_network_share {
            0 => RateLimiter::new(limits.rate_per_minute, limits.rate_burst, clock.clone()),
            share => RateLimiter::new(limits.rate_per_minute, limits.rate_burst, clock.clone())
                .with_network_share(share),
        }),
        // Each start rings a phone: counted per site (an IPv6 /48), not per /64.
        sim_starts: Arc::new(
            match &config.sim {
                Some(sim) => RateLimiter::new(
                    sim.starts_per_ip_per_minute,
                    sim.starts_per_ip_burst,
                    clock.clone(),
                ),
                None => RateLimiter::new(1, 1, clock.clone()),
            }
            .keyed(crate::domain::network::site_key),
        ),
    };
    let http_limits = HttpLimits {
        body: BodyLimits {
            deadline: Duration::from_secs(limits.body_timeout_seconds.into()),
            max_bytes: limits.body_bytes,
        },
        max_concurrent_requests: limits.max_concurrent_requests,
        max_concurrent_polls: limits.max_concurrent_polls,
        queue_wait: Duration::from_millis(limits.queue_wait_ms),
        trusted_proxies: config.trusted_proxies()?,
    };
    let page = Arc::new(PageSettings {
        agent_url: config.web.agent_url.clone(),
        sim_enabled: sim.is_some(),
        origin: config.public_origin.clone(),
    });
    let metrics = crate::metrics::install();
    crate::metrics::runtime_workers(tokio::runtime::Handle::current().metrics().num_workers());
    if let Some(handle) = metrics.clone() {
        // Histograms are kept fresh by the recorder's upkeep.
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                handle.run_upkeep();
            }
        });
    }
    let provider = oidc.clone();
    let sim_service = sim.clone();
    let app = router(
        AppState {
            gateway,
            sim,
            page,
            metrics,
            oidc,
        },
        &limiters,
        &http_limits,
    );

    let purge_store = store.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = purge_store.purge_expired(clock.now()).await {
                tracing::warn!(error = %e, "purging expired challenges, tickets and sessions failed");
            }
        }
    });

    let listen = config.listen_addr()?;
    let bind_error = |source| StartupError::Listen {
        addr: listen.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let open_files = raise_nofile_limit();
    let edge = EdgeLimits {
        header_read: Duration::from_secs(limits.header_timeout_seconds.into()),
        write_stall: Duration::from_secs(limits.header_timeout_seconds.into()),
        max_connections: connection_budget(limits.max_connections, open_files),
        shutdown_grace: Duration::from_secs(limits.shutdown_grace_seconds.into()),
        shares: connection_shares(limits, config.trusted_proxies()?),
    };
    println!("kyso-gateway listening on http://{addr}");
    tracing::info!(
        %addr,
        origin = %config.public_origin,
        max_connections = edge.max_connections,
        "kyso-gateway started"
    );
    let grace = edge.shutdown_grace;
    serve_with_limits(listener, app, edge, shutdown_signal())
        .await
        .map_err(bind_error)?;
    // The answers are out; what they promised in the background is not yet.
    if let Some(sim) = sim_service {
        sim.release().await;
    }
    if let Some(provider) = provider {
        provider.finish_deliveries(grace).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The /64s of one IPv6 /48 are clients of their own but one network in all; IPv4
    /// addresses count alone, and a trusted proxy counts against nothing.
    #[test]
    fn an_ipv6_48_is_one_network_for_connections_whichever_64_they_come_from() {
        let proxies = vec!["10.0.0.0/8".parse().unwrap()];
        let shares = connection_shares(&LimitsConfig::default(), proxies);
        let keys = |ip: &str| -> Vec<Option<IpAddr>> {
            shares
                .iter()
                .map(|s| (s.key)(ip.parse().unwrap()))
                .collect()
        };
        let (one, two) = (keys("2001:db8:1:1::1"), keys("2001:db8:1:2::1"));
        assert_ne!(one[0], two[0], "two /64s are two clients");
        assert_eq!(one[1], two[1], "in one /48");
        assert_ne!(one[1], keys("2001:db8:2:1::1")[1], "another /48");
        assert_eq!(
            keys("203.0.113.5"),
            [Some("203.0.113.5".parse().unwrap()), None]
        );
        assert_eq!(keys("10.1.2.3"), [None, None]);
        assert_eq!(
            shares.iter().map(|s| s.max).collect::<Vec<_>>(),
            [256, 1024]
        );
        let off = LimitsConfig {
            max_connections_per_ipv6_network: 0,
            ..LimitsConfig::default()
        };
        assert_eq!(connection_shares(&off, Vec::new()).len(), 1);
    }
}
