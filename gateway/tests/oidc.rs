//! The OpenID Provider through the real router, with the clock the tests set: the whole
//! authorization code flow (login on the page's API, the session cookie, consent, code,
//! token, userinfo), single sign-on to a second portal, `prompt` and `max_age`, and every
//! refusal of the authorization and token endpoints. The relying-party libraries' side is
//! in `tests/browser/test_oidc.py`.

use crate::common::{ORIGIN, World, send, world};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use kyso_gateway::oidc::jose::{KeySet, SigningKey, verify};
use kyso_gateway::oidc::request::MAX_ECHOED;
use kyso_gateway::oidc::{OidcConfig, Provider};
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const SECRET_A: &str = "portal-a-secret-0123456789abcdef-0123";
const A_CB: &str = "https://a.tinh.gov.vn/cb";
const A_BYE: &str = "https://a.tinh.gov.vn/bye";
const B_CB: &str = "https://b.bo.gov.vn/oidc/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K-Z4ZB4H6TMTnCcwc2ve-Wqg-0.abcdef";

fn fresh_pem() -> String {
    let doc = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &aws_lc_rs::rand::SystemRandom::new(),
    )
    .unwrap();
    pem::encode(&pem::Pem::new("PRIVATE KEY", doc.as_ref().to_vec()))
}

/// A world whose router serves a provider with three portals: `portal-a` (confidential,
/// pairwise), `portal-b` (public, PKCE) and `portal-k` (`private_key_jwt`, public `sub`).
struct Op {
    w: World,
    app: axum::Router,
    provider: Arc<Provider>,
    /// The key `portal-k` signs its assertions with.
    portal_key: KeySet,
    /// The logout tokens `portal-a`'s back-channel endpoint received.
    backchannel: Arc<std::sync::Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

/// A portal's back-channel logout endpoint on loopback; its URL and what it receives. It
/// takes a moment before it counts a token as received, as a portal over a network does.
async fn backchannel_endpoint() -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    let received = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move |body: String| {
            let sink = sink.clone();
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                let token = url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                sink.lock().unwrap().push(token);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/backchannel", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn op() -> Op {
    let w = world().await;
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("op.pem");
    std::fs::write(&key, fresh_pem()).unwrap();
    let portal_pem = fresh_pem();
    let portal_key = KeySet::new(vec![SigningKey::from_pem(&portal_pem).unwrap()]).unwrap();
    let (backchannel_uri, backchannel) = backchannel_endpoint().await;
    let jwks = dir.path().join("portal-k.jwks");
    std::fs::write(&jwks, portal_key.jwks().to_string()).unwrap();
    let config: OidcConfig = serde_json::from_value(json!({
        "signing_keys": [key],
        "pairwise_secret": "pairwise-secret-0123456789abcdef-0123",
        "form_secret": "form-secret-0123456789abcdef-0123456",
        "clients": [
            {"id": "portal-a", "name": "Cổng DVC tỉnh A", "secret": SECRET_A,
             "redirect_uris": [A_CB], "scopes": ["openid", "profile", "vn_identity", "email"],
             "post_logout_redirect_uris": [A_BYE], "backchannel_logout_uri": backchannel_uri},
            {"id": "portal-b", "name": "Cổng Bộ B", "public": true,
             "redirect_uris": [B_CB], "scopes": ["openid", "vn_identity"]},
            {"id": "portal-k", "name": "Cổng K", "jwks": jwks, "subject_type": "public",
             "redirect_uris": ["https://k.gov.vn/cb"], "scopes": ["openid"]},
            {"id": "portal-l", "name": "Cổng L", "jwks": jwks, "token_endpoint_audience": true,
             "redirect_uris": ["https://l.gov.vn/cb"], "scopes": ["openid"]},
        ],
    }))
    .unwrap();
    config.check(ORIGIN).unwrap();
    let provider = Arc::new(Provider::new(&config, ORIGIN, w.gateway.clone()).unwrap());
    let app = w.app_with_oidc(provider.clone());
    Op {
        w,
        app,
        provider,
        portal_key,
        backchannel,
        _dir: dir,
    }
}

/// A portal is exactly one kind of client — public, with a secret, or with keys — and
/// the issuer, if named, is the gateway's public origin (the provider's pages and the
/// sign-in page are served there): anything else is refused at start-up, naming the key.
#[test]
fn a_portal_is_one_kind_of_client_and_the_issuer_the_public_origin() {
    let checked = |issuer: Option<&str>, client: Value| {
        let mut config = json!({
            "signing_keys": ["op.pem"],
            "pairwise_secret": "pairwise-secret-0123456789abcdef-0123",
            "form_secret": "form-secret-0123456789abcdef-0123456",
            "clients": [client],
        });
        if let Some(issuer) = issuer {
            config["issuer"] = json!(issuer);
        }
        let config: OidcConfig = serde_json::from_value(config).unwrap();
        config
            .check("https://id.kyso.vn")
            .map_err(|e| e.to_string())
    };
    let client = |extra: Value| {
        let mut c = json!({"id": "p", "name": "P", "redirect_uris": [A_CB]});
        c.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        c
    };
    assert!(checked(None, client(json!({"secret": SECRET_A}))).is_ok());
    assert!(checked(None, client(json!({"jwks": "p.jwks"}))).is_ok());
    assert!(checked(None, client(json!({"public": true}))).is_ok());
    for (extra, key) in [
        (
            json!({"secret": SECRET_A, "jwks": "p.jwks"}),
            "oidc.clients[0].jwks",
        ),
        (json!({}), "oidc.clients[0].public"),
        (
            json!({"public": true, "secret": SECRET_A}),
            "oidc.clients[0].public",
        ),
        (json!({"secret": "short"}), "oidc.clients[0].secret"),
    ] {
        let refused = checked(None, client(extra.clone())).unwrap_err();
        assert!(refused.contains(key), "{extra}: {refused}");
    }
    let ok = client(json!({"secret": SECRET_A}));
    assert!(checked(Some("https://id.kyso.vn"), ok.clone()).is_ok());
    for issuer in [
        "https://id.kyso.vn:8443",
        "https://ID.kyso.vn",
        "https://other.kyso.vn",
        "https://kyso.vn/oidc",
        "https://id.kyso.vn/",
        "http://id.kyso.vn",
        "https://id.kyso.vn?x=1",
    ] {
        let refused = checked(Some(issuer), ok.clone()).unwrap_err();
        assert!(refused.contains("oidc.issuer"), "{issuer}: {refused}");
    }
}

/// The raw response of `request`: status, headers, body text.
async fn raw(
    app: &axum::Router,
    request: Request<Body>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// The value of the hidden input `name` of a server-rendered form, unescaped.
fn form_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}

/// The authorization request a login redirect to the page returns to.
fn continue_of(to_page: &str) -> String {
    assert!(to_page.starts_with("/?continue="), "{to_page}");
    let query = to_page.trim_start_matches("/?");
    let query = query.split('#').next().unwrap();
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "continue")
        .unwrap()
        .1
        .into_owned()
}

fn location(headers: &axum::http::HeaderMap) -> String {
    headers[header::LOCATION].to_str().unwrap().to_owned()
}

/// The query parameters of a URL.
fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

fn authorize_path(pairs: &[(&str, &str)]) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        q.append_pair(k, v);
    }
    format!("/oidc/authorize?{}", q.finish())
}

fn portal_a(extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", "portal-a"),
        ("redirect_uri", A_CB),
        ("scope", "openid profile vn_identity"),
        ("state", "st-1"),
        ("nonce", "n-1"),
    ];
    pairs.extend_from_slice(extra);
    authorize_path(&pairs)
}

