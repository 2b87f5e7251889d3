//! The agent against a token that locks its PIN: SoftHSM2 wrapped by
//! `tests/pkcs11-lockout/lockout.c`, which counts wrong PINs per token and sets the
//! PKCS#11 PIN flags the way a USB token does. Shows `retries_left` on the final try,
//! `PIN_LOCKED` afterwards even for the right PIN, and that an empty PIN never costs a try.
//! The same wrapper can hold a login of its own on the token, as another session of the
//! agent would: a wrong PIN must still not sign. And an agent serving with a PIN file
//! offers a PIN the token refused only once.

use kyso_tests::processes::{Running, post, start_logging};
use kyso_tests::{Fixtures, bin, run};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

const ORIGIN: &str = "https://dichvucong.test";
const NONCE: &str = "q2Zlx1BNyvE4ZC0Yb0Q2dPbu7zj6M0m3X9j1kUyGZ+8=";

/// Builds the wrapper module into `dir` with the system C compiler.
fn build_lockout_module(dir: &Path) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("pkcs11-lockout/lockout.c");
    let out = dir.join("lockout.so");
    let status = Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror"])
        .arg("-I/usr/include/p11-kit-1")
        .arg("-o")
        .arg(&out)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("cc runs (scripts/install-deps.sh installs build-essential and libp11-kit-dev)");
    assert!(status.success(), "lockout.c builds");
    out
}

struct LockingToken<'a> {
    f: &'a Fixtures,
    module: PathBuf,
    state: PathBuf,
}

/// `kyso-shim authenticate` through the wrapper `module` on token `label` with `pin`, with
/// the wrapper's `settings` (variable, value) in its environment: the JSON it prints.
fn authenticate_through(
    f: &Fixtures,
    module: &Path,
    settings: (&str, &OsStr),
    label: &str,
    pin: &str,
) -> serde_json::Value {
    let mut cmd = f.with_tokens(bin("kyso-shim"));
    cmd.env(settings.0, settings.1)
        .env("KYSO_SHIM_PIN", pin)
        .arg("--module")
        .arg(module)
        .args([
            "authenticate",
            "--origin",
            ORIGIN,
            "--nonce",
            NONCE,
            "--token",
            label,
        ]);
    let out = run(&mut cmd);
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    // The command line is a layer people use: its refusals count as produced.
    if let Some(code) = reply["error"]["code"].as_str() {
        kyso_tests::codes::note(&serde_json::json!({
            "type": format!("urn:kyso:agent-error:{code}")
        }));
    }
    reply
}

impl<'a> LockingToken<'a> {
    /// The wrapper built into `dir`, counting into `dir/state`.
    fn in_dir(f: &'a Fixtures, dir: &Path) -> Self {
        Self {
            f,
            module: build_lockout_module(dir),
            state: dir.join("state"),
        }
    }

    /// `kyso-shim authenticate` on token `label` with `pin`: the JSON it prints.
    fn authenticate(&self, label: &str, pin: &str) -> serde_json::Value {
        let state = ("KYSO_LOCKOUT_STATE", self.state.as_os_str());
        authenticate_through(self.f, &self.module, state, label, pin)
    }

    /// Wrong tries the wrapper has counted for every token so far.
    fn counted(&self) -> Vec<String> {
        let mut counts: Vec<String> = std::fs::read_dir(&self.state)
            .map(|d| {
                d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty() && s != "0")
                    .collect()
            })
            .unwrap_or_default();
        counts.sort();
        counts
    }
}

fn code(reply: &serde_json::Value) -> &str {
    reply["error"]["code"].as_str().unwrap_or("")
}

#[test]
fn the_final_try_is_announced_then_the_pin_locks_and_an_empty_pin_costs_nothing() {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    let token = LockingToken::in_dir(&f, dir.path());
    let person = |name: &str| f.tokens.of(name).unwrap();
    let (locked, other) = (person("citizen-cccd"), person("citizen-cmnd"));

    let empty = token.authenticate(&locked.label, "");
    assert_eq!(code(&empty), "PIN_INCORRECT", "{empty}");
    assert!(
        token.counted().is_empty(),
        "an empty PIN never reached the token"
    );

    let first = token.authenticate(&locked.label, "00000000");
    assert_eq!(code(&first), "PIN_INCORRECT", "{first}");
    assert!(first["error"].get("retries_left").is_none(), "{first}");
    let second = token.authenticate(&locked.label, "00000000");
    assert_eq!(code(&second), "PIN_INCORRECT", "{second}");
    assert_eq!(
        second["error"]["retries_left"], 1,
        "the final try is announced"
    );
    let third = token.authenticate(&locked.label, "00000000");
    assert_eq!(code(&third), "PIN_LOCKED", "{third}");

    let right = token.authenticate(&locked.label, &locked.user_pin);
    assert_eq!(
        code(&right),
        "PIN_LOCKED",
        "a locked PIN stays locked: {right}"
    );
    assert!(right.get("signature").is_none());
    assert!(
        !right.to_string().contains(&locked.user_pin) && !third.to_string().contains("00000000"),
        "no PIN is echoed"
    );

    let elsewhere = token.authenticate(&other.label, &other.user_pin);
    assert!(
        elsewhere.get("signature").is_some(),
        "other tokens still sign: {elsewhere}"
    );

    // The issuer's unblock (here: forgetting the count) gives the token back.
    std::fs::remove_dir_all(&token.state).unwrap();
    let unblocked = token.authenticate(&locked.label, &locked.user_pin);
    assert!(unblocked.get("signature").is_some(), "{unblocked}");
}

