//! The x509-limbo suite (`vectors/x509-limbo/limbo.json`) through kyso's own path check,
//! the code `kyso-gateway verify-cert --purpose …` runs: the trust store built as at
//! start-up from the case's trusted certificates, the case's intermediates travelling with
//! the leaf, the leaf's key and structure rules, the full path under the case's extended
//! key usage, and the case's CRLs judged by the gateway's CRL code.
//!
//! Every case applies except those decided by matching a TLS server name (kyso never
//! matches one) and those limbo tags as pedantic or incompatible, which it asks
//! implementations that do not claim them to skip. kyso must give limbo's expected result
//! for every case it runs, except the documented exceptions below, where it is
//! deliberately stricter; an exception that kyso stops disagreeing with fails the test,
//! so the list stays true. `docs/security.md` gives the decision behind each.

use async_trait::async_trait;
use kyso_verify::error::{ErrorCode, Rejection};
use kyso_verify::policy::{
    CertificatePolicy, NoRevocationCheck, PathUsage, PolicyOptions, RevocationChecker, TrustStore,
    ValidatedPath,
};
use kyso_verify::revocation::crl::{CachedCrl, CrlVerdict, decode};
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use time::OffsetDateTime;

const SUITE: &str = "tests/vectors/x509-limbo/limbo.json";
const SUITE_SHA256: &str = "2d55ad3b02caf0a0333dfdde10eefbdc1bcb5bfe278f8157803a7c7f6088f596";

#[derive(Deserialize)]
struct Suite {
    testcases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    features: Vec<String>,
    validation_kind: String,
    trusted_certs: Vec<String>,
    untrusted_intermediates: Vec<String>,
    peer_certificate: String,
    validation_time: Option<String>,
    expected_result: String,
    max_chain_depth: Option<usize>,
    crls: Vec<String>,
}

/// Why a case is not run.
fn not_applicable(case: &Case) -> Option<&'static str> {
    const NAME_MATCHING: [&str; 3] = [
        "rfc5280::ca-as-leaf-wrong-san",
        "rfc5280::san::underscore-dns",
        "rfc5280::san::ip-in-dns",
    ];
    let id = case.id.as_str();
    if id.starts_with("webpki::cn::")
        || (id.starts_with("webpki::san::")
            && id != "webpki::san::san-critical-with-nonempty-subject")
        || NAME_MATCHING.contains(&id)
    {
        return Some("decided by matching a TLS server name, which kyso never does");
    }
    if id == "webpki::san::san-critical-with-nonempty-subject" {
        return Some(
            "a CA/Browser Forum rule for TLS server certificates; RFC 5280 §4.2.1.6 only \
             recommends a non-critical subjectAltName beside a subject",
        );
    }
    let skipped = |f: &String| {
        f.starts_with("pedantic-")
            && f != "pedantic-serial-number"
            && f != "pedantic-webpki-subscriber-key"
            || f == "rfc5280-incompatible-with-webpki"
    };
    if case.features.iter().any(skipped) {
        return Some(
            "tagged pedantic or incompatible: limbo asks implementations that do not claim the feature to skip it",
        );
    }
    None
}

/// Where kyso deliberately disagrees: stricter than limbo expects. Each entry names the
/// verdict kyso gives and why.
const EXCEPTIONS: [(&str, &str); 10] = [
    (
        "pathlen::validation-ignores-pathlen-in-leaf",
        "a CA certificate is never accepted as the end-entity that proves an identity",
    ),
    (
        "rfc5280::ca-as-leaf",
        "a CA certificate is never accepted as the end-entity that proves an identity",
    ),
    (
        "pathlen::self-issued-certs-pathlen",
        "self-issued intermediates count toward pathLenConstraint (rustls-webpki)",
    ),
    (
        "rfc5280::nc::permitted-self-issued",
        "name constraints apply to self-issued intermediates too (rustls-webpki)",
    ),
    (
        "rfc5280::nc::permitted-dn-match",
        "directoryName constraints are not evaluated, so they fail closed (rustls-webpki)",
    ),
    (
        "rfc5280::nc::nc-permits-email-exact",
        "rfc822Name constraints are not evaluated, so they fail closed (rustls-webpki)",
    ),
    (
        "rfc5280::nc::nc-permits-email-domain",
        "rfc822Name constraints are not evaluated, so they fail closed (rustls-webpki)",
    ),
    (
        "rfc5280::nc::nc-permits-email-literal-asterisk-exact-match",
        "rfc822Name constraints are not evaluated, so they fail closed (rustls-webpki)",
    ),
    (
        "rfc5280::nc::nc-permits-email-literal-double-asterisk",
        "rfc822Name constraints are not evaluated, so they fail closed (rustls-webpki)",
    ),
    (
        "rfc5280::nc::nc-permits-email-literal-mid-asterisk",
        "rfc822Name constraints are not evaluated, so they fail closed (rustls-webpki)",
    ),
];

