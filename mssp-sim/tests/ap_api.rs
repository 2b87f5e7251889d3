//! The AP side (`/mss/v1`) over real HTTP against the router in-process: authentication,
//! request validation, every automatic test number, busy numbers and enumeration.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kyso_mssp_sim::numbers::*;
use kyso_mssp_sim::simulator::with_other_text;
use kyso_proto::mss::SignatureRequest;

#[tokio::test]
async fn wrong_or_missing_credentials_get_104() {
    let s = serve().await;
    let (req, _) = request(&trans_id(), AUTO_OK, 30);
    let body = serde_json::to_vec(&req).unwrap();
    let expected = serde_json::json!({"status": {"code": 104, "message": "UNAUTHORIZED_ACCESS"}});
    for auth in [
        None,
        Some((AP1.0, "wrong")),
        Some(("nobody", AP1.1)),
        Some((AP1.0, AP2.1)),
        Some((AP1.0, "")),
    ] {
        let r = s.post_raw("/mss/v1/signature", auth, body.clone()).await;
        assert_eq!(r.status(), 401, "{auth:?}");
        assert!(r.headers().contains_key("www-authenticate"));
        assert_eq!(r.json::<serde_json::Value>().await.unwrap(), expected);
        for path in [
            "/mss/v1/signature/0123456789abcdef?wait_ms=0",
            "/mss/v1/certificate?msisdn=0913000001",
        ] {
            let r = s.get(path, auth).await;
            assert_eq!(r.status(), 401, "{path} {auth:?}");
            assert_eq!(r.json::<serde_json::Value>().await.unwrap(), expected);
        }
    }
    // Not Basic, or not base64: refused the same way.
    for header in ["Bearer abc", "Basic !!!", "Basic", "Basic Z2F0ZXdheS0x"] {
        let r = s
            .http
            .post(format!("{}/mss/v1/signature", s.url))
            .header("authorization", header)
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{header}");
    }
    // Nothing was accepted for the number meanwhile.
    assert!(s.pending(AUTO_OK).await.is_empty());
    // Both configured APs get in.
    for ap in [AP1, AP2] {
        let (req, _) = request(&trans_id(), "+84912000003", 30);
        let a = s.submit_as(ap, &req).await;
        assert_eq!(a.status.code, 100);
        let id = a.mssp_trans_id.unwrap();
        assert_eq!(s.reject("+84912000003", &id).await.0, 200);
    }
}

#[tokio::test]
async fn the_ok_number_returns_a_signature_that_verifies() {
    let s = serve().await;
    let (req, data) = request(&trans_id(), "0913000001", 30);
    let accepted = s.submit_as(AP1, &req).await;
    assert_eq!(accepted.status.code, 100);
    assert_eq!(accepted.status.message, "REQUEST_OK");
    let id = accepted.mssp_trans_id.unwrap();
    let status = s.outcome(&id).await;
    assert_eq!(status.mssp_trans_id, id);
    assert_eq!(status.ap_trans_id, req.ap_trans_id);
    assert_eq!(
        (status.status.code, status.status.message.as_str()),
        (500, "SIGNATURE")
    );
    assert_eq!(status.algorithm.as_deref(), Some("RS256"));
    let chain = chain_of(&status);
    assert_eq!(
        chain,
        person(SIM_CITIZEN).chain,
        "signer first, then its CA"
    );
    let sig = signature_of(&status);
    assert!(verify(&chain[0], "RS256", &data, &sig));
    assert!(!verify(&chain[0], "RS256", b"something else", &sig));
    // Terminal: polling again gives the same answer.
    assert_eq!(s.poll_as(AP1, &id, 0).await, status);
}

/// Submits to `msisdn` and waits for the outcome.
async fn run(
    s: &Server,
    msisdn: &str,
    timeout_s: u32,
) -> (kyso_proto::mss::SignatureStatus, Vec<u8>) {
    let (id, data) = s.start(msisdn, timeout_s).await;
    (s.outcome(&id).await, data)
}

#[tokio::test]
async fn every_automatic_fault_number() {
    let s = serve().await;
    for (msisdn, code, message) in [
        (AUTO_REFUSE, 401, "USER_CANCEL"),
        (AUTO_PIN_BLOCKED, 402, "PIN_BLOCKED"),
        (AUTO_OTA_ERROR, 209, "OTA_ERROR"),
        (AUTO_DEVICE_ERROR, 900, "INTERNAL_ERROR"),
        (AUTO_NO_ANSWER, 208, "EXPIRED_TRANSACTION"),
    ] {
        let timeout = if msisdn == AUTO_NO_ANSWER { 1 } else { 30 };
        let (status, _) = run(&s, msisdn, timeout).await;
        assert_eq!(
            (status.status.code, status.status.message.as_str()),
            (code, message),
            "{msisdn}"
        );
        assert!(status.signature.is_none() && status.algorithm.is_none());
        assert!(status.certificate_chain.is_empty());
    }
}

