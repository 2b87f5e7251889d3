//! The gateway's use cases in process, over a real SQLite file and a settable clock:
//! every manifest verdict, single-use and expiring challenges and tickets, duplicate
//! identities (same certificate, renewal, CMND vs CCCD), concurrency, login and sessions,
//! and the audit chain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::common::{ORIGIN, World, world};
use kyso_gateway::domain::{Preview, Purpose, SessionIssued};
use kyso_gateway::store::AccountStore;
use kyso_gateway::store::{AUDIT_PAGE, verify_audit_chain};
use kyso_verify::error::ErrorCode;
use kyso_verify::identity::{Identifier, IdentifierKind};
use time::Duration;

impl World {
    async fn preview(&self, person: &str) -> Result<Preview, ErrorCode> {
        let c = self
            .gateway
            .create_challenge(Purpose::Register)
            .await
            .unwrap();
        let token = self.pki.token(person, &c.origin, &c.nonce);
        self.gateway
            .register_token(&c.id, &token, &[], None)
            .await
            .map_err(|e| e.code)
    }

    async fn register(&self, person: &str) -> Result<String, ErrorCode> {
        let p = self.preview(person).await?;
        self.gateway
            .confirm(&p.ticket, Some("lien.he@example.vn"), None)
            .await
            .map(|a| a.id)
            .map_err(|e| e.code)
    }

    async fn login(&self, person: &str) -> Result<SessionIssued, ErrorCode> {
        let c = self.gateway.create_challenge(Purpose::Login).await.unwrap();
        let token = self.pki.token(person, &c.origin, &c.nonce);
        self.gateway
            .login_token(&c.id, &token, &[])
            .await
            .map_err(|e| e.code)
    }
}

