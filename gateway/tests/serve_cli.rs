//! `kyso-gateway serve` refuses a bad configuration with a message naming the setting and
//! a non-zero exit, before listening.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use std::process::Command;

fn serve(config: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kyso.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kyso-gateway"))
        .args(["serve", "--config"])
        .arg(&path)
        .env(
            "KYSO_DATABASE_URL",
            format!("\"sqlite://{}\"", dir.path().join("db").display()),
        )
        .output()
        .unwrap();
    assert!(out.stdout.is_empty(), "it must not start listening");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_configurations_name_their_setting() {
    let pki = crate::common::Pki::generate();
    let root = format!("{:?}", pki.path(&pki.manifest.trust_anchors[0]));
    let untrusted = format!(
        "{:?}",
        pki.path(&pki.manifest.ca("untrusted").unwrap().cert)
    );
    let base = format!(
        "listen = \"127.0.0.1:0\"\npublic_origin = \"https://dichvucong.test\"\n[trust]\nanchors = [{root}]\n"
    );

    let (code, err) = serve(&format!("{base}[policy]\nrevocation = \"soft-fail\"\n"));
    assert_eq!(code, Some(2));
    assert!(
        err.contains("policy.revocation") && err.contains("ocsp-crl"),
        "{err}"
    );
    let (code, err) = serve(&format!(
        "{base}[policy]\nrevocation_unavailable = \"open\"\n"
    ));
    assert_eq!(code, Some(2));
    assert!(err.contains("policy.revocation_unavailable"), "{err}");
    let (code, err) = serve(&format!(
        "{base}[policy]\nrevocation = \"off\"\n[runtime]\nworker_threads = 0\n"
    ));
    assert_eq!(code, Some(2));
    assert!(
        err.contains("runtime.worker_threads") && err.contains("1 to 1024"),
        "{err}"
    );
    // A CRL aged out within the refresh margin would be downloaded every minute.
    let (code, err) = serve(&format!("{base}[revocation]\ncrl_max_age_seconds = 3600\n"));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("revocation.crl_max_age_seconds"), "{err}");
    for timeout in [0, 15_001, i64::MAX] {
        let (code, err) = serve(&format!("{base}[revocation]\ntimeout_ms = {timeout}\n"));
        assert_eq!(code, Some(2), "{timeout}: {err}");
        assert!(err.contains("revocation.timeout_ms"), "{err}");
    }
    let with_untrusted = base.replace(
        "[trust]",
        &format!("[trust]\nintermediates = [{untrusted}]"),
    );
    let (code, err) = serve(&format!("{with_untrusted}[policy]\nrevocation = \"off\"\n"));
    assert_eq!(code, Some(2));
    assert!(
        err.contains(&format!(
            "trust.intermediates: {}: intermediate #1",
            untrusted.trim_matches('"')
        )),
        "{err}"
    );
    let (code, err) = serve(&format!(
        "{base}[policy]\nrevocation = \"off\"\n[limits]\nbody_bytes = \"big\"\n"
    ));
    assert_eq!(code, Some(2));
    assert!(err.contains("body_bytes"), "{err}");
    for (setting, value) in [
        ("min_rsa_bits", 1024),
        ("min_rsa_bits", 8193),
        ("max_intermediates", 9),
    ] {
        let (code, err) = serve(&format!(
            "{base}[policy]\nrevocation = \"off\"\n{setting} = {value}\n"
        ));
        assert_eq!(code, Some(2), "{setting} = {value}: {err}");
        assert!(err.contains(&format!("policy.{setting}")), "{err}");
    }
    let (code, err) = serve(&format!(
        "{base}[policy]\nrevocation = \"off\"\n[limits]\nmax_connections_per_client = 0\n"
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("limits.max_connections_per_client"), "{err}");
    // A configured CA below policy.min_rsa_bits would fail every registration through
    // it: the gateway does not start, naming the file (the root is RSA-4096, VNPT's CA
    // RSA-2048).
    let vnpt = format!("{:?}", pki.path(&pki.manifest.ca("vnpt").unwrap().cert));
    let with_vnpt = base.replace("[trust]", &format!("[trust]\nintermediates = [{vnpt}]"));
    let (code, err) = serve(&format!(
        "{with_vnpt}[policy]\nrevocation = \"off\"\nmin_rsa_bits = 3072\n"
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "trust.intermediates: {}: intermediate #1",
            vnpt.trim_matches('"')
        )) && err.contains("RSA-2048")
            && err.contains("WEAK_CA_KEY"),
        "{err}"
    );
    let (code, err) = serve(&format!(
        "{base}[policy]\nrevocation = \"off\"\nmin_rsa_bits = 8192\n"
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains(&format!(
            "trust.anchors: {}: trust anchor #1",
            root.trim_matches('"')
        )) && err.contains("RSA-4096"),
        "{err}"
    );
    let missing = base.replace(&root, "\"/nonexistent/root.pem\"");
    let (code, err) = serve(&format!("{missing}[policy]\nrevocation = \"off\"\n"));
    assert_eq!(code, Some(2));
    assert!(
        err.contains("trust.anchors: /nonexistent/root.pem"),
        "{err}"
    );
}

/// `dir/kyso.toml`: a gateway on a free port with a fresh SQLite file, revocation off.
fn config_in(dir: &std::path::Path, pki: &crate::common::Pki) -> std::path::PathBuf {
    let root = format!("{:?}", pki.path(&pki.manifest.trust_anchors[0]));
    let path = dir.join("kyso.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:0\"\npublic_origin = \"https://dichvucong.test\"\ndatabase_url = \"sqlite://{}\"\n[trust]\nanchors = [{root}]\n[policy]\nrevocation = \"off\"\n",
            dir.join("db").display()
        ),
    )
    .unwrap();
    path
}