#[tokio::test]
async fn every_automatic_signing_number() {
    let s = serve().await;
    let citizen = &person(SIM_CITIZEN).chain;
    let citizen_ec = &person(SIM_CITIZEN_EC).chain;
    let enterprise = &person(SIM_ENTERPRISE).chain;

    // Bad signature: the citizen's chain, random bytes of an RSA-2048 signature's length.
    let (st, data) = run(&s, AUTO_BAD_SIGNATURE, 30).await;
    assert_eq!(st.status.code, 500);
    assert_eq!(st.algorithm.as_deref(), Some("RS256"));
    assert_eq!(&chain_of(&st), citizen);
    assert_eq!(signature_of(&st).len(), 256);
    assert!(!verify(&citizen[0], "RS256", &data, &signature_of(&st)));

    // Wrong certificate: signed by the citizen's RSA key, the EC citizen's chain.
    let (st, data) = run(&s, AUTO_WRONG_CERTIFICATE, 30).await;
    assert_eq!(st.status.code, 500);
    assert_eq!(st.algorithm.as_deref(), Some("RS256"));
    assert_eq!(&chain_of(&st), citizen_ec);
    assert!(verify(&citizen[0], "RS256", &data, &signature_of(&st)));

    // Slow answer: ES256 by the EC citizen, raw r||s.
    let (st, data) = run(&s, AUTO_SLOW_OK, 30).await;
    assert_eq!(st.status.code, 500);
    assert_eq!(st.algorithm.as_deref(), Some("ES256"));
    assert_eq!(&chain_of(&st), citizen_ec);
    assert_eq!(signature_of(&st).len(), 64);
    assert!(verify(&citizen_ec[0], "ES256", &data, &signature_of(&st)));

    // Other display text: valid over the data with another text's hash, not over ours.
    let (st, data) = run(&s, AUTO_OTHER_TEXT, 30).await;
    assert_eq!(st.status.code, 500);
    assert_eq!(&chain_of(&st), citizen);
    let sig = signature_of(&st);
    assert!(!verify(&citizen[0], "RS256", &data, &sig));
    assert!(verify(&citizen[0], "RS256", &with_other_text(&data), &sig));
    assert_eq!(with_other_text(&data)[..64], data[..64]);

    // Enterprise.
    let (st, data) = run(&s, AUTO_ENTERPRISE_OK, 30).await;
    assert_eq!(st.status.code, 500);
    assert_eq!(st.algorithm.as_deref(), Some("RS256"));
    assert_eq!(&chain_of(&st), enterprise);
    assert!(verify(&enterprise[0], "RS256", &data, &signature_of(&st)));
}

#[tokio::test]
async fn one_outstanding_request_per_number_whichever_ap() {
    let s = serve().await;
    let number = "+84912000002";
    let (id, _) = s.start(number, 60).await;
    for ap in [AP1, AP2] {
        let (req, _) = request(&trans_id(), "0912000002", 60);
        let a = s.submit_as(ap, &req).await;
        assert_eq!(
            (a.status.code, a.status.message.as_str(), a.mssp_trans_id),
            (406, "PB_SIGNATURE_PROCESS", None)
        );
    }
    // Other numbers are not affected; once the first ends, the number is free again.
    s.start("+84912000003", 60).await;
    assert_eq!(s.reject(number, &id).await.0, 200);
    let (req, _) = request(&trans_id(), number, 60);
    assert_eq!(s.submit_as(AP2, &req).await.status.code, 100);
}

#[tokio::test]
async fn a_number_without_a_signing_sim_looks_unknown() {
    let s = serve().await;
    let mut bodies = Vec::new();
    for msisdn in [AUTO_NOT_ENROLLED, "+84987654321"] {
        let (mut req, _) = request(&trans_id(), msisdn, 30);
        req.ap_trans_id = "same-id".into();
        let r = s
            .post_raw(
                "/mss/v1/signature",
                Some(AP1),
                serde_json::to_vec(&req).unwrap(),
            )
            .await;
        assert_eq!(r.status(), 200);
        bodies.push(r.bytes().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1], "byte for byte");
    let json: serde_json::Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"status": {"code": 404, "message": "NO_KEY_FOUND"}})
    );

    let mut answers = Vec::new();
    for msisdn in [AUTO_NOT_ENROLLED, "+84987654321"] {
        let r = s
            .get(
                &format!("/mss/v1/certificate?msisdn={}", enc(msisdn)),
                Some(AP1),
            )
            .await;
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        answers.push(text.replace(msisdn, "MSISDN"));
    }
    assert_eq!(answers[0], answers[1]);
    assert!(answers[0].contains("NO_KEY_FOUND"), "{}", answers[0]);
}

