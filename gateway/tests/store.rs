//! The store conformance suite: one set of tests written against the store traits and run
//! for every backend (`conformance!` at the bottom names them). What it holds every backend
//! to is the storage contract of design §8: identifiers and aliases unique across accounts,
//! challenges and tickets single use under concurrency, session tokens that open their
//! account until they expire or end, OpenID grants whose code is redeemed once (a reuse
//! revoking its token) and consents, the signing-SIM session rules (one pending per number,
//! terminal states final), and an append-only audit chain that any change breaks — checked
//! with an implementation of the chain independent of the gateway's.

use crate::common::at_once;
use async_trait::async_trait;
use kyso_gateway::domain::oidc::{Consent, Grant, Redeemed};
use kyso_gateway::domain::registration::Method;
use kyso_gateway::domain::{
    Account, AuditEntry, CertificateRecord, Challenge, Evidence, Login, NewSession, Purpose,
    Registration, SessionLogin, SimOutcome, SimResult, SimSession, Ticket,
};
use kyso_gateway::store::{
    AUDIT_PAGE, AuditHead, CreateAccountError, PURGE_BATCH, SimStarts, StartSimError, Store,
    StoreError, verify_audit_chain,
};
use kyso_verify::error::ErrorCode;
use kyso_verify::identity::{Identifier, IdentifierKind, Subject, SubjectType};
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

/// A backend under test: a fresh, migrated store of its own, and raw SQL on its database
/// for what only an attacker with database access would do.
#[async_trait]
pub trait Backend: Send + Sync + Sized + 'static {
    /// A fresh store, never shared with another test.
    async fn open() -> Self;
    /// The store.
    fn store(&self) -> Arc<dyn Store>;
    /// Runs one statement on the database directly, bypassing the store.
    async fn raw(&self, sql: &str) -> Result<u64, String>;
    /// Runs one statement on the audit log behind the append-only rule's back (its
    /// triggers off), as an insider able to change the schema could.
    async fn behind_audit_triggers(&self, sql: &str);
    /// Every audit row, in order: `(seq, at, event, account_id, details, prev_hash, hash)`.
    async fn audit_rows(&self) -> Vec<AuditRow>;
}

/// One audit row as stored.
pub type AuditRow = (i64, i64, String, Option<String>, String, String, String);

const T0: OffsetDateTime = time::macros::datetime!(2026-11-30 08:00 UTC);

fn ident(kind: IdentifierKind, value: &str) -> Identifier {
    Identifier {
        kind,
        value: value.into(),
    }
}

pub fn citizen(cccd: &str, aliases: &[Identifier]) -> Subject {
    Subject {
        subject_type: SubjectType::Citizen,
        identifier: ident(IdentifierKind::Cccd, cccd),
        aliases: aliases.to_vec(),
        full_name: "Nguyễn Thị Hoa".into(),
        organization: None,
        email_in_cert: None,
    }
}

pub fn certificate(fingerprint: &str) -> CertificateRecord {
    CertificateRecord {
        fingerprint: fingerprint.into(),
        issuer: "CN=VNPT-CA".into(),
        serial: "01".into(),
        not_after: T0 + Duration::days(365),
    }
}

pub fn evidence() -> Evidence {
    Evidence {
        method: Method::Token,
        challenge_id: "ch".into(),
        signed_data: vec![1, 2, 3],
        signature: vec![4, 5],
        algorithm: "ES256".into(),
        certificate: vec![0x30, 0x03, 0x02, 0x01, 0x01],
    }
}

pub fn ticket(id: &str, subject: Subject) -> Ticket {
    Ticket {
        id: id.into(),
        expires_at: T0 + Duration::minutes(10),
        subject,
        certificate: certificate(&format!("fp-{id}")),
        evidence: evidence(),
    }
}

fn account(id: &str, subject: Subject) -> Account {
    Account {
        id: id.into(),
        subject,
        email: Some("hoa@example.vn".into()),
        phone: None,
        ial: 3,
        created_at: T0,
    }
}

fn audit(event: &'static str, account_id: &str) -> AuditEntry {
    AuditEntry {
        at: T0,
        event,
        account_id: Some(account_id.into()),
        details: serde_json::json!({ "k": account_id }).to_string(),
    }
}

/// Stores a ticket for `subject` and creates account `id` from it.
pub async fn register(
    store: &dyn Store,
    id: &str,
    subject: Subject,
) -> Result<Account, CreateAccountError> {
    let t = ticket(&format!("t-{id}"), subject.clone());
    store.put_ticket(&t).await.unwrap();
    store
        .create_account(
            &t.id,
            T0,
            &account(id, subject),
            &t.certificate,
            &audit("account.created", id),
        )
        .await
}

fn challenge(id: &str) -> Challenge {
    Challenge {
        id: id.into(),
        nonce: "bm9uY2U=".into(),
        purpose: Purpose::Register,
        origin: "https://dichvucong.test".into(),
        expires_at: T0 + Duration::minutes(5),
    }
}

pub(crate) fn sim_session(id: &str, msisdn: &str, created_at: OffsetDateTime) -> SimSession {
    SimSession {
        id: id.into(),
        purpose: Purpose::Login,
        msisdn: msisdn.into(),
        requester: "203.0.113.0/24".into(),
        subject_type: None,
        origin: "https://dichvucong.test".into(),
        nonce: "bm9uY2U=".into(),
        display_text: "Cổng DVC: Đăng nhập. Mã xác nhận 1234".into(),
        verification_code: "1234".into(),
        ap_trans_id: format!("ap-{id}"),
        mssp_trans_id: None,
        created_at,
        answer_by: created_at + Duration::minutes(2),
        expires_at: created_at + Duration::minutes(5),
        completed_at: None,
        result: None,
        outcome: None,
    }
}

pub async fn a_challenge_is_taken_exactly_once_by_100_concurrent_takers(b: impl Backend) {
    let store = b.store();
    store.put_challenge(&challenge("c1")).await.unwrap();
    let taken = at_once(100, |_| {
        let store = store.clone();
        async move { store.take_challenge("c1").await.unwrap() }
    })
    .await;
    let winners: Vec<_> = taken.into_iter().flatten().collect();
    assert_eq!(winners.len(), 1, "exactly one taker gets the challenge");
    assert_eq!(winners[0], challenge("c1"), "and gets it whole");
    assert_eq!(store.take_challenge("c1").await.unwrap(), None);
    assert_eq!(store.take_challenge("never").await.unwrap(), None);
}

