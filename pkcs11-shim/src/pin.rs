//! Where the agent gets the PIN. Never from the web page: the page could be anyone's.
//!
//! - `--pin-file F`: read at every signature (so an operator or a test can change it);
//! - `--pinentry PROGRAM`: a GnuPG pinentry, spoken to over the Assuan protocol, closed
//!   after [`PIN_DIALOG_TIMEOUT`];
//! - `KYSO_SHIM_PIN`: for CI;
//! - otherwise the terminal the agent runs in.
//!
//! The PIN is never logged or echoed, and not kept after the signature: every buffer it
//! passes through here (the file's text, the dialog's answer line, the unescaped PIN) is
//! a [`Zeroizing`] one, wiped when dropped, so a crash dump or a swapped-out page taken
//! later does not hold it.

use crate::ShimError;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// A PIN as the agent holds it: wiped from memory when dropped.
pub type Pin = Zeroizing<String>;

/// Set when the agent is shutting down: an open pinentry dialog is closed (its program
/// stopped) within [`CLOSE_CHECK`], and nothing is signed after it.
static CLOSING: AtomicBool = AtomicBool::new(false);

/// How often a dialog's wait looks at [`CLOSING`].
const CLOSE_CHECK: Duration = Duration::from_millis(200);

/// Closes every open pinentry dialog, now and from now on: the agent is shutting down.
/// (A terminal prompt cannot be taken back; the process's end leaves it.)
pub fn close_dialogs() {
    CLOSING.store(true, Ordering::SeqCst);
}

/// A way to obtain the PIN. Its `Debug` never shows a fixed PIN.
#[derive(Clone)]
pub enum PinSource {
    /// A file whose first line is the PIN.
    File(PathBuf),
    /// A fixed PIN (from `KYSO_SHIM_PIN`).
    Fixed(Pin),
    /// A pinentry program.
    Pinentry(PathBuf),
    /// The controlling terminal.
    Terminal,
}

impl std::fmt::Debug for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Fixed(_) => f.write_str("Fixed(…)"),
            Self::Pinentry(program) => f.debug_tuple("Pinentry").field(program).finish(),
            Self::Terminal => f.write_str("Terminal"),
        }
    }
}

impl PinSource {
    /// Whether a person is asked for each signature (a dialog, the terminal), rather than
    /// the PIN being at hand for any caller.
    pub fn asks_a_person(&self) -> bool {
        matches!(self, Self::Pinentry(_) | Self::Terminal)
    }

    /// Whether this source can ask anyone at all: the terminal prompt needs a controlling
    /// terminal (an agent started by the desktop session or a service manager has none).
    pub fn can_ask(&self) -> bool {
        !matches!(self, Self::Terminal)
            || std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open("/dev/tty")
                .is_ok()
    }

    /// Asks for the PIN of the token `label`, for `origin`. Blocks.
    pub fn ask(&self, label: &str, origin: &str) -> Result<Pin, ShimError> {
        match self {
            // The agent's own set-up, not the request, is at fault: TOKEN_ERROR, and the
            // file's path stays in the agent's log, out of the page's sight.
            Self::File(path) => std::fs::read_to_string(path)
                .map(|text| {
                    let text = Zeroizing::new(text);
                    Zeroizing::new(text.lines().next().unwrap_or_default().to_owned())
                })
                .map_err(|e| {
                    tracing::warn!(path = %path.display(), error = %e, "the PIN file cannot be read");
                    ShimError::Token("the agent's PIN file cannot be read".into())
                }),
            Self::Fixed(pin) => Ok(pin.clone()),
            Self::Pinentry(program) => pinentry(program, label, origin),
            // No terminal to ask on is the agent's set-up, not a person who declined.
            Self::Terminal => {
                let prompt = format!("PIN of token {label:?} to sign in at {origin}: ");
                rpassword::prompt_password(prompt).map(Zeroizing::new).map_err(|e| match e.kind() {
                    // The person ended the input (Ctrl-D).
                    std::io::ErrorKind::UnexpectedEof => ShimError::UserCancelled,
                    _ => ShimError::Token(format!(
                        "no terminal to ask the PIN on ({e}); use --pinentry"
                    )),
                })
            }
        }
    }
}

/// Percent-escapes text for an Assuan command line.
fn assuan_escape(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '%' => "%25".to_owned(),
            '\n' => "%0A".to_owned(),
            '\r' => "%0D".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

/// Undoes [`assuan_escape`] (and any other `%XX`); the result is wiped when dropped, as
/// the PIN comes this way.
fn assuan_unescape(s: &str) -> Zeroizing<String> {
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let b = s.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(b.len()));
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    Zeroizing::new(String::from_utf8_lossy(&out).into_owned())
}