/// Starts `serve` with `env` (and without the runtime's own `TOKIO_WORKER_THREADS`, which
/// would stand in for an absent `runtime.worker_threads`); returns the child and its
/// first stdout line.
fn started(config: &std::path::Path, env: &[(&str, &str)]) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_kyso-gateway"))
        .args(["serve", "--config"])
        .arg(config)
        .env_remove("TOKIO_WORKER_THREADS")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut banner = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut banner)
        .unwrap();
    (child, banner)
}

/// Variables that name no setting — another kyso program's, a typo — do not stop the
/// gateway: each is named in a warning, and the gateway serves.
#[test]
fn foreign_and_unknown_variables_are_ignored_with_a_warning() {
    let pki = crate::common::Pki::generate();
    let dir = tempfile::tempdir().unwrap();
    let (mut child, banner) = started(
        &config_in(dir.path(), &pki),
        &[
            ("KYSO_SHIM_PIN", "12345678"),
            ("KYSO_DEMO_PORT", "8081"),
            ("KYSO_NOT_A_SETTING", "1"),
            ("KYSO_LOG", "warn"),
        ],
    );
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        banner.starts_with("kyso-gateway listening on "),
        "{banner}{stderr}"
    );
    assert!(stderr.contains("KYSO_NOT_A_SETTING"), "{stderr}");
    assert!(
        !stderr.contains("KYSO_SHIM_PIN"),
        "another program's variable, not ours to judge"
    );
    assert!(!stderr.contains("12345678"), "a PIN is never logged");
}

/// The `kyso_runtime_worker_threads` of the gateway whose banner is `banner`.
fn worker_threads_metric(banner: &str) -> String {
    let url = banner
        .trim()
        .strip_prefix("kyso-gateway listening on ")
        .unwrap_or_else(|| panic!("{banner}"));
    kyso_tests::processes::metric(url, "kyso_runtime_worker_threads")
        .unwrap_or_else(|| panic!("no kyso_runtime_worker_threads from {url}"))
}