#[tokio::test]
async fn every_person_gets_the_manifest_verdict_and_ok_persons_an_account() {
    let w = world().await;
    let persons: Vec<_> = w
        .pki
        .manifest
        .persons
        .iter()
        .filter(|p| p.same_holder_as.is_none())
        .cloned()
        .collect();
    for p in &persons {
        let got = w.register(&p.id).await;
        let want = p.verdict_without_revocation();
        match want.code() {
            None => {
                let account_id = got.unwrap_or_else(|e| panic!("{}: {e}", p.id));
                let me = w.login(&p.id).await.unwrap();
                assert_eq!(me.account.id, account_id);
                let expected = p.identity.as_ref().unwrap();
                assert_eq!(
                    me.account.subject.identifier.value, expected.identifier.value,
                    "{}",
                    p.id
                );
                assert_eq!(me.account.ial, 3);
            }
            Some(code) => assert_eq!(
                got.map_err(|e| e.as_str().to_owned()),
                Err(code.as_str().to_owned()),
                "{}",
                p.id
            ),
        }
    }
    assert!(
        verify_audit_chain(w.store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq
            >= 2
    );
}

#[tokio::test]
async fn a_challenge_is_single_use_purpose_bound_and_expires() {
    let w = world().await;
    let c = w.gateway.create_challenge(Purpose::Register).await.unwrap();
    assert_eq!(c.nonce.len(), 44);
    let token = w.pki.token("citizen-cccd", ORIGIN, &c.nonce);
    assert!(
        w.gateway
            .register_token(&c.id, &token, &[], None)
            .await
            .is_ok()
    );
    let replay = w
        .gateway
        .register_token(&c.id, &token, &[], None)
        .await
        .unwrap_err();
    assert_eq!(replay.code, ErrorCode::ChallengeNotFound);

    let c = w.gateway.create_challenge(Purpose::Login).await.unwrap();
    let token = w.pki.token("citizen-cccd", ORIGIN, &c.nonce);
    let wrong = w
        .gateway
        .register_token(&c.id, &token, &[], None)
        .await
        .unwrap_err();
    assert_eq!(wrong.code, ErrorCode::ChallengeNotFound);

    let c = w.gateway.create_challenge(Purpose::Register).await.unwrap();
    w.clock.advance(Duration::minutes(5));
    let token = w.pki.token("citizen-cccd", ORIGIN, &c.nonce);
    let late = w
        .gateway
        .register_token(&c.id, &token, &[], None)
        .await
        .unwrap_err();
    assert_eq!(late.code, ErrorCode::ChallengeExpired);

    let c = w.gateway.create_challenge(Purpose::Register).await.unwrap();
    let elsewhere = w
        .pki
        .token("citizen-cccd", "https://phishing.test", &c.nonce);
    let bad = w
        .gateway
        .register_token(&c.id, &elsewhere, &[], None)
        .await
        .unwrap_err();
    assert_eq!(bad.code, ErrorCode::SignatureInvalid);
}

#[tokio::test]
async fn one_identity_one_account_whatever_the_certificate() {
    let w = world().await;
    w.register("citizen-cccd").await.unwrap();
    assert_eq!(
        w.preview("citizen-cccd").await.unwrap_err(),
        ErrorCode::AccountExists
    );
    assert_eq!(
        w.preview("citizen-cccd-renewed").await.unwrap_err(),
        ErrorCode::AccountExists,
        "renewal"
    );
    let first = w.login("citizen-cccd").await.unwrap();
    let renewed = w.login("citizen-cccd-renewed").await.unwrap();
    assert_eq!(
        first.account.id, renewed.account.id,
        "a renewed certificate logs in to the same account"
    );

    // CMND and CCCD of one person: either order, one account.
    w.register("citizen-cmnd-cccd").await.unwrap();
    assert_eq!(
        w.preview("citizen-cmnd-legacy").await.unwrap_err(),
        ErrorCode::AccountExists
    );
    assert_eq!(
        w.login("citizen-cmnd-legacy")
            .await
            .unwrap()
            .account
            .subject
            .identifier
            .value,
        "079195001234"
    );
}

#[tokio::test]
async fn a_shared_alias_does_not_open_another_persons_account() {
    let w = world().await;
    // Another person's account, keyed by another CCCD, holds this certificate's CMND as
    // an alias (a reused legacy number, or a certificate issued in error).
    let cmnd = Identifier {
        kind: IdentifierKind::Cmnd,
        value: "025123456".into(),
    };
    let other = crate::store::citizen("048201000999", &[cmnd]);
    crate::store::register(w.store.as_ref(), "acc_other", other)
        .await
        .unwrap();
    assert_eq!(
        w.login("citizen-cmnd-cccd").await.unwrap_err(),
        ErrorCode::InvalidIdentifier
    );
    // The CMND-only certificate proves only the CMND, which that account holds.
    assert_eq!(
        w.login("citizen-cmnd-legacy").await.unwrap().account.id,
        "acc_other"
    );
}

#[tokio::test]
async fn an_account_keyed_by_a_cmnd_opens_with_the_persons_cccd_certificate_and_learns_it() {
    let w = world().await;
    w.register("citizen-cmnd-legacy").await.unwrap();
    let cccd = [Identifier {
        kind: IdentifierKind::Cccd,
        value: "079195001234".into(),
    }];
    assert_eq!(w.store.find_account(&cccd).await.unwrap(), None);
    let session = w.login("citizen-cmnd-cccd").await.unwrap();
    assert_eq!(session.account.subject.identifier.value, "025123456");
    // The login proved the CCCD is this person's: a registration with it finds the
    // account, so one person cannot hold a CMND account and a CCCD account.
    let found = w.store.find_account(&cccd).await.unwrap().unwrap();
    assert_eq!(found.id, session.account.id);
    assert_eq!(
        w.login("citizen-cmnd-cccd").await.unwrap().account.id,
        found.id
    );
}

/// A CMND-keyed account learns one CCCD; a certificate that carries the same (reused)
/// CMND with another CCCD proves another person, and does not open it.
#[tokio::test]
async fn a_cmnd_account_that_learnt_a_cccd_is_not_opened_by_another_cccd_with_that_cmnd() {
    let w = world().await;
    let account = w.register("citizen-cmnd-legacy").await.unwrap();
    // An earlier login, with a certificate carrying CMND 025123456 and this CCCD, taught
    // the account its CCCD.
    let first = Identifier {
        kind: IdentifierKind::Cccd,
        value: "001099000123".into(),
    };
    assert!(
        w.store
            .add_aliases(&account, std::slice::from_ref(&first))
            .await
            .unwrap()
    );
    assert_eq!(
        w.login("citizen-cmnd-cccd").await.unwrap_err(),
        ErrorCode::InvalidIdentifier
    );
    let other = [Identifier {
        kind: IdentifierKind::Cccd,
        value: "079195001234".into(),
    }];
    assert_eq!(w.store.find_account(&other).await.unwrap(), None);
    // The CMND-only certificate still opens it.
    assert_eq!(
        w.login("citizen-cmnd-legacy").await.unwrap().account.id,
        account
    );
}

#[tokio::test]
async fn the_legacy_cmnd_first_then_the_cccd_certificate_is_refused() {
    let w = world().await;
    w.register("citizen-cmnd-legacy").await.unwrap();
    assert_eq!(
        w.register("citizen-cmnd-cccd").await.unwrap_err(),
        ErrorCode::AccountExists
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_confirmations_make_exactly_one_account() {
    let w = world().await;
    let mut tickets = Vec::new();
    for _ in 0..50 {
        tickets.push(w.preview("enterprise-mst").await.unwrap().ticket);
    }
    let mut tasks = Vec::new();
    for t in tickets {
        let g = w.gateway.clone();
        tasks.push(tokio::spawn(async move {
            g.confirm(&t, Some("ketoan@kyso.vn"), None)
                .await
                .map_err(|e| e.code)
        }));
    }
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => created += 1,
            Err(code) => assert_eq!(code, ErrorCode::AccountExists),
        }
    }
    assert_eq!(created, 1);
}

#[tokio::test]
async fn confirmation_checks_contact_details_before_using_the_ticket() {
    let w = world().await;
    let p = w.preview("enterprise-branch").await.unwrap();
    let confirm = |email, phone| w.gateway.confirm(&p.ticket, email, phone);
    assert_eq!(
        confirm(None, None).await.unwrap_err().code,
        ErrorCode::EmailRequired
    );
    assert_eq!(
        confirm(Some("not-an-email"), None).await.unwrap_err().code,
        ErrorCode::InvalidEmail
    );
    assert_eq!(
        confirm(Some("a@b.vn"), Some("12345"))
            .await
            .unwrap_err()
            .code,
        ErrorCode::InvalidPhone
    );
    let good = (Some("a@b.vn"), Some("0912345678"));
    let created = confirm(good.0, good.1).await.unwrap();
    assert_eq!(created.subject.identifier.value, "0301519977-029");
    assert_eq!(
        confirm(good.0, good.1).await.unwrap_err().code,
        ErrorCode::TicketNotFound,
        "single use"
    );
    let me = w.login("enterprise-branch").await.unwrap();
    assert_eq!(me.account.phone.as_deref(), Some("+84912345678"));

    // A citizen needs no email; a ticket dies after ten minutes.
    let p = w.preview("citizen-ec").await.unwrap();
    w.clock.advance(Duration::minutes(10));
    assert_eq!(
        w.gateway
            .confirm(&p.ticket, None, None)
            .await
            .unwrap_err()
            .code,
        ErrorCode::TicketNotFound
    );
}

#[tokio::test]
async fn sessions_open_the_account_until_they_expire() {
    let w = world().await;
    assert_eq!(
        w.login("citizen-ec").await.unwrap_err(),
        ErrorCode::AccountNotFound
    );
    let id = w.register("citizen-ec").await.unwrap();
    let s = w.login("citizen-ec").await.unwrap();
    assert_eq!(
        w.gateway
            .account_for_session(&s.session_token)
            .await
            .unwrap()
            .id,
        id
    );
    assert_eq!(
        w.gateway
            .account_for_session("forged")
            .await
            .unwrap_err()
            .code,
        ErrorCode::Unauthenticated
    );
    w.clock.advance(Duration::hours(1));
    assert_eq!(
        w.gateway
            .account_for_session(&s.session_token)
            .await
            .unwrap_err()
            .code,
        ErrorCode::Unauthenticated
    );
}

#[tokio::test]
async fn subject_type_asked_for_must_match() {
    let w = world().await;
    let c = w.gateway.create_challenge(Purpose::Register).await.unwrap();
    let token = w.pki.token("enterprise-employee", ORIGIN, &c.nonce);
    let org = Some(kyso_verify::identity::SubjectType::Organization);
    let e = w
        .gateway
        .register_token(&c.id, &token, &[], org)
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::SubjectTypeMismatch);
}