pub async fn a_ticket_makes_exactly_one_account_when_confirmed_100_times_at_once(b: impl Backend) {
    let store = b.store();
    let t = ticket("t1", citizen("001090012345", &[]));
    store.put_ticket(&t).await.unwrap();
    assert_eq!(store.get_ticket("t1").await.unwrap(), Some(t.clone()));
    let results = at_once(100, |i| {
        let (store, t) = (store.clone(), t.clone());
        async move {
            let id = format!("acc_{i}");
            store
                .create_account(
                    &t.id,
                    T0,
                    &account(&id, t.subject.clone()),
                    &t.certificate,
                    &audit("account.created", &id),
                )
                .await
        }
    })
    .await;
    let created = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(created, 1);
    for r in &results {
        match r {
            Ok(_) | Err(CreateAccountError::TicketNotFound) => {}
            Err(e) => panic!("a losing confirmation must find the ticket gone, got {e}"),
        }
    }
    assert_eq!(store.get_ticket("t1").await.unwrap(), None, "used up");
    assert_eq!(
        verify_audit_chain(store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq,
        1
    );
}

/// A confirmation the database fails to write uses nothing up: its ticket still makes
/// the account once the database is back.
pub async fn a_ticket_survives_a_confirmation_the_store_failed_to_write(b: impl Backend) {
    let store = b.store();
    let t = ticket("t-retry", citizen("001090012345", &[]));
    store.put_ticket(&t).await.unwrap();
    let (new, entry) = (
        account("acc_retry", t.subject.clone()),
        audit("account.created", "acc_retry"),
    );
    let confirm = || store.create_account(&t.id, T0, &new, &t.certificate, &entry);
    b.raw("ALTER TABLE accounts RENAME TO accounts_away")
        .await
        .unwrap();
    let failed = confirm().await;
    assert!(
        matches!(failed, Err(CreateAccountError::Store(_))),
        "{failed:?}"
    );
    assert_eq!(store.get_ticket(&t.id).await.unwrap(), Some(t.clone()));
    b.raw("ALTER TABLE accounts_away RENAME TO accounts")
        .await
        .unwrap();
    assert_eq!(confirm().await.unwrap().id, "acc_retry");
    assert_eq!(store.get_ticket(&t.id).await.unwrap(), None, "used up");
    assert_eq!(
        verify_audit_chain(store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq,
        1
    );
}

/// A proven SIM login whose session the database failed to write is not used up: the
/// next read hands it out, and only that once.
pub async fn a_sim_login_is_handed_out_once_and_survives_a_failed_write(b: impl Backend) {
    let store = b.store();
    let t = ticket("t-sim-login", citizen("001090012345", &[]));
    store.put_ticket(&t).await.unwrap();
    let a = store
        .create_account(
            &t.id,
            T0,
            &account("acc_sim", t.subject.clone()),
            &t.certificate,
            &audit("account.created", "acc_sim"),
        )
        .await
        .unwrap();
    store
        .start_sim_session(&sim_session("login-1", "+84912000003", T0), T0)
        .await
        .unwrap();
    assert!(
        store
            .complete_sim_session("login-1", SimResult::Ok, None, None, T0)
            .await
            .unwrap()
    );
    let hand_out = |token_hash: &'static str| {
        let (store, account_id) = (store.clone(), a.id.clone());
        async move {
            let session = NewSession {
                token_hash: token_hash.into(),
                account_id: account_id.clone(),
                method: Method::Sim,
                proved_at: T0,
                expires_at: T0 + Duration::hours(1),
            };
            store
                .hand_out_sim_login(
                    "login-1",
                    T0,
                    &session,
                    &certificate("fp-sim"),
                    &audit("session.created", &account_id),
                )
                .await
        }
    };
    b.raw("ALTER TABLE sessions RENAME TO sessions_away")
        .await
        .unwrap();
    let failed = hand_out("h-1").await;
    assert!(failed.is_err(), "{failed:?}");
    b.raw("ALTER TABLE sessions_away RENAME TO sessions")
        .await
        .unwrap();
    assert!(hand_out("h-2").await.unwrap());
    assert!(!hand_out("h-3").await.unwrap(), "handed out once");
    assert!(store.session_login("h-2", T0).await.unwrap().is_some());
    assert_eq!(store.session_login("h-3", T0).await.unwrap(), None);
    // Past the session's hard expiry, nothing is handed out.
    store
        .start_sim_session(&sim_session("login-2", "+84912000004", T0), T0)
        .await
        .unwrap();
    store
        .complete_sim_session("login-2", SimResult::Ok, None, None, T0)
        .await
        .unwrap();
    let late = T0 + Duration::minutes(5);
    let session = NewSession {
        token_hash: "h-late".into(),
        account_id: a.id.clone(),
        method: Method::Sim,
        proved_at: T0,
        expires_at: T0 + Duration::hours(1),
    };
    assert!(
        !store
            .hand_out_sim_login(
                "login-2",
                late,
                &session,
                &certificate("fp-sim"),
                &audit("session.created", &a.id)
            )
            .await
            .unwrap()
    );
    assert_eq!(
        verify_audit_chain(store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq,
        2,
        "the account and one session"
    );
}

pub async fn one_identity_gets_one_account_whatever_the_tickets(b: impl Backend) {
    let store = b.store();
    let subject = citizen("001090012345", &[]);
    let results = at_once(50, |i| {
        let (store, subject) = (store.clone(), subject.clone());
        async move { register(store.as_ref(), &format!("acc_{i}"), subject).await }
    })
    .await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Ok(_) | Err(CreateAccountError::AccountExists)))
    );
    assert_eq!(
        verify_audit_chain(store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq,
        1
    );
}

pub async fn identifiers_and_aliases_are_unique_across_accounts(b: impl Backend) {
    let store = b.store();
    let cmnd = ident(IdentifierKind::Cmnd, "012345678");
    let a = register(
        store.as_ref(),
        "acc_a",
        citizen("001090012345", std::slice::from_ref(&cmnd)),
    )
    .await
    .unwrap();
    // Another CCCD with the same CMND alias: one person cannot hold two accounts.
    let clash = register(
        store.as_ref(),
        "acc_b",
        citizen("079090054321", std::slice::from_ref(&cmnd)),
    )
    .await;
    assert!(matches!(clash, Err(CreateAccountError::AccountExists)));
    // The refused ticket is not used up: confirmed again (a person retrying), it says
    // why again rather than that it is unknown — on every backend alike.
    let again = store
        .create_account(
            "t-acc_b",
            T0,
            &account(
                "acc_b",
                citizen("079090054321", std::slice::from_ref(&cmnd)),
            ),
            &certificate("fp-t-acc_b"),
            &audit("account.created", "acc_b"),
        )
        .await;
    assert!(
        matches!(again, Err(CreateAccountError::AccountExists)),
        "{again:?}"
    );
    // The alias alone as a key.
    let mut only_cmnd = citizen("unused", &[]);
    only_cmnd.identifier = cmnd.clone();
    let clash = register(store.as_ref(), "acc_c", only_cmnd).await;
    assert!(matches!(clash, Err(CreateAccountError::AccountExists)));
    // Nothing of the losers was written, and the account is found by key and by alias.
    assert_eq!(store.account("acc_b").await.unwrap(), None);
    for id in [a.subject.identifier.clone(), cmnd] {
        let found = store.find_account(&[id]).await.unwrap().unwrap();
        assert_eq!(found, a);
    }
    let stranger = ident(IdentifierKind::Cccd, "001090099999");
    assert_eq!(store.find_account(&[stranger]).await.unwrap(), None);
    // An expired ticket makes nothing.
    let t = ticket("t-late", citizen("001090077777", &[]));
    store.put_ticket(&t).await.unwrap();
    let late = store
        .create_account(
            &t.id,
            t.expires_at,
            &account("acc_late", t.subject.clone()),
            &t.certificate,
            &audit("account.created", "acc_late"),
        )
        .await;
    assert!(matches!(late, Err(CreateAccountError::TicketNotFound)));
}