impl Op {
    /// Registers `person` (once) and logs in through the API; the session token.
    async fn login(&self, person: &str, register: bool) -> String {
        let app = &self.app;
        let token = |purpose: &'static str| async move {
            let (_, c) =
                crate::common::call(app, "/v1/challenges", json!({ "purpose": purpose })).await;
            let t = self
                .w
                .pki
                .token(person, ORIGIN, c["nonce"].as_str().unwrap());
            (c["challenge_id"].clone(), t)
        };
        if register {
            let (id, t) = token("register").await;
            let (status, preview) = crate::common::call(
                app,
                "/v1/registrations/token",
                json!({ "challenge_id": id, "auth_token": t }),
            )
            .await;
            assert_eq!(status, 200, "{preview}");
            let confirm = format!(
                "/v1/registrations/{}/confirm",
                preview["ticket"].as_str().unwrap()
            );
            let (status, _) = crate::common::call(app, &confirm, json!({})).await;
            assert_eq!(status, 201);
        }
        let (id, t) = token("login").await;
        let (status, session) = crate::common::call(
            app,
            "/v1/sessions/token",
            json!({ "challenge_id": id, "auth_token": t }),
        )
        .await;
        assert_eq!(status, 200, "{session}");
        session["session_token"].as_str().unwrap().to_owned()
    }

    /// Hands the page's session over as the browser cookie; the cookie header value.
    async fn cookie(&self, session: &str) -> String {
        let request = Request::post("/oidc/session")
            .header(header::AUTHORIZATION, format!("Bearer {session}"))
            .header(header::ORIGIN, ORIGIN)
            .body(Body::empty())
            .unwrap();
        let (status, headers, body) = raw(&self.app, request).await;
        assert_eq!(status, 204, "{body}");
        let set = headers[header::SET_COOKIE].to_str().unwrap().to_owned();
        for attribute in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age="] {
            assert!(set.contains(attribute), "{set}");
        }
        assert!(
            !set.contains("Domain"),
            "a __Host- cookie has no Domain: {set}"
        );
        set.split(';').next().unwrap().to_owned()
    }

    async fn get(
        &self,
        path: &str,
        cookie: Option<&str>,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut request = Request::get(path);
        if let Some(c) = cookie {
            request = request.header(header::COOKIE, c);
        }
        raw(&self.app, request.body(Body::empty()).unwrap()).await
    }

    /// Portal A asks with `prompt=none` (no page may be shown): the query kyso sends
    /// the browser back with (`code`, or `error`).
    async fn silent_at_a(&self, cookie: &str) -> std::collections::HashMap<String, String> {
        let (status, headers, _) = self
            .get(&portal_a(&[("prompt", "none")]), Some(cookie))
            .await;
        assert_eq!(status, 303);
        query_of(&location(&headers))
    }

    async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(header::HeaderName, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in form {
            body.append_pair(k, v);
        }
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(name, *value);
        }
        raw(&self.app, request.body(Body::from(body.finish())).unwrap()).await
    }

    /// Posts an "allow" to the consent form with these fields, from kyso's origin.
    async fn allow(
        &self,
        request: &str,
        csrf: &str,
        cookie: &str,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        self.post_form(
            "/oidc/consent",
            &[("request", request), ("csrf", csrf), ("decision", "allow")],
            &[(header::COOKIE, cookie), (header::ORIGIN, ORIGIN)],
        )
        .await
    }

    /// Answers the consent screen at `path`; the redirect it gives.
    async fn consent(&self, path: &str, cookie: &str, decision: &str) -> String {
        let (status, headers, html) = self.get(path, Some(cookie)).await;
        assert_eq!(status, 200, "{html}");
        assert!(
            headers[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("form-action 'self' https://")
        );
        let field = |name: &str| form_field(&html, name);
        let (status, headers, body) = self
            .post_form(
                "/oidc/consent",
                &[
                    ("request", &field("request")),
                    ("csrf", &field("csrf")),
                    ("decision", decision),
                ],
                &[(header::COOKIE, cookie), (header::ORIGIN, ORIGIN)],
            )
            .await;
        assert_eq!(status, 303, "{body}");
        location(&headers)
    }

    /// Exchanges a code at the token endpoint as `portal-a`.
    /// Posts the logout confirmation form of the page `html` with the session `cookie`,
    /// from `origin`: the answer.
    async fn confirm_logout(
        &self,
        html: &str,
        cookie: &str,
        origin: &str,
    ) -> (StatusCode, axum::http::HeaderMap, String) {
        let fields = [
            ("request", form_field(html, "request")),
            ("csrf", form_field(html, "csrf")),
        ];
        let form: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post_form(
            "/oidc/logout",
            &form,
            &[(header::COOKIE, cookie), (header::ORIGIN, origin)],
        )
        .await
    }

    /// Portal A (its secret, Basic) redeems `code` for `redirect_uri`, with `verifier`
    /// if given: the status and the body.
    async fn redeem_at_a(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> (StatusCode, String) {
        let basic = format!("Basic {}", STANDARD.encode(format!("portal-a:{SECRET_A}")));
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        let (status, _, body) = self
            .post_form(
                "/oidc/token",
                &form,
                &[(header::AUTHORIZATION, basic.as_str())],
            )
            .await;
        (status, body)
    }

    async fn exchange_a(
        &self,
        code: &str,
        secret: &str,
    ) -> (StatusCode, axum::http::HeaderMap, Value) {
        let basic = format!("Basic {}", STANDARD.encode(format!("portal-a:{secret}")));
        let (status, headers, body) = self
            .post_form(
                "/oidc/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", code),
                    ("redirect_uri", A_CB),
                ],
                &[(header::AUTHORIZATION, basic.as_str())],
            )
            .await;
        (
            status,
            headers,
            serde_json::from_str(&body).unwrap_or(Value::Null),
        )
    }

    async fn userinfo(&self, access_token: &str) -> (StatusCode, Value) {
        let request = Request::get("/oidc/userinfo")
            .header(header::AUTHORIZATION, format!("Bearer {access_token}"))
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = raw(&self.app, request).await;
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    async fn jwks(&self) -> Value {
        let (status, _, body) = self.get("/oidc/jwks", None).await;
        assert_eq!(status, 200);
        serde_json::from_str(&body).unwrap()
    }
}