#[tokio::test]
async fn certificates_of_signing_sims() {
    let s = serve().await;
    for (msisdn, who) in [
        ("0913000001", SIM_CITIZEN),
        ("84912000002", SIM_CITIZEN_EC),
        ("+84912000003", SIM_ENTERPRISE),
        (AUTO_WRONG_CERTIFICATE, SIM_CITIZEN_EC),
    ] {
        let a: kyso_proto::mss::CertificateAnswer = s
            .get(
                &format!("/mss/v1/certificate?msisdn={}", enc(msisdn)),
                Some(AP2),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(a.status.code, 100, "{msisdn}");
        assert!(a.msisdn.starts_with("+849"));
        let chain: Vec<Vec<u8>> = a
            .certificate_chain
            .iter()
            .map(|c| STANDARD.decode(c).unwrap())
            .collect();
        assert_eq!(chain, person(who).chain, "{msisdn}");
    }
    // An unencoded `+` arrives as a space; the number is still read.
    let a: kyso_proto::mss::CertificateAnswer = s
        .get("/mss/v1/certificate?msisdn=+84912000003", Some(AP2))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((a.status.code, a.msisdn.as_str()), (100, "+84912000003"));
    let a: kyso_proto::mss::CertificateAnswer = s
        .get("/mss/v1/certificate?msisdn=12345", Some(AP2))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(a.status.code, 101);
}

#[tokio::test]
async fn bad_parameters_are_refused_at_once() {
    let s = serve().await;
    let good = || request(&trans_id(), "+84912000001", 30).0;
    let cases: Vec<(&str, SignatureRequest, u16)> = vec![
        (
            "bad msisdn",
            SignatureRequest {
                msisdn: "12345".into(),
                ..good()
            },
            101,
        ),
        (
            "foreign msisdn",
            SignatureRequest {
                msisdn: "+14155550100".into(),
                ..good()
            },
            101,
        ),
        (
            "empty ap_trans_id",
            SignatureRequest {
                ap_trans_id: String::new(),
                ..good()
            },
            101,
        ),
        (
            "long ap_trans_id",
            SignatureRequest {
                ap_trans_id: "x".repeat(65),
                ..good()
            },
            101,
        ),
        (
            "timeout 0",
            SignatureRequest {
                timeout_s: 0,
                ..good()
            },
            101,
        ),
        (
            "timeout too long",
            SignatureRequest {
                timeout_s: 121,
                ..good()
            },
            101,
        ),
        (
            "long text",
            SignatureRequest {
                data_to_be_displayed: "ý".repeat(201),
                ..good()
            },
            101,
        ),
        (
            "no text",
            SignatureRequest {
                data_to_be_displayed: String::new(),
                ..good()
            },
            101,
        ),
        (
            "not base64",
            SignatureRequest {
                data_to_be_signed: "not base64!".into(),
                ..good()
            },
            103,
        ),
        (
            "url-safe base64",
            SignatureRequest {
                data_to_be_signed: "-_-_".into(),
                ..good()
            },
            103,
        ),
        (
            "empty data",
            SignatureRequest {
                data_to_be_signed: String::new(),
                ..good()
            },
            103,
        ),
        (
            "data too long",
            SignatureRequest {
                data_to_be_signed: STANDARD.encode([7u8; 1025]),
                ..good()
            },
            103,
        ),
    ];
    for (what, req, code) in cases {
        let a = s.submit_as(AP1, &req).await;
        assert_eq!(a.status.code, code, "{what}");
        assert_eq!(a.mssp_trans_id, None, "{what}");
    }
    assert!(s.pending("+84912000001").await.is_empty());
    // The limits themselves are accepted: 64-character id, 200-character text, 1024 bytes.
    let edge = SignatureRequest {
        ap_trans_id: "y".repeat(64),
        data_to_be_displayed: "ý".repeat(200),
        data_to_be_signed: STANDARD.encode([7u8; 1024]),
        timeout_s: 120,
        ..good()
    };
    let a = s.submit_as(AP1, &edge).await;
    assert_eq!(a.status.code, 100);
    // The same ap_trans_id again from the same AP is refused (even for another number);
    // another AP may use it.
    let again = SignatureRequest {
        msisdn: "+84912000003".into(),
        ..edge.clone()
    };
    assert_eq!(s.submit_as(AP1, &again).await.status.code, 101);
    assert_eq!(s.submit_as(AP2, &again).await.status.code, 100);
}

#[tokio::test]
async fn undecodable_bodies_are_400_never_500() {
    let s = serve().await;
    for (body, code) in [
        (&b"{not json"[..], 101),
        (b"", 101),
        (b"[1,2,3]", 101),
        (br#"{"ap_trans_id":"a","msisdn":"0912000001","data_to_be_signed":"AA==","data_to_be_displayed":"t","timeout_s":"soon"}"#, 101),
        (br#"{"ap_trans_id":"a","msisdn":"0912000001","data_to_be_signed":"AA==","data_to_be_displayed":"t","timeout_s":-1}"#, 101),
        (br#"{"ap_trans_id":"a","msisdn":"0912000001","data_to_be_signed":"AA==","data_to_be_displayed":"t","timeout_s":5,"x":1}"#, 101),
        (br#"{"ap_trans_id":"a","msisdn":"0912000001"}"#, 102),
    ] {
        let r = s.post_raw("/mss/v1/signature", Some(AP1), body.to_vec()).await;
        assert_eq!(r.status(), 400, "{}", String::from_utf8_lossy(body));
        let json: serde_json::Value = r.json().await.unwrap();
        assert_eq!(json["status"]["code"], code, "{}", String::from_utf8_lossy(body));
    }
    let r = s
        .post_raw("/mss/v1/signature", Some(AP1), vec![b' '; 17 * 1024])
        .await;
    assert_eq!(r.status(), 413);
    let r = s.get("/mss/v1/signature/abc?wait_ms=soon", Some(AP1)).await;
    assert_eq!(r.status(), 400);
    let (status, json) = s
        .device(
            "0912000001/requests/abc/confirm",
            Some(serde_json::json!({"pin": 1234})),
        )
        .await;
    assert_eq!(
        (status, json["result"].as_str()),
        (400, Some("BAD_REQUEST"))
    );
}

#[tokio::test]
async fn transactions_are_private_to_their_ap() {
    let s = serve().await;
    let (id, _) = s.start(AUTO_NO_ANSWER, 30).await;
    for (ap, path) in [
        (AP2, format!("/mss/v1/signature/{id}")),
        (
            AP1,
            "/mss/v1/signature/0123456789abcdef0123456789abcdef".to_owned(),
        ),
    ] {
        let r = s.get(&path, Some(ap)).await;
        assert_eq!(r.status(), 404, "{path}");
        let json: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": {"code": 101, "message": "WRONG_PARAM"}})
        );
    }
    assert_eq!(s.poll_as(AP1, &id, 0).await.status.code, 504);
}

#[tokio::test]
async fn long_poll_returns_504_when_nothing_happens_and_wakes_on_an_answer() {
    let s = serve().await;
    let number = "+84912000001";
    let (id, data) = s.start(number, 60).await;
    // No wait_ms: answers at once.
    let st = s.poll_as(AP1, &id, 0).await;
    assert_eq!(
        (st.status.code, st.status.message.as_str()),
        (504, "OUTSTANDING_TRANSACTION")
    );
    let r = s.get(&format!("/mss/v1/signature/{id}"), Some(AP1)).await;
    assert_eq!(r.status(), 200);
    // A short wait with nobody answering.
    assert_eq!(s.poll_as(AP1, &id, 300).await.status.code, 504);

    // A long poll is woken by the phone's answer, well before its 30 s.
    let poller = {
        let url = format!("{}/mss/v1/signature/{id}?wait_ms=30000", s.url);
        let http = s.http.clone();
        tokio::spawn(async move {
            http.get(url)
                .basic_auth(AP1.0, Some(AP1.1))
                .send()
                .await
                .unwrap()
                .json::<kyso_proto::mss::SignatureStatus>()
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!poller.is_finished(), "the long poll must still be waiting");
    let (status, answer) = s.confirm(number, &id, PIN).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("SIGNED")));
    let st = tokio::time::timeout(std::time::Duration::from_secs(20), poller)
        .await
        .expect("the long poll was not woken by the answer")
        .unwrap();
    assert_eq!(st.status.code, 500);
    assert!(verify(
        &person(SIM_CITIZEN).chain[0],
        "RS256",
        &data,
        &signature_of(&st)
    ));
}

#[tokio::test]
async fn an_interactive_request_expires_at_its_timeout() {
    let s = serve().await;
    let number = "+84912000003";
    // Long enough to see it pending on a loaded machine; the outcome waits it out.
    let (id, _) = s.start(number, 5).await;
    assert_eq!(s.pending(number).await.len(), 1);
    let st = s.outcome(&id).await;
    assert_eq!(
        (st.status.code, st.status.message.as_str()),
        (208, "EXPIRED_TRANSACTION")
    );
    // Too late to answer; the state stays.
    let (status, answer) = s.confirm(number, &id, PIN).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    assert!(s.pending(number).await.is_empty());
    assert_eq!(s.poll_as(AP1, &id, 0).await.status.code, 208);
}