pub async fn aliases_a_login_proves_are_added_unless_another_account_holds_them(b: impl Backend) {
    let store = b.store();
    let a = register(store.as_ref(), "acc_a1", citizen("001090012345", &[]))
        .await
        .unwrap();
    let b_cmnd = ident(IdentifierKind::Cmnd, "012345678");
    let b = register(
        store.as_ref(),
        "acc_b1",
        citizen("079195001234", std::slice::from_ref(&b_cmnd)),
    )
    .await
    .unwrap();
    let passport = ident(IdentifierKind::Passport, "B1234567");
    store
        .add_aliases(&a.id, &[passport.clone(), b_cmnd.clone()])
        .await
        .unwrap();
    let found = |i: Identifier| {
        let store = store.clone();
        async move { store.find_account(&[i]).await.unwrap().map(|a| a.id) }
    };
    assert_eq!(found(passport.clone()).await, Some(a.id.clone()));
    assert_eq!(
        found(b_cmnd).await,
        Some(b.id),
        "a held identifier stays its holder's"
    );
    // Twice is once.
    store
        .add_aliases(&a.id, std::slice::from_ref(&passport))
        .await
        .unwrap();
    assert_eq!(found(passport).await, Some(a.id.clone()));
    // A second CCCD is another person's: refused, with everything that came with it.
    let second = ident(IdentifierKind::Cccd, "048201000999");
    let their_passport = ident(IdentifierKind::Passport, "C7654321");
    assert!(
        !store
            .add_aliases(&a.id, &[second.clone(), their_passport.clone()])
            .await
            .unwrap()
    );
    assert_eq!(found(second).await, None, "an account holds one CCCD");
    assert_eq!(found(their_passport).await, None, "all or none");
}