#[tokio::test]
async fn a_portal_logs_a_person_in_with_consent_and_its_code_works_once() {
    let op = op().await;
    // No session: to kyso's page, which comes back to this very request.
    let (status, headers, _) = op.get(&portal_a(&[]), None).await;
    assert_eq!(status, 303);
    let to_page = location(&headers);
    assert!(
        to_page.starts_with("/?continue=%2Foidc%2Fauthorize%3F") && to_page.ends_with("#/login"),
        "{to_page}"
    );
    let session = op.login("citizen-cccd", true).await;
    let cookie = op.cookie(&session).await;
    // Scopes the provider does not know (a library's default `offline_access`) are
    // ignored, not refused (OpenID Connect Core §3.1.2.1), and granted to nobody.
    let asked = portal_a(&[]).replace(
        "scope=openid+profile+vn_identity",
        "scope=openid+offline_access+profile+vn_identity+x-unknown",
    );
    let back = op.consent(&asked, &cookie, "allow").await;
    assert!(back.starts_with(&format!("{A_CB}?code=")), "{back}");
    let q = query_of(&back);
    assert_eq!((q["state"].as_str(), q["iss"].as_str()), ("st-1", ORIGIN));

    let (status, headers, tokens) = op.exchange_a(&q["code"], SECRET_A).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile vn_identity");
    let id = verify(tokens["id_token"].as_str().unwrap(), &op.jwks().await).unwrap();
    let now = kyso_gateway::clock::Clock::now(op.w.clock.as_ref());
    assert_eq!(id["iss"], ORIGIN);
    assert_eq!(id["aud"], "portal-a");
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["acr"], "urn:kyso:assurance:ial3");
    assert_eq!(id["amr"], json!(["hwk", "sc", "pin", "mfa"]));
    assert_eq!(id["auth_time"], now.unix_timestamp());
    assert!(id["exp"].as_i64().unwrap() > now.unix_timestamp());
    // The scopes' claims are at userinfo only: an ID token comes back in URLs
    // (id_token_hint), and a CCCD or a name must not.
    for claim in [
        "vn_identifier",
        "vn_subject_type",
        "vn_aliases",
        "name",
        "email",
    ] {
        assert!(id.get(claim).is_none(), "{claim} in the ID token");
    }
    assert_eq!(id["azp"], "portal-a");
    // OpenID Connect Core §3.1.3.6: the left half of the access token's SHA-256.
    let access_digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        tokens["access_token"].as_str().unwrap().as_bytes(),
    );
    assert_eq!(
        id["at_hash"],
        URL_SAFE_NO_PAD.encode(&access_digest.as_ref()[..16])
    );
    let sub = id["sub"].as_str().unwrap();
    assert!(
        !sub.starts_with("acc_"),
        "a pairwise sub, not the account id: {sub}"
    );

    let access = tokens["access_token"].as_str().unwrap();
    let (status, info) = op.userinfo(access).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["sub"], sub);
    assert_eq!(
        info["vn_identifier"],
        json!({"kind": "CCCD", "value": "001090012345"})
    );
    assert_eq!(info["vn_subject_type"], "citizen");
    assert!(info["name"].is_string());
    assert!(info.get("email").is_none(), "email was not asked for");

    // The same code again: refused, and the access token it gave is revoked.
    let (status, headers, again) = op.exchange_a(&q["code"], SECRET_A).await;
    assert_eq!(
        (status.as_u16(), again["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let (status, info) = op.userinfo(access).await;
    assert_eq!(
        (status.as_u16(), info["error"].as_str()),
        (401, Some("invalid_token"))
    );
}

/// Userinfo's errors follow RFC 6750 §3.1 (no error code when no token came, 400 for a
/// malformed one), and a portal taken out of the configuration gets nothing more with the
/// tokens it still holds.
#[tokio::test]
async fn userinfo_answers_as_rfc_6750_says_and_not_to_a_portal_taken_out_of_the_configuration() {
    let op = op().await;
    let session = op.login("citizen-cccd", true).await;
    let cookie = op.cookie(&session).await;
    let back = op.consent(&portal_a(&[]), &cookie, "allow").await;
    let (status, _, tokens) = op.exchange_a(&query_of(&back)["code"], SECRET_A).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(op.userinfo(access).await.0, 200);

    let ask = |authorization: Option<String>| {
        let mut request = Request::get("/oidc/userinfo");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        raw(&op.app, request.body(Body::empty()).unwrap())
    };
    let challenge = |headers: &axum::http::HeaderMap| {
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .to_owned()
    };
    for none in [None, Some(format!("Basic {}", STANDARD.encode("a:b")))] {
        let (status, headers, body) = ask(none.clone()).await;
        assert_eq!(
            (status.as_u16(), challenge(&headers)),
            (401, "Bearer".into()),
            "{none:?}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert!(body.get("error").is_none(), "no error code: {body}");
    }
    let (status, headers, body) = ask(Some(format!("Bearer {}", "x".repeat(300)))).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(challenge(&headers), "Bearer error=\"invalid_request\"");
    let (status, headers, _) = ask(Some("Bearer unknown-token".into())).await;
    assert_eq!(
        (status.as_u16(), challenge(&headers)),
        (401, "Bearer error=\"invalid_token\"".into())
    );

    // The same gateway restarted without portal-a: its token opens nothing.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("op.pem");
    std::fs::write(&key, fresh_pem()).unwrap();
    let without_a: OidcConfig = serde_json::from_value(json!({
        "signing_keys": [key],
        "pairwise_secret": "pairwise-secret-0123456789abcdef-0123",
        "form_secret": "form-secret-0123456789abcdef-0123456",
        "clients": [{"id": "portal-b", "name": "Cổng Bộ B", "public": true,
                     "redirect_uris": [B_CB], "scopes": ["openid", "vn_identity"]}],
    }))
    .unwrap();
    let restarted = Provider::new(&without_a, ORIGIN, op.w.gateway.clone()).unwrap();
    let refused = restarted
        .userinfo(Some(&format!("Bearer {access}")))
        .await
        .unwrap_err();
    assert_eq!((refused.status, refused.error), (401, "invalid_token"));
    assert!(
        op.provider
            .userinfo(Some(&format!("Bearer {access}")))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_second_portal_gets_single_sign_on_and_another_sub_and_remembered_consent_skips_the_screen()
 {
    let op = op().await;
    let cookie = op.cookie(&op.login("citizen-cccd", true).await).await;
    let back = op.consent(&portal_a(&[]), &cookie, "allow").await;
    let (_, _, a) = op.exchange_a(&query_of(&back)["code"], SECRET_A).await;
    let sub_a = verify(a["id_token"].as_str().unwrap(), &op.jwks().await).unwrap()["sub"].clone();

    // Portal B, a public client with PKCE: no new proof, only its own consent.
    let b = authorize_path(&[
        ("response_type", "code"),
        ("client_id", "portal-b"),
        ("redirect_uri", B_CB),
        ("scope", "openid vn_identity"),
        ("code_challenge", &pkce_challenge(VERIFIER)),
        ("code_challenge_method", "S256"),
    ]);
    let back = op.consent(&b, &cookie, "allow").await;
    let code = query_of(&back)["code"].clone();
    let (status, _, body) = op
        .post_form(
            "/oidc/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", B_CB),
                ("client_id", "portal-b"),
                ("code_verifier", VERIFIER),
            ],
            &[],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let tokens: Value = serde_json::from_str(&body).unwrap();
    let id_b = verify(tokens["id_token"].as_str().unwrap(), &op.jwks().await).unwrap();
    assert_ne!(id_b["sub"], sub_a, "two sectors must not see one sub");
    let (_, info_b) = op.userinfo(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(info_b["sub"], id_b["sub"]);
    assert_eq!(info_b["vn_identifier"]["value"], "001090012345");

    // Portal A again: consent remembered, the code comes straight back, the same sub.
    let (status, headers, _) = op.get(&portal_a(&[]), Some(&cookie)).await;
    assert_eq!(status, 303);
    let again = location(&headers);
    assert!(again.starts_with(A_CB), "{again}");
    let (_, _, a2) = op.exchange_a(&query_of(&again)["code"], SECRET_A).await;
    let id_a2 = verify(a2["id_token"].as_str().unwrap(), &op.jwks().await).unwrap();
    assert_eq!(id_a2["sub"], sub_a, "one portal sees one stable sub");
    // prompt=consent asks again; a wider scope than consented asks again too.
    let (status, _, _) = op
        .get(&portal_a(&[("prompt", "consent")]), Some(&cookie))
        .await;
    assert_eq!(status, 200);
    let wider = authorize_path(&[
        ("response_type", "code"),
        ("client_id", "portal-a"),
        ("redirect_uri", A_CB),
        ("scope", "openid email"),
        ("nonce", "n-2"),
    ]);
    let (status, _, html) = op.get(&wider, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-claim=\"email\""), "{html}");
}

#[tokio::test]
async fn prompt_none_login_and_max_age_are_honoured() {
    let op = op().await;
    let (status, headers, _) = op.get(&portal_a(&[("prompt", "none")]), None).await;
    assert_eq!(status, 303);
    let q = query_of(&location(&headers));
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("login_required", "st-1")
    );

    let cookie = op.cookie(&op.login("citizen-cccd", true).await).await;
    assert_eq!(op.silent_at_a(&cookie).await["error"], "consent_required");
    op.consent(&portal_a(&[]), &cookie, "allow").await;
    assert!(op.silent_at_a(&cookie).await.contains_key("code"));

    // max_age: ten minutes later, a five-minute max_age sends the person to log in again.
    op.w.clock.advance(time::Duration::minutes(10));
    let (_, headers, _) = op
        .get(&portal_a(&[("max_age", "300")]), Some(&cookie))
        .await;
    assert!(location(&headers).starts_with("/?continue="));
    let (_, headers, _) = op
        .get(&portal_a(&[("max_age", "3600")]), Some(&cookie))
        .await;
    assert!(location(&headers).starts_with(A_CB));

    // prompt=login: a new proof, even with a session; after it, the request goes through.
    let (_, headers, _) = op
        .get(&portal_a(&[("prompt", "login")]), Some(&cookie))
        .await;
    let continue_to = continue_of(&location(&headers));
    assert!(continue_to.contains("kyso_login_after="), "{continue_to}");
    // Coming back with the old session is not enough…
    let (_, headers, _) = op.get(&continue_to, Some(&cookie)).await;
    assert!(location(&headers).starts_with("/?continue="));
    // …and a forged marker is ignored.
    let forged = continue_to.replace("kyso_login_after=", "kyso_login_after=1");
    let (_, headers, _) = op.get(&forged, Some(&cookie)).await;
    assert!(location(&headers).starts_with("/?continue="));
    op.w.clock.advance(time::Duration::seconds(5));
    let fresh = op.cookie(&op.login("citizen-cccd", false).await).await;
    let (_, headers, _) = op.get(&continue_to, Some(&fresh)).await;
    let back = location(&headers);
    assert!(back.starts_with(A_CB), "{back}");
    let (_, _, tokens) = op.exchange_a(&query_of(&back)["code"], SECRET_A).await;
    let id = verify(tokens["id_token"].as_str().unwrap(), &op.jwks().await).unwrap();
    assert_eq!(
        id["auth_time"],
        kyso_gateway::clock::Clock::now(op.w.clock.as_ref()).unix_timestamp()
    );
}

#[tokio::test]
async fn untrusted_portals_and_redirect_uris_get_a_page_never_a_redirect() {
    let op = op().await;
    for path in [
        authorize_path(&[
            ("response_type", "code"),
            ("client_id", "nobody"),
            ("redirect_uri", A_CB),
            ("scope", "openid"),
        ]),
        authorize_path(&[
            ("response_type", "code"),
            ("client_id", "portal-a"),
            ("redirect_uri", "https://evil.example/cb"),
            ("scope", "openid"),
        ]),
        authorize_path(&[
            ("response_type", "code"),
            ("client_id", "portal-a"),
            ("redirect_uri", &format!("{A_CB}/x")),
            ("scope", "openid"),
        ]),
        authorize_path(&[
            ("response_type", "code"),
            ("client_id", "portal-a"),
            ("scope", "openid"),
        ]),
        // Which portal, or where to, is ambiguous: the error cannot go back.
        format!("{}&client_id=portal-a", portal_a(&[])),
        format!(
            "{}&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
            portal_a(&[])
        ),
    ] {
        let (status, headers, html) = op.get(&path, None).await;
        assert_eq!(status, 400, "{path}");
        assert!(!headers.contains_key(header::LOCATION), "{path}");
        assert!(html.contains("data-testid=\"oidc-error\""), "{html}");
    }
}

#[tokio::test]
async fn bad_requests_from_a_known_portal_go_back_to_it_as_errors() {
    let op = op().await;
    let plain = authorize_path(&[
        ("response_type", "code"),
        ("client_id", "portal-b"),
        ("redirect_uri", B_CB),
        ("scope", "openid"),
        ("code_challenge", VERIFIER),
        ("code_challenge_method", "plain"),
    ]);
    let no_pkce = authorize_path(&[
        ("response_type", "code"),
        ("client_id", "portal-b"),
        ("redirect_uri", B_CB),
        ("scope", "openid"),
    ]);
    let cases = [
        (
            portal_a(&[("response_type", "token")]).replacen("response_type=code&", "", 1),
            "unsupported_response_type",
        ),
        (
            portal_a(&[]).replace("scope=openid+profile+vn_identity", "scope=profile"),
            "invalid_scope",
        ),
        (
            portal_a(&[]).replace("scope=openid+profile+vn_identity", "scope=openid+phone"),
            "invalid_scope",
        ),
        (
            portal_a(&[("acr_values", "urn:other:loa:2")]),
            "unmet_authentication_requirements",
        ),
        // Parameters that cannot be read, from a certainly known portal and redirect URI
        // (RFC 6749 §4.1.2.1): a repeated state, a NUL character (which no parameter
        // holds and PostgreSQL could not store), too many parameters.
        (format!("{}&state=again", portal_a(&[])), "invalid_request"),
        (
            portal_a(&[]).replace("nonce=n-1", "nonce=n%00-1"),
            "invalid_request",
        ),
        (
            format!(
                "{}{}",
                portal_a(&[]),
                (0..40).map(|i| format!("&x{i}=1")).collect::<String>()
            ),
            "invalid_request",
        ),
        (portal_a(&[("prompt", "none login")]), "invalid_request"),
        (
            portal_a(&[("prompt", "none select_account")]),
            "invalid_request",
        ),
        (portal_a(&[("max_age", "-1")]), "invalid_request"),
        (portal_a(&[("request", "eyJ")]), "request_not_supported"),
        (
            portal_a(&[("request_uri", "https://a.gov.vn/r/1")]),
            "request_uri_not_supported",
        ),
        (
            portal_a(&[("response_mode", "fragment")]),
            "invalid_request",
        ),
        (no_pkce, "invalid_request"),
        (plain, "invalid_request"),
    ];
    for (path, error) in cases {
        let (status, headers, _) = op.get(&path, None).await;
        assert_eq!(status, 303, "{path}");
        let back = location(&headers);
        assert!(back.starts_with("https://"), "{back}");
        let q = query_of(&back);
        assert_eq!(q["error"], error, "{path}");
        assert_eq!(q["iss"], ORIGIN);
    }
    // acr_values that include the one this provider gives are met.
    let (_, headers, _) = op
        .get(
            &portal_a(&[("acr_values", "urn:other urn:kyso:assurance:ial3")]),
            None,
        )
        .await;
    assert!(location(&headers).starts_with("/?continue="));
}

#[tokio::test]
async fn the_token_endpoint_binds_codes_to_client_redirect_uri_pkce_and_time() {
    let op = op().await;
    let cookie = op.cookie(&op.login("citizen-cccd", true).await).await;
    op.consent(&portal_a(&[]), &cookie, "allow").await;
    let code = |extra: &'static [(&'static str, &'static str)]| {
        let op = &op;
        let cookie = cookie.clone();
        async move {
            let (_, headers, _) = op.get(&portal_a(extra), Some(&cookie)).await;
            query_of(&location(&headers))["code"].clone()
        }
    };
    // A wrong secret: 401 with a Basic challenge; the code is still good afterwards.
    let c = code(&[]).await;
    let (status, headers, e) = op.exchange_a(&c, "wrong-secret").await;
    assert_eq!(
        (status.as_u16(), e["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        headers[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(op.exchange_a(&c, SECRET_A).await.0, 200);

    // Expired: codes live 60 seconds.
    let c = code(&[]).await;
    op.w.clock.advance(time::Duration::seconds(61));
    let (status, _, e) = op.exchange_a(&c, SECRET_A).await;
    assert_eq!(
        (status.as_u16(), e["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let basic = format!("Basic {}", STANDARD.encode(format!("portal-a:{SECRET_A}")));
    let auth = [(header::AUTHORIZATION, basic.as_str())];
    // Another redirect URI than the request's.
    let c = code(&[]).await;
    let (status, body) = op.redeem_at_a(&c, B_CB, None).await;
    assert_eq!(status, 400);
    assert!(body.contains("invalid_grant"), "{body}");
    // Checked before the code is used: with the right redirect URI it still works.
    assert_eq!(op.exchange_a(&c, SECRET_A).await.0, 200);
    // A code issued without a challenge refuses a verifier (RFC 7636 §4.6 cannot hold).
    let c = code(&[]).await;
    let (status, body) = op.redeem_at_a(&c, A_CB, Some(VERIFIER)).await;
    assert_eq!(status, 400);
    assert!(body.contains("no code_challenge"), "{body}");
    // PKCE: a challenge needs its verifier.
    let challenge = pkce_challenge(VERIFIER);
    let with_pkce = vec![
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    for verifier in [None, Some("x".repeat(43)), Some(format!("{VERIFIER}x"))] {
        let (_, headers, _) = op.get(&portal_a(&with_pkce), Some(&cookie)).await;
        let c = query_of(&location(&headers))["code"].clone();
        let (status, body) = op.redeem_at_a(&c, A_CB, verifier.as_deref()).await;
        assert_eq!(status, 400, "{verifier:?}");
        assert!(body.contains("invalid_grant"), "{body}");
        // A request that cannot prove the binding did not use the code up (a thief of
        // the code without its verifier cannot burn it): the right verifier still works.
        let (status, body) = op.redeem_at_a(&c, A_CB, Some(VERIFIER)).await;
        assert_eq!(status, 200, "after {verifier:?}: {body}");
    }
    // A code issued to portal A cannot be redeemed by public portal B.
    let c = code(&[]).await;
    let (status, _, body) = op
        .post_form(
            "/oidc/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &c),
                ("redirect_uri", A_CB),
                ("client_id", "portal-b"),
                ("code_verifier", VERIFIER),
            ],
            &[],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    // A confidential client cannot pose as public, nor send its secret in the form.
    for form in [
        vec![
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", A_CB),
            ("client_id", "portal-a"),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", A_CB),
            ("client_id", "portal-a"),
            ("client_secret", SECRET_A),
        ],
    ] {
        let (status, headers, body) = op.post_form("/oidc/token", &form, &[]).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("invalid_client"));
        // A 401 always says how to authenticate (RFC 9110 §15.5.2), Basic tried or not.
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Basic realm=\"kyso\"");
    }
    let (status, _, body) = op
        .post_form(
            "/oidc/token",
            &[("grant_type", "password"), ("code", "x")],
            &auth,
        )
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("unsupported_grant_type"), "{body}");
    // Not a form: an OAuth error, not a problem document.
    let request = Request::post("/oidc/token")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let (status, headers, body) = raw(&op.app, request).await;
    assert_eq!(status, 400);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(body.contains("invalid_request"), "{body}");
    // The framework's and the edge's own refusals on these paths are OAuth errors too
    // (RFC 6749 §5.2), keeping their status and headers: a wrong method, a body over the
    // limit.
    let (status, headers, body) = op.get("/oidc/token", None).await;
    assert_eq!(status, 405);
    assert_eq!(headers[header::ALLOW], "POST");
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let json: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "invalid_request", "{json}");
    assert!(json["error_description"].is_string(), "{json}");
    let request = Request::put("/oidc/userinfo").body(Body::empty()).unwrap();
    let (status, headers, body) = raw(&op.app, request).await;
    assert_eq!(status, 405);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(body.contains("\"error\":\"invalid_request\""), "{body}");
    let request = Request::post("/oidc/token")
        .header(header::AUTHORIZATION, basic.as_str())
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=authorization_code&code={}",
            "c".repeat(70_000)
        )))
        .unwrap();
    let (status, headers, body) = raw(&op.app, request).await;
    assert_eq!(status, 413);
    assert_eq!(headers[header::CONTENT_TYPE], "application/json");
    assert!(body.contains("\"error\":\"invalid_request\""), "{body}");
    // Elsewhere they stay problem documents.
    let (status, json) = crate::common::get(&op.app, "/v1/challenges").await;
    assert_eq!(
        (status.as_u16(), json["code"].as_str()),
        (405, Some("METHOD_NOT_ALLOWED"))
    );
}

#[tokio::test]
async fn a_portals_server_is_not_rate_limited_like_a_browser() {
    // A bucket of three: a person's browser is held to it on the authorization endpoint,
    // while one portal server making token and userinfo calls for many users is not.
    let op = op().await;
    let strict = op.w.app_with_oidc_limited(op.provider.clone(), 1, 3);
    let basic = format!("Basic {}", STANDARD.encode(format!("portal-a:{SECRET_A}")));
    for i in 0..10 {
        let form = format!("grant_type=authorization_code&code=no-such-code-{i}&redirect_uri=x");
        let token = Request::post("/oidc/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, basic.as_str())
            .body(Body::from(form))
            .unwrap();
        let (status, _, body) = raw(&strict, token).await;
        assert_eq!(status, 400, "call {i}: {body}");
        assert!(body.contains("invalid_grant"), "call {i}: {body}");
        let userinfo = Request::get("/oidc/userinfo")
            .header(header::AUTHORIZATION, "Bearer no-such-token")
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = raw(&strict, userinfo).await;
        assert_eq!(status, 401, "call {i}: {body}");
    }
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let authorize = Request::get(portal_a(&[])).body(Body::empty()).unwrap();
        statuses.push(raw(&strict, authorize).await.0.as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test]
async fn private_key_jwt_assertions_authenticate_once() {
    let op = op().await;
    let cookie = op.cookie(&op.login("citizen-cccd", true).await).await;
    let code_for = |client: &'static str| {
        let (op, cookie) = (&op, cookie.clone());
        async move {
            let redirect = format!("https://{}.gov.vn/cb", &client[7..]);
            let path = authorize_path(&[
                ("response_type", "code"),
                ("client_id", client),
                ("redirect_uri", &redirect),
                ("scope", "openid"),
                ("nonce", "n-k"),
            ]);
            let back = op.consent(&path, &cookie, "allow").await;
            query_of(&back)["code"].clone()
        }
    };
    let code = code_for("portal-k").await;
    let now = kyso_gateway::clock::Clock::now(op.w.clock.as_ref()).unix_timestamp();
    let assertion_of = |client: &str, jti: &str, aud: Value, exp: i64| {
        op.portal_key
            .sign(&json!({"iss": client, "sub": client, "aud": aud, "jti": jti, "exp": exp, "iat": now}))
            .unwrap()
    };
    let assertion = |jti: &str, aud: Value, exp: i64| assertion_of("portal-k", jti, aud, exp);
    let token_url = json!(format!("{ORIGIN}/oidc/token"));
    let issuer = json!(ORIGIN);
    let exchange = |client: &'static str, assertion: String, code: String| {
        let op = &op;
        async move {
            let redirect = format!("https://{}.gov.vn/cb", &client[7..]);
            op.post_form(
                "/oidc/token",
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", &redirect),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &assertion),
                ],
                &[],
            )
            .await
        }
    };
    // Another audience; the token endpoint from a client not configured for it; a list
    // holding the issuer; expired; too long-lived; signed by another key: invalid_client.
    let stranger = KeySet::new(vec![SigningKey::from_pem(&fresh_pem()).unwrap()]).unwrap();
    let forged = stranger
        .sign(&json!({"iss": "portal-k", "sub": "portal-k", "aud": issuer, "jti": "f", "exp": now + 60}))
        .unwrap();
    for bad in [
        assertion("j0", json!("https://elsewhere/token"), now + 60),
        assertion("j0", token_url.clone(), now + 60),
        assertion("j0", json!([issuer, "https://elsewhere"]), now + 60),
        assertion("j0", issuer.clone(), now - 1),
        assertion("j0", issuer.clone(), now + 3600),
        forged,
    ] {
        let (status, _, body) = exchange("portal-k", bad, code.clone()).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("invalid_client"), "{body}");
    }
    let good = assertion("j1", issuer.clone(), now + 60);
    let (status, _, body) = exchange("portal-k", good.clone(), code.clone()).await;
    assert_eq!(status, 200, "{body}");
    let tokens: Value = serde_json::from_str(&body).unwrap();
    let id = verify(tokens["id_token"].as_str().unwrap(), &op.jwks().await).unwrap();
    assert!(
        id["sub"].as_str().unwrap().starts_with("acc_"),
        "portal-k asked for the public sub"
    );
    // The same assertion again is refused before the code is even looked at.
    let (status, _, body) = exchange("portal-k", good, code).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("used before"), "{body}");
    // A client configured for it may name the token endpoint.
    let code = code_for("portal-l").await;
    let legacy = assertion_of("portal-l", "l1", token_url, now + 60);
    let (status, _, body) = exchange("portal-l", legacy, code).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn consent_forms_need_their_session_token_and_this_origin_and_deny_says_so() {
    let op = op().await;
    let cookie = op.cookie(&op.login("citizen-cccd", true).await).await;
    let other = op.cookie(&op.login("citizen-cccd", false).await).await;
    let (_, _, html) = op.get(&portal_a(&[]), Some(&cookie)).await;
    let field = |name: &str| form_field(&html, name);
    let (request, csrf) = (field("request"), field("csrf"));
    // Another session's cookie with this form's token, a missing token, another site.
    for (cookie, csrf, origin, status) in [
        (other.as_str(), csrf.as_str(), ORIGIN, 400),
        (cookie.as_str(), "", ORIGIN, 400),
        (cookie.as_str(), csrf.as_str(), "https://evil.example", 403),
    ] {
        let (got, headers, _) = op
            .post_form(
                "/oidc/consent",
                &[("request", &request), ("csrf", csrf), ("decision", "allow")],
                &[(header::COOKIE, cookie), (header::ORIGIN, origin)],
            )
            .await;
        assert_eq!(got, status);
        assert!(!headers.contains_key(header::LOCATION));
    }
    let back = op.consent(&portal_a(&[]), &cookie, "deny").await;
    let q = query_of(&back);
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("access_denied", "st-1")
    );
    // Nothing was remembered: prompt=none finds no consent.
    assert_eq!(op.silent_at_a(&cookie).await["error"], "consent_required");
}

