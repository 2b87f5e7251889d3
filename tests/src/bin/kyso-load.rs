//! `kyso-load`: a local load of complete USB-token registrations (challenge, sign,
//! preview, confirm) on real `kyso-gateway` processes, for `docs/performance.md`.
//!
//! It issues N synthetic citizens (one key, N certificates with distinct CCCDs) and
//! either starts the gateway itself — SQLite, or `--database-url postgres://…` with
//! `--instances N` — or targets running gateways (`--url`, repeated, with `--pki DIR`:
//! the PKI those gateways trust, made there on first use). The client signs with
//! aws-lc-rs in process and shares the machine's cores.
//!
//! - Closed loop (default): `--concurrency C` clients, each registering as fast as its
//!   answers come. Open loop: `--rate R` registrations per second offered on a fixed
//!   schedule whatever the answers do, by up to C clients; latency counts from each
//!   registration's scheduled start, so queueing behind a slow answer is measured.
//! - Each client keeps one HTTP/1.1 connection alive (`--close`: a new connection per
//!   request, as before).
//! - It reports completed registrations/s, p50/p90/p99, on SQLite the mean group commit
//!   (writes a commit, from `/metrics`) and, for gateways it started,
//!   their CPU time (user+sys from `/proc`) per registration, its ratio to the floor
//!   measured in the same run ([`kyso_tests::floor`]: the raw verification of one
//!   registration's two signatures), and peak RSS.
//! - Then, on gateways it started, the same number of rounds of three `POST
//!   /v1/challenges`, closed loop, by as many clients each on one keep-alive connection
//!   (whatever `--rate` and `--close` said for the registrations): the gateway's CPU
//!   for a registration's three HTTP exchanges through the whole middleware stack, with
//!   no verification and no write — the plumbing a registration cannot avoid, stated
//!   against the same floor. Then as many rounds of three `GET /healthz`: bare HTTP on
//!   loopback (the edge, the outer layers, the kernel's TCP), near the least three
//!   exchanges can cost the gateway. Last, the same rounds of `GET /healthz` to
//!   [`kyso_tests::tcp_floor`], a blocking thread that answers without parsing: the
//!   kernel's share of three exchanges, which no server code removes.
//!
//! `--workers N` starts the gateways with `runtime.worker_threads = N` (default: one
//! request thread per core). `--gateway-cpus LIST` and `--client-cpus LIST` (the
//! `taskset` list format: `1`, `0,2`, `2-3`) pin every thread of the gateways it started,
//! and of itself, to those cores, so that a gateway with cores of its own can be
//! measured on one machine.
//!
//! Revocation is off unless `--revocation ocsp`: then an `openssl ocsp` responder answers
//! for the test CA and every registration asks it about a certificate it has not seen
//! (and the root's responder about the test CA, once per answer's nextUpdate);
//! with `--warm` too, a first unmeasured pass of previews fills the gateway's OCSP cache.
//!
//! `cargo build --release --bins && target/release/kyso-load --registrations 4000 --concurrency 8 --key ec [--rate 1000] [--close] [--revocation ocsp [--warm]] [--database-url URL [--instances N]] [--workers N] [--gateway-cpus LIST] [--client-cpus LIST] [--url URL… --pki DIR [--first N]]`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a measuring tool

use kyso_certs::keys::KeyKind;
use kyso_tests::citizens::Citizens;
use kyso_tests::cluster::Cluster;
use kyso_tests::floor::SignatureFloor;
use kyso_tests::keep_alive::Connection;
use kyso_tests::processes::{GatewayOptions, ORIGIN, gateway_for, metric};
use kyso_tests::revocation::{OcspResponder, ResponderOptions, RootSources};
use kyso_tests::tcp_floor::TcpFloor;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: kyso-load [--registrations N] [--concurrency C] [--rate R] [--close] [--key rsa|ec] [--revocation off|ocsp] [--warm] [--database-url URL] [--instances N] [--workers N] [--gateway-cpus LIST] [--client-cpus LIST] [--url URL]… [--pki DIR] [--first N]";