pub async fn a_session_token_opens_its_account_until_it_expires(b: impl Backend) {
    let store = b.store();
    let a = register(store.as_ref(), "acc_s", citizen("001090012345", &[]))
        .await
        .unwrap();
    let expires = T0 + Duration::hours(1);
    // A SIM login's session is handed out after its proof: it says when the proof was.
    let signed = T0 - Duration::minutes(2);
    for (hash, method, proved_at) in [
        ("hash-1", Method::Token, T0),
        ("hash-3", Method::Sim, signed),
    ] {
        store
            .create_session(
                &NewSession {
                    token_hash: hash.into(),
                    account_id: a.id.clone(),
                    method,
                    proved_at,
                    expires_at: expires,
                },
                &certificate("fp-login"),
                &audit("session.created", &a.id),
            )
            .await
            .unwrap();
    }
    let login = store.session_login("hash-1", T0).await.unwrap().unwrap();
    assert_eq!(
        login,
        SessionLogin {
            account: a.clone(),
            auth_time: T0,
            method: Method::Token
        }
    );
    let sim = store.session_login("hash-3", T0).await.unwrap().unwrap();
    assert_eq!((sim.method, sim.auth_time), (Method::Sim, signed));
    assert_eq!(store.session_login("hash-1", expires).await.unwrap(), None);
    assert_eq!(store.session_login("hash-2", T0).await.unwrap(), None);
    // The portals each session signed in to, noted once each, are what its logout hands
    // back: another session's are not.
    for (session, portal) in [
        ("hash-3", "portal-a"),
        ("hash-3", "portal-b"),
        ("hash-3", "portal-a"),
        ("hash-1", "portal-c"),
    ] {
        assert!(store.note_session_portal(session, portal).await.unwrap());
    }
    // Logout ends one session, once.
    let mut told = store.delete_session("hash-3").await.unwrap().unwrap();
    told.sort();
    assert_eq!(told, ["portal-a", "portal-b"]);
    assert_eq!(store.delete_session("hash-3").await.unwrap(), None);
    assert_eq!(store.session_login("hash-3", T0).await.unwrap(), None);
    assert!(store.session_login("hash-1", T0).await.unwrap().is_some());
    let purged = store.purge_expired(expires).await.unwrap();
    assert!(purged >= 2, "the session and its portal: {purged}");
    assert_eq!(
        b.raw("DELETE FROM oidc_session_portals").await.unwrap(),
        0,
        "an expired session's portals go with it"
    );
    assert_eq!(
        verify_audit_chain(store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq,
        3
    );
}

/// A person who signs in again in the same browser: the session the cookie held ends,
/// and the portals it signed in to become the new session's, told at its logout. A
/// portal is noted only under a live session (one a logout ended issues no code).
pub async fn a_session_replaced_in_its_browser_hands_its_portals_to_the_new_one(b: impl Backend) {
    let store = b.store();
    let a = register(store.as_ref(), "acc_r", citizen("001090012346", &[]))
        .await
        .unwrap();
    // The new session outlives the old one: what is carried lives as long as it does.
    for (hash, hours) in [("old", 1), ("new", 2), ("older", 1)] {
        let session = NewSession {
            token_hash: hash.into(),
            account_id: a.id.clone(),
            method: Method::Token,
            proved_at: T0,
            expires_at: T0 + Duration::hours(hours),
        };
        store
            .create_session(
                &session,
                &certificate("fp-r"),
                &audit("session.created", &a.id),
            )
            .await
            .unwrap();
    }
    for (session, portal) in [
        ("old", "portal-a"),
        ("old", "portal-b"),
        ("new", "portal-b"),
    ] {
        assert!(store.note_session_portal(session, portal).await.unwrap());
    }
    assert!(
        !store
            .note_session_portal("ended", "portal-a")
            .await
            .unwrap(),
        "no session, no note"
    );
    assert!(
        store
            .note_session_portal("older", "portal-c")
            .await
            .unwrap()
    );
    // A new session that is gone already carries nothing and changes nothing: the old
    // one is then ended as at a logout, its portals told.
    assert!(!store.carry_session_portals("older", "gone").await.unwrap());
    assert!(store.session_login("older", T0).await.unwrap().is_some());
    assert_eq!(
        store.delete_session("older").await.unwrap().unwrap(),
        ["portal-c"]
    );
    assert!(store.carry_session_portals("old", "new").await.unwrap());
    assert_eq!(store.session_login("old", T0).await.unwrap(), None);
    assert_eq!(store.delete_session("old").await.unwrap(), None);
    // Past the old session's expiry the carried portals are still the new one's.
    store.purge_expired(T0 + Duration::hours(1)).await.unwrap();
    let mut told = store.delete_session("new").await.unwrap().unwrap();
    told.sort();
    assert_eq!(told, ["portal-a", "portal-b"]);
    assert_eq!(
        b.raw("DELETE FROM oidc_session_portals").await.unwrap(),
        0,
        "nothing of either session is left"
    );
}

/// The person's consent to `client`, which every code is issued under.
async fn consent_to(store: &dyn Store, account_id: &str, client: &str) {
    let consent = Consent {
        client_id: client.into(),
        scopes: vec!["openid".into(), "vn_identity".into()],
        granted_at: T0,
    };
    store.put_consent(account_id, &consent).await.unwrap();
}

fn grant(client: &str, account_id: &str) -> Grant {
    Grant {
        client_id: client.into(),
        account_id: account_id.into(),
        redirect_uri: "https://a.gov.vn/cb".into(),
        scopes: vec!["openid".into(), "vn_identity".into()],
        nonce: Some("n-1".into()),
        code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        auth_time: T0 - Duration::minutes(1),
        method: Method::Sim,
        code_expires_at: T0 + Duration::seconds(60),
    }
}

pub async fn a_code_is_redeemed_exactly_once_by_100_concurrent_redeemers(b: impl Backend) {
    let store = b.store();
    let a = register(store.as_ref(), "acc_o", citizen("001090012345", &[]))
        .await
        .unwrap();
    consent_to(store.as_ref(), &a.id, "portal-a").await;
    let g = grant("portal-a", &a.id);
    store.put_grant("code-1", &g).await.unwrap();
    // The grant of a code issued to a client is a read, before and after its redemption.
    for (code, client, issued) in [
        ("code-1", "portal-a", Some(&g)),
        ("code-1", "portal-b", None),
        ("code-2", "portal-a", None),
    ] {
        assert_eq!(
            store.issued_grant(code, client).await.unwrap().as_ref(),
            issued,
            "{code} {client}"
        );
    }
    let results = at_once(100, |i| {
        let store = store.clone();
        async move {
            store
                .redeem_code(
                    "code-1",
                    "portal-a",
                    &format!("at-{i}"),
                    T0 + Duration::minutes(10),
                    T0,
                )
                .await
                .unwrap()
        }
    })
    .await;
    let winners: Vec<usize> = (0..100)
        .filter(|&i| results[i] == Redeemed::Granted(g.clone()))
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    // Every loser found the code used, and each such attempt revoked the token it gave.
    assert!(results.iter().filter(|r| **r == Redeemed::Reused).count() == 99);
    let token = format!("at-{}", winners[0]);
    assert_eq!(store.access_grant(&token, T0).await.unwrap(), None);
    assert_eq!(
        store.issued_grant("code-1", "portal-a").await.unwrap(),
        Some(g)
    );
}

pub async fn a_redeemed_code_gives_its_access_token_until_reused_or_expired(b: impl Backend) {
    let store = b.store();
    let a = register(store.as_ref(), "acc_o", citizen("001090012345", &[]))
        .await
        .unwrap();
    consent_to(store.as_ref(), &a.id, "portal-a").await;
    let g = grant("portal-a", &a.id);
    store.put_grant("code-1", &g).await.unwrap();
    store.put_grant("code-2", &g).await.unwrap();
    let until = T0 + Duration::minutes(10);
    // Unknown: an expired code, a code never issued, and another client's code (which
    // stays untouched for its own client).
    for (code, client, now) in [
        ("code-2", "portal-a", g.code_expires_at),
        ("nope", "portal-a", T0),
        ("code-1", "portal-b", T0),
    ] {
        assert_eq!(
            store
                .redeem_code(code, client, "at-x", until, now)
                .await
                .unwrap(),
            Redeemed::Unknown,
            "{code} for {client}"
        );
    }
    assert_eq!(
        store
            .redeem_code("code-1", "portal-a", "at-1", until, T0)
            .await
            .unwrap(),
        Redeemed::Granted(g.clone())
    );
    assert_eq!(
        store.access_grant("at-1", T0).await.unwrap(),
        Some(g.clone())
    );
    assert_eq!(store.access_grant("at-1", until).await.unwrap(), None);
    assert_eq!(store.access_grant("at-x", T0).await.unwrap(), None);
    // The code again: refused, and the token it gave is revoked.
    assert_eq!(
        store
            .redeem_code("code-1", "portal-a", "at-2", until, T0)
            .await
            .unwrap(),
        Redeemed::Reused
    );
    assert_eq!(store.access_grant("at-1", T0).await.unwrap(), None);
    assert_eq!(store.access_grant("at-2", T0).await.unwrap(), None);
    assert!(store.purge_expired(until).await.unwrap() >= 2);
    assert_eq!(
        store
            .redeem_code("code-1", "portal-a", "at-3", until, T0)
            .await
            .unwrap(),
        Redeemed::Unknown
    );
}

pub async fn consents_are_listed_replaced_and_withdrawn_with_their_tokens(b: impl Backend) {
    let store = b.store();
    let a = register(store.as_ref(), "acc_o", citizen("001090012345", &[]))
        .await
        .unwrap();
    assert_eq!(store.consents(&a.id).await.unwrap(), vec![]);
    let consent = |client: &str, scopes: &[&str], at: OffsetDateTime| Consent {
        client_id: client.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        granted_at: at,
    };
    store
        .put_consent(&a.id, &consent("portal-b", &["openid"], T0))
        .await
        .unwrap();
    store
        .put_consent(
            &a.id,
            &consent("portal-a", &["openid"], T0 + Duration::seconds(1)),
        )
        .await
        .unwrap();
    let wider = consent(
        "portal-b",
        &["openid", "profile"],
        T0 + Duration::seconds(2),
    );
    store.put_consent(&a.id, &wider).await.unwrap();
    assert_eq!(
        store.consents(&a.id).await.unwrap(),
        vec![
            consent("portal-a", &["openid"], T0 + Duration::seconds(1)),
            wider
        ]
    );
    let g = grant("portal-b", &a.id);
    store.put_grant("code-b", &g).await.unwrap();
    let until = T0 + Duration::minutes(10);
    store
        .redeem_code("code-b", "portal-b", "at-b", until, T0)
        .await
        .unwrap();
    assert!(store.access_grant("at-b", T0).await.unwrap().is_some());
    store.put_grant("code-b2", &g).await.unwrap();
    assert!(store.delete_consent(&a.id, "portal-b").await.unwrap());
    // A code issued before the withdrawal is used up with it.
    assert_ne!(
        store
            .redeem_code("code-b2", "portal-b", "at-b2", until, T0)
            .await
            .unwrap(),
        Redeemed::Granted(g.clone())
    );
    // A code stored just after the withdrawal (its authorization read the consent just
    // before) is not granted either: a code needs the consent when it is redeemed.
    store.put_grant("code-b3", &g).await.unwrap();
    assert_eq!(
        store
            .redeem_code("code-b3", "portal-b", "at-b3", until, T0)
            .await
            .unwrap(),
        Redeemed::Unknown
    );
    assert_eq!(store.access_grant("at-b3", T0).await.unwrap(), None);
    assert!(!store.delete_consent(&a.id, "portal-b").await.unwrap());
    assert_eq!(store.access_grant("at-b", T0).await.unwrap(), None);
    assert_eq!(store.consents(&a.id).await.unwrap().len(), 1);
}

pub async fn a_client_assertion_is_accepted_once(b: impl Backend) {
    let store = b.store();
    let exp = T0 + Duration::minutes(5);
    assert!(store.use_assertion("portal-a", "jti-1", exp).await.unwrap());
    assert!(!store.use_assertion("portal-a", "jti-1", exp).await.unwrap());
    assert!(store.use_assertion("portal-b", "jti-1", exp).await.unwrap());
    store.purge_expired(exp).await.unwrap();
    assert!(
        store
            .use_assertion("portal-a", "jti-1", exp + Duration::minutes(5))
            .await
            .unwrap()
    );
}

pub async fn expired_challenges_and_tickets_are_purged_and_live_ones_kept(b: impl Backend) {
    let store = b.store();
    store.put_challenge(&challenge("old")).await.unwrap();
    let mut live = challenge("live");
    live.expires_at = T0 + Duration::hours(1);
    store.put_challenge(&live).await.unwrap();
    store
        .put_ticket(&ticket("t-old", citizen("001090012345", &[])))
        .await
        .unwrap();
    store
        .purge_expired(T0 + Duration::minutes(30))
        .await
        .unwrap();
    assert_eq!(store.take_challenge("old").await.unwrap(), None);
    assert_eq!(store.get_ticket("t-old").await.unwrap(), None);
    assert_eq!(store.take_challenge("live").await.unwrap(), Some(live));
}

/// A backlog of expired sessions (after a long outage) larger than a purge's batch is
/// cleared in one purge, batch after batch, and a live session is kept.
pub async fn a_backlog_larger_than_a_purge_batch_is_cleared_and_live_rows_kept(b: impl Backend) {
    let store = b.store();
    let a = register(store.as_ref(), "acc_backlog", citizen("001090012345", &[]))
        .await
        .unwrap();
    let expired = PURGE_BATCH * 2 + 500;
    let at = T0.unix_timestamp();
    // Written straight into the database (both dialects take a recursive WITH).
    let inserted = b
        .raw(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {expired}) \
             INSERT INTO sessions (token_hash, account_id, created_at, expires_at) \
             SELECT 'backlog-' || i, '{}', {at}, {at} FROM n",
            a.id
        ))
        .await
        .unwrap();
    assert_eq!(inserted, expired as u64);
    store
        .create_session(
            &NewSession {
                token_hash: "live".into(),
                account_id: a.id.clone(),
                method: Method::Token,
                proved_at: T0,
                expires_at: T0 + Duration::hours(1),
            },
            &certificate("fp-live"),
            &audit("session.created", &a.id),
        )
        .await
        .unwrap();
    let purged = store
        .purge_expired(T0 + Duration::minutes(1))
        .await
        .unwrap();
    assert!(purged >= expired as u64, "{purged} purged");
    assert_eq!(
        b.raw("DELETE FROM sessions WHERE token_hash LIKE 'backlog-%'")
            .await
            .unwrap(),
        0,
        "every expired row went"
    );
    assert!(
        store
            .session_login("live", T0 + Duration::minutes(1))
            .await
            .unwrap()
            .is_some(),
        "the live session stays"
    );
}

