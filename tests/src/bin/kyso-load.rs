//! `kyso-load`: a quick local load on a real `kyso-gateway` process, for
//! `docs/performance.md`. It makes a fresh test PKI plus N synthetic citizens (one key,
//! N certificates with distinct CCCDs), starts the gateway (SQLite) on loopback, and runs
//! complete USB-token registrations (challenge, sign, preview, confirm) from C client
//! threads. It prints throughput, latency percentiles and the gateway's peak RSS. The
//! client signs with aws-lc-rs in process and shares the machine's cores.
//!
//! Revocation is off unless `--revocation ocsp`: then an `openssl ocsp` responder answers
//! for the test CA and every registration asks it about a certificate it has not seen
//! (a fresh answer each time); with `--warm` too, a first unmeasured pass of previews
//! fills the gateway's OCSP cache, so the measured registrations use cached answers.
//!
//! `cargo build --release --bins && target/release/kyso-load --registrations 2000 --concurrency 8 --key ec [--revocation ocsp [--warm]]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool

use kyso_certs::der::{Attribute, OID_COMMON_NAME, OID_COUNTRY, OID_UID, StringKind};
use kyso_certs::keys::{self, KeyKind};
use kyso_certs::{GenerateOptions, Pki, generate};
use kyso_tests::processes::{GatewayOptions, ORIGIN, gateway_for, post};
use kyso_tests::revocation::{OcspResponder, ResponderOptions};
use kyso_tests::signer::FileSigner;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    registrations: usize,
    concurrency: usize,
    key: KeyKind,
    ocsp: bool,
    warm: bool,
}