/// Ends the run on a bad command line: the reason and the usage on stderr, exit status 2.
fn usage_error(reason: &str) -> ! {
    eprintln!("kyso-load: {reason}\n{USAGE}");
    std::process::exit(2)
}

/// A number argument, or [`usage_error`] naming the flag.
fn number<T: std::str::FromStr>(text: &str, flag: &str) -> T {
    text.parse()
        .unwrap_or_else(|_| usage_error(&format!("{flag}: not a number: {text}")))
}

struct Args {
    registrations: usize,
    concurrency: usize,
    rate: Option<f64>,
    close: bool,
    key: KeyKind,
    ocsp: bool,
    warm: bool,
    database_url: Option<String>,
    instances: usize,
    workers: Option<usize>,
    gateway_cpus: Option<String>,
    client_cpus: Option<String>,
    urls: Vec<String>,
    pki: Option<PathBuf>,
    first: usize,
}

fn args() -> Args {
    let mut a = Args {
        registrations: 500,
        concurrency: 4,
        rate: None,
        close: false,
        key: KeyKind::EcP256,
        ocsp: false,
        warm: false,
        database_url: None,
        instances: 1,
        workers: None,
        gateway_cpus: None,
        client_cpus: None,
        urls: Vec::new(),
        pki: None,
        first: 0,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let mut value = || {
            argv.next()
                .unwrap_or_else(|| usage_error(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--warm" => a.warm = true,
            "--close" => a.close = true,
            "--revocation" => {
                a.ocsp = match value().as_str() {
                    "ocsp" => true,
                    "off" => false,
                    other => usage_error(&format!("--revocation ocsp|off, not {other}")),
                }
            }
            "--registrations" => a.registrations = number(&value(), "--registrations N"),
            "--concurrency" => a.concurrency = number(&value(), "--concurrency C"),
            "--rate" => a.rate = Some(number(&value(), "--rate R")),
            "--key" => {
                a.key = match value().as_str() {
                    "rsa" => KeyKind::Rsa2048,
                    "ec" => KeyKind::EcP256,
                    other => usage_error(&format!("--key rsa|ec, not {other}")),
                }
            }
            "--database-url" => a.database_url = Some(value()),
            "--instances" => a.instances = number(&value(), "--instances N"),
            "--workers" => a.workers = Some(number(&value(), "--workers N")),
            "--gateway-cpus" => a.gateway_cpus = Some(value()),
            "--client-cpus" => a.client_cpus = Some(value()),
            "--url" => a.urls.push(value()),
            "--pki" => a.pki = Some(value().into()),
            "--first" => a.first = number(&value(), "--first N"),
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => usage_error(&format!("unknown argument {other}")),
        }
    }
    if a.instances != 1 && a.database_url.is_none() {
        usage_error("--instances needs a shared --database-url");
    }
    if !a.urls.is_empty() && a.workers.is_some() {
        usage_error("--workers applies to gateways kyso-load starts, not to --url");
    }
    if !a.urls.is_empty() && a.gateway_cpus.is_some() {
        usage_error("--gateway-cpus applies to gateways kyso-load starts, not to --url");
    }
    if !a.urls.is_empty() && a.pki.is_none() {
        usage_error("--url needs --pki DIR, the PKI the gateways trust");
    }
    a
}

/// Pins every thread of process `pid` to `cpus` (threads it starts later inherit it).
fn pin(pid: u32, cpus: &str) {
    let out = std::process::Command::new("taskset")
        .args(["--all-tasks", "--cpu-list", "--pid", cpus, &pid.to_string()])
        .output()
        .expect("taskset (util-linux) runs");
    assert!(
        out.status.success(),
        "taskset --cpu-list {cpus} {pid}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The distinct `Cpus_allowed_list` of the threads of process `pid`.
fn allowed_cpus(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| v.trim().to_owned())
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A field of `/proc/PID/status`, in KiB.
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

/// User plus system CPU time of `pid` so far (`/proc/PID/stat` fields 14 and 15, in
/// clock ticks of 1/100 s, Linux's USER_HZ).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; count fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// The floor of one registration in this run: citizen 0's token on a fresh nonce.
fn floor_of(citizens: &Citizens) -> Duration {
    let issuer = std::fs::read(
        citizens
            .pki
            .join(&citizens.manifest.ca("vnpt").unwrap().cert),
    )
    .unwrap();
    let issuer = pem::parse(&issuer).map_or(issuer, |p| p.into_contents());
    let nonce = "q2Zlx1BNyvE4ZC0Yb0Q2dPbu7zj6M0m3X9j1kUyGZ+8=";
    let token = citizens.signer.token(&citizens.certs[0], ORIGIN, nonce);
    SignatureFloor::of(&token, ORIGIN, nonce, &issuer).measure(41, 100)
}

/// The servers' CPU (as `cpu` reads it) per round of three `exchange`s, `rounds` rounds
/// shared by `concurrency` clients each on one keep-alive connection, closed loop;
/// `None` if an exchange failed or the CPU time could not be read.
fn rounds_of(
    exchange: fn(&mut Connection) -> bool,
    urls: &Arc<Vec<String>>,
    concurrency: usize,
    rounds: usize,
    cpu: impl Fn() -> Option<Duration>,
) -> Option<Duration> {
    let before = cpu()?;
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..concurrency)
        .map(|w| {
            let (urls, next, failed) = (urls.clone(), next.clone(), failed.clone());
            std::thread::spawn(move || {
                let mut connection = Connection::new(&urls[w % urls.len()]);
                while next.fetch_add(1, Ordering::Relaxed) < rounds {
                    for _ in 0..3 {
                        if !exchange(&mut connection) {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let after = cpu()?;
    (failed.load(Ordering::Relaxed) == 0 && rounds > 0)
        .then(|| (after - before) / u32::try_from(rounds).unwrap())
}

/// A registration's plumbing: one `POST /v1/challenges`, through every layer a
/// registration's requests pass, with no verification and no write.
fn challenge(connection: &mut Connection) -> bool {
    connection
        .post(
            "/v1/challenges",
            &serde_json::json!({ "purpose": "register" }),
        )
        .is_ok_and(|r| r.status == 201)
}

/// Bare HTTP: one `GET /healthz`, through the edge and the outer layers only, no body
/// either way but the answer's few bytes — near the least an exchange costs the gateway.
fn health(connection: &mut Connection) -> bool {
    connection.get("/healthz").is_ok_and(|r| r.status == 200)
}

fn main() {
    let a = args();
    let started = Instant::now();
    let citizens = Citizens::issue_at(a.pki.as_deref(), a.registrations, a.key, a.first);
    eprintln!(
        "issued {} certificates ({}) in {:.1?}",
        citizens.certs.len(),
        a.key.name(),
        started.elapsed()
    );
    let floor = floor_of(&citizens);
    let (dir, pki_dir, manifest) = (
        citizens.dir.path().to_owned(),
        citizens.pki.clone(),
        citizens.manifest.clone(),
    );
    let (pki_dir, manifest) = (&pki_dir, &manifest);

    // VNPT's responder for the citizens' certificates, the root's for the VNPT CA.
    let responder = (a.ocsp && a.urls.is_empty()).then(|| {
        let options = ResponderOptions::of_ca(pki_dir, manifest, "vnpt");
        (
            OcspResponder::start(pki_dir, manifest, "vnpt", &options),
            RootSources::start(pki_dir, manifest),
        )
    });
    let options = GatewayOptions {
        rate_per_minute: 100_000_000,
        rate_burst: 10_000_000,
        policy: match &responder {
            Some(_) => "revocation = \"ocsp\"\n".into(),
            None => "revocation = \"off\"\n".into(),
        },
        extra: match &responder {
            Some((vnpt, root)) => format!(
                "[[revocation.issuers]]\ncertificate = {:?}\nocsp_url = {:?}\n{}",
                pki_dir.join("ca/vnpt/cert.pem").display().to_string(),
                vnpt.url,
                root.issuer_entry()
            ),
            None => String::new(),
        } + &a.workers.map_or_else(String::new, |n| {
            format!("[runtime]\nworker_threads = {n}\n")
        }),
        database_url: a.database_url.clone(),
        ..GatewayOptions::default()
    };
    let cluster = match (&a.database_url, a.urls.is_empty()) {
        (_, false) => None,
        (Some(url), true) => Some(Cluster::start_with(
            pki_dir,
            manifest,
            url,
            &options,
            a.instances,
        )),
        (None, true) => Some(Cluster::one(gateway_for(pki_dir, manifest, &dir, &options))),
    };
    let urls = Arc::new(
        cluster
            .as_ref()
            .map_or_else(|| a.urls.clone(), Cluster::urls),
    );
    if a.warm {
        // Every gateway: each keeps its own cache of OCSP answers.
        let t = Instant::now();
        for url in urls.iter() {
            for i in 0..citizens.certs.len() {
                if let Err(e) = citizens.ticket(url, i) {
                    panic!("warm-up preview at {url}: {e:?}");
                }
            }
        }
        eprintln!(
            "warmed the OCSP caches of {} gateways with {} previews each in {:.1?}",
            urls.len(),
            citizens.certs.len(),
            t.elapsed()
        );
    }
    let pids: Vec<u32> = cluster
        .as_ref()
        .map(|c| (0..c.urls().len()).filter_map(|i| c.pid(i)).collect())
        .unwrap_or_default();
    for (who, cpus, pids) in [
        ("gateway", &a.gateway_cpus, pids.clone()),
        ("client", &a.client_cpus, vec![std::process::id()]),
    ] {
        if let Some(cpus) = cpus {
            let mut allowed = std::collections::BTreeSet::new();
            for pid in pids {
                pin(pid, cpus);
                allowed.extend(allowed_cpus(pid));
            }
            // Read back from the kernel, not echoed from the argument.
            let allowed: Vec<_> = allowed.into_iter().collect();
            println!(
                "{who} threads run on CPUs (Cpus_allowed_list): {}",
                allowed.join(" | ")
            );
        }
    }
    let cpu_before: Option<Duration> = pids.iter().map(|&p| cpu_time(p)).sum();

    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(a.registrations)));
    let failures = Arc::new(AtomicUsize::new(0));
    let citizens = Arc::new(citizens);
    let t0 = Instant::now();
    let workers: Vec<_> = (0..a.concurrency)
        .map(|w| {
            let (urls, next, latencies, failures, citizens) = (
                urls.clone(),
                next.clone(),
                latencies.clone(),
                failures.clone(),
                citizens.clone(),
            );
            let (rate, close) = (a.rate, a.close);
            std::thread::spawn(move || {
                let url = &urls[w % urls.len()];
                let mut connection = Connection::new(url);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= citizens.certs.len() {
                        break;
                    }
                    let start = match rate {
                        Some(r) => {
                            let due = t0 + Duration::from_secs_f64(i as f64 / r);
                            std::thread::sleep(due.saturating_duration_since(Instant::now()));
                            due
                        }
                        None => Instant::now(),
                    };
                    let result = if close {
                        citizens.register(url, i)
                    } else {
                        citizens.register_over(&mut |path, body| connection.post(path, body), i)
                    };
                    match result {
                        Ok(_) => latencies.lock().unwrap().push(start.elapsed()),
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
    let cpu_after: Option<Duration> = pids.iter().map(|&p| cpu_time(p)).sum();
    // Read before the plumbing pass, whose challenges stay in memory until they expire.
    let peak_rss = pids
        .iter()
        .map(|&p| peak_rss_kib(p).map_or("?".into(), |k| (k / 1024).to_string()))
        .collect::<Vec<_>>()
        .join(" / ");
    let gateways_cpu = || pids.iter().map(|&p| cpu_time(p)).sum::<Option<Duration>>();
    let passes = (!pids.is_empty()).then(|| {
        let plumbing = rounds_of(
            challenge,
            &urls,
            a.concurrency,
            a.registrations,
            gateways_cpu,
        );
        let bare_http = rounds_of(health, &urls, a.concurrency, a.registrations, gateways_cpu);
        let tcp = TcpFloor::start().expect("the TCP floor server");
        let tcp_urls = Arc::new(vec![tcp.url.clone()]);
        let tcp_floor = rounds_of(health, &tcp_urls, a.concurrency, a.registrations, || {
            Some(tcp.cpu())
        });
        (plumbing, bare_http, tcp_floor)
    });
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    let done = l.len();
    let load = match a.rate {
        Some(r) => format!(
            "open loop at {r:.0}/s offered by up to {} clients",
            a.concurrency
        ),
        None => format!("closed loop, {} clients", a.concurrency),
    };
    println!(
        "{done} registrations ({} keys, revocation {}, {} on {}, {load}, {}): {:.1?} wall, {:.0} registrations/s; latency p50 {:.1?} p90 {:.1?} p99 {:.1?}; {} failed",
        a.key.name(),
        match (a.ocsp, a.warm) {
            (false, _) => "off",
            (true, false) => "OCSP, fresh answers",
            (true, true) => "OCSP, cached answers",
        },
        match urls.len() {
            1 => "1 gateway".to_owned(),
            n => format!("{n} gateways"),
        },
        if a.database_url.is_some() {
            "PostgreSQL"
        } else if a.urls.is_empty() {
            "SQLite"
        } else {
            "the database they were started with"
        },
        if a.close {
            "a connection per request"
        } else {
            "keep-alive"
        },
        wall,
        done as f64 / wall.as_secs_f64(),
        percentile(&l, 0.5),
        percentile(&l, 0.9),
        percentile(&l, 0.99),
        failures.load(Ordering::Relaxed),
    );
    println!(
        "request threads (kyso_runtime_worker_threads in /metrics): {}",
        urls.iter()
            .map(|u| metric(u, "kyso_runtime_worker_threads").unwrap_or_else(|| "?".into()))
            .collect::<Vec<_>>()
            .join(" / ")
    );
    let counter = |name| -> f64 {
        urls.iter()
            .filter_map(|u| metric(u, name)?.parse::<f64>().ok())
            .sum()
    };
    let commits = counter("kyso_store_group_commits_total");
    if commits > 0.0 {
        let jobs = counter("kyso_store_group_commit_jobs_total");
        println!(
            "SQLite group commit: {jobs:.0} writes in {commits:.0} commits, {:.1} a commit",
            jobs / commits
        );
    }
    println!(
        "floor (one registration's two signatures, aws-lc-rs): {:.1} µs",
        floor.as_secs_f64() * 1e6
    );
    if let (Some(before), Some(after), true) = (cpu_before, cpu_after, done > 0 && !pids.is_empty())
    {
        let per = (after - before) / u32::try_from(done).unwrap();
        println!(
            "gateway CPU (user+sys): {:.2} s, {:.0} µs per registration = {:.1}× the floor",
            (after - before).as_secs_f64(),
            per.as_secs_f64() * 1e6,
            per.as_secs_f64() / floor.as_secs_f64()
        );
        let (plumbing, bare_http, tcp_floor) = passes.unwrap_or_default();
        if let Some(round) = plumbing {
            println!(
                "plumbing (3 × POST /v1/challenges, keep-alive, closed loop): {:.0} µs of gateway CPU per round = {:.1}× the floor",
                round.as_secs_f64() * 1e6,
                round.as_secs_f64() / floor.as_secs_f64()
            );
        }
        if let Some(round) = bare_http {
            println!(
                "bare HTTP (3 × GET /healthz, keep-alive, closed loop): {:.0} µs of gateway CPU per round = {:.1}× the floor",
                round.as_secs_f64() * 1e6,
                round.as_secs_f64() / floor.as_secs_f64()
            );
        }
        if let Some(round) = tcp_floor {
            println!(
                "TCP floor (3 × GET /healthz to a blocking thread that answers without parsing): {:.0} µs of its CPU per round = {:.1}× the floor",
                round.as_secs_f64() * 1e6,
                round.as_secs_f64() / floor.as_secs_f64()
            );
        }
        println!("gateway peak RSS (registrations): {peak_rss} MiB");
    }
}
