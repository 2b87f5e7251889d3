//! `kyso-load`, the tool docs/performance.md's figures come from, still measures what it
//! says: a small closed-loop and open-loop run on a gateway it starts completes every
//! registration and reports throughput, percentiles, the floor and the gateway's CPU per
//! registration as a multiple of it, with the plumbing and bare-HTTP passes, on as many
//! request threads and on the cores asked.

use kyso_tests::{bin, run};

fn load(args: &[&str]) -> String {
    let out = run(bin("kyso-load").args(args));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kyso-load {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The number before `label` on the line that has it.
fn figure(report: &str, label: &str) -> f64 {
    let at = report
        .find(label)
        .unwrap_or_else(|| panic!("no {label:?} in {report}"));
    report[..at]
        .split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no figure before {label:?} in {report}"))
}

#[test]
fn closed_and_open_loop_runs_report_every_figure() {
    // Enough registrations that the gateway's CPU spans several of the kernel's 10 ms
    // ticks, so the ratio to the floor is a measurement, not a rounding.
    let closed = load(&["--registrations", "200", "--concurrency", "3"]);
    assert!(closed.starts_with("200 registrations"), "{closed}");
    assert!(
        closed.contains("closed loop, 3 clients, keep-alive"),
        "{closed}"
    );
    assert!(closed.contains("; 0 failed"), "{closed}");
    assert!(figure(&closed, "registrations/s") > 0.0);
    assert!(figure(&closed, "µs per registration") > 0.0);
    assert!(
        figure(&closed, "× the floor") > 1.0,
        "the gateway does more than verify"
    );
    assert!(figure(&closed, "MiB") > 0.0);
    // The accounts (and whatever the gateway writes for itself), grouped.
    assert!(figure(&closed, "writes in") >= 200.0, "{closed}");
    assert!(figure(&closed, "a commit") >= 1.0, "{closed}");
    for pass in [
        "plumbing (3 × POST /v1/challenges",
        "bare HTTP (3 × GET /healthz",
    ] {
        let line = closed
            .lines()
            .find(|l| l.starts_with(pass))
            .unwrap_or_else(|| panic!("no {pass:?} line in {closed}"));
        // The passes' rounds may cost the gateway less than the kernel's 10 ms CPU tick.
        assert!(figure(line, "µs of gateway CPU per round") >= 0.0, "{line}");
    }

    let open = load(&[
        "--registrations",
        "20",
        "--concurrency",
        "4",
        "--rate",
        "40",
        "--close",
        "--workers",
        "1",
        "--gateway-cpus",
        "0",
        "--client-cpus",
        "0",
    ]);
    // The gateway's own /metrics, not the tool's argument, says how many it runs on.
    assert!(
        open.contains("request threads (kyso_runtime_worker_threads in /metrics): 1\n"),
        "{open}"
    );
    // Every thread of both, as the kernel reports it.
    for who in ["gateway", "client"] {
        assert!(
            open.contains(&format!(
                "{who} threads run on CPUs (Cpus_allowed_list): 0\n"
            )),
            "{open}"
        );
    }
    assert!(
        open.contains("open loop at 40/s offered by up to 4 clients"),
        "{open}"
    );
    assert!(open.contains("a connection per request"), "{open}");
    assert!(open.contains("; 0 failed"), "{open}");
    // The schedule holds the rate: the last of twenty starts 19/40 s after the first, so
    // no more than 20 / 0.475 registrations a second can complete.
    let rate = figure(&open, "registrations/s");
    assert!(rate > 0.0 && rate <= 42.2, "{open}");
}

#[test]
fn a_bad_command_line_is_a_usage_error_not_a_panic() {
    let help = run(bin("kyso-load").arg("--help"));
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).starts_with("usage: kyso-load"));
    for args in [
        &["--registrations", "many"][..],
        &["--key", "dsa"],
        &["--concurrency"],
        &["--frobnicate"],
        &["--instances", "3"],
    ] {
        let out = run(bin("kyso-load").args(args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("kyso-load: "), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: kyso-load"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
