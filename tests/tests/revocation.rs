//! Revocation end to end: the real `kyso-gateway` (HTTP API and `verify-cert`) against a
//! real `openssl ocsp` responder answering from the test CA's `index.txt`, and CRLs served
//! over loopback HTTP. Tokens are signed with the persons' key files, so these tests do
//! not wait for the SoftHSM tokens.
//!
//! Each gateway is told where the VNPT test CA's responder and CRL are, and the national
//! root's (`[[revocation.issuers]]`: the configured VNPT CA is asked about at the root's),
//! so tests run side by side on free ports; one test follows the URLs written in the
//! certificates themselves.

use kyso_tests::processes::{GatewayOptions, ORIGIN, Reply, Running, gateway, post};
use kyso_tests::revocation::{
    OcspResponder, ResponderOptions, RootSources, StaticServer, dead_url, recorded_answer,
};
use kyso_tests::signer::person_token;
use kyso_tests::{Fixtures, bin, run};
use serde_json::{Value, json};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use time::{Duration, OffsetDateTime};

/// How a test gateway finds VNPT's revocation services.
struct Sources {
    ocsp: String,
    crl: String,
    /// Extra lines for the `[[revocation.issuers]]` entry.
    issuer_extra: String,
}

impl Sources {
    /// OCSP at `url`; the CRL unreachable.
    fn ocsp_only(url: &str) -> Self {
        Self {
            ocsp: url.to_owned(),
            crl: dead_url(),
            issuer_extra: String::new(),
        }
    }

    /// The CRL at `url`; OCSP unreachable.
    fn crl_only(url: &str) -> Self {
        Self {
            ocsp: dead_url(),
            crl: url.to_owned(),
            issuer_extra: String::new(),
        }
    }
}

struct Gw {
    process: Running,
    config: PathBuf,
    /// The root's answers about the configured VNPT CA, when this test started them.
    _root: Option<RootSources>,
}

/// A gateway asking `sources` about VNPT's certificates and the root's own sources about
/// the VNPT CA.
fn start(f: &Fixtures, dir: &Path, policy: &str, sources: &Sources) -> Gw {
    let root = RootSources::start(&f.pki, &f.manifest);
    let mut gw = start_with_root(f, dir, policy, sources, &root.issuer_entry());
    gw._root = Some(root);
    gw
}

/// A gateway asking `sources` about VNPT's certificates and as `root_entry` says about
/// the VNPT CA.
fn start_with_root(
    f: &Fixtures,
    dir: &Path,
    policy: &str,
    sources: &Sources,
    root_entry: &str,
) -> Gw {
    let vnpt = f.pki.join(&f.manifest.ca("vnpt").unwrap().cert);
    let options = GatewayOptions {
        policy: policy.into(),
        extra: format!(
            "[[revocation.issuers]]\ncertificate = {:?}\nocsp_url = {:?}\ncrl_url = {:?}\n{}{root_entry}",
            vnpt.display().to_string(),
            sources.ocsp,
            sources.crl,
            sources.issuer_extra
        ),
        ..GatewayOptions::default()
    };
    Gw {
        process: gateway(f, dir, &options),
        config: dir.join("kyso.toml"),
        _root: None,
    }
}

const CHECKING: &str = "revocation = \"ocsp-crl\"\n";

impl Gw {
    /// The identity preview for `person`'s certificate: the whole policy, revocation last.
    fn preview(&self, f: &Fixtures, person: &str) -> Reply {
        let c = post(
            &format!("{}/v1/challenges", self.process.url),
            &[],
            &json!({ "purpose": "register" }),
        );
        assert_eq!(c.status, 201, "{c:?}");
        let p = f.manifest.person(person).unwrap();
        let token = person_token(&f.pki, p, ORIGIN, c.json["nonce"].as_str().unwrap());
        post(
            &format!("{}/v1/registrations/token", self.process.url),
            &[],
            &json!({ "challenge_id": c.json["challenge_id"], "auth_token": token }),
        )
    }