#[tokio::test]
async fn discovery_names_the_endpoints_and_the_keys_verify_the_tokens() {
    let op = op().await;
    let (status, _, body) = op.get("/.well-known/openid-configuration", None).await;
    assert_eq!(status, 200);
    let d: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(d["issuer"], ORIGIN);
    assert_eq!(d["token_endpoint"], format!("{ORIGIN}/oidc/token"));
    assert_eq!(
        d["acr_values_supported"],
        json!(["urn:kyso:assurance:ial3"])
    );
    assert_eq!(d["id_token_signing_alg_values_supported"], json!(["ES256"]));
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    let keys = op.jwks().await;
    assert_eq!(keys["keys"][0]["alg"], "ES256");
    assert!(
        keys["keys"][0].get("d").is_none(),
        "no private part is published"
    );
    // Without a provider, the endpoints are 404 problem documents.
    let plain = op.w.app();
    let (status, json) = crate::common::get(&plain, "/.well-known/openid-configuration").await;
    assert_eq!(
        (status.as_u16(), json["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let request = Request::post("/oidc/session")
        .header(header::AUTHORIZATION, "Bearer nope")
        .body(Body::empty())
        .unwrap();
    let (status, _, json) = send(&op.app, request).await;
    assert_eq!(
        (status.as_u16(), json["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
}

impl Op {
    /// Signs in to portal A with consent; the browser cookie and the ID token.
    async fn signed_in_to_a(&self, register: bool) -> (String, String) {
        let cookie = self
            .cookie(&self.login("citizen-cccd", register).await)
            .await;
        let back = self.consent(&portal_a(&[]), &cookie, "allow").await;
        let (_, _, tokens) = self.exchange_a(&query_of(&back)["code"], SECRET_A).await;
        (cookie, tokens["id_token"].as_str().unwrap().to_owned())
    }

    /// Waits (up to a minute: deliveries run beside the test on a busy machine) for the
    /// back-channel logout token portal A receives.
    async fn logout_token(&self) -> Value {
        for _ in 0..6000 {
            let received = self.backchannel.lock().unwrap().pop();
            if let Some(token) = received {
                // Back-Channel Logout 1.0 §2.4: typed, so it cannot pass for an ID token.
                let header = token.split('.').next().unwrap();
                let header: Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
                assert_eq!(header["typ"], "logout+jwt", "{header}");
                return verify(&token, &self.jwks().await).unwrap();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("no logout token arrived");
    }
}

/// A silent request that names whom it expects (the ID token the portal holds) is
/// answered for that person only: another person signed in in this browser gets
/// `login_required`, not a code (OpenID Connect Core §3.1.2.2).
#[tokio::test]
async fn a_silent_request_is_answered_only_for_the_person_its_hint_names() {
    let op = op().await;
    let (first, first_token) = op.signed_in_to_a(true).await;
    // Another person signs in to portal A in another browser.
    let other = op.cookie(&op.login("citizen-ec", true).await).await;
    let back = op.consent(&portal_a(&[]), &other, "allow").await;
    let (_, _, tokens) = op.exchange_a(&query_of(&back)["code"], SECRET_A).await;
    let other_token = tokens["id_token"].as_str().unwrap().to_owned();
    let op = &op;
    let silent = |cookie: String, hint: String| async move {
        let (status, headers, _) = op
            .get(
                &portal_a(&[("prompt", "none"), ("id_token_hint", &hint)]),
                Some(&cookie),
            )
            .await;
        assert_eq!(status, 303);
        query_of(&location(&headers))
    };
    assert!(
        silent(first.clone(), first_token.clone())
            .await
            .contains_key("code")
    );
    assert!(
        silent(other.clone(), other_token.clone())
            .await
            .contains_key("code")
    );
    for (cookie, hint) in [
        (first.clone(), other_token.clone()),
        (other.clone(), first_token.clone()),
        (first.clone(), "not-a-token".to_owned()),
    ] {
        let answer = silent(cookie, hint).await;
        assert_eq!(
            answer.get("error").map(String::as_str),
            Some("login_required"),
            "{answer:?}"
        );
    }
}

/// `id_token` with its signature's last character changed: a token this provider did
/// not sign (as one signed with a key since dropped).
fn forged(id_token: &str) -> String {
    let mut forged = id_token.to_owned();
    let last = if forged.ends_with('A') { "B" } else { "A" };
    forged.replace_range(forged.len() - 1.., last);
    forged
}

fn logout_path(pairs: &[(&str, &str)]) -> String {
    authorize_path(pairs).replace("/oidc/authorize?", "/oidc/logout?")
}

#[tokio::test]
async fn logout_with_the_portals_hint_ends_the_session_tells_the_portals_and_goes_back() {
    let op = op().await;
    let (cookie, id_token) = op.signed_in_to_a(true).await;
    let sub = verify(&id_token, &op.jwks().await).unwrap()["sub"].clone();
    // A hint that fails validation is treated as not sent (RP-Initiated Logout §4): one
    // this provider cannot verify (a dropped key's, a forged one), or one a client_id
    // contradicts. No redirect, and no logout without asking: the confirmation, the
    // session untouched until then.
    let forged = forged(&id_token);
    let faulty = [
        vec![
            ("id_token_hint", forged.as_str()),
            ("post_logout_redirect_uri", A_BYE),
        ],
        vec![
            ("id_token_hint", id_token.as_str()),
            ("client_id", "portal-b"),
            ("post_logout_redirect_uri", A_BYE),
        ],
    ];
    for pairs in &faulty {
        let (status, headers, html) = op.get(&logout_path(pairs), Some(&cookie)).await;
        assert_eq!(status, 200, "{pairs:?}: {html}");
        assert!(
            html.contains("data-testid=\"logout-confirm\""),
            "{pairs:?}: {html}"
        );
        assert!(!headers.contains_key(header::LOCATION), "{pairs:?}");
        assert!(
            op.silent_at_a(&cookie).await.contains_key("code"),
            "{pairs:?}"
        );
    }

    let (status, headers, _) = op
        .get(
            &logout_path(&[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", A_BYE),
                ("state", "bye-1"),
            ]),
            Some(&cookie),
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(location(&headers), format!("{A_BYE}?state=bye-1"));
    let cleared = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("__Host-kyso_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    // The session is over: the old cookie no longer signs in.
    assert_eq!(op.silent_at_a(&cookie).await["error"], "login_required");
    // Portal A was told, by a logout token about the sub it knows.
    let logout = op.logout_token().await;
    assert_eq!(logout["sub"], sub);
    assert_eq!(logout["aud"], "portal-a");
    assert_eq!(logout["iss"], ORIGIN);
    assert!(logout["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(
        logout.get("nonce").is_none(),
        "a logout token carries no nonce"
    );
    // A `state` longer than authorization echoes is treated as not sent: the redirect is
    // made without it, and no stranger's text rides back in the portal's URL.
    let long = "s".repeat(MAX_ECHOED + 1);
    let (status, headers, _) = op
        .get(
            &logout_path(&[
                ("id_token_hint", &id_token),
                ("post_logout_redirect_uri", A_BYE),
                ("state", &long),
            ]),
            None,
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(location(&headers), A_BYE);
}

/// A public client proves nothing but its id, and token requests are not rate-limited:
/// one naming a code the client was never issued is answered from a read, without the
/// database's writer — here held by another connection the whole time.
#[tokio::test]
async fn a_public_clients_request_for_a_code_it_never_had_needs_no_write() {
    let op = op().await;
    let holder = rusqlite::Connection::open(op.w.db_file()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let verifier = "v".repeat(43);
    // Under the writer's 10 s wait for SQLite's lock: a request that needed a write
    // would still be waiting.
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(8),
        op.post_form(
            "/oidc/token",
            &[
                ("grant_type", "authorization_code"),
                ("client_id", "portal-b"),
                ("code", "never-issued"),
                ("redirect_uri", B_CB),
                ("code_verifier", &verifier),
            ],
            &[],
        ),
    )
    .await
    .expect("answered without waiting for the writer");
    let (status, _, body) = answer;
    assert_eq!(status, 400, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "invalid_grant");
    holder.execute_batch("ROLLBACK").unwrap();
}

/// The two forms' tokens are not interchangeable: the logout confirmation asked for a
/// query that is also an authorization request cannot be posted as consent to it.
#[tokio::test]
async fn a_logout_forms_token_is_no_consent() {
    let op = op().await;
    let session = op.login("citizen-cccd", true).await;
    let cookie = op.cookie(&session).await;
    let (status, _, html) = op
        .get(
            &portal_a(&[]).replace("/oidc/authorize?", "/oidc/logout?"),
            Some(&cookie),
        )
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("data-testid=\"logout-confirm\""), "{html}");
    let (request, csrf) = (form_field(&html, "request"), form_field(&html, "csrf"));
    let (status, headers, body) = op.allow(&request, &csrf, &cookie).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        !headers.contains_key(header::LOCATION),
        "no code was issued"
    );
}

/// An ID token issued before the current session began (one leaked with an old logout
/// URL, say) does not end that session silently: the person is asked.
#[tokio::test]
async fn a_hint_from_an_earlier_session_asks_before_logging_out() {
    let op = op().await;
    let (_, earlier) = op.signed_in_to_a(true).await;
    op.w.clock.advance(time::Duration::minutes(5));
    let cookie = op.cookie(&op.login("citizen-cccd", false).await).await;
    let (status, _, html) = op
        .get(&logout_path(&[("id_token_hint", &earlier)]), Some(&cookie))
        .await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("data-testid=\"logout-confirm\""), "{html}");
    assert!(
        op.silent_at_a(&cookie).await.contains_key("code"),
        "still signed in"
    );
}

/// A logout whose hint cannot be verified (signed with a key since dropped, or forged),
/// once confirmed, ends the session and stays on kyso's page: the redirect it asked for
/// is not made.
#[tokio::test]
async fn a_confirmed_logout_with_an_unverifiable_hint_ends_the_session_without_redirect() {
    let op = op().await;
    let (cookie, id_token) = op.signed_in_to_a(true).await;
    // Even with a client_id naming the portal whose URI it is: a request with a hint that
    // fails validation is not redirected anywhere (RP-Initiated Logout §4).
    let path = logout_path(&[
        ("id_token_hint", &forged(&id_token)),
        ("client_id", "portal-a"),
        ("post_logout_redirect_uri", A_BYE),
    ]);
    let (status, _, html) = op.get(&path, Some(&cookie)).await;
    assert_eq!(status, 200);
    let (status, headers, html) = op.confirm_logout(&html, &cookie, ORIGIN).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("data-testid=\"logged-out\""), "{html}");
    assert!(!headers.contains_key(header::LOCATION));
    assert_eq!(op.silent_at_a(&cookie).await["error"], "login_required");

    // A verifiable hint of this very sign-in with an unregistered post-logout URI: the
    // hint alone may end the session (as with a registered URI), but the redirect is
    // not made.
    let cookie = op.cookie(&op.login("citizen-cccd", false).await).await;
    let path = logout_path(&[
        ("id_token_hint", &id_token),
        ("post_logout_redirect_uri", "https://evil.example/"),
    ]);
    let (status, headers, html) = op.get(&path, Some(&cookie)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("data-testid=\"logged-out\""), "{html}");
    assert!(!headers.contains_key(header::LOCATION));
    assert_eq!(op.silent_at_a(&cookie).await["error"], "login_required");
}

#[tokio::test]
async fn logout_without_a_hint_for_this_person_asks_first() {
    let op = op().await;
    let (cookie, _) = op.signed_in_to_a(true).await;
    let (status, _, html) = op.get("/oidc/logout", Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-testid=\"logout-confirm\""), "{html}");
    // Still signed in until the person confirms.
    assert!(op.silent_at_a(&cookie).await.contains_key("code"));
    // Another site cannot post the confirmation.
    let (status, _, _) = op
        .confirm_logout(&html, &cookie, "https://evil.example")
        .await;
    assert_eq!(status, 400);
    let (status, headers, html) = op.confirm_logout(&html, &cookie, ORIGIN).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-testid=\"logged-out\""));
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(op.silent_at_a(&cookie).await["error"], "login_required");
}

/// A request too long to carry back through the page that asks the person first is no
/// dead end: an authorization request from a known portal goes back to it as
/// `invalid_request`, and a logout request is treated as not sent — asked, confirmed,
/// and the session ended.
#[tokio::test]
async fn a_request_too_long_to_carry_through_a_form_is_refused_or_ignored_not_looped() {
    let op = op().await;
    // Under the cap as sent, but not once it comes back from the login page with its
    // marker: refused before the person signs in, not after.
    let (status, headers, _) = op
        .get(&portal_a(&[("ui_locales", &"a".repeat(8000))]), None)
        .await;
    assert_eq!(status, 303);
    let back = location(&headers);
    assert!(back.starts_with(A_CB), "{back}");
    assert_eq!(query_of(&back)["error"], "invalid_request");
    let (cookie, _) = op.signed_in_to_a(true).await;
    let long = "a".repeat(8150);
    let (status, headers, _) = op
        .get(&portal_a(&[("ui_locales", &long)]), Some(&cookie))
        .await;
    assert_eq!(status, 303);
    let q = query_of(&location(&headers));
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("invalid_request", "st-1")
    );

    let path = logout_path(&[("ui_locales", &long), ("state", &"s".repeat(500))]);
    let (status, _, html) = op.get(&path, Some(&cookie)).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-testid=\"logout-confirm\""), "{html}");
    let (status, _, html) = op.confirm_logout(&html, &cookie, ORIGIN).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-testid=\"logged-out\""), "{html}");
    assert_eq!(op.silent_at_a(&cookie).await["error"], "login_required");
}

