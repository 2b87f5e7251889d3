//! Helpers for kyso's end-to-end tests: locating the built binaries and making the test
//! PKI plus SoftHSM tokens once per build, shared by every test process.
//!
//! The tests run the real programs (`kyso-fixtures`, `kyso-shim`, …) as processes. The
//! binaries must be built first (`cargo build --workspace --bins`, which the README's test
//! command does); a missing binary fails the test with that instruction.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod citizens;
pub mod cluster;
pub mod codes;
pub mod floor;
pub mod keep_alive;
pub mod mssp;
pub mod postgres;
pub mod processes;
pub mod revocation;
pub mod signer;
pub mod tcp_floor;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

pub use kyso_certs::Manifest;
pub use kyso_fixtures::TokensFile;

/// The folder holding this build's binaries (`target/<profile>`).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test binary>, or target/<profile>/<tool>
    let dir = exe.parent().expect("exe dir");
    if dir.ends_with("deps") {
        dir.parent().expect("target dir").to_owned()
    } else {
        dir.to_owned()
    }
}

/// A command for one of the workspace's binaries.
pub fn bin(name: &str) -> Command {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` before the tests",
        path.display()
    );
    Command::new(path)
}

/// Runs a command and returns its output, failing the test with stderr if it could not start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// The generated PKI and provisioned tokens for this build.
pub struct Fixtures {
    /// Output of `kyso-certs generate`.
    pub pki: PathBuf,
    /// Output of `kyso-fixtures provision`.
    pub tokens_dir: PathBuf,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The parsed `tokens.json`.
    pub tokens: TokensFile,
    /// Held while the test uses the tokens: SoftHSM's file store is not safe for several
    /// processes at once (a failed login in one makes `C_GetTokenInfo` fail in another),
    /// so tests take turns with the tokens, whatever runs them.
    _token_lock: File,
    /// Held shared while the fixtures are in use, so they are never made again under a
    /// running test.
    _in_use: File,
}

/// Fixtures older than this are made again, so validity periods and CRLs stay fresh.
const MAX_AGE: Duration = Duration::from_secs(6 * 3600);

impl Fixtures {
    /// Makes the fixtures once (under a file lock, as test processes run in parallel) and
    /// reuses them while they are fresh; holds the SoftHSM tokens for this test.
    pub fn shared() -> Fixtures {
        Self::make(true)
    }

    /// The same fixtures for a test that never touches the SoftHSM tokens (SIM and
    /// revocation tests), so it runs beside the token tests instead of after them.
    pub fn shared_pki() -> Fixtures {
        Self::make(false)
    }

    fn make(with_tokens: bool) -> Fixtures {
        let root = bin_dir().join("kyso-test-fixtures");
        std::fs::create_dir_all(&root).unwrap();
        let lock = File::create(root.join(".lock")).unwrap();
        lock.lock().unwrap();
        let done = root.join(".complete");
        // Fresh: young, and made by the generators of this build (a rebuilt generator may
        // make different fixtures).
        let made_by = |name: &str| {
            std::fs::metadata(bin_dir().join(name))
                .and_then(|m| m.modified())
                .ok()
        };
        let fresh = std::fs::metadata(&done)
            .and_then(|m| m.modified())
            .is_ok_and(|t| {
                SystemTime::now().duration_since(t).unwrap_or_default() < MAX_AGE
                    && ["kyso-certs", "kyso-fixtures"]
                        .iter()
                        .all(|name| made_by(name).is_some_and(|built| built <= t))
            });
        let pki = root.join("pki");
        let tokens_dir = root.join("tokens");
        let in_use = File::create(root.join(".in-use")).unwrap();
        // Stale fixtures are made again only when no test is using them; otherwise they
        // serve this run once more (their certificates stay valid well past MAX_AGE).
        // Never waiting here keeps a test that holds fixtures from deadlocking with one
        // that wants to remake them.
        let remake = !fresh && (!done.exists() || in_use.try_lock().is_ok());
        if remake {
            let _ = std::fs::remove_file(&done);
            let _ = std::fs::remove_dir_all(&pki);
            let _ = std::fs::remove_dir_all(&tokens_dir);
            let out = run(bin("kyso-certs").args(["generate", "--out"]).arg(&pki));
            assert!(
                out.status.success(),
                "kyso-certs: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let out = run(bin("kyso-fixtures")
                .args(["provision", "--pki"])
                .arg(&pki)
                .arg("--out")
                .arg(&tokens_dir));
            assert!(
                out.status.success(),
                "kyso-fixtures: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            File::create(&done).unwrap();
            in_use.unlock().unwrap();
        }
        in_use.lock_shared().unwrap();
        lock.unlock().unwrap();
        let token_lock = File::create(root.join(".tokens-in-use")).unwrap();
        if with_tokens {
            token_lock.lock().unwrap();
        }
        Fixtures {
            _token_lock: token_lock,
            _in_use: in_use,
            manifest: Manifest::load(&pki).unwrap(),
            tokens: TokensFile::load(&tokens_dir).unwrap(),
            pki,
            tokens_dir,
        }
    }

    /// A command that sees these tokens (`SOFTHSM2_CONF` set).
    pub fn with_tokens(&self, mut cmd: Command) -> Command {
        cmd.env("SOFTHSM2_CONF", &self.tokens.softhsm2_conf);
        cmd
    }

    /// DER of a PEM file under the PKI or token folder.
    pub fn pem_file(path: &Path) -> Vec<u8> {
        let text = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        pem::parse(text).unwrap().into_contents()
    }
}
