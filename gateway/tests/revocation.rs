//! Revocation with a clock the test sets: the real router and core in process, a real
//! `openssl ocsp` responder and a loopback CRL server. Shows through the HTTP API what
//! `verify-cert --at` shows from the command line: stale answers are refused, a cached
//! answer serves until its nextUpdate and not after, and CRLs are renewed in the
//! background before they expire.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::common::{ORIGIN, Pki, World, call, pem_der};
use axum::http::StatusCode;
use kyso_gateway::revocation::{
    FailureMode, IssuerOverride, Methods, OcspCrlChecker, RevocationSettings,
};
use kyso_tests::revocation::{
    OcspResponder, ResponderOptions, RootSources, ScriptedProxy, StaticServer, dead_url,
};
use kyso_verify::revocation::ocsp::OcspRules;
use serde_json::{Value, json};
use std::sync::Arc;
use time::Duration;

fn settings(pki: &Pki, ocsp: &str, crl: &str) -> RevocationSettings {
    RevocationSettings {
        overrides: vec![IssuerOverride {
            issuer_der: pem_der(&pki.path(&pki.manifest.ca("vnpt").unwrap().cert)),
            ocsp_url: Some(ocsp.into()),
            crl_url: Some(crl.into()),
            require_nonce: None,
        }],
        ..settings_without_overrides()
    }
}

async fn world_asking(pki: Pki, ocsp: &str, crl: &str) -> Checking {
    let asking = settings(&pki, ocsp, crl);
    checking(pki, asking).await
}

/// A world whose gateway checks revocation with `settings` and asks the root's own
/// responder and CRL about the configured VNPT CA (every certificate on a path but the
/// anchor is asked about); they run as long as the world.
struct Checking {
    world: World,
    checker: Arc<OcspCrlChecker>,
    _root: RootSources,
}

impl std::ops::Deref for Checking {
    type Target = World;
    fn deref(&self) -> &World {
        &self.world
    }
}

async fn checking(pki: Pki, mut settings: RevocationSettings) -> Checking {
    let root = RootSources::start(pki.dir.path(), &pki.manifest);
    settings.overrides.push(IssuerOverride {
        issuer_der: pem_der(&pki.path(&pki.manifest.ca("root").unwrap().cert)),
        ocsp_url: Some(root.ocsp.url.clone()),
        crl_url: Some(root.crl_url()),
        require_nonce: None,
    });
    let checker = Arc::new(OcspCrlChecker::new(settings).unwrap());
    let policy = pki.policy_with(checker.clone());
    Checking {
        world: crate::common::world_over(pki, policy).await,
        checker,
        _root: root,
    }
}

fn responder(pki: &Pki, next_update_minutes: Option<u32>) -> OcspResponder {
    let options = ResponderOptions {
        next_update_minutes,
        ..ResponderOptions::of_ca(pki.dir.path(), &pki.manifest, "vnpt")
    };
    OcspResponder::start(pki.dir.path(), &pki.manifest, "vnpt", &options)
}

/// Challenge, token from the person's key file, preview: the whole policy at the clock.
async fn preview(world: &World, person: &str) -> (StatusCode, Value) {
    let app = world.app();
    let (status, c) = call(&app, "/v1/challenges", json!({ "purpose": "register" })).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = world
        .pki
        .token(person, ORIGIN, c["nonce"].as_str().unwrap());
    call(
        &app,
        "/v1/registrations/token",
        json!({ "challenge_id": c["challenge_id"], "auth_token": token }),
    )
    .await
}

fn unavailable_because(answer: &(StatusCode, Value), why: &str) {
    assert_eq!(answer.0, StatusCode::SERVICE_UNAVAILABLE, "{}", answer.1);
    assert_eq!(answer.1["code"], "REVOCATION_UNAVAILABLE");
    assert!(
        answer.1["detail"].as_str().unwrap().contains(why),
        "{}",
        answer.1
    );
}