    /// Both the API and `verify-cert` say `REVOCATION_UNAVAILABLE` for `who`, because `why`.
    fn unavailable(&self, f: &Fixtures, who: &str, why: &str) {
        let r = self.preview(f, who);
        assert_eq!(code(&r), (503, "REVOCATION_UNAVAILABLE"), "{who}: {r:?}");
        assert!(detail(&r).contains(why), "{why} {who}: {r:?}");
        let (exit, json) = self.verify_cert(f, who, &[]);
        assert_eq!(
            (exit, json["code"].as_str()),
            (1, Some("REVOCATION_UNAVAILABLE")),
            "{who}"
        );
        assert!(
            json["detail"].as_str().unwrap().contains(why),
            "{why}: {json}"
        );
    }

    /// `kyso-gateway verify-cert` with this gateway's configuration.
    fn verify_cert(&self, f: &Fixtures, person: &str, args: &[&str]) -> (i32, Value) {
        verify_cert(&self.config, f, person, args, &[])
    }
}

fn verify_cert(
    config: &Path,
    f: &Fixtures,
    person: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> (i32, Value) {
    let cert = f.pki.join(&f.manifest.person(person).unwrap().cert);
    let out = run(bin("kyso-gateway")
        .args(["verify-cert", "--config"])
        .arg(config)
        .args(args)
        .arg(cert)
        .envs(env.iter().copied())
        .env("KYSO_LOG", "error"));
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        json.is_object(),
        "verify-cert printed no JSON: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), json)
}

fn code(r: &Reply) -> (u16, &str) {
    (r.status, r.code())
}

fn detail(r: &Reply) -> &str {
    r.json["detail"].as_str().unwrap_or("")
}

fn vnpt_ocsp(f: &Fixtures) -> ResponderOptions {
    ResponderOptions::of_ca(&f.pki, &f.manifest, "vnpt")
}

#[test]
fn ocsp_says_good_revoked_or_unknown() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let responder = OcspResponder::start(&f.pki, &f.manifest, "vnpt", &vnpt_ocsp(&f));
    let sources = Sources::ocsp_only(&responder.url);
    let gw = start(&f, dir.path(), CHECKING, &sources);

    let r = gw.preview(&f, "citizen-cccd");
    assert_eq!(r.status, 200, "{r:?}");
    let (exit, json) = gw.verify_cert(&f, "citizen-cccd", &[]);
    assert_eq!((exit, json["code"].as_str()), (0, Some("ok")), "{json}");
    assert_eq!(json["subject"]["identifier"]["value"], "001090012345");

    let r = gw.preview(&f, "revoked");
    assert_eq!(code(&r), (422, "CERT_REVOKED"), "{r:?}");
    assert!(detail(&r).contains("keyCompromise"), "{r:?}");
    let (exit, json) = gw.verify_cert(&f, "revoked", &[]);
    assert_eq!((exit, json["code"].as_str()), (1, Some("CERT_REVOKED")));

    let r = gw.preview(&f, "unknown-to-ca");
    assert_eq!(code(&r), (422, "CERT_REVOKED"), "{r:?}");
    assert!(detail(&r).contains("unknown"), "{r:?}");
    let (exit, json) = gw.verify_cert(&f, "unknown-to-ca", &[]);
    assert_eq!((exit, json["code"].as_str()), (1, Some("CERT_REVOKED")));

    // `--purpose any` skips the purpose rules but not revocation.
    let (exit, json) = gw.verify_cert(&f, "revoked", &["--purpose", "any"]);
    assert_eq!((exit, json["code"].as_str()), (1, Some("CERT_REVOKED")));
    let (exit, json) = gw.verify_cert(&f, "wrong-key-usage", &["--purpose", "any"]);
    assert_eq!((exit, json["code"].as_str()), (0, Some("ok")), "{json}");
    let (exit, json) = gw.verify_cert(&f, "wrong-key-usage", &[]);
    assert_eq!(
        (exit, json["code"].as_str()),
        (1, Some("CERT_WRONG_PURPOSE"))
    );
}

#[test]
fn the_crl_answers_when_ocsp_is_down_and_is_downloaded_once() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let crl = std::fs::read(f.pki.join(&f.manifest.ca("vnpt").unwrap().crl)).unwrap();
    let server = StaticServer::start(&[("/vnpt.crl", crl)]);
    let sources = Sources::crl_only(&format!("{}/vnpt.crl", server.url));
    let gw = start(&f, dir.path(), CHECKING, &sources);
    let r = gw.preview(&f, "revoked");
    assert_eq!(code(&r), (422, "CERT_REVOKED"), "{r:?}");
    assert!(detail(&r).contains("CRL"), "{r:?}");
    let r = gw.preview(&f, "citizen-cccd");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        server.hits(),
        1,
        "the second registration used the cached CRL"
    );

    let (exit, json) = gw.verify_cert(&f, "revoked", &[]);
    assert_eq!((exit, json["code"].as_str()), (1, Some("CERT_REVOKED")));
    let (exit, json) = gw.verify_cert(&f, "citizen-cccd", &[]);
    assert_eq!((exit, json["code"].as_str()), (0, Some("ok")), "{json}");
}

