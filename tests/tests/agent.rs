//! The signing agent's refusals over HTTP, as the registration page meets them: a token
//! that is not plugged in, a certificate the token does not hold, a person who cancels
//! the PIN dialog, and a PIN dialog that cannot run — and the dialog's happy path. The
//! PIN dialog is a pinentry speaking the Assuan protocol, as GnuPG's do; here a script
//! that answers as a person pressing OK or Cancel would.

use kyso_tests::Fixtures;
use kyso_tests::processes::{ORIGIN, Reply, Running, post, start_logging};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const NONCE: &str = "q2Zlx1BNyvE4ZC0Yb0Q2dPbu7zj6M0m3X9j1kUyGZ+8=";

/// The agent over the fixtures' tokens, asking for PINs with `pinentry`.
fn agent_with_pinentry(f: &Fixtures, pinentry: &Path) -> Running {
    let mut cmd = f.with_tokens(kyso_tests::bin("kyso-shim"));
    cmd.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--allow-origin",
        ORIGIN,
        "--pinentry",
    ])
    .arg(pinentry)
    .env("KYSO_LOG", "warn")
    .env_remove("KYSO_SHIM_PIN");
    start_logging(cmd, "kyso-shim listening on ", None)
}

/// A pinentry that answers `GETPIN` with `answer` (Assuan lines) and everything else OK.
fn pinentry(dir: &Path, name: &str, answer: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho 'OK Pleased to meet you'\nwhile read -r cmd rest; do\n  \
             case \"$cmd\" in\n    GETPIN) printf '%s\\n' {answer} ;;\n    BYE) echo OK; exit 0 ;;\n    \
             *) echo OK ;;\n  esac\ndone\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn authenticate(agent: &Running, certificate_id: &str) -> Reply {
    post(
        &format!("{}/v1/authenticate", agent.url),
        &[("Origin", ORIGIN)],
        &json!({ "challenge_nonce": NONCE, "certificate_id": certificate_id }),
    )
}

#[test]
fn the_agent_names_what_is_missing_and_what_the_person_did() {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    let t = &f.tokens.tokens[0];
    let ours = format!("{}:{}", t.serial, t.key_id);

    // The person types the PIN into the dialog.
    let typed = pinentry(dir.path(), "ok", &format!("'D {}' OK", t.user_pin));
    let agent = agent_with_pinentry(&f, &typed);
    let r = authenticate(&agent, &ours);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["format"], "web-eid:1.0");
    let r = authenticate(&agent, "NO-SUCH-TOKEN:01");
    assert_eq!((r.status, r.code()), (404, "TOKEN_NOT_PRESENT"), "{r:?}");
    let r = authenticate(&agent, &format!("{}:ffee", t.serial));
    assert_eq!((r.status, r.code()), (404, "NO_CERTIFICATE"), "{r:?}");
    drop(agent);

    // The person presses Cancel: nothing is signed.
    let cancel = pinentry(
        dir.path(),
        "cancel",
        "'ERR 83886179 Operation cancelled <Pinentry>'",
    );
    let agent = agent_with_pinentry(&f, &cancel);
    let r = authenticate(&agent, &ours);
    assert_eq!((r.status, r.code()), (409, "USER_CANCELLED"), "{r:?}");
    drop(agent);

    // The dialog program is not there: the agent's own failure, not the person's.
    let agent = agent_with_pinentry(&f, &dir.path().join("no-such-pinentry"));
    let r = authenticate(&agent, &ours);
    assert_eq!((r.status, r.code()), (503, "TOKEN_ERROR"), "{r:?}");
}
