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
//! With `--database-url postgres://…`, the gateways use that PostgreSQL database (it is
//! migrated first; use an empty database) and `--instances N` of them run, the client
//! threads taking them in turn.
//!
//! `cargo build --release --bins && target/release/kyso-load --registrations 2000 --concurrency 8 --key ec [--revocation ocsp [--warm]] [--database-url URL [--instances N]]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool

use kyso_certs::keys::KeyKind;
use kyso_tests::citizens::Citizens;
use kyso_tests::cluster::Cluster;
use kyso_tests::processes::{GatewayOptions, gateway_for};
use kyso_tests::revocation::{OcspResponder, ResponderOptions};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Args {
    registrations: usize,
    concurrency: usize,
    key: KeyKind,
    ocsp: bool,
    warm: bool,
    database_url: Option<String>,
    instances: usize,
}

fn args() -> Args {
    let mut a = Args {
        registrations: 500,
        concurrency: 4,
        key: KeyKind::EcP256,
        ocsp: false,
        warm: false,
        database_url: None,
        instances: 1,
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
            ("--database-url", Some(v)) => a.database_url = Some(v.clone()),
            ("--instances", Some(v)) => a.instances = v.parse().expect("--instances N"),
            _ => panic!(
                "usage: kyso-load [--registrations N] [--concurrency N] [--key rsa|ec] [--revocation off|ocsp] [--warm] [--database-url URL] [--instances N]"
            ),
        }
    }
    assert!(
        a.instances == 1 || a.database_url.is_some(),
        "--instances needs a shared --database-url"
    );
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
    let started = Instant::now();
    let citizens = Citizens::issue(a.registrations, a.key);
    eprintln!(
        "issued {} certificates ({}) in {:.1?}",
        citizens.certs.len(),
        a.key.name(),
        started.elapsed()
    );
    let (dir, pki_dir, manifest) = (
        citizens.dir.path().to_owned(),
        citizens.pki.clone(),
        citizens.manifest.clone(),
    );
    let (pki_dir, manifest) = (&pki_dir, &manifest);

    let responder = a.ocsp.then(|| {
        let options = ResponderOptions::of_ca(pki_dir, manifest, "vnpt");
        OcspResponder::start(pki_dir, manifest, "vnpt", &options)
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
        database_url: a.database_url.clone(),
        ..GatewayOptions::default()
    };
    let cluster = match &a.database_url {
        Some(url) => Cluster::start_with(pki_dir, manifest, url, &options, a.instances),
        None => Cluster::one(gateway_for(pki_dir, manifest, &dir, &options)),
    };
    let urls = Arc::new(cluster.urls());
    let url = urls[0].clone();
    if a.warm {
        let t = Instant::now();
        for i in 0..citizens.certs.len() {
            if let Err(e) = citizens.ticket(&url, i) {
                panic!("warm-up preview: {e:?}");
            }
        }
        eprintln!(
            "warmed the OCSP cache with {} previews in {:.1?}",
            citizens.certs.len(),
            t.elapsed()
        );
    }
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(a.registrations)));
    let failures = Arc::new(AtomicUsize::new(0));
    let citizens = Arc::new(citizens);
    let t0 = Instant::now();
    let workers: Vec<_> = (0..a.concurrency)
        .map(|_| {
            let (urls, next, latencies, failures, citizens) = (
                urls.clone(),
                next.clone(),
                latencies.clone(),
                failures.clone(),
                citizens.clone(),
            );
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= citizens.certs.len() {
                        break;
                    }
                    let t = Instant::now();
                    match citizens.register(&urls[i % urls.len()], i) {
                        Ok(_) => latencies.lock().unwrap().push(t.elapsed()),
                        Err(e) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            eprintln!("registration {i} failed: {e:?}");
                        }
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
        "{} registrations ({} keys, revocation {}, {} on {}), concurrency {}: {:.1?} wall, {:.0} registrations/s; latency p50 {:.1?} p90 {:.1?} p99 {:.1?}; {} failed; gateway peak RSS {} MiB",
        done,
        a.key.name(),
        match (a.ocsp, a.warm) {
            (false, _) => "off",
            (true, false) => "OCSP, fresh answers",
            (true, true) => "OCSP, cached answers",
        },
        match a.instances {
            1 => "1 gateway".to_owned(),
            n => format!("{n} gateways"),
        },
        if a.database_url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        a.concurrency,
        wall,
        done as f64 / wall.as_secs_f64(),
        percentile(&l, 0.5),
        percentile(&l, 0.9),
        percentile(&l, 0.99),
        failures.load(Ordering::Relaxed),
        (0..a.instances)
            .map(|i| cluster
                .pid(i)
                .and_then(peak_rss_kib)
                .map_or("?".into(), |k| (k / 1024).to_string()))
            .collect::<Vec<_>>()
            .join(" / "),
    );
}