#[test]
fn no_answer_fails_closed_unless_soft_fail_is_chosen() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let sources = Sources::ocsp_only(&dead_url());
    let gw = start(&f, dir.path(), CHECKING, &sources);
    let r = gw.preview(&f, "citizen-cccd");
    assert_eq!(code(&r), (503, "REVOCATION_UNAVAILABLE"), "{r:?}");
    assert!(
        detail(&r).contains("OCSP") && detail(&r).contains("CRL"),
        "{r:?}"
    );
    let (exit, json) = gw.verify_cert(&f, "citizen-cccd", &[]);
    assert_eq!(
        (exit, json["code"].as_str()),
        (1, Some("REVOCATION_UNAVAILABLE"))
    );
    let soft = [("KYSO_POLICY__REVOCATION_UNAVAILABLE", "soft-fail")];
    let (exit, json) = verify_cert(&gw.config, &f, "citizen-cccd", &[], &soft);
    assert_eq!((exit, json["code"].as_str()), (0, Some("ok")), "{json}");

    let dir = tempfile::tempdir().unwrap();
    let soft = start(
        &f,
        dir.path(),
        "revocation = \"ocsp-crl\"\nrevocation_unavailable = \"soft-fail\"\n",
        &sources,
    );
    let r = soft.preview(&f, "citizen-cccd");
    assert_eq!(r.status, 200, "soft-fail accepts: {r:?}");
}

#[test]
fn answers_signed_by_anyone_but_the_ca_or_its_responder_are_refused() {
    let f = Fixtures::shared_pki();
    let person = f.manifest.person("citizen-cccd").unwrap();
    let viettel = f.manifest.ca("viettel").unwrap();
    let signers = [
        // Issued by VNPT, but not for OCSP signing.
        (
            f.pki.join(&person.cert),
            f.pki.join(&person.key_file),
            "lacks id-kp-OCSPSigning",
        ),
        // A real OCSP responder certificate, of another CA.
        (
            f.pki.join(&viettel.ocsp_cert),
            f.pki.join(&viettel.ocsp_key),
            "issued by another CA",
        ),
    ];
    for (cert, key, why) in signers {
        let options = ResponderOptions {
            signer_cert: cert,
            signer_key: key,
            ..vnpt_ocsp(&f)
        };
        let responder = OcspResponder::start(&f.pki, &f.manifest, "vnpt", &options);
        let dir = tempfile::tempdir().unwrap();
        let sources = Sources::ocsp_only(&responder.url);
        let gw = start(&f, dir.path(), CHECKING, &sources);
        // Even a "revoked" from such a signer is not believed: it is no answer at all.
        for who in ["citizen-cccd", "revoked"] {
            gw.unavailable(&f, who, why);
        }
    }
}

#[test]
fn a_replayed_answer_is_refused_by_its_nonce() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let cert = f.pki.join(&f.manifest.person("citizen-cccd").unwrap().cert);
    let answer = recorded_answer(&f.pki, &f.manifest, "vnpt", &cert, dir.path());
    let server = StaticServer::start(&[("/ocsp", answer)]);
    for nonce_rule in ["", "ocsp_require_nonce = true\n"] {
        let dir = tempfile::tempdir().unwrap();
        let sources = Sources {
            ocsp: format!("{}/ocsp", server.url),
            crl: dead_url(),
            issuer_extra: nonce_rule.into(),
        };
        let gw = start(&f, dir.path(), CHECKING, &sources);
        gw.unavailable(&f, "citizen-cccd", "nonce");
    }
    assert!(server.hits() >= 4, "the recorded answer was fetched");
}