/// Each pending SIM session is polled by the one instance that holds it: a fresh one is
/// left to its starter for the push grace, a held one to its holder until the hold
/// lapses or is released; then the next claim takes it over, and of many instances
/// claiming at once each session goes to one. Complete sessions are never claimed.
pub async fn a_pending_sim_session_is_polled_by_one_instance_at_a_time(b: impl Backend) {
    let store = b.store();
    let s = Duration::seconds;
    let grace = s(60);
    let claim = |poller: &'static str, now: OffsetDateTime| {
        let store = store.clone();
        async move {
            let mut ids: Vec<String> = store
                .claim_sim_sessions(poller, now, now + s(60), now - grace, 100)
                .await
                .unwrap()
                .into_iter()
                .map(|session| session.id)
                .collect();
            ids.sort();
            ids
        }
    };
    for (id, number, created) in [
        ("first", "+84912000011", T0),
        ("second", "+84912000012", T0 + s(50)),
        ("done", "+84912000013", T0),
    ] {
        store
            .start_sim_session(&sim_session(id, number, created), created)
            .await
            .unwrap();
    }
    store
        .complete_sim_session("done", SimResult::UserRefused, None, None, T0)
        .await
        .unwrap();

    // Within the push grace nobody but the starter polls; its first hold takes it.
    assert!(claim("b", T0 + s(30)).await.is_empty());
    assert!(
        store
            .hold_sim_session("first", "a", T0 + s(70))
            .await
            .unwrap()
    );
    assert!(
        store
            .hold_sim_session("first", "a", T0 + s(70))
            .await
            .unwrap()
    );
    // Past the grace, a held session stays its holder's; another cannot hold it.
    assert!(claim("b", T0 + s(69)).await.is_empty());
    assert!(
        !store
            .hold_sim_session("first", "b", T0 + s(130))
            .await
            .unwrap()
    );
    // The hold lapsed (its instance died): taken over, and the old holder stops.
    assert_eq!(claim("b", T0 + s(70)).await, ["first"]);
    assert!(
        !store
            .hold_sim_session("first", "a", T0 + s(140))
            .await
            .unwrap()
    );
    assert!(
        store
            .hold_sim_session("first", "b", T0 + s(140))
            .await
            .unwrap()
    );

    // A release (the holder stopping) hands the session on at once; a release by
    // anyone else changes nothing.
    store
        .release_sim_sessions(&["first".into()], "a", T0 + s(80))
        .await
        .unwrap();
    assert!(claim("c", T0 + s(80)).await.is_empty());
    store
        .release_sim_sessions(&["first".into()], "b", T0 + s(80))
        .await
        .unwrap();
    assert_eq!(claim("c", T0 + s(80)).await, ["first"]);
    // A session never held yet, released by the instance that pushed it (it stopped
    // before its poller began), is handed on at once too, not a push grace later.
    store
        .release_sim_sessions(&["second".into()], "a", T0 + s(80))
        .await
        .unwrap();
    assert_eq!(claim("d", T0 + s(80)).await, ["second"]);

    // Ten instances claiming at once, all holds lapsed: each session goes to one.
    let later = T0 + s(300);
    let claimed = at_once(10, |i| {
        let pollers = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9"];
        claim(pollers[i], later)
    })
    .await;
    let mut all: Vec<String> = claimed.into_iter().flatten().collect();
    all.sort();
    assert_eq!(
        all,
        ["first", "second"],
        "each pending session once, none complete"
    );
}

