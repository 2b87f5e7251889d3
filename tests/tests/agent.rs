//! The signing agent's refusals over HTTP, as the registration page meets them: a token
//! that is not plugged in, a certificate the token does not hold, a person who cancels
//! the PIN dialog, and a PIN dialog that cannot run — and the dialog's happy path. The
//! PIN dialog is a pinentry speaking the Assuan protocol, as GnuPG's do; here a script
//! that answers as a person pressing OK or Cancel would.

use kyso_tests::Fixtures;
use kyso_tests::processes::{ORIGIN, Reply, Running, post, start_logging};
use serde_json::json;
use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const NONCE: &str = "q2Zlx1BNyvE4ZC0Yb0Q2dPbu7zj6M0m3X9j1kUyGZ+8=";

/// `kyso-shim serve` over the fixtures' tokens with `args` after the listen address and
/// the allowed origin, and no PIN in the environment.
fn serve(f: &Fixtures, args: &[&OsStr]) -> Command {
    let mut cmd = f.with_tokens(kyso_tests::bin("kyso-shim"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--allow-origin", ORIGIN])
        .args(args)
        .env("KYSO_LOG", "warn")
        .env_remove("KYSO_SHIM_PIN")
        .env_remove("KYSO_SHIM_UNATTENDED");
    cmd
}

/// The agent over the fixtures' tokens, asking for PINs with `pinentry`.
fn agent_with_pinentry(f: &Fixtures, pinentry: &Path) -> Running {
    let cmd = serve(f, &["--pinentry".as_ref(), pinentry.as_os_str()]);
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

/// A pinentry in `dir` that types `pin` and leaves a line in the file it names (the
/// second value) for every dialog it shows.
fn counting_pinentry(dir: &Path, pin: &str) -> (PathBuf, PathBuf) {
    let asked = dir.join("asked");
    let typed = pinentry(
        dir,
        "ok",
        &format!("\"$(echo dialog >> {asked:?})D {pin}\" OK"),
    );
    (typed, asked)
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

    // The person types the PIN into the dialog; each dialog leaves a line in `asked`.
    let (typed, asked) = counting_pinentry(dir.path(), &t.user_pin);
    let dialogs = || {
        std::fs::read_to_string(&asked)
            .unwrap_or_default()
            .lines()
            .count()
    };
    let agent = agent_with_pinentry(&f, &typed);
    let r = authenticate(&agent, &ours);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["format"], "web-eid:1.0");
    assert_eq!(dialogs(), 1);
    // What cannot be signed is refused before the dialog: no PIN asked, none of the
    // token's tries at stake.
    let r = authenticate(&agent, "NO-SUCH-TOKEN:01");
    assert_eq!((r.status, r.code()), (404, "TOKEN_NOT_PRESENT"), "{r:?}");
    let r = authenticate(&agent, &format!("{}:ffee", t.serial));
    assert_eq!((r.status, r.code()), (404, "NO_CERTIFICATE"), "{r:?}");
    for malformed in ["zz", ""] {
        let r = authenticate(&agent, &format!("{}:{malformed}", t.serial));
        assert_eq!((r.status, r.code()), (400, "BAD_REQUEST"), "{r:?}");
    }
    assert_eq!(
        dialogs(),
        1,
        "a PIN was asked for a signature that could not be made"
    );
    // The id as `/v1/certificates` lists it, in either case.
    let r = authenticate(&agent, &format!("{}:{}", t.serial, t.key_id.to_uppercase()));
    assert_eq!(r.status, 200, "{r:?}");
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

/// A PIN no person types (a file, `KYSO_SHIM_PIN`) lets any program on the computer sign
/// in as the token's holder: `serve` refuses it unless told `--unattended`. And what the
/// command line names comes first: with `--pinentry`, the dialog is asked even when the
/// variable holds a PIN. An allowed origin spelled otherwise than browsers send it stops
/// the agent starting.
#[test]
fn the_agent_signs_unattended_only_when_told_so_and_its_flags_beat_the_environment() {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    let t = &f.tokens.tokens[0];
    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, &t.user_pin).unwrap();
    let refused = |mut cmd: Command| {
        let out = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("--unattended"), "{err}");
    };
    refused(serve(&f, &["--pin-file".as_ref(), pin_file.as_os_str()]));
    // An allowed origin no browser would send (here with a trailing slash) would refuse
    // its page for ever: the agent does not start with it.
    let typed = pinentry(dir.path(), "ok", &format!("'D {}' OK", t.user_pin));
    let out = serve(
        &f,
        &[
            "--pinentry".as_ref(),
            typed.as_os_str(),
            "--allow-origin".as_ref(),
            "https://dichvucong.test/".as_ref(),
        ],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("\"https://dichvucong.test/\"") && err.contains("trailing slash"),
        "{err}"
    );
    let mut with_variable = serve(&f, &[]);
    with_variable.env("KYSO_SHIM_PIN", &t.user_pin);
    refused(with_variable);
    let mut told = serve(&f, &["--pin-file".as_ref(), pin_file.as_os_str()]);
    told.env("KYSO_SHIM_UNATTENDED", "true");
    let agent = start_logging(told, "kyso-shim listening on ", None);
    let ours = format!("{}:{}", t.serial, t.key_id);
    assert_eq!(authenticate(&agent, &ours).status, 200);
    drop(agent);

    let cancel = pinentry(
        dir.path(),
        "cancel",
        "'ERR 83886179 Operation cancelled <Pinentry>'",
    );
    let mut both = serve(&f, &["--pinentry".as_ref(), cancel.as_os_str()]);
    both.env("KYSO_SHIM_PIN", &t.user_pin);
    let agent = start_logging(both, "kyso-shim listening on ", None);
    let r = authenticate(&agent, &ours);
    assert_eq!((r.status, r.code()), (409, "USER_CANCELLED"), "{r:?}");
}

/// An agent with no way to ask a person — started without a terminal (by the desktop
/// session, a service manager) and without `--pinentry` — refuses to start, rather than
/// answer every sign-in as if the person had cancelled. A PIN file it cannot read is the
/// agent's own failure (`TOKEN_ERROR`), its path kept from the page. And an agent told to
/// listen on another loopback address answers requests made to that address.
#[test]
fn an_agent_that_cannot_ask_for_a_pin_says_so_and_answers_on_its_own_address() {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    // `setsid`: no controlling terminal, whatever the test runner has.
    let mut detached = f.with_tokens(Command::new("setsid"));
    detached
        .arg(kyso_tests::bin_dir().join("kyso-shim"))
        .args(["serve", "--listen", "127.0.0.1:0", "--allow-origin", ORIGIN])
        .env("KYSO_LOG", "warn")
        .env_remove("KYSO_SHIM_PIN")
        .env_remove("KYSO_SHIM_UNATTENDED")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = detached.spawn().unwrap();
    let mut exited = None;
    for _ in 0..600 {
        exited = child.try_wait().unwrap();
        if exited.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let Some(status) = exited else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the agent served with no way to ask for a PIN");
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains("--pinentry"), "{err}");

    let missing = dir.path().join("no-such-pin-file");
    let agent = kyso_tests::processes::agent(&f, &missing);
    let t = &f.tokens.tokens[0];
    let r = authenticate(&agent, &format!("{}:{}", t.serial, t.key_id));
    assert_eq!((r.status, r.code()), (503, "TOKEN_ERROR"), "{r:?}");
    assert!(
        !r.json.to_string().contains("no-such-pin-file"),
        "the agent's file path reached the page: {r:?}"
    );
    drop(agent);

    let pin_file = dir.path().join("pin");
    std::fs::write(&pin_file, &t.user_pin).unwrap();
    let mut elsewhere = f.with_tokens(kyso_tests::bin("kyso-shim"));
    elsewhere
        .args(["serve", "--listen", "127.0.0.2:0", "--allow-origin", ORIGIN])
        .arg("--pin-file")
        .arg(&pin_file)
        .arg("--unattended")
        .env("KYSO_LOG", "warn")
        .env_remove("KYSO_SHIM_PIN");
    let agent = start_logging(elsewhere, "kyso-shim listening on ", None);
    assert!(agent.url.starts_with("http://127.0.0.2:"), "{}", agent.url);
    let r = kyso_tests::processes::request(
        "GET",
        &format!("{}/v1/status", agent.url),
        &[("Origin", ORIGIN)],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
}

/// One PIN dialog at a time, even when the browser that asked hangs up while its dialog
/// is open: the next request waits for the first dialog to end instead of opening a
/// second one beside it (which would also log in and out of the same token under it).
#[test]
fn a_browser_that_hangs_up_mid_dialog_does_not_let_a_second_dialog_open() {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    let t = &f.tokens.tokens[0];
    let ours = format!("{}:{}", t.serial, t.key_id);
    // A person who takes two seconds to type; a second dialog open at the same time
    // leaves a mark.
    let open = dir.path().join("open");
    let overlap = dir.path().join("overlap");
    let slow = pinentry(
        dir.path(),
        "slow",
        &format!(
            "\"$(mkdir {open:?} 2>/dev/null || touch {overlap:?}; sleep 2; rmdir {open:?} 2>/dev/null)D {}\" OK",
            t.user_pin
        ),
    );
    let agent = agent_with_pinentry(&f, &slow);
    let address = agent.url.strip_prefix("http://").unwrap().to_owned();
    let body = json!({ "challenge_nonce": NONCE, "certificate_id": ours }).to_string();
    let mut first = std::net::TcpStream::connect(&address).unwrap();
    write!(
        first,
        "POST /v1/authenticate HTTP/1.1\r\nHost: {address}\r\nOrigin: {ORIGIN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // The first dialog is open; its browser goes away.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !open.exists() {
        assert!(std::time::Instant::now() < deadline, "no dialog opened");
        std::thread::sleep(Duration::from_millis(20));
    }
    first.shutdown(std::net::Shutdown::Both).unwrap();
    drop(first);
    std::thread::sleep(Duration::from_millis(200));
    let r = authenticate(&agent, &ours);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        !overlap.exists(),
        "a second PIN dialog opened beside the first"
    );
}

/// Stopping the agent while a PIN dialog is open closes the dialog at once — its request
/// is answered `USER_CANCELLED` — and ends the agent within its grace, instead of
/// waiting for the dialog (two minutes, or for ever at a terminal) and then signing for
/// a page that is gone.
#[test]
fn stopping_the_agent_closes_an_open_pin_dialog_and_ends() {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    let t = &f.tokens.tokens[0];
    let ours = format!("{}:{}", t.serial, t.key_id);
    // A person who never types: the dialog writes its pid, then waits a minute.
    let pid_file = dir.path().join("dialog-pid");
    let waiting = pinentry(
        dir.path(),
        "waiting",
        &format!("\"$(echo $$ > {pid_file:?}; sleep 60)D {}\" OK", t.user_pin),
    );
    let mut agent = agent_with_pinentry(&f, &waiting);
    let address = agent.url.strip_prefix("http://").unwrap().to_owned();
    let body = json!({ "challenge_nonce": NONCE, "certificate_id": ours }).to_string();
    let mut asking = std::net::TcpStream::connect(&address).unwrap();
    write!(
        asking,
        "POST /v1/authenticate HTTP/1.1\r\nHost: {address}\r\nOrigin: {ORIGIN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !pid_file.exists() {
        assert!(std::time::Instant::now() < deadline, "no dialog opened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-TERM", &agent.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The dialog is closed at the signal: its request is answered as cancelled, within
    // the grace, and the agent ends.
    asking
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut answer = String::new();
    let _ = std::io::Read::read_to_string(&mut asking, &mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 409") && answer.contains("USER_CANCELLED"),
        "{answer}"
    );
    let ended = agent.exited_within(Duration::from_secs(15));
    assert!(ended.is_some(), "the agent waited for the dialog");
    // The dialog's program was stopped with it (its shell, at least: the sleep is a
    // child of the dialog, which was asked for the PIN and is gone).
    let dialog = std::fs::read_to_string(&pid_file).unwrap();
    let dialog = dialog.trim();
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        !Path::new(&format!("/proc/{dialog}")).exists()
            || std::fs::read_to_string(format!("/proc/{dialog}/stat"))
                .is_ok_and(|s| s.contains(") Z "))
    });
    assert!(gone, "the dialog {dialog} was left open");
}

/// Loopback is open to every user of the computer, and a program can send any Origin:
/// one of another user (here `nobody`, asking for the allowed portal) is refused — no
/// dialog, nothing signed, and the refusal readable by the allowed page (whose person may
/// find another user's agent on the port) — while the agent's own user is served. Runs
/// the client as `nobody` with `setpriv`, so the suite runs as root (as CI does).
#[test]
fn a_program_of_another_user_is_refused_whatever_origin_it_sends() {
    let f = Fixtures::shared();
    let dir = tempfile::tempdir().unwrap();
    let t = &f.tokens.tokens[0];
    let ours = format!("{}:{}", t.serial, t.key_id);
    let (typed, asked) = counting_pinentry(dir.path(), &t.user_pin);
    let agent = agent_with_pinentry(&f, &typed);
    let client = "import json, sys, urllib.request, urllib.error\n\
        url, body, origin = sys.argv[1:4]\n\
        req = urllib.request.Request(url + '/v1/authenticate', data=body.encode(), \
        headers={'Origin': origin, 'Content-Type': 'application/json'})\n\
        try:\n    urllib.request.urlopen(req, timeout=60)\n    print('{}')\n\
        except urllib.error.HTTPError as e:\n    \
        print(json.dumps({'problem': json.loads(e.read()), \
        'cors': e.headers.get('Access-Control-Allow-Origin')}))\n";
    let body = json!({ "challenge_nonce": NONCE, "certificate_id": ours }).to_string();
    let out = Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
        .args(["/usr/bin/python3", "-c", client, &agent.url, &body, ORIGIN])
        .output()
        .expect("setpriv (util-linux) runs the client as another user; the suite runs as root");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let problem = &answer["problem"];
    kyso_tests::codes::note(problem);
    assert_eq!(
        (problem["status"].as_u64(), problem["code"].as_str()),
        (Some(403), Some("CALLER_NOT_ALLOWED")),
        "{answer}"
    );
    assert_eq!(answer["cors"], ORIGIN, "the page can read why");
    assert!(
        !asked.exists(),
        "a PIN was asked for another user's program"
    );
    let r = authenticate(&agent, &ours);
    assert_eq!(r.status, 200, "{r:?}");
}