/// `runtime.worker_threads` sets how many threads run requests, from the file or a
/// `KYSO_RUNTIME__WORKER_THREADS` variable, and `/metrics` shows the number in effect;
/// unset (and no `TOKIO_WORKER_THREADS`), it is one per core.
#[test]
fn the_configured_request_threads_are_the_ones_that_run() {
    let pki = crate::common::Pki::generate();
    let cores = std::thread::available_parallelism().unwrap().get();
    let other = cores + 1;
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki);
    let (mut child, banner) = started(&config, &[("KYSO_LOG", "warn")]);
    let default = worker_threads_metric(&banner);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(default, cores.to_string());

    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path(), &pki);
    let (mut child, banner) = started(
        &config,
        &[
            ("KYSO_LOG", "warn"),
            ("KYSO_RUNTIME__WORKER_THREADS", &other.to_string()),
        ],
    );
    let set = worker_threads_metric(&banner);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(set, other.to_string());

    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[runtime]\nworker_threads = 1\n");
    std::fs::write(&config, text).unwrap();
    let (mut child, banner) = started(&config, &[("KYSO_LOG", "warn")]);
    let one = worker_threads_metric(&banner);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(one, "1");
}

/// A configuration naming an SQLite file in a fresh directory (the file not created), and
/// a way to run `kyso-gateway` commands with it: exit code, stdout, stderr.
struct AuditCli {
    dir: tempfile::TempDir,
    _pki: crate::common::Pki,
}

impl AuditCli {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::common::Pki::generate();
        let root = format!("{:?}", pki.path(&pki.manifest.trust_anchors[0]));
        std::fs::write(
            dir.path().join("kyso.toml"),
            format!(
                "public_origin = \"https://dichvucong.test\"\ndatabase_url = \"sqlite://{}\"\n[trust]\nanchors = [{root}]\n",
                dir.path().join("kyso.db").display()
            ),
        )
        .unwrap();
        Self { dir, _pki: pki }
    }

    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("kyso.db")
    }

    fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_kyso-gateway"))
            .args(args)
            .arg("--config")
            .arg(self.dir.path().join("kyso.toml"))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// `audit verify` and `audit export` read an existing database and never create one: a
/// mistyped path is an error, not an empty chain called intact. `verify` names the first
/// broken row and exits 1.
#[test]
fn the_audit_commands_never_create_a_database_and_verify_names_a_broken_row() {
    let cli = AuditCli::new();
    let db = cli.db();
    let gateway = |args: &[&str]| cli.run(args);
    for command in [["audit", "verify"], ["audit", "export"]] {
        let (code, _, err) = gateway(&command);
        assert_eq!(code, Some(2), "{command:?}: {err}");
        assert!(err.contains("there is no database at"), "{err}");
        assert!(!db.exists(), "{command:?} created the database");
    }
    assert_eq!(gateway(&["migrate"]).0, Some(0));
    assert_eq!(
        gateway(&["audit", "verify"]),
        (
            Some(0),
            "audit chain intact: 0 rows\n".into(),
            String::new()
        )
    );
    assert_eq!(
        gateway(&["audit", "export"]),
        (Some(0), String::new(), String::new())
    );
    // A row whose hash does not match (inserted behind the gateway's back): `verify`
    // names it and exits 1; `export` still writes it out for the inspector.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "INSERT INTO audit_log (seq, at, event, account_id, details, prev_hash, hash) \
             VALUES (1, 0, 'account.created', NULL, '{}', '', 'forged')",
            [],
        )
        .unwrap();
    assert_eq!(
        gateway(&["audit", "verify"]),
        (
            Some(1),
            "the audit chain is broken at row 1\n".into(),
            String::new()
        )
    );
    let (code, exported, _) = gateway(&["audit", "export"]);
    assert_eq!(code, Some(0));
    let row: serde_json::Value = serde_json::from_str(exported.trim()).unwrap();
    assert_eq!(
        (row["seq"].as_i64(), row["hash"].as_str()),
        (Some(1), Some("forged"))
    );
}