#[test]
fn expired_and_forged_crls_are_refused() {
    let f = Fixtures::shared_pki();
    let pki = kyso_certs::Pki::open(&f.pki, OffsetDateTime::now_utc()).unwrap();
    let now = OffsetDateTime::now_utc();
    let expired = pki
        .crl_signed_by(
            "vnpt",
            "vnpt",
            now - Duration::days(10),
            now - Duration::days(3),
        )
        .unwrap();
    let forged = pki
        .crl_signed_by(
            "vnpt",
            "untrusted",
            now - Duration::minutes(1),
            now + Duration::days(7),
        )
        .unwrap();
    let others = std::fs::read(f.pki.join(&f.manifest.ca("viettel").unwrap().crl)).unwrap();
    let cases = [
        (expired, "expired"),
        (forged, "InvalidCrlSignatureForPublicKey"),
        (others, "UnknownRevocationStatus"),
    ];
    for (crl, why) in cases {
        let server = StaticServer::start(&[("/vnpt.crl", crl)]);
        let dir = tempfile::tempdir().unwrap();
        let sources = Sources::crl_only(&format!("{}/vnpt.crl", server.url));
        let gw = start(&f, dir.path(), CHECKING, &sources);
        // Neither a good certificate nor the revoked one gets a verdict from a bad CRL.
        for who in ["citizen-cccd", "revoked"] {
            gw.unavailable(&f, who, why);
        }
    }
}

#[test]
fn a_cached_good_answer_is_used_after_the_responder_stops() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let responder = OcspResponder::start(&f.pki, &f.manifest, "vnpt", &vnpt_ocsp(&f));
    let sources = Sources::ocsp_only(&responder.url);
    let gw = start(&f, dir.path(), CHECKING, &sources);
    assert_eq!(gw.preview(&f, "citizen-cccd").status, 200);
    responder.stop();
    let r = gw.preview(&f, "citizen-cccd");
    assert_eq!(
        r.status, 200,
        "the answer is reused until its nextUpdate: {r:?}"
    );
    let r = gw.preview(&f, "citizen-cmnd");
    assert_eq!(
        code(&r),
        (503, "REVOCATION_UNAVAILABLE"),
        "a certificate never asked about finds the responder gone: {r:?}"
    );
}

#[test]
fn too_old_and_expired_answers_are_refused_by_verify_cert() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    // No nextUpdate: usable while thisUpdate is within ocsp_max_age_seconds (1 h).
    let timeless = ResponderOptions {
        next_update_minutes: None,
        ..vnpt_ocsp(&f)
    };
    let responder = OcspResponder::start(&f.pki, &f.manifest, "vnpt", &timeless);
    let sources = Sources::ocsp_only(&responder.url);
    let gw = start(&f, dir.path(), CHECKING, &sources);
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let now = OffsetDateTime::now_utc();
    let (exit, json) = gw.verify_cert(&f, "citizen-cccd", &["--at", &fmt(now)]);
    assert_eq!((exit, json["code"].as_str()), (0, Some("ok")), "{json}");
    let later = fmt(now + Duration::hours(2));
    let (exit, json) = gw.verify_cert(&f, "citizen-cccd", &["--at", &later]);
    assert_eq!(
        (exit, json["code"].as_str()),
        (1, Some("REVOCATION_UNAVAILABLE"))
    );
    assert!(
        json["detail"].as_str().unwrap().contains("older than"),
        "{json}"
    );
    drop(responder);

    // nextUpdate one minute on: ten minutes later it has passed.
    let short = ResponderOptions {
        next_update_minutes: Some(1),
        ..vnpt_ocsp(&f)
    };
    let responder = OcspResponder::start(&f.pki, &f.manifest, "vnpt", &short);
    let dir = tempfile::tempdir().unwrap();
    let sources = Sources::ocsp_only(&responder.url);
    let gw = start(&f, dir.path(), CHECKING, &sources);
    let later = fmt(now + Duration::minutes(10));
    let (exit, json) = gw.verify_cert(&f, "citizen-cccd", &["--at", &later]);
    assert_eq!(
        (exit, json["code"].as_str()),
        (1, Some("REVOCATION_UNAVAILABLE"))
    );
    assert!(
        json["detail"].as_str().unwrap().contains("nextUpdate"),
        "{json}"
    );
}