pub async fn one_sim_session_is_pending_per_number_and_results_are_final(b: impl Backend) {
    let store = b.store();
    let number = "+84912000001";
    let started = at_once(20, |i| {
        let store = store.clone();
        async move {
            store
                .start_sim_session(&sim_session(&format!("s{i}"), number, T0), T0)
                .await
        }
    })
    .await;
    assert_eq!(started.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        started
            .iter()
            .all(|r| matches!(r, Ok(()) | Err(StartSimError::Busy)))
    );
    let pending = store
        .claim_sim_sessions("poller", T0, T0 + Duration::minutes(1), T0, 100)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let id = pending[0].id.clone();
    store.set_mssp_trans_id(&id, "mssp-1").await.unwrap();
    assert_eq!(
        store
            .sim_session(&id)
            .await
            .unwrap()
            .unwrap()
            .mssp_trans_id
            .as_deref(),
        Some("mssp-1")
    );
    // Another number is independent.
    store
        .start_sim_session(&sim_session("other", "+84912000002", T0), T0)
        .await
        .unwrap();

    let refused = SimOutcome::Refused {
        code: ErrorCode::CertRevoked,
        detail: "revoked".into(),
    };
    assert!(
        store
            .complete_sim_session(&id, SimResult::VerificationFailed, Some(&refused), None, T0)
            .await
            .unwrap()
    );
    // A second completion (another instance's poller, say) changes nothing.
    let t = ticket("t-sim", citizen("001090012345", &[]));
    assert!(
        !store
            .complete_sim_session(&id, SimResult::Ok, None, Some(&t), T0)
            .await
            .unwrap()
    );
    let done = store.sim_session(&id).await.unwrap().unwrap();
    assert_eq!(done.result, Some(SimResult::VerificationFailed));
    assert_eq!(done.outcome, Some(refused));
    assert_eq!(
        store.get_ticket("t-sim").await.unwrap(),
        None,
        "a losing completion stores no ticket"
    );
    // The number is free again (here from another network).
    let elsewhere = SimSession {
        requester: "198.51.100.0/24".into(),
        ..sim_session("next", number, T0)
    };
    store.start_sim_session(&elsewhere, T0).await.unwrap();
    assert_eq!(store.sim_session("next").await.unwrap().unwrap(), elsewhere);
    assert!(
        store
            .complete_sim_session("next", SimResult::Ok, None, None, T0)
            .await
            .unwrap()
    );
    // Starts are counted in all and per network.
    for (network, from_requester) in [
        ("203.0.113.0/24", 1),
        ("198.51.100.0/24", 1),
        ("2001:db8:66::/48", 0),
    ] {
        assert_eq!(
            store
                .sim_starts_since(number, network, T0 - Duration::minutes(1))
                .await
                .unwrap(),
            SimStarts {
                all: 2,
                from_requester
            },
            "{network}"
        );
    }
    assert_eq!(
        store
            .sim_starts_since(number, "203.0.113.0/24", T0 + Duration::seconds(1))
            .await
            .unwrap(),
        SimStarts {
            all: 0,
            from_requester: 0
        },
        "only the window counts"
    );
    // A pending session past its hard expiry no longer blocks the number.
    store
        .start_sim_session(&sim_session("stale", "+84912000003", T0), T0)
        .await
        .unwrap();
    let later = T0 + Duration::minutes(6);
    store
        .start_sim_session(&sim_session("fresh", "+84912000003", later), later)
        .await
        .unwrap();
    let stale = store.sim_session("stale").await.unwrap().unwrap();
    assert_eq!(stale.result, Some(SimResult::Expired));
}