fn args() -> Args {
    let mut a = Args {
        registrations: 500,
        concurrency: 4,
        key: KeyKind::EcP256,
        ocsp: false,
        warm: false,
    };
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = argv.iter().position(|a| a == "--warm") {
        a.warm = true;
        argv.remove(i);
    }
    for pair in argv.chunks(2) {
        match (pair[0].as_str(), pair.get(1)) {
            ("--revocation", Some(v)) if v == "ocsp" => a.ocsp = true,
            ("--revocation", Some(v)) if v == "off" => a.ocsp = false,
            ("--registrations", Some(v)) => a.registrations = v.parse().expect("--registrations N"),
            ("--concurrency", Some(v)) => a.concurrency = v.parse().expect("--concurrency N"),
            ("--key", Some(v)) if v == "rsa" => a.key = KeyKind::Rsa2048,
            ("--key", Some(v)) if v == "ec" => a.key = KeyKind::EcP256,
            _ => panic!(
                "usage: kyso-load [--registrations N] [--concurrency N] [--key rsa|ec] [--revocation off|ocsp] [--warm]"
            ),
        }
    }
    a
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    let manifest = generate(&GenerateOptions::new(&pki_dir), &mut |_| {}).unwrap();
    let mut pki = Pki::open(&pki_dir, manifest.generated_at).unwrap();
    let key = keys::generate(a.key).unwrap();
    let signer = Arc::new(FileSigner::from_pkcs8(a.key, &key.pkcs8_der));
    let template = kyso_certs::profiles::find("citizen-cccd").unwrap();
    let started = Instant::now();
    let certs: Vec<Vec<u8>> = (0..a.registrations)
        .map(|i| {
            let profile = kyso_certs::profiles::PersonProfile {
                subject: vec![
                    Attribute {
                        oid: OID_COUNTRY,
                        kind: StringKind::Printable,
                        value: "VN".into(),
                    },
                    Attribute {
                        oid: OID_COMMON_NAME,
                        kind: StringKind::Utf8,
                        value: format!("Công dân thử tải {i}"),
                    },
                    Attribute {
                        oid: OID_UID,
                        kind: StringKind::Utf8,
                        value: format!("CCCD:00109{:07}", i),
                    },
                ],
                ..template.clone()
            };
            pki.issue_unsaved(&profile, &key.spki_der).unwrap().der
        })
        .collect();
    pki.save("vnpt").unwrap();
    eprintln!(
        "issued {} certificates ({}) in {:.1?}",
        certs.len(),
        a.key.name(),
        started.elapsed()
    );

    let responder = a.ocsp.then(|| {
        let options = ResponderOptions::of_ca(&pki_dir, &manifest, "vnpt");
        OcspResponder::start(&pki_dir, &manifest, "vnpt", &options)
    });
    let options = GatewayOptions {
        rate_per_minute: 100_000_000,
        rate_burst: 10_000_000,
        policy: match &responder {
            Some(_) => "revocation = \"ocsp\"\n".into(),
            None => "revocation = \"off\"\n".into(),
        },
        extra: match &responder {
            Some(r) => format!(
                "[[revocation.issuers]]\ncertificate = {:?}\nocsp_url = {:?}\n",
                pki_dir.join("ca/vnpt/cert.pem").display().to_string(),
                r.url
            ),
            None => String::new(),
        },
        ..GatewayOptions::default()
    };
    let gw = gateway_for(&pki_dir, &manifest, dir.path(), &options);
    let url = gw.url.clone();
    if a.warm {
        let t = Instant::now();
        for cert in &certs {
            let c = post(
                &format!("{url}/v1/challenges"),
                &[],
                &json!({ "purpose": "register" }),
            );
            let token = signer.token(cert, ORIGIN, c.json["nonce"].as_str().unwrap_or_default());
            let p = post(
                &format!("{url}/v1/registrations/token"),
                &[],
                &json!({ "challenge_id": c.json["challenge_id"], "auth_token": token }),
            );
            assert_eq!(p.status, 200, "warm-up preview: {}", p.json);
        }
        eprintln!(
            "warmed the OCSP cache with {} previews in {:.1?}",
            certs.len(),
            t.elapsed()
        );
    }
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(a.registrations)));
    let failures = Arc::new(AtomicUsize::new(0));
    let certs = Arc::new(certs);
    let t0 = Instant::now();
    let workers: Vec<_> = (0..a.concurrency)
        .map(|_| {
            let (url, next, latencies, failures, certs, signer) = (
                url.clone(),
                next.clone(),
                latencies.clone(),
                failures.clone(),
                certs.clone(),
                signer.clone(),
            );
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= certs.len() {
                        break;
                    }
                    let t = Instant::now();
                    let c = post(
                        &format!("{url}/v1/challenges"),
                        &[],
                        &json!({ "purpose": "register" }),
                    );
                    let nonce = c.json["nonce"].as_str().unwrap_or_default();
                    let token = signer.token(&certs[i], ORIGIN, nonce);
                    let p = post(
                        &format!("{url}/v1/registrations/token"),
                        &[],
                        &json!({ "challenge_id": c.json["challenge_id"], "auth_token": token }),
                    );
                    let ticket = p.json["ticket"].as_str().unwrap_or_default();
                    let r = post(
                        &format!("{url}/v1/registrations/{ticket}/confirm"),
                        &[],
                        &json!({}),
                    );
                    if r.status == 201 {
                        latencies.lock().unwrap().push(t.elapsed());
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
                        eprintln!("registration {i} failed: {} {}", p.status, r.json);
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let wall = t0.elapsed();
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    let done = l.len();
    println!(
        "{} registrations ({} keys, revocation {}), concurrency {}: {:.1?} wall, {:.0} registrations/s; latency p50 {:.1?} p90 {:.1?} p99 {:.1?}; {} failed; gateway peak RSS {} MiB",
        done,
        a.key.name(),
        match (a.ocsp, a.warm) {
            (false, _) => "off",
            (true, false) => "OCSP, fresh answers",
            (true, true) => "OCSP, cached answers",
        },
        a.concurrency,
        wall,
        done as f64 / wall.as_secs_f64(),
        percentile(&l, 0.5),
        percentile(&l, 0.9),
        percentile(&l, 0.99),
        failures.load(Ordering::Relaxed),
        peak_rss_kib(gw.pid()).map_or("?".into(), |k| (k / 1024).to_string()),
    );
}