/// The one test that binds the port written in the certificates' AIA and CRLDP.
#[test]
fn the_urls_in_the_certificates_are_followed() {
    let f = Fixtures::shared_pki();
    let lock =
        File::create(kyso_tests::bin_dir().join("kyso-test-fixtures/.base-url-port")).unwrap();
    lock.lock().unwrap();
    let port: u16 = f
        .manifest
        .base_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The root's sources are named: the responder on the certificates' port is VNPT's.
    let root = RootSources::start(&f.pki, &f.manifest);
    let options = GatewayOptions {
        policy: "revocation = \"ocsp\"\n".into(),
        extra: root.issuer_entry(),
        ..GatewayOptions::default()
    };
    let gw = Gw {
        process: gateway(&f, dir.path(), &options),
        config: dir.path().join("kyso.toml"),
        _root: Some(root),
    };
    {
        let on_aia_port = ResponderOptions {
            port,
            ..vnpt_ocsp(&f)
        };
        let _responder = OcspResponder::start(&f.pki, &f.manifest, "vnpt", &on_aia_port);
        assert_eq!(gw.preview(&f, "citizen-cccd").status, 200);
        assert_eq!(code(&gw.preview(&f, "revoked")), (422, "CERT_REVOKED"));
    }
    let crl = std::fs::read(f.pki.join(&f.manifest.ca("vnpt").unwrap().crl)).unwrap();
    let _server = StaticServer::start_on(port, &[("/crl/vnpt.crl", crl)]);
    let crl_only = [("KYSO_POLICY__REVOCATION", "crl")];
    let (exit, json) = verify_cert(&gw.config, &f, "revoked", &[], &crl_only);
    assert_eq!(
        (exit, json["code"].as_str()),
        (1, Some("CERT_REVOKED")),
        "{json}"
    );
    let (exit, json) = verify_cert(&gw.config, &f, "citizen-cmnd", &[], &crl_only);
    assert_eq!((exit, json["code"].as_str()), (0, Some("ok")), "{json}");
}

#[test]
fn verify_cert_reports_usage_errors_with_exit_2() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kyso.toml");
    std::fs::write(
        &config,
        format!(
            "public_origin = \"{ORIGIN}\"\n[trust]\nanchors = [{:?}]\n[policy]\nrevocation = \"off\"\n",
            f.pki.join(&f.manifest.trust_anchors[0]).display().to_string()
        ),
    )
    .unwrap();
    let cert = f.pki.join(&f.manifest.person("citizen-cccd").unwrap().cert);
    let verify = |args: &[&str]| {
        run(bin("kyso-gateway")
            .args(["verify-cert", "--config"])
            .arg(&config)
            .args(args))
        .status
        .code()
    };
    assert_eq!(
        verify(&["--at", "yesterday", cert.to_str().unwrap()]),
        Some(2)
    );
    assert_eq!(
        verify(&["--purpose", "all", cert.to_str().unwrap()]),
        Some(2)
    );
    assert_eq!(verify(&["/nonexistent.pem"]), Some(2));
    // Without the intermediate the path is incomplete; with it, it verifies.
    let chain = f
        .pki
        .join(&f.manifest.person("citizen-cccd").unwrap().chain);
    assert_eq!(verify(&[cert.to_str().unwrap()]), Some(1));
    assert_eq!(
        verify(&[
            "--intermediate",
            chain.to_str().unwrap(),
            cert.to_str().unwrap()
        ]),
        Some(0)
    );
}

#[test]
fn an_answer_signed_by_the_ca_itself_is_believed() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let vnpt = f.manifest.ca("vnpt").unwrap();
    let by_the_ca = ResponderOptions {
        signer_cert: f.pki.join(&vnpt.cert),
        signer_key: f.pki.join(&vnpt.key_file),
        ..vnpt_ocsp(&f)
    };
    let responder = OcspResponder::start(&f.pki, &f.manifest, "vnpt", &by_the_ca);
    let sources = Sources::ocsp_only(&responder.url);
    let gw = start(&f, dir.path(), CHECKING, &sources);
    assert_eq!(gw.preview(&f, "citizen-cccd").status, 200);
    let r = gw.preview(&f, "revoked");
    assert_eq!(code(&r), (422, "CERT_REVOKED"), "{r:?}");
}