/// The chain as design §8 and `docs/design.md` describe it, written again here on another
/// SHA-256 implementation (RustCrypto's), so a bug shared by the gateway's code and this
/// suite would have to be made twice.
fn independent_hash(
    prev: &str,
    seq: i64,
    at: i64,
    event: &str,
    account: &str,
    details: &str,
) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for part in [
        prev,
        &seq.to_string(),
        &at.to_string(),
        event,
        account,
        details,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

pub async fn the_audit_log_is_append_only_and_any_change_breaks_the_chain(b: impl Backend) {
    let store = b.store();
    for i in 0..3 {
        register(
            store.as_ref(),
            &format!("acc_{i}"),
            citizen(&format!("00109001234{i}"), &[]),
        )
        .await
        .unwrap();
    }
    assert_eq!(
        verify_audit_chain(store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq,
        3
    );
    let rows = b.audit_rows().await;
    // What `audit export` reads is what the database holds, filtered by time.
    let exported = store.audit_rows(0, None, 10).await.unwrap();
    assert_eq!(exported.len(), 3);
    for (e, (seq, at, event, account, details, prev, hash)) in exported.iter().zip(&rows) {
        assert_eq!(
            (
                e.seq,
                e.at.unix_timestamp(),
                &e.event,
                &e.account_id,
                &e.details,
                &e.prev_hash,
                &e.hash
            ),
            (*seq, *at, event, account, details, prev, hash)
        );
    }
    let page = store.audit_rows(1, None, 1).await.unwrap();
    assert_eq!(
        page,
        exported[1..2],
        "a page: the rows after a row, at most so many"
    );
    assert_eq!(store.audit_rows(0, Some(T0), 10).await.unwrap().len(), 3);
    assert!(
        store
            .audit_rows(0, Some(T0 + Duration::seconds(1)), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut prev = String::new();
    for (i, (seq, at, event, account, details, stored_prev, hash)) in rows.iter().enumerate() {
        assert_eq!(*seq, i as i64 + 1);
        assert_eq!(*stored_prev, prev);
        let want = independent_hash(
            &prev,
            *seq,
            *at,
            event,
            account.as_deref().unwrap_or(""),
            details,
        );
        assert_eq!(*hash, want, "row {seq}");
        prev = hash.clone();
    }
    assert!(
        b.raw("UPDATE audit_log SET event = 'x' WHERE seq = 2")
            .await
            .is_err()
    );
    assert!(b.raw("DELETE FROM audit_log WHERE seq = 3").await.is_err());
    assert_eq!(
        verify_audit_chain(store.as_ref(), None, AUDIT_PAGE)
            .await
            .unwrap()
            .seq,
        3,
        "nothing changed"
    );
    b.behind_audit_triggers(r#"UPDATE audit_log SET details = '{"k":"forged"}' WHERE seq = 2"#)
        .await;
    match verify_audit_chain(store.as_ref(), None, AUDIT_PAGE).await {
        Err(StoreError::AuditChainBroken { seq }) => assert_eq!(seq, 2),
        other => panic!("a changed row must break the chain at that row: {other:?}"),
    }
}

/// Rows cut from the end leave no broken link, so the chain is held to heads: the one the
/// database records beside it (moved in the same transaction as every append, and what
/// the next append links to), and one the operator kept outside, which shows a cut even
/// when the insider moved the recorded head back too.
pub async fn rows_cut_from_the_end_of_the_audit_chain_are_found(b: impl Backend) {
    let store = b.store();
    // Two rows a page, so the check runs across pages.
    for i in 0..3 {
        register(
            store.as_ref(),
            &format!("acc_{i}"),
            citizen(&format!("00109001235{i}"), &[]),
        )
        .await
        .unwrap();
    }
    let rows = b.audit_rows().await;
    let head = AuditHead {
        seq: 3,
        hash: rows[2].6.clone(),
    };
    let second = AuditHead {
        seq: 2,
        hash: rows[1].6.clone(),
    };
    assert_eq!(
        verify_audit_chain(store.as_ref(), None, 2).await.unwrap(),
        head
    );
    for kept in [&head, &second] {
        assert_eq!(
            verify_audit_chain(store.as_ref(), Some(kept), 2)
                .await
                .unwrap(),
            head
        );
    }
    let elsewhere = AuditHead {
        seq: 2,
        hash: "0".repeat(64),
    };
    match verify_audit_chain(store.as_ref(), Some(&elsewhere), 2).await {
        Err(StoreError::AuditAnchorMissing { seq }) => assert_eq!(seq, 2),
        other => panic!("a head the chain does not hold must be named: {other:?}"),
    }

    b.behind_audit_triggers("DELETE FROM audit_log WHERE seq = 3")
        .await;
    match verify_audit_chain(store.as_ref(), None, 2).await {
        Err(StoreError::AuditChainBroken { seq }) => assert_eq!(seq, 3),
        other => panic!("the recorded head must show the cut row: {other:?}"),
    }
    // The next append links to the recorded head, not to the row now last: the gap stays.
    register(store.as_ref(), "acc_3", citizen("001090012353", &[]))
        .await
        .unwrap();
    assert_eq!(
        b.audit_rows().await.last().unwrap().0,
        4,
        "seq 3 is not reused"
    );
    match verify_audit_chain(store.as_ref(), None, 2).await {
        Err(StoreError::AuditChainBroken { seq }) => assert_eq!(seq, 3),
        other => panic!("an append must not hide a cut: {other:?}"),
    }

    // Cut that row too and move the recorded head back: only the kept head shows it.
    b.behind_audit_triggers("DELETE FROM audit_log WHERE seq = 4")
        .await;
    b.raw(&format!(
        "UPDATE audit_head SET seq = 2, hash = '{}' WHERE id = 0",
        second.hash
    ))
    .await
    .unwrap();
    assert_eq!(
        verify_audit_chain(store.as_ref(), None, 2).await.unwrap(),
        second
    );
    assert_eq!(
        verify_audit_chain(store.as_ref(), Some(&second), 2)
            .await
            .unwrap(),
        second
    );
    match verify_audit_chain(store.as_ref(), Some(&head), 2).await {
        Err(StoreError::AuditAnchorMissing { seq }) => assert_eq!(seq, 3),
        other => panic!("the kept head must show the cut: {other:?}"),
    }
    // The head record itself removed: broken, not unreadable.
    b.raw("DELETE FROM audit_head").await.unwrap();
    assert!(matches!(
        verify_audit_chain(store.as_ref(), None, 2).await,
        Err(StoreError::AuditHeadMissing)
    ));
}

/// The committed vector: two rows hashed by Python's hashlib (`docs/design.md` §8 gives
/// the rule; the command is in `gateway/tests/vectors/audit-chain.txt`).
#[test]
fn the_chain_rule_matches_a_vector_computed_elsewhere() {
    let first = kyso_gateway::domain::audit_hash(
        "",
        1,
        1_764_460_800,
        "account.created",
        Some("acc_vector"),
        r#"{"k":"v"}"#,
    );
    assert_eq!(
        first,
        "2890a66efdec84cba37352c8e0400dc447c5f0c618533bd50027861bdae7dbff"
    );
    let second =
        kyso_gateway::domain::audit_hash(&first, 2, 1_764_460_801, "session.created", None, "{}");
    assert_eq!(
        second,
        "d8cbfe06eed315e6a0b01df6bb883429cc254bdb0ee441aa29282afd68343e5d"
    );
    assert_eq!(
        independent_hash(
            "",
            1,
            1_764_460_800,
            "account.created",
            "acc_vector",
            r#"{"k":"v"}"#
        ),
        first
    );
}

/// Declares the suite for one backend.
macro_rules! conformance {
    ($module:ident, $backend:ty) => {
        mod $module {
            use super::*;

            conformance!(@tests $backend;
                a_challenge_is_taken_exactly_once_by_100_concurrent_takers,
                a_ticket_makes_exactly_one_account_when_confirmed_100_times_at_once,
                a_ticket_survives_a_confirmation_the_store_failed_to_write,
                a_sim_login_is_handed_out_once_and_survives_a_failed_write,
                one_identity_gets_one_account_whatever_the_tickets,
                identifiers_and_aliases_are_unique_across_accounts,
                a_session_token_opens_its_account_until_it_expires,
                a_session_replaced_in_its_browser_hands_its_portals_to_the_new_one,
                aliases_a_login_proves_are_added_unless_another_account_holds_them,
                a_code_is_redeemed_exactly_once_by_100_concurrent_redeemers,
                a_redeemed_code_gives_its_access_token_until_reused_or_expired,
                consents_are_listed_replaced_and_withdrawn_with_their_tokens,
                a_client_assertion_is_accepted_once,
                expired_challenges_and_tickets_are_purged_and_live_ones_kept,
                a_backlog_larger_than_a_purge_batch_is_cleared_and_live_rows_kept,
                one_sim_session_is_pending_per_number_and_results_are_final,
                a_pending_sim_session_is_polled_by_one_instance_at_a_time,
                the_audit_log_is_append_only_and_any_change_breaks_the_chain,
                rows_cut_from_the_end_of_the_audit_chain_are_found,
            );
        }
    };
    (@tests $backend:ty; $($test:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                crate::store::$test(<$backend>::open().await).await;
            }
        )+
    };
}
pub(crate) use conformance;

/// SQLite: a fresh file per test.
pub struct Sqlite {
    _dir: tempfile::TempDir,
    url: String,
    store: Arc<dyn Store>,
}

impl Sqlite {
    async fn connect(&self) -> sqlx::SqliteConnection {
        use sqlx::Connection;
        sqlx::SqliteConnection::connect(&self.url).await.unwrap()
    }
}

#[async_trait]
impl Backend for Sqlite {
    async fn open() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("kyso.db").display());
        let store = kyso_gateway::store::SqliteStore::open(&url, 8)
            .await
            .unwrap();
        store.migrate().await.unwrap();
        Self {
            _dir: dir,
            url,
            store: Arc::new(store),
        }
    }

    fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    async fn raw(&self, sql: &str) -> Result<u64, String> {
        let mut conn = self.connect().await;
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    }

    async fn behind_audit_triggers(&self, sql: &str) {
        let mut conn = self.connect().await;
        let triggers: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert!(!triggers.is_empty(), "the audit log has its triggers");
        let mut steps: Vec<String> = triggers
            .iter()
            .map(|(name, _)| format!("DROP TRIGGER {name}"))
            .collect();
        steps.push(sql.to_owned());
        steps.extend(triggers.into_iter().map(|(_, create)| create));
        for step in steps {
            sqlx::query(sqlx::AssertSqlSafe(step))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }

    async fn audit_rows(&self) -> Vec<AuditRow> {
        let mut conn = self.connect().await;
        sqlx::query_as(
            "SELECT seq, at, event, account_id, details, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap()
    }
}

conformance!(sqlite, Sqlite);

/// SIM sessions as a build before the bearer hashes wrote them: one pending under the id
/// the browser held, one registered whose outcome held its ticket, one proven login whose
/// evidence names the session.
pub async fn sim_rows_of_the_build_before_the_bearer_hashes(b: &impl Backend) {
    let store = b.store();
    store
        .start_sim_session(&sim_session("raw-login-id", "+84912000007", T0), T0)
        .await
        .unwrap();
    let login = SimOutcome::LoggedIn(Box::new(Login {
        account_id: "acc_sim".into(),
        certificate: certificate("fp-login"),
        evidence: Evidence {
            method: Method::Sim,
            challenge_id: "raw-login-id".into(),
            ..evidence()
        },
    }));
    assert!(
        store
            .complete_sim_session("raw-login-id", SimResult::Ok, Some(&login), None, T0)
            .await
            .unwrap()
    );
    store
        .start_sim_session(&sim_session("raw-pending-id", "+84912000005", T0), T0)
        .await
        .unwrap();
    let done = SimSession {
        purpose: Purpose::Register,
        ..sim_session("raw-done-id", "+84912000006", T0)
    };
    store.start_sim_session(&done, T0).await.unwrap();
    let registered = SimOutcome::Registered(Box::new(Registration {
        subject: citizen("001090012345", &[]),
        certificate: vec![0x30, 0x00],
        ticket_expires_at: T0 + Duration::minutes(10),
    }));
    assert!(
        store
            .complete_sim_session("raw-done-id", SimResult::Ok, Some(&registered), None, T0)
            .await
            .unwrap()
    );
    // As serde wrote it: the ticket third of six fields.
    b.raw(
        "UPDATE sim_sessions SET outcome = replace(outcome, '\"kind\":\"registered\",', \
         '\"kind\":\"registered\",\"ticket\":\"raw-ticket-id\",') WHERE id = 'raw-done-id'",
    )
    .await
    .unwrap();
}

/// How many SIM session rows name `text` in their id or outcome.
pub async fn sim_rows_naming(b: &impl Backend, text: &str) -> u64 {
    b.raw(&format!(
        "UPDATE sim_sessions SET msisdn = msisdn \
         WHERE (id || coalesce(outcome, '')) LIKE '%{text}%'"
    ))
    .await
    .unwrap()
}

/// On SQLite a SIM registration's ticket lives in memory: it goes there with the
/// completion's own transaction, so while that completion waits for the writer (the
/// browser knows the ticket's id — it is the session's) there is no ticket to confirm,
/// and a completion that loses (the session already ended) leaves none behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sim_ticket_cannot_be_taken_before_its_completion_commits() {
    let b = Sqlite::open().await;
    let store = b.store();
    store
        .start_sim_session(&sim_session("sim-t", "+84912000007", T0), T0)
        .await
        .unwrap();
    let t = ticket("sim-t", citizen("001090012345", &[]));
    let path = b.url.trim_start_matches("sqlite://").to_owned();
    let lock = rusqlite::Connection::open(&path).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let completing = tokio::spawn({
        let (store, t) = (store.clone(), t.clone());
        async move {
            store
                .complete_sim_session("sim-t", SimResult::Ok, None, Some(&t), T0)
                .await
        }
    });
    // Long enough for the completion to be queued at the writer, held up by the lock.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!completing.is_finished());
    assert_eq!(store.get_ticket(&t.id).await.unwrap(), None);
    lock.execute_batch("COMMIT").unwrap();
    assert!(completing.await.unwrap().unwrap());
    assert_eq!(store.get_ticket(&t.id).await.unwrap(), Some(t.clone()));
    // A second completion loses, and takes nothing.
    let again = ticket("sim-t", citizen("079195001234", &[]));
    assert!(
        !store
            .complete_sim_session("sim-t", SimResult::Ok, None, Some(&again), T0)
            .await
            .unwrap()
    );
    assert_eq!(store.get_ticket(&t.id).await.unwrap(), Some(t));
}

/// A file written before SIM sessions were stored by hash: the upgrade replaces the ids
/// the browsers held (SQLite has no SHA-256 to hash them with) and drops the tickets the
/// outcomes held; the rows stay, counted by the per-number limits, the outcome readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sim_ids_written_before_the_bearer_hashes_are_replaced_at_the_upgrade() {
    let b = Sqlite::open().await;
    let store = b.store();
    sim_rows_of_the_build_before_the_bearer_hashes(&b).await;
    assert_eq!(sim_rows_naming(&b, "raw-ticket-id").await, 1);
    for sql in [
        "ALTER TABLE sim_sessions DROP COLUMN polled_by",
        "ALTER TABLE sim_sessions DROP COLUMN polled_until",
        "DELETE FROM _sqlx_migrations WHERE version >= 8",
    ] {
        b.raw(sql).await.unwrap();
    }
    store.migrate().await.unwrap();
    for raw in [
        "raw-pending-id",
        "raw-done-id",
        "raw-ticket-id",
        "raw-login-id",
    ] {
        assert_eq!(sim_rows_naming(&b, raw).await, 0, "{raw}");
    }
    let starts = store
        .sim_starts_since("+84912000005", "203.0.113.0/24", T0 - Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(starts.all, 1);
    let later = T0 + Duration::hours(1);
    let pending = store
        .claim_sim_sessions("poller", later, later, later, 100)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert!(pending[0].id.starts_with("before-0008-"));
}

/// A file whose chain was written by a build before the head record: the migration takes
/// the chain's last row as the head, and appends go on after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_chain_written_before_the_head_record_goes_on_after_the_upgrade() {
    let b = Sqlite::open().await;
    let store = b.store();
    for i in 0..2 {
        register(
            store.as_ref(),
            &format!("acc_{i}"),
            citizen(&format!("00109001236{i}"), &[]),
        )
        .await
        .unwrap();
    }
    // Back to the schema before the head record, rows and all.
    for sql in [
        "DROP TRIGGER audit_log_moves_head",
        "DROP TABLE audit_head",
        "ALTER TABLE sim_sessions DROP COLUMN requester",
        "ALTER TABLE sim_sessions DROP COLUMN polled_by",
        "ALTER TABLE sim_sessions DROP COLUMN polled_until",
        "DELETE FROM _sqlx_migrations WHERE version >= 6",
    ] {
        b.raw(sql).await.unwrap();
    }
    assert_eq!(b.audit_rows().await.len(), 2);
    store.migrate().await.unwrap();
    register(store.as_ref(), "acc_2", citizen("001090012362", &[]))
        .await
        .unwrap();
    let head = verify_audit_chain(store.as_ref(), None, AUDIT_PAGE)
        .await
        .unwrap();
    assert_eq!(head.seq, 3);
    assert_eq!(head.hash, b.audit_rows().await[2].6);
}

/// Sessions open when the portals a session signed in to began to be recorded: the
/// upgrade notes every portal their person is linked to, so their logout still tells
/// each of them, as before; a session opened afterwards tells only its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_open_before_their_portals_were_recorded_tell_every_linked_portal() {
    let b = Sqlite::open().await;
    let store = b.store();
    let a = register(store.as_ref(), "acc_old", citizen("001090012370", &[]))
        .await
        .unwrap();
    consent_to(store.as_ref(), &a.id, "portal-a").await;
    consent_to(store.as_ref(), &a.id, "portal-b").await;
    let open_session = |hash: &'static str| {
        let session = NewSession {
            token_hash: hash.into(),
            account_id: a.id.clone(),
            method: Method::Token,
            proved_at: T0,
            expires_at: T0 + Duration::hours(1),
        };
        let store = store.clone();
        let audit = audit("session.created", &a.id);
        async move {
            store
                .create_session(&session, &certificate("fp-old"), &audit)
                .await
                .unwrap();
        }
    };
    open_session("before-upgrade").await;
    // Back to the schema before: no record of any session's portals.
    for sql in [
        "DROP TABLE oidc_session_portals",
        "ALTER TABLE sim_sessions DROP COLUMN polled_by",
        "ALTER TABLE sim_sessions DROP COLUMN polled_until",
        "DELETE FROM _sqlx_migrations WHERE version >= 10",
    ] {
        b.raw(sql).await.unwrap();
    }
    store.migrate().await.unwrap();
    open_session("after-upgrade").await;
    store
        .note_session_portal("after-upgrade", "portal-b")
        .await
        .unwrap();
    let mut told = store
        .delete_session("before-upgrade")
        .await
        .unwrap()
        .unwrap();
    told.sort();
    assert_eq!(told, ["portal-a", "portal-b"]);
    let told = store
        .delete_session("after-upgrade")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(told, ["portal-b"]);
}
