//! The one layer around every answer: the client's address ([`super::client_addr`]), the
//! request's id and log span ([`super::request_id`]), the guarantee that a refusal is a problem document
//! ([`kyso_edge::problems`]), the security headers ([`super::page::SecurityHeaders`]) and
//! the request's metrics ([`super::observe`]).
//!
//! One layer, not four: every layer of its own boxes the request's future and clones the
//! routes beneath it for each request, and each such clone is a heap allocation and a
//! reference count per field of the handlers' state (docs/performance.md, ninth session).

use super::client_addr::{ClientAddr, client_of};
use super::extract::socket_peer;
use super::page::SecurityHeaders;
use super::{observe, request_id};
use crate::domain::network::ProxyNet;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use kyso_edge::{Refuse, problems};
use std::sync::Arc;
use tracing::Instrument;

/// What the layer needs: how refusals look, the headers every answer carries, and whose
/// word on the client's address counts.
pub struct Around {
    /// The gateway's problem documents for the framework's own refusals.
    pub refuse: Refuse,
    /// The security headers.
    pub headers: SecurityHeaders,
    /// Proxies believed about their client ([`super::client_addr`]).
    pub trusted_proxies: Vec<ProxyNet>,
}

/// Middleware: the request runs inside a span carrying its id and method (not its path:
/// paths carry tickets and signing-SIM session ids); its answer becomes a problem
/// document if it is a bare refusal, gets the security headers, is counted and timed,
/// and carries the id back.
pub async fn every_answer(
    State(around): State<Arc<Around>>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = socket_peer(request.extensions());
    let client = client_of(peer, request.headers(), &around.trusted_proxies);
    request.extensions_mut().insert(ClientAddr(client));
    let id = request_id::of(&request);
    let span = tracing::info_span!("request", request_id = %id, method = %request.method());
    let answer = async {
        let observed = observe::Observed::start(&request);
        let response = next.run(request).await;
        let mut response = problems::replace_bare(&around.refuse, response).await;
        around.headers.apply(response.headers_mut());
        observed.finish(&response);
        response
    };
    let mut response = request_id::within(id.clone(), answer.instrument(span)).await;
    request_id::label(&mut response, &id);
    response
}