/// Reads `from` line by line, a byte at a time, into buffers wiped when dropped (a
/// `BufReader` would keep the PIN's line in a buffer of its own after it is freed), and
/// sends each line (without its newline) down `lines` until the end, an error, or no
/// one listening. Lines longer than [`LINE_MAX`] are cut there: Assuan's own limit.
fn send_lines(mut from: impl Read, lines: &mpsc::Sender<std::io::Result<Zeroizing<String>>>) {
    // Room for the longest line from the start: no reallocation leaves a copy behind.
    let mut line = Zeroizing::new(Vec::with_capacity(LINE_MAX));
    let text = |l: &[u8]| Zeroizing::new(String::from_utf8_lossy(l).into_owned());
    let mut byte = [0u8; 1];
    loop {
        match from.read(&mut byte) {
            Ok(0) => {
                // A last line without its newline still counts, as with `BufRead::lines`.
                if !line.is_empty() {
                    let _ = lines.send(Ok(text(&line)));
                }
                return;
            }
            Ok(_) if byte[0] == b'\n' => {
                let whole = text(&line);
                line.clear();
                if lines.send(Ok(whole)).is_err() {
                    return;
                }
            }
            Ok(_) => {
                if line.len() < LINE_MAX {
                    line.push(byte[0]);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = lines.send(Err(e));
                return;
            }
        }
    }
}

/// Longest Assuan line (the protocol's own limit, 1,000 bytes).
const LINE_MAX: usize = 1000;

/// A pinentry process, reaped however the conversation ends (a cancel, a broken pipe):
/// stopped if it has not exited, then waited for, so none is left behind as a zombie.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(Some(_))) {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

/// How long a pinentry dialog waits for the person. Then it is closed and taken as a
/// cancel: the agent signs one challenge at a time, so a dialog nobody answers must not
/// hold every later sign-in. The terminal prompt has no such deadline — a read of the
/// terminal cannot be taken back, and a second one would race it for the typed PIN — so
/// it waits for whoever started the agent at that terminal.
pub const PIN_DIALOG_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs a pinentry: `SETTIMEOUT`, `SETDESC`, `SETPROMPT`, `GETPIN`; the PIN comes back in
/// a `D` line.
fn pinentry(program: &PathBuf, label: &str, origin: &str) -> Result<Pin, ShimError> {
    pinentry_within(program, label, origin, PIN_DIALOG_TIMEOUT)
}

/// [`pinentry`], the whole conversation within `timeout` (the dialog is asked to close
/// itself then; a program that does not is stopped).
fn pinentry_within(
    program: &PathBuf,
    label: &str,
    origin: &str,
    timeout: Duration,
) -> Result<Pin, ShimError> {
    let deadline = Instant::now() + timeout;
    let failed =
        |e: std::io::Error| ShimError::Token(format!("pinentry {}: {e}", program.display()));
    let mut child = Reaped(
        Command::new(program)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(failed)?,
    );
    let (Some(mut stdin), Some(stdout)) = (child.0.stdin.take(), child.0.stdout.take()) else {
        return Err(ShimError::Token("pinentry has no pipes".into()));
    };
    // Lines are read on a thread of their own, so that waiting for one can end at the
    // deadline; the thread ends when the program does (stopped by `Reaped` at the latest).
    let (lines, read) = mpsc::channel();
    std::thread::spawn(move || send_lines(stdout, &lines));
    // Up to the next OK: the data it came with; an ERR, the end or the deadline is a
    // cancel.
    let expect_ok = || -> Result<Option<Pin>, ShimError> {
        let mut data = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match read.recv_timeout(left.min(CLOSE_CHECK)) {
                Ok(line) => line.map_err(failed)?,
                Err(mpsc::RecvTimeoutError::Timeout)
                    if !left.is_zero() && !CLOSING.load(Ordering::SeqCst) =>
                {
                    continue;
                }
                Err(_) => return Err(ShimError::UserCancelled),
            };
            if let Some(d) = line.strip_prefix("D ") {
                data = Some(assuan_unescape(d));
            } else if line.starts_with("OK") {
                return Ok(data);
            } else if line.starts_with("ERR") {
                return Err(ShimError::UserCancelled);
            }
        }
    };
    expect_ok()?;
    // Older pinentries may not know SETTIMEOUT; the deadline above holds either way.
    writeln!(stdin, "SETTIMEOUT {}", timeout.as_secs()).map_err(failed)?;
    let _ = expect_ok();
    let desc = format!("Ký số đăng nhập vào {origin}\nToken: {label}");
    for cmd in [
        format!("SETDESC {}", assuan_escape(&desc)),
        "SETPROMPT PIN:".to_owned(),
    ] {
        writeln!(stdin, "{cmd}").map_err(failed)?;
        expect_ok()?;
    }
    writeln!(stdin, "GETPIN").map_err(failed)?;
    let pin = expect_ok()?.ok_or(ShimError::UserCancelled)?;
    let _ = writeln!(stdin, "BYE");
    Ok(pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pinentry script in a fresh directory `kyso-NAME-PID` whose `GETPIN` branch is
    /// `on_getpin`, and which writes its pid to `pid` first; the directory and the script.
    fn pinentry_script(name: &str, on_getpin: &str) -> (std::path::PathBuf, PathBuf) {
        let dir = std::env::temp_dir().join(format!("kyso-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("pinentry");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\necho $$ > {}\necho 'OK ready'\nwhile read -r cmd rest; do case \"$cmd\" in GETPIN) {on_getpin};; BYE) echo OK; exit 0;; *) echo OK;; esac; done\n",
                dir.join("pid").display()
            ),
        )
        .unwrap();
        let mut perms = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&script, perms).unwrap();
        (dir, script)
    }

    /// Whether the process whose pid the script at `dir` wrote is gone (neither running
    /// nor a zombie: waited for).
    fn gone(dir: &std::path::Path) -> bool {
        let pid = std::fs::read_to_string(dir.join("pid")).unwrap();
        !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists()
    }

    #[test]
    fn a_fixed_pin_never_prints() {
        let shown = format!("{:?}", PinSource::Fixed(Zeroizing::new("20250517".into())));
        assert!(!shown.contains("20250517"), "{shown}");
        assert_eq!(
            format!("{:?}", PinSource::File("/run/pin".into())),
            "File(\"/run/pin\")"
        );
    }

    #[test]
    fn assuan_escaping_round_trips() {
        let s = "100% sure\nnext";
        assert_eq!(assuan_unescape(&assuan_escape(s)).as_str(), s);
        assert_eq!(assuan_unescape("12%2534").as_str(), "12%34");
    }

    #[test]
    fn the_dialogs_lines_are_read_whole_cut_at_the_assuan_limit() {
        let long = "D ".to_owned() + &"7".repeat(LINE_MAX + 10);
        let text = format!("OK hello\n{long}\nOK");
        let (tx, rx) = mpsc::channel();
        send_lines(std::io::Cursor::new(text), &tx);
        drop(tx);
        let got: Vec<String> = rx.iter().map(|l| l.unwrap().as_str().to_owned()).collect();
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[0], "OK hello");
        assert_eq!(got[1].len(), LINE_MAX);
        assert!(got[1].starts_with("D 777"));
        assert_eq!(got[2], "OK", "the last line, without its newline, counts");
    }

    #[test]
    fn pin_file_is_read_fresh_each_time() {
        let dir = std::env::temp_dir().join(format!("kyso-pin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pin");
        let source = PinSource::File(path.clone());
        std::fs::write(&path, "1111\n").unwrap();
        assert_eq!(source.ask("t", "o").unwrap().as_str(), "1111");
        std::fs::write(&path, "2222").unwrap();
        assert_eq!(source.ask("t", "o").unwrap().as_str(), "2222");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_pinentry_program_is_spoken_to_in_assuan() {
        let (dir, script) = pinentry_script("pinentry", "echo 'D 12%2534'; echo OK");
        assert_eq!(
            PinSource::Pinentry(script)
                .ask("t", "https://o")
                .unwrap()
                .as_str(),
            "12%34"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_cancelled_pinentry_is_reaped() {
        let (dir, script) = pinentry_script(
            "pinentry-cancel",
            "echo 'ERR 83886179 Operation cancelled'; sleep 30",
        );
        assert!(matches!(
            PinSource::Pinentry(script).ask("t", "https://o"),
            Err(ShimError::UserCancelled)
        ));
        assert!(gone(&dir), "the pinentry is still there");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A dialog nobody answers is closed at the deadline and taken as a cancel, and the
    /// program is stopped and reaped.
    #[test]
    fn an_unanswered_pinentry_is_closed_at_the_deadline() {
        let (dir, script) = pinentry_script("pinentry-idle", "exec sleep 60");
        // Time for `sh` to start and say hello on a loaded machine, and no more.
        let asked = pinentry_within(&script, "t", "https://o", Duration::from_secs(3));
        assert!(matches!(asked, Err(ShimError::UserCancelled)), "{asked:?}");
        assert!(gone(&dir), "the pinentry is still there");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