#[tokio::test]
async fn stale_answers_are_refused_through_the_api() {
    let pki = Pki::generate();
    let timeless = responder(&pki, None);
    let world = world_asking(pki, &timeless.url, &dead_url()).await;
    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    // No nextUpdate: the answer is fresh for ocsp max age (1 h) after its thisUpdate.
    world.clock.advance(Duration::hours(2));
    unavailable_because(&preview(&world, "citizen-cccd").await, "older than");
    timeless.stop();

    let pki = Pki::generate();
    let short = responder(&pki, Some(1));
    let world = world_asking(pki, &short.url, &dead_url()).await;
    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    world.clock.advance(Duration::minutes(10));
    unavailable_because(&preview(&world, "citizen-cmnd").await, "nextUpdate");
}

#[tokio::test]
async fn a_cached_answer_serves_until_its_next_update_and_not_after() {
    let pki = Pki::generate();
    let live = responder(&pki, Some(5));
    let world = world_asking(pki, &live.url, &dead_url()).await;
    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    live.stop();
    world.clock.advance(Duration::minutes(4));
    assert_eq!(
        preview(&world, "citizen-cccd").await.0,
        StatusCode::OK,
        "the cached answer (nextUpdate in 5 minutes) is reused"
    );
    world.clock.advance(Duration::minutes(2));
    unavailable_because(&preview(&world, "citizen-cccd").await, "OCSP");
}