/// A copy of the test PKI in which the national root has revoked the VNPT CA: its
/// database says so (for its OCSP responder) and a CRL of the root lists it.
fn pki_with_vnpt_revoked(f: &Fixtures, dir: &Path) -> (PathBuf, Vec<u8>) {
    let copy = dir.join("pki");
    let out = run(Command::new("cp").arg("-r").arg(&f.pki).arg(&copy));
    assert!(out.status.success(), "{out:?}");
    let vnpt = std::fs::read(copy.join("ca/vnpt/cert.der")).unwrap();
    let serial = kyso_certs::der::serial_hex(&vnpt).unwrap();
    let index = copy.join("ca/root/index.txt");
    let mut db = kyso_certs::cadb::CaDatabase::load(&index).unwrap();
    let row = db
        .entries
        .iter_mut()
        .find(|e| e.serial_hex == serial)
        .unwrap();
    row.revoked_at = Some(OffsetDateTime::now_utc() - Duration::hours(1));
    db.save(&index).unwrap();
    let now = OffsetDateTime::now_utc();
    let crl = kyso_certs::Pki::open(&copy, now)
        .unwrap()
        .crl_signed_by(
            "root",
            "root",
            now - Duration::minutes(1),
            now + Duration::days(1),
        )
        .unwrap();
    (copy, crl)
}

/// A configuration that trusts the root only: the VNPT CA must travel with the
/// certificate (`--intermediate`), so its own revocation is checked at the root's sources.
fn root_only_config(
    f: &Fixtures,
    dir: &Path,
    vnpt_ocsp: &str,
    root_ocsp: &str,
    root_crl: &str,
) -> PathBuf {
    let ca = |id: &str| {
        f.pki
            .join(&f.manifest.ca(id).unwrap().cert)
            .display()
            .to_string()
    };
    let config = dir.join("root-only.toml");
    std::fs::write(
        &config,
        format!(
            "public_origin = \"{ORIGIN}\"\n[trust]\nanchors = [{:?}]\n[policy]\nrevocation = \"ocsp-crl\"\n\
             [[revocation.issuers]]\ncertificate = {:?}\nocsp_url = {vnpt_ocsp:?}\ncrl_url = {:?}\n\
             [[revocation.issuers]]\ncertificate = {:?}\nocsp_url = {root_ocsp:?}\ncrl_url = {root_crl:?}\n",
            ca("root"),
            ca("vnpt"),
            dead_url(),
            ca("root"),
        ),
    )
    .unwrap();
    config
}

#[test]
fn intermediates_that_travel_with_a_certificate_are_checked_too() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let vnpt = f.pki.join(&f.manifest.ca("vnpt").unwrap().cert);
    let travelling = ["--intermediate", vnpt.to_str().unwrap()];
    let leaf_responder = OcspResponder::start(&f.pki, &f.manifest, "vnpt", &vnpt_ocsp(&f));
    let root_options = ResponderOptions::of_ca(&f.pki, &f.manifest, "root");
    let root_responder = OcspResponder::start(&f.pki, &f.manifest, "root", &root_options);

    // Both the leaf and the travelling VNPT CA are good.
    let config = root_only_config(
        &f,
        dir.path(),
        &leaf_responder.url,
        &root_responder.url,
        &dead_url(),
    );
    let (exit, json) = verify_cert(&config, &f, "citizen-cccd", &travelling, &[]);
    assert_eq!((exit, json["code"].as_str()), (0, Some("ok")), "{json}");

    // Nobody can say whether the VNPT CA is revoked: refused, and the detail says which.
    let config = root_only_config(
        &f,
        dir.path(),
        &leaf_responder.url,
        &dead_url(),
        &dead_url(),
    );
    let (exit, json) = verify_cert(&config, &f, "citizen-cccd", &travelling, &[]);
    assert_eq!(
        (exit, json["code"].as_str()),
        (1, Some("REVOCATION_UNAVAILABLE")),
        "{json}"
    );
    assert!(
        json["detail"].as_str().unwrap().contains("intermediate"),
        "{json}"
    );

    // The root revoked the VNPT CA: by OCSP, and by CRL when OCSP is down.
    let (revoked_pki, root_crl) = pki_with_vnpt_revoked(&f, dir.path());
    let revoking = OcspResponder::start(&revoked_pki, &f.manifest, "root", &root_options);
    let config = root_only_config(
        &f,
        dir.path(),
        &leaf_responder.url,
        &revoking.url,
        &dead_url(),
    );
    let (exit, json) = verify_cert(&config, &f, "citizen-cccd", &travelling, &[]);
    assert_eq!(
        (exit, json["code"].as_str()),
        (1, Some("CERT_REVOKED")),
        "{json}"
    );
    assert!(
        json["detail"].as_str().unwrap().contains("intermediate"),
        "{json}"
    );
    let crl_server = StaticServer::start(&[("/root.crl", root_crl)]);
    let config = root_only_config(
        &f,
        dir.path(),
        &leaf_responder.url,
        &dead_url(),
        &format!("{}/root.crl", crl_server.url),
    );
    let (exit, json) = verify_cert(&config, &f, "citizen-cccd", &travelling, &[]);
    assert_eq!(
        (exit, json["code"].as_str()),
        (1, Some("CERT_REVOKED")),
        "{json}"
    );

    // The root's own, current CRL does not list it: good by CRL.
    let good_crl = std::fs::read(f.pki.join(&f.manifest.ca("root").unwrap().crl)).unwrap();
    let crl_server = StaticServer::start(&[("/root.crl", good_crl)]);
    let config = root_only_config(
        &f,
        dir.path(),
        &leaf_responder.url,
        &dead_url(),
        &format!("{}/root.crl", crl_server.url),
    );
    let (exit, json) = verify_cert(&config, &f, "citizen-cccd", &travelling, &[]);
    assert_eq!((exit, json["code"].as_str()), (0, Some("ok")), "{json}");
}