/// A chain through an intermediate the gateway is not configured with: registration and
/// login both take the intermediate beside the token, and both refuse without it.
#[tokio::test]
async fn login_works_for_every_chain_registration_accepts() {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use kyso_verify::policy::{CertificatePolicy, NoRevocationCheck, PolicyOptions, TrustStore};
    use serde_json::json;
    use std::sync::Arc;

    let pki = crate::common::Pki::generate();
    let root = crate::common::pem_der(&pki.path(&pki.manifest.trust_anchors[0]));
    let roots_only = CertificatePolicy::new(
        TrustStore::new(&[root], &[]).unwrap(),
        PolicyOptions::default(),
        Arc::new(NoRevocationCheck),
    );
    let person = pki.manifest.person("citizen-cccd").unwrap().clone();
    let chain: Vec<String> = pem::parse_many(std::fs::read(pki.path(&person.chain)).unwrap())
        .unwrap()
        .into_iter()
        .map(|p| STANDARD.encode(p.contents()))
        .collect();
    let w = crate::common::world_over(pki, roots_only).await;
    let app = w.app();
    let token = |purpose: &'static str| {
        let app = app.clone();
        let w = &w;
        async move {
            let (_, c) =
                crate::common::call(&app, "/v1/challenges", json!({ "purpose": purpose })).await;
            let t = w
                .pki
                .token("citizen-cccd", ORIGIN, c["nonce"].as_str().unwrap());
            (c["challenge_id"].clone(), t)
        }
    };

    let (id, t) = token("register").await;
    let (status, preview) = crate::common::call(
        &app,
        "/v1/registrations/token",
        json!({ "challenge_id": id, "auth_token": t, "intermediates": chain }),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    let (status, _) = crate::common::call(
        &app,
        &format!(
            "/v1/registrations/{}/confirm",
            preview["ticket"].as_str().unwrap()
        ),
        json!({}),
    )
    .await;
    assert_eq!(status, 201);

    let (id, t) = token("login").await;
    let (status, without) = crate::common::call(
        &app,
        "/v1/sessions/token",
        json!({ "challenge_id": id, "auth_token": t }),
    )
    .await;
    assert_eq!(
        (status.as_u16(), without["code"].as_str()),
        (422, Some("CERT_UNTRUSTED"))
    );
    let (id, t) = token("login").await;
    let (status, session) = crate::common::call(
        &app,
        "/v1/sessions/token",
        json!({ "challenge_id": id, "auth_token": t, "intermediates": chain }),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(
        session["account"]["subject"]["identifier"]["value"],
        "001090012345"
    );
}

/// A revocation checker that blocks its thread until another task of the test's
/// one-thread runtime tells it to go on: were the verification run on that thread, the
/// task could never run, and the check would give up.
#[derive(Debug)]
struct WaitsForAnotherTask {
    entered: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    go: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

#[async_trait::async_trait]
impl kyso_verify::policy::RevocationChecker for WaitsForAnotherTask {
    async fn check(
        &self,
        _: &kyso_verify::policy::ValidatedPath,
    ) -> Result<(), kyso_verify::error::Rejection> {
        if let Some(entered) = self.entered.lock().unwrap().take() {
            let _ = entered.send(());
        }
        match self
            .go
            .lock()
            .unwrap()
            .recv_timeout(std::time::Duration::from_secs(20))
        {
            Ok(()) => Ok(()),
            Err(_) => Err(kyso_verify::error::Rejection::new(
                ErrorCode::RevocationUnavailable,
                "the verification held up the request thread",
            )),
        }
    }

    fn is_checking(&self) -> bool {
        true
    }
}

/// Intermediates that travel with a token make path building a search a stranger can
/// make long, so such a verification runs beside the request threads: on a one-thread
/// runtime, another task runs while it is under way.
#[tokio::test]
async fn a_token_with_travelled_intermediates_is_verified_beside_the_request_thread() {
    let pki = crate::common::Pki::generate();
    let (entered, entered_rx) = tokio::sync::oneshot::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let checker = WaitsForAnotherTask {
        entered: std::sync::Mutex::new(Some(entered)),
        go: std::sync::Mutex::new(go_rx),
    };
    let policy = pki.policy_with(std::sync::Arc::new(checker));
    let w = crate::common::world_over(pki, policy).await;
    let intermediate = crate::common::pem_der(&w.pki.path(&w.pki.manifest.intermediates[0]));
    let c = w.gateway.create_challenge(Purpose::Register).await.unwrap();
    let token = w.pki.token("citizen-cccd", &c.origin, &c.nonce);
    let teller = tokio::spawn(async move {
        entered_rx.await.unwrap();
        go.send(()).unwrap();
    });
    let preview = w
        .gateway
        .register_token(&c.id, &token, &[intermediate], None)
        .await;
    assert!(preview.is_ok(), "{preview:?}");
    teller.await.unwrap();
}