/// `audit verify` prints the chain's head for the operator to keep, and `--anchor` holds
/// the chain to a kept head: cutting the last row and moving the database's own head
/// record back passes every check inside the database, but not the kept head.
#[test]
fn audit_verify_prints_the_head_and_a_kept_head_shows_rows_cut_from_the_end() {
    let cli = AuditCli::new();
    let db = cli.db();
    let gateway = |args: &[&str]| cli.run(args);
    assert_eq!(gateway(&["migrate"]).0, Some(0));
    // Two rows appended as a gateway of the build before the head record appended them:
    // linked, with nothing said of the head, which the database moves itself.
    let sqlite = rusqlite::Connection::open(&db).unwrap();
    let mut hashes = vec![String::new()];
    for seq in 1..=2_i64 {
        let prev = hashes.last().unwrap().clone();
        let hash = kyso_gateway::domain::audit_hash(&prev, seq, seq, "account.created", None, "{}");
        sqlite
            .execute(
                "INSERT INTO audit_log (seq, at, event, account_id, details, prev_hash, hash) \
                 VALUES (?1, ?1, 'account.created', NULL, '{}', ?2, ?3)",
                (seq, &prev, &hash),
            )
            .unwrap();
        hashes.push(hash);
    }
    let head: (i64, String) = sqlite
        .query_row("SELECT seq, hash FROM audit_head", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(head, (2, hashes[2].clone()), "the database moved the head");
    let (first, last) = (format!("1:{}", hashes[1]), format!("2:{}", hashes[2]));
    assert_eq!(
        gateway(&["audit", "verify"]),
        (
            Some(0),
            format!("audit chain intact: 2 rows, head {last}\n"),
            String::new()
        )
    );
    for kept in [&first, &last] {
        assert_eq!(gateway(&["audit", "verify", "--anchor", kept]).0, Some(0));
    }
    for malformed in ["2", "x:abc", "0:", &format!("2:{}", &hashes[2][1..])] {
        let (code, _, err) = gateway(&["audit", "verify", "--anchor", malformed]);
        assert_eq!(code, Some(2), "{malformed}");
        assert!(err.contains("--anchor"), "{err}");
    }

    sqlite
        .execute_batch(&format!(
            "DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq = 2; \
             UPDATE audit_head SET seq = 1, hash = '{}' WHERE id = 0;",
            hashes[1]
        ))
        .unwrap();
    assert_eq!(
        gateway(&["audit", "verify"]),
        (
            Some(0),
            format!("audit chain intact: 1 rows, head {first}\n"),
            String::new()
        )
    );
    assert_eq!(
        gateway(&["audit", "verify", "--anchor", &last]),
        (
            Some(1),
            "the audit chain does not pass through the recorded row 2\n".into(),
            String::new()
        )
    );
}

/// The audit commands read a database a gateway may be serving from, so they never change
/// its schema: one older than this build is refused (exit 2, naming `migrate`), and left
/// as it was.
#[test]
fn the_audit_commands_never_migrate_a_database() {
    let cli = AuditCli::new();
    let db = cli.db();
    let gateway = |args: &[&str]| cli.run(args);
    assert_eq!(gateway(&["migrate"]).0, Some(0));
    let sqlite = rusqlite::Connection::open(&db).unwrap();
    let applied = || -> i64 {
        sqlite
            .query_row("SELECT COUNT(*) FROM _sqlx_migrations", [], |r| r.get(0))
            .unwrap()
    };
    // As if the newest migration had not been applied yet.
    sqlite
        .execute_batch(
            "DELETE FROM _sqlx_migrations WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
        )
        .unwrap();
    let before = applied();
    for command in [["audit", "verify"], ["audit", "export"]] {
        let (code, _, err) = gateway(&command);
        assert_eq!(code, Some(2), "{command:?}: {err}");
        assert!(err.contains("migrate"), "{command:?}: {err}");
        assert_eq!(applied(), before, "{command:?} changed the schema");
    }
}

/// A `TOKIO_WORKER_THREADS` the runtime cannot use is a usage error naming it, not a
/// panic.
#[test]
fn an_unusable_tokio_worker_threads_is_a_usage_error() {
    for value in ["0", "two", "100000"] {
        let out = Command::new(env!("CARGO_BIN_EXE_kyso-gateway"))
            .arg("openapi")
            .env("TOKIO_WORKER_THREADS", value)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{value}: {err}");
        assert!(err.contains("TOKIO_WORKER_THREADS"), "{err}");
    }
}

/// A relative SQLite path is relative to the configuration file, like every path in it:
/// `migrate` run from elsewhere works on the gateway's database, not a new one there.
#[test]
fn a_relative_database_path_is_found_beside_the_configuration_wherever_the_command_runs() {
    let pki = crate::common::Pki::generate();
    let (home, elsewhere) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let root = format!("{:?}", pki.path(&pki.manifest.trust_anchors[0]));
    std::fs::write(
        home.path().join("kyso.toml"),
        format!(
            "public_origin = \"https://dichvucong.test\"\ndatabase_url = \"sqlite://kyso.db\"\n[trust]\nanchors = [{root}]\n"
        ),
    )
    .unwrap();
    // `migrate` with the configuration in `home`, run from `elsewhere`.
    let migrate_from_elsewhere = || {
        Command::new(env!("CARGO_BIN_EXE_kyso-gateway"))
            .args(["migrate", "--config"])
            .arg(home.path().join("kyso.toml"))
            .current_dir(elsewhere.path())
            .output()
            .unwrap()
    };
    let out = migrate_from_elsewhere();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(home.path().join("kyso.db").exists());
    assert!(!elsewhere.path().join("kyso.db").exists());

    // A database left where earlier builds read it (the working directory) is not
    // silently replaced by a new, empty one beside the configuration: refused, naming both.
    std::fs::rename(
        home.path().join("kyso.db"),
        elsewhere.path().join("kyso.db"),
    )
    .unwrap();
    let out = migrate_from_elsewhere();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("database_url") && err.contains("working directory"),
        "{err}"
    );
    assert!(!home.path().join("kyso.db").exists());
}