#[test]
fn a_login_another_session_holds_does_not_let_a_wrong_pin_sign() {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    let module = build_lockout_module(dir.path());
    let t = f.tokens.of("citizen-cccd").unwrap();
    // The module logs a session of its own in with the right PIN first, so the agent's
    // login meets CKR_USER_ALREADY_LOGGED_IN.
    let held = ("KYSO_LOCKOUT_HELD_PIN", OsStr::new(&t.user_pin));
    let authenticate = |pin: &str| authenticate_through(&f, &module, held, &t.label, pin);
    let wrong = authenticate("00000000");
    assert_eq!(code(&wrong), "PIN_INCORRECT", "{wrong}");
    assert!(wrong.get("signature").is_none(), "{wrong}");
    let right = authenticate(&t.user_pin);
    assert!(right.get("signature").is_some(), "{right}");
}

/// `kyso-shim serve` through the wrapper `module` (counting into `state`), unattended,
/// reading its PIN from `pin_file`.
fn serve_through(f: &Fixtures, module: &Path, state: &Path, pin_file: &Path) -> Running {
    let mut cmd = f.with_tokens(bin("kyso-shim"));
    cmd.env("KYSO_LOCKOUT_STATE", state)
        .arg("--module")
        .arg(module)
        .args(["serve", "--listen", "127.0.0.1:0", "--allow-origin", ORIGIN])
        .arg("--pin-file")
        .arg(pin_file)
        .arg("--unattended")
        .env("KYSO_LOG", "warn")
        .env_remove("KYSO_SHIM_PIN");
    start_logging(cmd, "kyso-shim listening on ", None)
}

/// A wrong PIN in the agent's file is the same at every request: offered each time, it
/// would lock the token after three requests from any allowed page. The token sees it
/// once; a corrected file signs; a different wrong PIN is tried (once) again.
#[test]
fn an_unattended_pin_the_token_refused_is_not_offered_again() {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    let token = LockingToken::in_dir(&f, dir.path());
    let t = f.tokens.of("citizen-cccd").unwrap();
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, "00000000").unwrap();
    let agent = serve_through(&f, &token.module, &token.state, &pin_file);
    let sign = || {
        post(
            &format!("{}/v1/authenticate", agent.url),
            &[("Origin", ORIGIN)],
            &serde_json::json!({
                "challenge_nonce": NONCE,
                "certificate_id": format!("{}:{}", t.serial, t.key_id),
            }),
        )
    };

    let first = sign();
    assert_eq!(
        (first.status, first.code()),
        (401, "PIN_INCORRECT"),
        "{first:?}"
    );
    assert_eq!(token.counted(), ["1"], "the token saw the wrong PIN");
    for _ in 0..4 {
        let again = sign();
        assert_eq!(
            (again.status, again.code()),
            (401, "PIN_INCORRECT"),
            "{again:?}"
        );
        assert!(
            again.json["detail"]
                .as_str()
                .unwrap()
                .contains("refused this PIN before"),
            "{again:?}"
        );
    }
    assert_eq!(token.counted(), ["1"], "and only once");

    std::fs::write(&pin_file, &t.user_pin).unwrap();
    let right = sign();
    assert_eq!(right.status, 200, "a corrected file signs: {right:?}");
    assert!(token.counted().is_empty(), "the right PIN reset the count");

    std::fs::write(&pin_file, "11111111").unwrap();
    let other = sign();
    assert_eq!(
        (other.status, other.code()),
        (401, "PIN_INCORRECT"),
        "{other:?}"
    );
    assert_eq!(token.counted(), ["1"], "another wrong PIN is tried");
    assert!(
        !other.json.to_string().contains("11111111"),
        "no PIN is echoed: {other:?}"
    );
}