/// A configured provider CA gives the verdict it would give travelling: once the root
/// has revoked it, by OCSP or by CRL, every certificate under it is refused though the
/// operator still lists it in `trust.intermediates`; when nobody can say, fail-closed
/// refuses and names the intermediate.
#[test]
fn a_configured_intermediate_its_root_revoked_is_refused() {
    let f = Fixtures::shared_pki();
    let dir = tempfile::tempdir().unwrap();
    let leaf_responder = OcspResponder::start(&f.pki, &f.manifest, "vnpt", &vnpt_ocsp(&f));
    let sources = Sources::ocsp_only(&leaf_responder.url);
    let root_cert = f.pki.join(&f.manifest.ca("root").unwrap().cert);
    let root_entry = |ocsp: &str, crl: &str| {
        format!(
            "[[revocation.issuers]]\ncertificate = {:?}\nocsp_url = {ocsp:?}\ncrl_url = {crl:?}\n",
            root_cert.display().to_string()
        )
    };
    let (revoked_pki, root_crl) = pki_with_vnpt_revoked(&f, dir.path());
    let crl_server = StaticServer::start(&[("/root.crl", root_crl)]);
    let revoking_crl = format!("{}/root.crl", crl_server.url);
    let root_options = ResponderOptions::of_ca(&revoked_pki, &f.manifest, "root");
    let revoking = OcspResponder::start(&revoked_pki, &f.manifest, "root", &root_options);

    let cases = [
        (
            "by the root's responder",
            root_entry(&revoking.url, &dead_url()),
        ),
        ("by the root's CRL", root_entry(&dead_url(), &revoking_crl)),
    ];
    for (how, entry) in cases {
        let gw_dir = tempfile::tempdir().unwrap();
        let gw = start_with_root(&f, gw_dir.path(), CHECKING, &sources, &entry);
        let r = gw.preview(&f, "citizen-cccd");
        assert_eq!(code(&r), (422, "CERT_REVOKED"), "{how}: {r:?}");
        assert!(detail(&r).contains("intermediate"), "{how}: {r:?}");
        let (exit, json) = gw.verify_cert(&f, "citizen-cmnd", &[]);
        assert_eq!(
            (exit, json["code"].as_str()),
            (1, Some("CERT_REVOKED")),
            "{how}: {json}"
        );
    }

    // Nobody can say whether the VNPT CA is revoked: refused, naming it.
    let gw_dir = tempfile::tempdir().unwrap();
    let silent = root_entry(&dead_url(), &dead_url());
    let gw = start_with_root(&f, gw_dir.path(), CHECKING, &sources, &silent);
    gw.unavailable(&f, "citizen-cccd", "intermediate");

    // The same gateway set-up with the root's real answers lets the person through.
    let gw_dir = tempfile::tempdir().unwrap();
    let good = RootSources::start(&f.pki, &f.manifest);
    let gw = start_with_root(&f, gw_dir.path(), CHECKING, &sources, &good.issuer_entry());
    assert_eq!(gw.preview(&f, "citizen-cccd").status, 200);
}