/// A PEM file may hold several certificates (a bundle of roots, a chain): where a
/// setting takes several, every one is read, never silently the first; where it takes
/// one (an issuer, the certificate to check), a bundle is refused, naming the count.
#[test]
fn certificate_bundles_are_read_whole_and_refused_where_one_certificate_is_meant() {
    use kyso_gateway::startup::{read_certificate, read_certificates};
    let pki = crate::common::Pki::generate();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.pem");
    let mut text = String::new();
    for file in pki
        .manifest
        .trust_anchors
        .iter()
        .chain(&pki.manifest.intermediates)
        .take(2)
    {
        text.push_str(&std::fs::read_to_string(pki.path(file)).unwrap());
    }
    std::fs::write(&bundle, text).unwrap();
    let read = read_certificates(std::slice::from_ref(&bundle), "trust.anchors").unwrap();
    assert_eq!(read.len(), 2);
    assert_ne!(read[0], read[1]);
    let e = read_certificate(&bundle, "revocation.issuers[0].certificate")
        .unwrap_err()
        .to_string();
    assert!(e.contains("holds 2 certificates"), "{e}");
}

/// A certificate at fault in a bundle is named by the file it came from, not by the
/// position of a file in the list.
#[test]
fn a_bad_certificate_in_a_bundle_is_named_by_its_file() {
    let pki = crate::common::Pki::generate();
    let dir = tempfile::tempdir().unwrap();
    let root = pki.path(&pki.manifest.trust_anchors[0]);
    let person = pki.path(&pki.manifest.persons[0].cert);
    let bundle = dir.path().join("roots-and-a-person.pem");
    std::fs::write(
        &bundle,
        std::fs::read_to_string(&root).unwrap() + &std::fs::read_to_string(&person).unwrap(),
    )
    .unwrap();
    let (code, err) = serve(&format!(
        "listen = \"127.0.0.1:0\"\npublic_origin = \"https://dichvucong.test\"\n\
         [trust]\nanchors = [{bundle:?}, {root:?}]\n[policy]\nrevocation = \"off\"\n"
    ));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("roots-and-a-person.pem"), "{err}");
}
