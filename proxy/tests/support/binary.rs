//! Running the `unlink-proxy` binary from tests: a clean environment, its output, the demo.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Output, Stdio},
};

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