#[tokio::test]
async fn crls_are_renewed_before_they_expire() {
    let pki = Pki::generate();
    let at = pki.manifest.generated_at;
    let ca = kyso_certs::Pki::open(pki.dir.path(), at).unwrap();
    let first = ca
        .crl_signed_by(
            "vnpt",
            "vnpt",
            at - Duration::minutes(5),
            at + Duration::hours(1),
        )
        .unwrap();
    let server = StaticServer::start(&[("/vnpt.crl", first)]);
    let url = format!("{}/vnpt.crl", server.url);
    let asking = settings(&pki, &dead_url(), &url);
    let world = checking(pki, asking).await;
    let checker = world.checker.clone();

    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    let (status, revoked) = preview(&world, "revoked").await;
    assert_eq!(
        (status, revoked["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("CERT_REVOKED"))
    );
    assert_eq!(
        server.hits(),
        1,
        "downloaded once, then served from the cache"
    );
    let first_update = checker.cached_crl_this_update(&url, at).unwrap();

    // Not yet within the 30-minute margin of nextUpdate: nothing to renew.
    assert_eq!(checker.refresh_crls(at + Duration::minutes(20)).await, 0);
    let second = ca
        .crl_signed_by(
            "vnpt",
            "vnpt",
            at + Duration::minutes(30),
            at + Duration::hours(3),
        )
        .unwrap();
    server.set("/vnpt.crl", second);
    assert_eq!(checker.refresh_crls(at + Duration::minutes(40)).await, 1);
    assert_eq!(server.hits(), 2);
    let renewed = checker
        .cached_crl_this_update(&url, at + Duration::minutes(40))
        .unwrap();
    assert_eq!(
        renewed.unix_timestamp(),
        (at + Duration::minutes(30)).unix_timestamp(),
        "the renewed CRL is the second one"
    );
    assert_ne!(renewed, first_update);

    // After the first CRL's nextUpdate, registrations use the renewed one without waiting.
    world.clock.advance(Duration::minutes(90));
    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    assert_eq!(server.hits(), 2, "no download on the registration path");
}

/// Only OCSP or only the CRL, from the URLs the certificates list (no overrides).
fn listed_only(ocsp: bool) -> RevocationSettings {
    RevocationSettings {
        methods: Methods { ocsp, crl: !ocsp },
        overrides: Vec::new(),
        ..settings_without_overrides()
    }
}

fn settings_without_overrides() -> RevocationSettings {
    RevocationSettings {
        methods: Methods {
            ocsp: true,
            crl: true,
        },
        on_unavailable: FailureMode::FailClosed,
        timeout: std::time::Duration::from_secs(5),
        ocsp: OcspRules {
            clock_skew: Duration::minutes(5),
            max_age: Duration::hours(1),
            require_nonce: true,
            allow_sha1: false,
        },
        crl_max_bytes: 1 << 20,
        cache_entries: 100,
        crl_refresh_margin: Duration::minutes(30),
        crl_max_age: Duration::hours(6),
        overrides: Vec::new(),
    }
}

#[tokio::test]
async fn every_crl_distribution_point_is_tried_in_order() {
    // The certificates list two CRL mirrors; the first is down.
    let mirror = StaticServer::start(&[]);
    let mirror_url = mirror.url.clone();
    let pki = Pki::generate_with(|o| {
        o.base_url = dead_url();
        o.mirror_url = Some(mirror_url);
    });
    mirror.set(
        "/crl/vnpt.crl",
        std::fs::read(pki.path("ca/vnpt/crl.der")).unwrap(),
    );
    assert!(
        pki.manifest.mirror_url.is_some(),
        "the certificates list both the dead URL and the mirror"
    );
    let settings = listed_only(false);
    let world = checking(pki, settings).await;
    let (status, revoked) = preview(&world, "revoked").await;
    assert_eq!(
        (status, revoked["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("CERT_REVOKED")),
        "{revoked}"
    );
    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    assert!(mirror.hits() >= 1);
}

#[tokio::test]
async fn every_ocsp_responder_is_tried_in_order() {
    let mirror = ScriptedProxy::start();
    let mirror_url = mirror.url.clone();
    let pki = Pki::generate_with(|o| {
        o.base_url = dead_url();
        o.mirror_url = Some(mirror_url);
    });
    let live = responder(&pki, Some(5));
    mirror.set_upstream(&live.url);
    let settings = listed_only(true);
    let world = checking(pki, settings).await;
    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    let (status, revoked) = preview(&world, "revoked").await;
    assert_eq!(revoked["code"], "CERT_REVOKED", "{status} {revoked}");
}

/// Registration preview through the router, with the answer's headers.
async fn preview_full(world: &World, person: &str) -> (StatusCode, axum::http::HeaderMap, Value) {
    let app = world.app();
    let (_, c) = call(&app, "/v1/challenges", json!({ "purpose": "register" })).await;
    let token = world
        .pki
        .token(person, ORIGIN, c["nonce"].as_str().unwrap());
    crate::common::call_full(
        &app,
        "/v1/registrations/token",
        json!({ "challenge_id": c["challenge_id"], "auth_token": token }),
    )
    .await
}

#[tokio::test]
async fn availability_is_judged_per_request() {
    let pki = Pki::generate();
    let live = responder(&pki, Some(5));
    let proxy = ScriptedProxy::start();
    proxy.set_upstream(&live.url);
    let world = world_asking(pki, &proxy.url, &dead_url()).await;

    // The responder refuses one certificate's request (HTTP 400): that certificate has
    // no answer, but the responder is not marked down for the next one.
    proxy.then_answer(400);
    let (status, headers, one) = preview_full(&world, "citizen-cccd").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{one}");
    assert_eq!(one["code"], "REVOCATION_UNAVAILABLE");
    assert!(
        headers.get("retry-after").is_some(),
        "every 503 says when to retry"
    );
    assert_eq!(
        preview(&world, "citizen-cmnd").await.0,
        StatusCode::OK,
        "another certificate of the same CA is answered right away"
    );

    // A server failure (HTTP 503) marks the responder down for a moment: the next
    // request does not wait on it, and is told when to come back.
    proxy.then_answer(503);
    let (status, _, _) = preview_full(&world, "enterprise-mst").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let asked = proxy.hits();
    let (status, headers, skipped) = preview_full(&world, "enterprise-employee").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{skipped}");
    assert_eq!(proxy.hits(), asked, "not asked while marked down");
    assert_eq!(headers.get("retry-after").unwrap(), "1");
    world.clock.advance(Duration::seconds(1));
    assert_eq!(
        preview(&world, "enterprise-employee").await.0,
        StatusCode::OK
    );
    assert_eq!(proxy.hits(), asked + 1);
}

/// CRLs of the PKI's `vnpt` CA, valid from and until these offsets of the PKI's making.
fn vnpt_crls(pki: &Pki) -> impl Fn(Duration, Duration) -> Vec<u8> + use<> {
    let at = pki.manifest.generated_at;
    let ca = kyso_certs::Pki::open(pki.dir.path(), at).unwrap();
    move |this, next| {
        ca.crl_signed_by("vnpt", "vnpt", at + this, at + next)
            .unwrap()
    }
}

/// A CRL is used at most `crl_max_age` after its download, even when its nextUpdate is a
/// week away (a CA's daily CRL, valid for a week, would otherwise hide the revocations
/// published since); and once it has aged out of the cache, an older CRL replayed in
/// its place is still refused.
#[tokio::test]
async fn a_crl_is_downloaded_again_at_its_maximum_age_and_never_replaced_by_an_older_one() {
    let pki = Pki::generate();
    let crl = vnpt_crls(&pki);
    let server =
        StaticServer::start(&[("/vnpt.crl", crl(Duration::minutes(-5), Duration::days(7)))]);
    let url = format!("{}/vnpt.crl", server.url);
    let settings = RevocationSettings {
        crl_max_age: Duration::hours(2),
        ..settings(&pki, &dead_url(), &url)
    };
    let world = checking(pki, settings).await;
    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    assert_eq!(server.hits(), 1);
    world.clock.advance(Duration::minutes(110));
    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    assert_eq!(server.hits(), 1, "within its maximum age, the cached CRL");
    world.clock.advance(Duration::minutes(11));
    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    assert_eq!(
        server.hits(),
        2,
        "downloaded again at its maximum age, days before its nextUpdate"
    );

    server.set("/vnpt.crl", crl(Duration::minutes(-30), Duration::days(7)));
    world
        .clock
        .advance(Duration::hours(2) + Duration::minutes(1));
    unavailable_because(&preview(&world, "citizen-cccd").await, "older than");
    assert_eq!(
        server.hits(),
        3,
        "the older CRL was downloaded, and refused"
    );
}

#[tokio::test]
async fn an_older_crl_never_replaces_a_newer_one_and_large_crls_are_refused() {
    let pki = Pki::generate();
    let at = pki.manifest.generated_at;
    let crl = vnpt_crls(&pki);
    // The newer CRL is due for renewal soon; the older one, from a stale mirror, was
    // issued earlier but would still be valid for longer.
    let newer = crl(Duration::minutes(-5), Duration::minutes(40));
    let older = crl(Duration::minutes(-30), Duration::hours(2));
    let server = StaticServer::start(&[("/vnpt.crl", newer)]);
    let url = format!("{}/vnpt.crl", server.url);
    let asking = settings(&pki, &dead_url(), &url);
    let world = checking(pki, asking).await;
    let checker = world.checker.clone();
    assert_eq!(preview(&world, "citizen-cccd").await.0, StatusCode::OK);
    let cached = checker.cached_crl_this_update(&url, at).unwrap();
    // A mirror (or an attacker on the wire) now serves an older CRL, still within its
    // validity: the refresh refuses it and the newer one stays.
    server.set("/vnpt.crl", older);
    let later = at + Duration::minutes(20);
    assert_eq!(checker.refresh_crls(later).await, 0);
    assert_eq!(
        server.hits(),
        2,
        "the older CRL was downloaded, and refused"
    );
    assert_eq!(checker.cached_crl_this_update(&url, later), Some(cached));

    // A CRL larger than crl_max_bytes is not downloaded.
    let pki = Pki::generate();
    let big = StaticServer::start(&[("/vnpt.crl", vec![0x30; 4096])]);
    let url = format!("{}/vnpt.crl", big.url);
    let small = RevocationSettings {
        crl_max_bytes: 1024,
        ..settings(&pki, &dead_url(), &url)
    };
    let world = checking(pki, small).await;
    unavailable_because(
        &preview(&world, "citizen-cccd").await,
        "larger than 1024 bytes",
    );
}