/// An authorization request from a known portal that the store cannot serve goes back
/// to the portal as `temporarily_unavailable` (RFC 6749 §4.1.2.1) — a silent one
/// included, which must never be answered with a page.
#[tokio::test]
async fn a_store_failure_during_authorization_goes_back_to_the_portal_as_temporarily_unavailable() {
    let op = op().await;
    let (cookie, _) = op.signed_in_to_a(true).await;
    let breaker = rusqlite::Connection::open(op.w.db_file()).unwrap();
    // Consents unreadable: the session is found, the consent cannot be looked up.
    breaker.execute_batch("DROP TABLE oidc_consents").unwrap();
    let (status, headers, body) = op.get(&portal_a(&[]), Some(&cookie)).await;
    assert_eq!(status, 303, "{body}");
    let back = location(&headers);
    assert!(back.starts_with(A_CB), "{back}");
    let q = query_of(&back);
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str(), q["iss"].as_str()),
        ("temporarily_unavailable", "st-1", ORIGIN)
    );
    // Sessions unreadable too: a silent request still gets its answer at the portal.
    breaker.execute_batch("DROP TABLE sessions").unwrap();
    let q = op.silent_at_a(&cookie).await;
    assert_eq!(q["error"], "temporarily_unavailable");
}

/// A logout the store cannot carry out is a 503 the person may retry, not a 400 that
/// blames the request; and the session is not said to be over.
#[tokio::test]
async fn a_logout_the_store_cannot_carry_out_is_503() {
    let op = op().await;
    let (cookie, _) = op.signed_in_to_a(true).await;
    let (_, _, html) = op.get("/oidc/logout", Some(&cookie)).await;
    assert!(html.contains("data-testid=\"logout-confirm\""), "{html}");
    // The sessions' table gone from under the gateway: every look at a session fails.
    let breaker = rusqlite::Connection::open(op.w.db_file()).unwrap();
    breaker.execute_batch("DROP TABLE sessions").unwrap();
    let (status, headers, body) = op.confirm_logout(&html, &cookie, ORIGIN).await;
    assert_eq!(status, 503, "{body}");
    assert!(!body.contains("data-testid=\"logged-out\""), "{body}");
    assert!(!headers.contains_key(header::SET_COOKIE));
    let (status, _, _) = op.get("/oidc/logout", Some(&cookie)).await;
    assert_eq!(status, 503);
}