/// The one exception where kyso refuses at start-up what limbo accepts.
const STARTUP_EXCEPTION: (&str, &str) = (
    "rfc5280::unknown-critical-extension-unrelated-root",
    "a trust anchor with a critical extension nothing processes stops the gateway at \
     start-up, whether or not a path would use it",
);

fn der_of(pem_text: &str) -> Vec<u8> {
    pem::parse(pem_text).unwrap().into_contents()
}

/// The case's CRLs, judged by the gateway's own CRL code: the CRL issued by each
/// certificate's issuer decides; none is a refusal.
#[derive(Debug)]
struct CaseCrls(Vec<CachedCrl>);

#[async_trait]
impl RevocationChecker for CaseCrls {
    async fn check(&self, path: &ValidatedPath) -> Result<(), Rejection> {
        for (index, link) in path.links().iter().enumerate() {
            let (_, issuer) = x509_parser::parse_x509_certificate(&link.issuer).unwrap();
            let verdicts: Vec<_> = self.0.iter().map(|crl| crl.judge(path, index)).collect();
            let _ = issuer;
            match verdicts.iter().find(|v| v.is_ok()) {
                Some(Ok(CrlVerdict::Good)) => {}
                Some(Ok(CrlVerdict::Revoked)) => {
                    return Err(Rejection::new(ErrorCode::CertRevoked, "listed on its CRL"));
                }
                _ => {
                    return Err(Rejection::new(
                        ErrorCode::RevocationUnavailable,
                        format!("no usable CRL: {verdicts:?}"),
                    ));
                }
            }
        }
        Ok(())
    }

    fn is_checking(&self) -> bool {
        true
    }
}

/// What kyso answers for a case: `Ok` or the refusal.
async fn kyso_verdict(case: &Case) -> Result<(), String> {
    let anchors: Vec<Vec<u8>> = case.trusted_certs.iter().map(|p| der_of(p)).collect();
    let trust = TrustStore::new(&anchors, &[]).map_err(|e| format!("start-up: {e}"))?;
    let revocation: Arc<dyn RevocationChecker> = if case.crls.is_empty() {
        Arc::new(NoRevocationCheck)
    } else {
        let crls = case
            .crls
            .iter()
            .map(|p| decode(p.as_bytes()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("CRL: {e}"))?;
        Arc::new(CaseCrls(crls))
    };
    let mut options = PolicyOptions::default();
    if let Some(depth) = case.max_chain_depth {
        options.max_intermediates = depth;
    }
    let policy = CertificatePolicy::new(trust, options, revocation);
    let usage = match case.validation_kind.as_str() {
        "CLIENT" => PathUsage::named("client-auth"),
        _ => PathUsage::named("server-auth"),
    }
    .unwrap();
    let at = match &case.validation_time {
        Some(t) => {
            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap()
        }
        None => OffsetDateTime::now_utc(),
    };
    let leaf = der_of(&case.peer_certificate);
    let extra: Vec<Vec<u8>> = case
        .untrusted_intermediates
        .iter()
        .map(|p| der_of(p))
        .collect();
    policy
        .verify_path(&leaf, &extra, at, usage)
        .await
        .map_err(|r| r.to_string())
}

#[test]
fn the_suite_is_the_one_recorded() {
    let bytes = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(SUITE)).unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &bytes);
    assert_eq!(hex::encode(digest), SUITE_SHA256);
}

#[tokio::test]
async fn kyso_agrees_with_x509_limbo_on_every_case_that_applies_to_client_certificates() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SUITE)).unwrap();
    let suite: Suite = serde_json::from_str(&text).unwrap();
    assert_eq!(suite.testcases.len(), 208);
    let (mut run, mut agreed, mut excepted, mut skipped) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for case in &suite.testcases {
        if not_applicable(case).is_some() {
            skipped += 1;
            continue;
        }
        run += 1;
        let verdict = kyso_verdict(case).await;
        let expected_ok = case.expected_result == "SUCCESS";
        let exception = EXCEPTIONS
            .iter()
            .chain(std::iter::once(&STARTUP_EXCEPTION))
            .find(|(id, _)| *id == case.id);
        match (verdict.is_ok() == expected_ok, exception) {
            (true, None) => agreed += 1,
            (false, Some(_)) if expected_ok => excepted += 1,
            (true, Some((_, why))) => wrong.push(format!(
                "{}: now agrees with limbo; remove the exception ({why})",
                case.id
            )),
            (false, _) => wrong.push(format!(
                "{}: expected {}, kyso says {verdict:?}",
                case.id, case.expected_result
            )),
        }
    }
    println!(
        "x509-limbo: {} cases, {run} run, {agreed} agree, {excepted} documented exceptions (stricter), {skipped} not applicable",
        suite.testcases.len()
    );
    assert!(
        wrong.is_empty(),
        "{} disagreements:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert_eq!(run, agreed + excepted);
}
