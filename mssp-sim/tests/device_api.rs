//! The phone side (`/device/v1`, `/phone/{msisdn}`) against the router in-process: what
//! the phone shows, PIN entry and blocking, refusal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::common::*;
use kyso_mssp_sim::numbers::*;
use kyso_proto::mss::verification_code_of_signed_data;

#[tokio::test]
async fn the_phone_shows_the_text_and_the_code_it_computes() {
    let s = serve().await;
    for msisdn in ["+84912000002", AUTO_NO_ANSWER] {
        assert!(s.pending(msisdn).await.is_empty());
        let (req, data) = request(&trans_id(), msisdn, 60);
        let id = s.submit_as(AP1, &req).await.mssp_trans_id.unwrap();
        // Any accepted form of the number reaches the same phone.
        let national = msisdn.replace("+84", "0");
        for form in [msisdn.to_owned(), national] {
            let pending = s.pending(&form).await;
            assert_eq!(pending.len(), 1, "{form}");
            let p = &pending[0];
            assert_eq!(p.id, id);
            assert_eq!(p.display_text, req.data_to_be_displayed);
            assert_eq!(
                Some(p.verification_code.clone()),
                verification_code_of_signed_data(&data)
            );
            assert!(p.display_text.ends_with(&p.verification_code));
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64;
            assert!(
                (now + 55..=now + 61).contains(&p.expires_at),
                "{}",
                p.expires_at
            );
        }
        // Another phone sees nothing.
        assert!(s.pending("+84912000001").await.is_empty());
    }
    // Data that is not the 96-byte SIM data: the code of the whole data.
    let mut req = request(&trans_id(), "+84912000001", 60).0;
    req.data_to_be_signed = "AQID".into();
    s.submit_as(AP1, &req).await;
    assert_eq!(
        s.pending("+84912000001").await[0].verification_code,
        kyso_proto::mss::verification_code(&[1, 2, 3])
    );
    let (status, _) = s.device("12345/requests", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn automatic_numbers_are_shown_but_not_answered_from_the_phone() {
    let s = serve().await;
    let (id, _) = s.start(AUTO_NO_ANSWER, 60).await;
    assert_eq!(s.pending(AUTO_NO_ANSWER).await[0].id, id);
    let (status, answer) = s.confirm(AUTO_NO_ANSWER, &id, PIN).await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    assert_eq!(s.reject(AUTO_NO_ANSWER, &id).await.0, 404);
    assert_eq!(s.poll_as(AP1, &id, 0).await.status.code, 504);
}

#[tokio::test]
async fn three_wrong_pins_block_the_sim_for_good() {
    let s = serve().await;
    let number = "+84912000001";
    let (id, _) = s.start(number, 60).await;
    // Right number, wrong request id; or the right id on another phone.
    assert_eq!(s.confirm(number, "nope", PIN).await.0, 404);
    assert_eq!(s.confirm("+84912000002", &id, PIN).await.0, 404);

    let (status, answer) = s.confirm(number, &id, "0000").await;
    assert_eq!(
        (status, answer),
        (
            403,
            serde_json::json!({"result": "PIN_INCORRECT", "tries_left": 2})
        )
    );
    assert_eq!(
        s.poll_as(AP1, &id, 0).await.status.code,
        504,
        "still outstanding"
    );
    let (status, answer) = s.confirm(number, &id, "1234").await;
    assert_eq!((status, answer["tries_left"].as_u64()), (403, Some(1)));
    let (status, answer) = s.confirm(number, &id, "").await;
    assert_eq!(
        (status, answer),
        (423, serde_json::json!({"result": "PIN_BLOCKED"}))
    );
    let st = s.poll_as(AP1, &id, 0).await;
    assert_eq!(
        (st.status.code, st.status.message.as_str()),
        (402, "PIN_BLOCKED")
    );
    // The right PIN is refused now; the transaction stays as it ended.
    assert_eq!(s.confirm(number, &id, PIN).await.0, 404);
    assert_eq!(s.poll_as(AP1, &id, 0).await.status.code, 402);

    // The next request is accepted and faults at once.
    let (next, _) = s.start(number, 60).await;
    assert_eq!(s.poll_as(AP1, &next, 0).await.status.code, 402);
    assert!(s.pending(number).await.is_empty());
    assert_eq!(s.confirm(number, &next, PIN).await.0, 404);
    // Other SIMs are not affected.
    let (other, data) = s.start("+84912000002", 60).await;
    let (status, answer) = s.confirm("0912000002", &other, PIN).await;
    assert_eq!((status, answer["result"].as_str()), (200, Some("SIGNED")));
    let st = s.poll_as(AP1, &other, 0).await;
    assert_eq!(st.algorithm.as_deref(), Some("ES256"));
    assert!(verify(
        &person(SIM_CITIZEN_EC).chain[0],
        "ES256",
        &data,
        &signature_of(&st)
    ));
}

#[tokio::test]
async fn a_right_pin_resets_the_counter() {
    let s = serve().await;
    let number = "+84912000003";
    for _ in 0..2 {
        let (id, _) = s.start(number, 60).await;
        assert_eq!(s.confirm(number, &id, "1").await.0, 403);
        assert_eq!(s.confirm(number, &id, "2").await.0, 403);
        assert_eq!(s.confirm(number, &id, PIN).await.0, 200);
        assert_eq!(s.poll_as(AP1, &id, 0).await.status.code, 500);
    }
}

#[tokio::test]
async fn refusing_ends_with_user_cancel() {
    let s = serve().await;
    let number = "+84912000002";
    let (id, _) = s.start(number, 60).await;
    let (status, answer) = s.reject(number, &id).await;
    assert_eq!(
        (status, answer),
        (200, serde_json::json!({"result": "REJECTED"}))
    );
    let st = s.poll_as(AP1, &id, 0).await;
    assert_eq!(
        (st.status.code, st.status.message.as_str()),
        (401, "USER_CANCEL")
    );
    // Terminal: neither a second refusal nor a confirmation changes it.
    assert_eq!(s.reject(number, &id).await.0, 404);
    assert_eq!(s.confirm(number, &id, PIN).await.0, 404);
    assert_eq!(s.poll_as(AP1, &id, 0).await.status.code, 401);
    assert!(s.pending(number).await.is_empty());
}

#[tokio::test]
async fn the_phone_page_is_html() {
    let s = serve().await;
    let r = s.get("/phone/%2B84912000001", None).await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/html"), "{ct}");
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    let body = r.text().await.unwrap();
    assert!(body.contains("Yêu cầu ký số") && body.contains("Nhập mã PIN"));
    assert!(body.contains("/device/v1/"));
    assert_eq!(s.get("/healthz", None).await.status(), 200);
}
