//! Running the `unlink-proxy` binary from tests: a clean environment, its output, the demo.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Output, Stdio},
};

/// The sandbox key replicas in the tests use; the standalone fake Mono accepts any.
pub const REPLICA_KEY: &str = "test_sk_replicasharedfake01";

/// The binary cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_unlink-proxy");

/// The binary with a clean environment, apart from the origin of the partner's pages, which
/// every real deployment names.
pub fn proxy() -> Command {
    let mut command = Command::new(BIN);
    command
        .env("UNLINK_PUBLIC_ORIGINS", "https://app.example")
        .env_remove("UNLINK_ALLOWED_ORIGINS")
        .env_remove("MONO_SEC_KEY")
        .env_remove("MONO_SEC_KEY_FILE")
        .env_remove("MONO_BASE_URL")
        .env_remove("MONO_WEBHOOK_SECRET")
        .env_remove("UNLINK_AUTHORIZE_URL")
        .env("RUST_LOG", "info");
    command
}

pub fn run(command: &mut Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().unwrap();
    (
        status.success(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

/// A proxy process the test started. Dropping it kills the process, so a failing test
/// leaves nothing running.
pub struct Spawned {
    pub child: Child,
    pub url: String,
}

impl Spawned {
    /// SIGTERM, then waits: whether it stopped cleanly, and what it wrote to stderr (if piped).
    pub fn stop(&mut self) -> (bool, String) {
        kill(&self.child, "TERM");
        let status = self.child.wait().unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut pipe, &mut stderr).unwrap();
        }
        (status.success(), stderr)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the proxy in demo mode and returns it with the URL it printed.
pub fn start_demo(db: &Path, static_dir: &Path, extra: &[&str]) -> Spawned {
    start_demo_logging_to(db, static_dir, extra, Stdio::piped())
}

/// [`start_demo`], with its log (stderr) going to `stderr`, e.g. a file to measure.
pub fn start_demo_logging_to(
    db: &Path,
    static_dir: &Path,
    extra: &[&str],
    stderr: impl Into<Stdio>,
) -> Spawned {
    let mut command = proxy();
    command
        .args(["--listen", "127.0.0.1:0", "--fake-mono"])
        .arg("--audit-db")
        .arg(db)
        .arg("--static-dir")
        .arg(static_dir)
        .args(extra)
        .stderr(stderr);
    start(command)
}

/// Starts a prepared demo command (with `--static-dir`, so it prints its URL) and returns
/// it with that URL. Its log goes where the command says (piped unless set).
pub fn start(mut command: Command) -> Spawned {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("Demo: ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .trim_end_matches('/')
        .to_owned();
    Spawned { child, url }
}

/// Reads lines from `stream` until one contains `marker`; returns what follows it.
pub fn wait_for_line(stream: impl std::io::Read + Send + 'static, marker: &str) -> String {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "exited before {marker:?}"
        );
        if let Some((_, rest)) = line.split_once(marker) {
            let found = rest.split_whitespace().next().unwrap_or("").to_owned();
            // Keep draining, so the process never blocks on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
            return found;
        }
    }
}

/// `unlink-proxy fake-mono` with `extra` flags.
pub fn fake_mono(extra: &[&str]) -> Spawned {
    let mut child = proxy()
        .args(["fake-mono", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = wait_for_line(child.stdout.take().unwrap(), "Fake Mono: ");
    Spawned { child, url }
}

/// A proxy replica on `database` in front of `mono`, with generous limits.
pub fn replica(database: &str, mono: &str, extra: &[&str]) -> Spawned {
    replica_limited(database, mono, 100_000, extra)
}

/// The same, with `per_user` unlinks a minute.
pub fn replica_limited(database: &str, mono: &str, per_user: u32, extra: &[&str]) -> Spawned {
    replica_with(database, mono, per_user, extra, |_| {})
}

/// The same, with the command adjusted (its environment, say) before it starts.
pub fn replica_with(
    database: &str,
    mono: &str,
    per_user: u32,
    extra: &[&str],
    adjust: impl FnOnce(&mut std::process::Command),
) -> Spawned {
    let mut command = proxy();
    adjust(&mut command);
    let mut child = command
        .env("MONO_SEC_KEY", REPLICA_KEY)
        .args(["--listen", "127.0.0.1:0", "--mono-base-url", mono])
        .args(["--authorize-url", &format!("{mono}/demo/can-unlink")])
        .args(["--database-url", database])
        .args(["--rate-limit-per-minute", &per_user.to_string()])
        .args(["--ip-rate-limit-per-minute", "100000"])
        .args(extra_or_default(extra))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let url = wait_for_line(child.stderr.take().unwrap(), "listening on ");
    Spawned { child, url }
}

/// `extra`, with the replica tests' deadline, lease and upkeep unless it sets its own.
pub fn extra_or_default<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = extra.to_vec();
    for (flag, value) in [
        ("--deadline", "4s"),
        ("--claim-lease", "5s"),
        ("--maintenance-interval", "1s"),
    ] {
        if !extra.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args
}

/// A live proxy (sandbox key `key`, a real authoriser, generous limits) on the SQLite record
/// `db`, in front of `mono`.
pub fn start_live(db: &Path, key: &str, mono: &str, authoriser: &str) -> Spawned {
    let mut child = proxy()
        .env("MONO_SEC_KEY", key)
        .args(["--listen", "127.0.0.1:0", "--mono-base-url", mono])
        .args(["--authorize-url", authoriser])
        .args([
            "--rate-limit-per-minute",
            "1000",
            "--ip-rate-limit-per-minute",
            "1000",
        ])
        .arg("--audit-db")
        .arg(db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let url = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "the proxy exited");
        if let Some(at) = line.find("listening on ") {
            break line[at + "listening on ".len()..].trim().to_owned();
        }
    };
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    Spawned { child, url }
}

pub fn static_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>t</title>",
    )
    .unwrap();
    dir
}

pub fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}