#[tokio::test]
async fn the_account_lists_its_linked_portals_and_withdrawing_one_revokes_and_tells_it() {
    let op = op().await;
    let session = op.login("citizen-cccd", true).await;
    let cookie = op.cookie(&session).await;
    let back = op.consent(&portal_a(&[]), &cookie, "allow").await;
    let (_, _, tokens) = op.exchange_a(&query_of(&back)["code"], SECRET_A).await;
    let access = tokens["access_token"].as_str().unwrap();
    let me = |method: &str, path: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Bearer {session}"))
            .body(Body::empty())
            .unwrap()
    };
    let (status, _, list) = send(&op.app, me("GET", "/v1/accounts/me/portals")).await;
    assert_eq!(status, 200, "{list}");
    // The scheme's name is case-insensitive (RFC 9110 §11.1).
    let lower = Request::get("/v1/accounts/me/portals")
        .header(header::AUTHORIZATION, format!("bearer {session}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&op.app, lower).await.0, 200);
    let portals = list["portals"].as_array().unwrap();
    assert_eq!(portals.len(), 1);
    assert_eq!(portals[0]["client_id"], "portal-a");
    assert_eq!(portals[0]["name"], "Cổng DVC tỉnh A");
    assert_eq!(
        portals[0]["scopes"],
        json!(["openid", "profile", "vn_identity"])
    );
    assert!(
        portals[0]["claims"]
            .as_array()
            .unwrap()
            .contains(&json!("vn_identifier"))
    );

    let (status, _, _) = send(&op.app, me("DELETE", "/v1/accounts/me/portals/portal-a")).await;
    assert_eq!(status, 204);
    let (_, _, list) = send(&op.app, me("GET", "/v1/accounts/me/portals")).await;
    assert_eq!(list["portals"], json!([]));
    let (status, _) = op.userinfo(access).await;
    assert_eq!(status, 401, "the portal's access token is revoked");
    assert_eq!(op.logout_token().await["aud"], "portal-a");
    // Consent is gone: the next sign-in asks again.
    let (status, _, _) = op.get(&portal_a(&[]), Some(&cookie)).await;
    assert_eq!(status, 200);
    let (status, _, json) = send(&op.app, me("DELETE", "/v1/accounts/me/portals/portal-a")).await;
    assert_eq!(
        (status.as_u16(), json["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );
    let anonymous = Request::get("/v1/accounts/me/portals")
        .body(Body::empty())
        .unwrap();
    let (status, _, json) = send(&op.app, anonymous).await;
    assert_eq!(
        (status.as_u16(), json["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
}

/// The page's logout of the bearer session `session` (kyso's own logout).
fn logout_request(session: &str) -> Request<Body> {
    Request::delete("/v1/sessions/current")
        .header(header::AUTHORIZATION, format!("Bearer {session}"))
        .body(Body::empty())
        .unwrap()
}

/// A gateway that stops right after a logout still tells the portals: at shutdown it
/// waits for the notices under way (here the portal takes 300 ms to take one).
#[tokio::test]
async fn logout_notices_under_way_are_delivered_before_the_gateway_stops() {
    let op = op().await;
    let session = op.login("citizen-cccd", true).await;
    let cookie = op.cookie(&session).await;
    op.consent(&portal_a(&[]), &cookie, "allow").await;
    assert_eq!(send(&op.app, logout_request(&session)).await.0, 204);
    op.provider
        .finish_deliveries(std::time::Duration::from_secs(10))
        .await;
    assert_eq!(op.backchannel.lock().unwrap().len(), 1);
}

/// A logout tells the portals its own session signed in to, not every portal the person
/// is linked to: a portal linked in an earlier session learns nothing of a later one
/// (two portals of different sectors, told at the same instant, could tell that their
/// pairwise subs are one person).
#[tokio::test]
async fn a_logout_tells_only_the_portals_its_session_signed_in_to() {
    let op = op().await;
    let first = op.login("citizen-cccd", true).await;
    op.consent(&portal_a(&[]), &op.cookie(&first).await, "allow")
        .await;
    let app = &op.app;
    let end = |session: String| async move {
        assert_eq!(send(app, logout_request(&session)).await.0, 204);
    };
    // A second session, linked to portal A but not signed in to it: its logout is
    // nobody's business.
    let second = op.login("citizen-cccd", false).await;
    op.cookie(&second).await;
    end(second).await;
    // The first session, which signed in to portal A: its logout tells portal A.
    end(first).await;
    op.provider
        .finish_deliveries(std::time::Duration::from_secs(30))
        .await;
    let told = op.backchannel.lock().unwrap().len();
    assert_eq!(told, 1, "one logout token, the first session's");
}

/// Signing in again in the same browser replaces the session its cookie held. The same
/// person's old session ends and hands its portals to the new one, whose logout then
/// tells them; another person's old session (a shared computer, never logged out) ends
/// at once with its portals told — neither is left signed in at a portal untold.
#[tokio::test]
async fn signing_in_again_in_the_same_browser_carries_or_ends_the_old_sessions_portals() {
    let op = op().await;
    let first = op.login("citizen-cccd", true).await;
    let old_cookie = op.cookie(&first).await;
    op.consent(&portal_a(&[]), &old_cookie, "allow").await;
    let hand_over = |session: String, cookie: String| {
        let app = op.app.clone();
        async move {
            let request = Request::post("/oidc/session")
                .header(header::AUTHORIZATION, format!("Bearer {session}"))
                .header(header::ORIGIN, ORIGIN)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap();
            let (status, headers, body) = raw(&app, request).await;
            assert_eq!(status, 204, "{body}");
            let set = headers[header::SET_COOKIE].to_str().unwrap();
            set.split(';').next().unwrap().to_owned()
        }
    };
    let told = || op.backchannel.lock().unwrap().len();
    // The same person again: the old session is over, nobody is told yet…
    let second = op.login("citizen-cccd", false).await;
    let cookie = hand_over(second.clone(), old_cookie.clone()).await;
    assert_eq!(op.silent_at_a(&old_cookie).await["error"], "login_required");
    op.provider
        .finish_deliveries(std::time::Duration::from_secs(30))
        .await;
    assert_eq!(told(), 0);
    // …and the new session's logout tells portal A, which the old one signed in to.
    assert_eq!(send(&op.app, logout_request(&second)).await.0, 204);
    assert_eq!(op.logout_token().await["aud"], "portal-a");
    assert_eq!(op.silent_at_a(&cookie).await["error"], "login_required");

    // Another person takes over a browser whose session signed in to portal A: that
    // session ends, and portal A is told at once.
    let third = op.login("citizen-cccd", false).await;
    let left_behind = op.cookie(&third).await;
    assert!(op.silent_at_a(&left_behind).await.contains_key("code"));
    let stranger = op.login("citizen-ec", true).await;
    hand_over(stranger, left_behind.clone()).await;
    assert_eq!(op.logout_token().await["aud"], "portal-a");
    assert_eq!(
        op.silent_at_a(&left_behind).await["error"],
        "login_required"
    );
}

#[tokio::test]
async fn logging_out_on_kyso_ends_the_session_clears_the_cookie_and_tells_the_portals() {
    let op = op().await;
    let session = op.login("citizen-cccd", true).await;
    let cookie = op.cookie(&session).await;
    op.consent(&portal_a(&[]), &cookie, "allow").await;
    let logout = || logout_request(&session);
    let (status, headers, _) = send(&op.app, logout()).await;
    assert_eq!(status, 204);
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(op.logout_token().await["aud"], "portal-a");
    assert_eq!(op.silent_at_a(&cookie).await["error"], "login_required");
    let (status, _, json) = send(&op.app, logout()).await;
    assert_eq!(
        (status.as_u16(), json["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
}

#[tokio::test]
async fn the_login_page_speaks_the_first_language_of_ui_locales_it_knows() {
    let op = op().await;
    for (locales, lang) in [
        ("fr en-GB vi", Some("en")),
        ("vi", Some("vi")),
        ("fr", None),
    ] {
        let (_, headers, _) = op.get(&portal_a(&[("ui_locales", locales)]), None).await;
        let to = location(&headers);
        match lang {
            Some(l) => assert!(to.contains(&format!("&lang={l}#")), "{to}"),
            None => assert!(!to.contains("lang="), "{to}"),
        }
    }
}

/// The marker that lets a proof made on the page satisfy `prompt=login` is bound to its
/// request and short-lived: carried over to another request, or kept too long, it does
/// not count; `max_age=0` is met by the proof just made, not sent round forever.
#[tokio::test]
async fn a_login_marker_counts_only_for_its_own_request_and_only_briefly() {
    let op = op().await;
    let cookie = op.cookie(&op.login("citizen-cccd", true).await).await;
    op.consent(&portal_a(&[]), &cookie, "allow").await;
    let (_, headers, _) = op
        .get(&portal_a(&[("prompt", "login")]), Some(&cookie))
        .await;
    let continue_to = continue_of(&location(&headers));
    let marker = query_of(&continue_to)["kyso_login_after"].clone();
    op.w.clock.advance(time::Duration::seconds(5));
    let fresh = op.cookie(&op.login("citizen-cccd", false).await).await;
    // The same marker on another request (another state) does not vouch for the login.
    let other = portal_a(&[("prompt", "login")]).replace("state=st-1", "state=st-2");
    let carried = format!(
        "{other}&kyso_login_after={}",
        url::form_urlencoded::byte_serialize(marker.as_bytes()).collect::<String>()
    );
    let (_, headers, _) = op.get(&carried, Some(&fresh)).await;
    assert!(
        location(&headers).starts_with("/?continue="),
        "a marker moved to another request"
    );
    // Its own request: the code.
    let (_, headers, _) = op.get(&continue_to, Some(&fresh)).await;
    assert!(location(&headers).starts_with(A_CB));
    // A quarter of an hour later the marker is spent.
    op.w.clock.advance(time::Duration::minutes(16));
    let later = op.cookie(&op.login("citizen-cccd", false).await).await;
    let (_, headers, _) = op.get(&continue_to, Some(&later)).await;
    assert!(
        location(&headers).starts_with("/?continue="),
        "an old marker"
    );

    // max_age=0: the page's return carries a marker, and the proof made then is enough.
    let (_, headers, _) = op.get(&portal_a(&[("max_age", "0")]), Some(&later)).await;
    let back_from_page = continue_of(&location(&headers));
    op.w.clock.advance(time::Duration::seconds(3));
    let newest = op.cookie(&op.login("citizen-cccd", false).await).await;
    op.w.clock.advance(time::Duration::seconds(2));
    let (_, headers, _) = op.get(&back_from_page, Some(&newest)).await;
    assert!(
        location(&headers).starts_with(A_CB),
        "max_age=0 must not loop"
    );

    // A proof made for a max_age=60 request meets it while young, not for the marker's
    // quarter of an hour: five minutes on, the person logs in again (else auth_time
    // would tell the portal of a login five times older than it asked for).
    op.w.clock.advance(time::Duration::minutes(3));
    let max_60 = portal_a(&[("max_age", "60")]).replace("state=st-1", "state=st-3");
    let (_, headers, _) = op.get(&max_60, Some(&newest)).await;
    let back_from_page = continue_of(&location(&headers));
    op.w.clock.advance(time::Duration::seconds(1));
    let proof = op.cookie(&op.login("citizen-cccd", false).await).await;
    op.w.clock.advance(time::Duration::minutes(5));
    let (_, headers, _) = op.get(&back_from_page, Some(&proof)).await;
    assert!(
        location(&headers).starts_with("/?continue="),
        "a proof five minutes old met max_age=60"
    );
    let back_again = continue_of(&location(&headers));
    op.w.clock.advance(time::Duration::seconds(1));
    let proof = op.cookie(&op.login("citizen-cccd", false).await).await;
    op.w.clock.advance(time::Duration::seconds(90));
    let (_, headers, _) = op.get(&back_again, Some(&proof)).await;
    assert!(
        location(&headers).starts_with(A_CB),
        "a proof made for the request, within the grace"
    );
}

#[tokio::test]
async fn a_consent_form_is_bound_to_its_request_and_posts_need_a_fresh_enough_login() {
    let op = op().await;
    let cookie = op.cookie(&op.login("citizen-cccd", true).await).await;
    let (_, _, html) = op
        .get(&portal_a(&[("prompt", "consent")]), Some(&cookie))
        .await;
    let csrf = form_field(&html, "csrf");
    // The form's token with another request (one that demands a new proof): refused.
    let demanding = portal_a(&[("prompt", "login"), ("max_age", "0")]);
    let demanding = demanding.trim_start_matches("/oidc/authorize?");
    let (status, headers, _) = op
        .post_form(
            "/oidc/consent",
            &[
                ("request", demanding),
                ("csrf", &csrf),
                ("decision", "allow"),
            ],
            &[(header::COOKIE, cookie.as_str()), (header::ORIGIN, ORIGIN)],
        )
        .await;
    assert_eq!(status, 400);
    assert!(!headers.contains_key(header::LOCATION));
    // A consent screen shown for a max_age login, posted after the login grew too old:
    // no code; the person is sent to log in again and back to the same request.
    op.consent(&portal_a(&[]), &cookie, "allow").await;
    let young = portal_a(&[("max_age", "60"), ("prompt", "consent")]);
    let (_, _, html) = op.get(&young, Some(&cookie)).await;
    let (request, csrf) = (form_field(&html, "request"), form_field(&html, "csrf"));
    op.w.clock.advance(time::Duration::seconds(61));
    let (status, headers, _) = op.allow(&request, &csrf, &cookie).await;
    assert_eq!(status, 303);
    let to = location(&headers);
    assert!(to.starts_with("/?continue="), "{to}");
    assert!(
        continue_of(&to).contains("max_age=60"),
        "back to the same request: {to}"
    );
    // A deny needs no proof: the portal hears it at once.
    let (status, headers, _) = op
        .post_form(
            "/oidc/consent",
            &[
                ("request", request.as_str()),
                ("csrf", csrf.as_str()),
                ("decision", "deny"),
            ],
            &[(header::COOKIE, cookie.as_str()), (header::ORIGIN, ORIGIN)],
        )
        .await;
    assert_eq!(status, 303);
    let to = location(&headers);
    assert!(to.starts_with(A_CB), "{to}");
    assert_eq!(query_of(&to)["error"], "access_denied");
}

#[tokio::test]
async fn posted_requests_go_on_as_gets_and_echoed_values_are_bounded() {
    let op = op().await;
    let form = portal_a(&[]);
    let form = form.trim_start_matches("/oidc/authorize?");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes())
        .into_owned()
        .collect();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (status, headers, _) = op.post_form("/oidc/authorize", &pairs, &[]).await;
    assert_eq!(status, 303);
    assert_eq!(
        location(&headers),
        format!(
            "/oidc/authorize?{}",
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&pairs)
                .finish()
        )
    );
    let (status, headers, _) = op
        .post_form(
            "/oidc/logout",
            &[
                ("client_id", "portal-a"),
                ("post_logout_redirect_uri", A_BYE),
            ],
            &[],
        )
        .await;
    assert_eq!(status, 303);
    assert!(location(&headers).starts_with("/oidc/logout?client_id=portal-a"));
    // A state too long to echo is refused without being echoed; a nonce too long too.
    let long = "s".repeat(600);
    let (_, headers, _) = op
        .get(
            &portal_a(&[]).replace("state=st-1", &format!("state={long}")),
            None,
        )
        .await;
    let q = query_of(&location(&headers));
    assert_eq!(q["error"], "invalid_request");
    assert!(!q.contains_key("state"));
    let (_, headers, _) = op
        .get(
            &portal_a(&[]).replace("nonce=n-1", &format!("nonce={long}")),
            None,
        )
        .await;
    assert_eq!(query_of(&location(&headers))["error"], "invalid_request");
    // A confidential portal that binds its code by neither PKCE nor nonce is refused.
    let unbound = portal_a(&[]).replace("&nonce=n-1", "");
    let (_, headers, _) = op.get(&unbound, None).await;
    assert_eq!(query_of(&location(&headers))["error"], "invalid_request");
}
