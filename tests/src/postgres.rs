//! PostgreSQL for the tests: a database of its own per test on a running server, and, for
//! the tests that restart PostgreSQL or put pgbouncer in front of it, a server or a
//! pgbouncer of their own that nothing else uses.
//!
//! The shared server is `KYSO_TEST_POSTGRES` (an admin URL; default
//! `postgres://postgres@127.0.0.1:5432/test`, the local server with trust auth). Every
//! test creates `kyso_t_<random>` there and drops it when done, so runs never collide.
//! `psql` does the administration, so the tests need no database driver of their own.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The admin URL of the server tests create their databases on.
pub fn admin_url() -> String {
    std::env::var("KYSO_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Runs SQL through psql against `url`; the output, or the error psql printed.
pub fn psql(url: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args([
            url,
            "-X",
            "-q",
            "-t",
            "-A",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Replaces the database of a `postgres://…/db?params` URL.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (server, _) = base
        .rsplit_once('/')
        .expect("a postgres URL names a database");
    match query {
        Some(q) => format!("{server}/{database}?{q}"),
        None => format!("{server}/{database}"),
    }
}

fn random_name() -> String {
    let mut bytes = [0u8; 8];
    aws_lc_rs::rand::fill(&mut bytes).expect("randomness");
    format!("kyso_t_{}", hex_of(&bytes))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh, empty database, dropped (connections and all) when this is.
pub struct TestDatabase {
    admin: String,
    /// Its name.
    pub name: String,
    /// A URL for it.
    pub url: String,
}

impl TestDatabase {
    /// Creates one on the server `admin` reaches.
    pub fn create_on(admin: &str) -> Self {
        let name = random_name();
        psql(admin, &format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("cannot create a test database at {admin}: {e}"));
        Self {
            admin: admin.to_owned(),
            url: with_database(admin, &name),
            name,
        }
    }

    /// Creates one on the shared test server.
    pub fn create() -> Self {
        Self::create_on(&admin_url())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// The Debian server binaries (`initdb`, `postgres`, `pg_ctl`).
fn server_bin(name: &str) -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e} (is postgresql installed?)", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    versions.sort();
    versions
        .last()
        .map(|v| v.join("bin").join(name))
        .expect("a PostgreSQL version under /usr/lib/postgresql")
}

/// `program` run as the `postgres` user when we are root (PostgreSQL refuses to run as
/// root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false)
}

fn chown_postgres(path: &Path) {
    if is_root() {
        let _ = Command::new("chown")
            .arg("postgres:postgres")
            .arg(path)
            .status();
    }
}

fn checked(what: &str, cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A URL for `database` over the Unix socket in `dir` (the socket file names the port,
/// so any number is free inside a folder of our own).
fn socket_url(dir: &Path, port: u16, database: &str) -> String {
    format!(
        "postgres://postgres@localhost/{database}?host={}&port={port}",
        dir.display()
    )
}

/// A PostgreSQL server of the test's own in a temporary folder, listening only on a Unix
/// socket there: the test may stop and start it without disturbing any other test, and
/// no TCP port can collide.
pub struct OwnServer {
    dir: tempfile::TempDir,
}

impl OwnServer {
    /// Initialises a cluster (trust auth) and starts it.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kyso-pg-")
            .tempdir()
            .expect("temp dir");
        chown_postgres(dir.path());
        checked(
            "initdb",
            as_postgres(&server_bin("initdb"))
                .arg("-D")
                .arg(dir.path().join("data"))
                .args(["-A", "trust", "-U", "postgres", "--no-sync"]),
        );
        let server = Self { dir };
        server.resume();
        server
    }

    /// A URL for `database` on it.
    pub fn url(&self, database: &str) -> String {
        socket_url(self.dir.path(), 5432, database)
    }

    /// The admin URL (`postgres` database).
    pub fn admin_url(&self) -> String {
        self.url("postgres")
    }

    /// The folder holding its socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the server (again); returns once it accepts connections.
    pub fn resume(&self) {
        let options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c port=5432 \
             -c fsync=off -c max_connections=300",
            self.dir.path().display()
        );
        checked(
            "pg_ctl start",
            as_postgres(&server_bin("pg_ctl"))
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-w", "-t", "60", "-l"])
                .arg(self.dir.path().join("server.log"))
                .args(["-o", &options, "start"]),
        );
    }

    /// Stops the server the way an operator's restart does (fast shutdown: sessions
    /// are cut, the server goes away).
    pub fn stop(&self) {
        checked(
            "pg_ctl stop",
            as_postgres(&server_bin("pg_ctl"))
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-w", "-m", "fast", "stop"]),
        );
    }
}

impl Drop for OwnServer {
    fn drop(&mut self) {
        let _ = as_postgres(&server_bin("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// pgbouncer in transaction-pooling mode in front of `server`, trusting every user,
/// listening only on a Unix socket in a folder of its own.
pub struct Pgbouncer {
    dir: tempfile::TempDir,
    process: std::process::Child,
}

impl Pgbouncer {
    /// Starts one in front of `server` with `pool_size` server connections per database.
    pub fn start(server: &OwnServer, pool_size: u32) -> Self {
        Self::start_for(
            &format!("host={} port=5432", server.socket_dir().display()),
            pool_size,
        )
    }

    /// Starts one in front of the shared test server ([`admin_url`]).
    pub fn start_shared(pool_size: u32) -> Self {
        let admin = admin_url();
        let after_at = admin.split_once('@').map_or(admin.as_str(), |(_, r)| r);
        let authority = after_at.split('/').next().unwrap_or("127.0.0.1:5432");
        let (host, port) = authority.split_once(':').unwrap_or((authority, "5432"));
        Self::start_for(&format!("host={host} port={port}"), pool_size)
    }

    /// Starts one forwarding to `upstream` (libpq `host=… port=…`).
    fn start_for(upstream: &str, pool_size: u32) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("kyso-pgbouncer-")
            .tempdir()
            .expect("temp dir");
        chown_postgres(dir.path());
        let users = dir.path().join("users.txt");
        std::fs::write(&users, "\"postgres\" \"\"\n").expect("users file");
        let ini = dir.path().join("pgbouncer.ini");
        std::fs::write(
            &ini,
            format!(
                "[databases]\n* = {upstream}\n\
                 [pgbouncer]\nlisten_addr =\nlisten_port = 6432\nunix_socket_dir = {dir}\n\
                 auth_type = trust\nauth_file = {users}\npool_mode = transaction\n\
                 default_pool_size = {pool_size}\nmax_client_conn = 1000\n",
                dir = dir.path().display(),
                users = users.display()
            ),
        )
        .expect("pgbouncer.ini");
        chown_postgres(&users);
        chown_postgres(&ini);
        let mut cmd = Command::new(which("pgbouncer"));
        if is_root() {
            cmd.args(["-u", "postgres"]);
        }
        let process = cmd
            .arg(&ini)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start pgbouncer");
        let bouncer = Self { dir, process };
        let url = bouncer.url("postgres");
        for _ in 0..1200 {
            if psql(&url, "SELECT 1").is_ok() {
                return bouncer;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("pgbouncer never accepted connections");
    }

    /// A URL for `database` through it.
    pub fn url(&self, database: &str) -> String {
        socket_url(self.dir.path(), 6432, database)
    }
}

impl Drop for Pgbouncer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn which(program: &str) -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join(program);
        if p.exists() {
            return p;
        }
    }
    panic!("{program} is not installed (scripts/install-deps.sh installs it)");
}
