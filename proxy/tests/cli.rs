//! The `unlink-proxy` binary: start-up refusals, `--help`, the `audit` subcommand, log
//! formats, and a clean stop on SIGTERM.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use unlink_proxy::audit::{AuditLog, Entry};

const BIN: &str = env!("CARGO_BIN_EXE_unlink-proxy");
const LIVE_KEY: &str = "live_sk_k33pth1ssecretplease";

fn proxy() -> Command {
    let mut command = Command::new(BIN);
    command
        .env_remove("MONO_SEC_KEY")
        .env_remove("MONO_WEBHOOK_SECRET")
        .env_remove("UNLINK_AUTHORIZE_URL")
        .env("RUST_LOG", "info");
    command
}

fn run(command: &mut Command) -> (bool, String, String) {
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

#[test]
fn help_documents_every_flag_and_its_variable() {
    let (ok, help, _) = run(proxy().arg("--help"));
    assert!(ok);
    for flag in [
        "--listen",
        "--prefix",
        "--secret-key-file",
        "--mono-base-url",
        "--mono-api",
        "--allowed-origin",
        "--authorize-url",
        "--static-dir",
        "--audit-db",
        "--fake-mono",
        "--fake-mono-fault",
        "--webhook-secret-file",
        "--rate-limit-per-minute",
        "--log-format",
        "MONO_SEC_KEY",
        "UNLINK_AUTHORIZE_URL",
        "audit",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn a_public_key_is_refused_without_being_echoed() {
    let (ok, stdout, stderr) = run(proxy().env("MONO_SEC_KEY", "live_pk_notasecretkey123"));
    assert!(!ok);
    assert!(
        stderr.contains("must start with test_sk_ or live_sk_"),
        "{stderr}"
    );
    assert!(!stderr.contains("notasecretkey123") && !stdout.contains("notasecretkey123"));
}

#[test]
fn a_real_key_without_an_authoriser_is_refused() {
    let (ok, stdout, stderr) = run(proxy().env("MONO_SEC_KEY", LIVE_KEY));
    assert!(!ok);
    assert!(
        stderr.contains("refusing to start: set --authorize-url"),
        "{stderr}"
    );
    assert!(!stderr.contains("k33pth1s") && !stdout.contains("k33pth1s"));
}

#[test]
fn the_key_is_given_once() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, format!("{LIVE_KEY}\n")).unwrap();
    let (ok, _, stderr) = run(proxy()
        .env("MONO_SEC_KEY", LIVE_KEY)
        .arg("--secret-key-file")
        .arg(&file));
    assert!(!ok);
    assert!(stderr.contains("give the Mono secret key once"), "{stderr}");
}

#[test]
fn a_corrupt_audit_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("audit.sqlite3");
    let garbage = "not a database ".repeat(100);
    std::fs::write(&db, &garbage).unwrap();
    let (ok, _, stderr) = run(proxy()
        .arg("--audit-db")
        .arg(&db)
        .arg("--listen")
        .arg("127.0.0.1:0"));
    assert!(!ok);
    assert!(stderr.contains("is not an SQLite database"), "{stderr}");
    assert!(!stderr.contains("panicked"));
    assert_eq!(
        std::fs::read_to_string(&db).unwrap(),
        garbage,
        "left as it was"
    );
}

#[test]
fn bad_flag_values_are_explained() {
    for (flag, value, expected) in [
        (
            "--allowed-origin",
            "https://a.example/path",
            "is not an origin",
        ),
        ("--prefix", "api", "must be a path like /api/mono"),
        ("--fake-mono-fault", "*=teapot", "unknown fault"),
        ("--mono-api", "v3", "possible values: v2, v1"),
    ] {
        let (ok, _, stderr) = run(proxy().arg(flag).arg(value));
        assert!(!ok, "{flag} {value}");
        assert!(stderr.contains(expected), "{flag} {value}: {stderr}");
    }
}

/// Starts the proxy in demo mode and returns it with the URL it printed.
fn start_demo(db: &Path, static_dir: &Path, extra: &[&str]) -> (Child, String) {
    let mut child = proxy()
        .args(["--listen", "127.0.0.1:0", "--fake-mono"])
        .arg("--audit-db")
        .arg(db)
        .arg("--static-dir")
        .arg(static_dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
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
    (child, url)
}

fn static_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><title>t</title>",
    )
    .unwrap();
    dir
}

#[test]
fn demo_mode_says_so_and_logs_json() {
    let dir = tempfile::tempdir().unwrap();
    let files = static_dir();
    let (child, url) = start_demo(
        &dir.path().join("a.sqlite3"),
        files.path(),
        &["--log-format", "json"],
    );
    assert!(url.starts_with("http://127.0.0.1:"));
    kill(&child, "TERM");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    assert!(lines.iter().any(|l| {
        l["fields"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("FAKE MONO")
    }));
}

#[test]
fn sigterm_lets_an_unlink_in_flight_finish_and_land_in_the_audit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite3");
    let files = static_dir();
    let (mut child, url) = start_demo(&db, files.path(), &["--fake-mono-fault", "*=latency:1000"]);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let status = runtime.block_on(async {
        let request = tokio::spawn(
            reqwest::Client::new()
                .post(format!(
                    "{url}/api/mono/accounts/60770aa8c5878a2af69ed849/unlink"
                ))
                .header("idempotency-key", "k")
                .send(),
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        kill(&child, "TERM");
        request.await.unwrap().unwrap().status().as_u16()
    });
    assert_eq!(status, 200);
    assert!(child.wait().unwrap().success());

    // The row is on disk, and the audit subcommand prints it.
    let (ok, stdout, stderr) = run(proxy()
        .arg("audit")
        .arg("--audit-db")
        .arg(&db)
        .args(["--account", "60770aa8c5878a2af69ed849"]));
    assert!(ok, "{stderr}");
    let row: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(row["outcome"], "unlinked");
    assert_eq!(row["principal"], "demo-user");
}

fn kill(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn audit_prints_json_lines_filtered_by_account_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.sqlite3");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let log = AuditLog::open(&db).unwrap();
        for (account, outcome) in [
            ("acc-1", "unlinked"),
            ("acc-2", "forbidden"),
            ("acc-1", "already_unlinked"),
        ] {
            log.record(Entry {
                kind: "unlink".into(),
                account_id: Some(account.into()),
                outcome: outcome.into(),
                ..Entry::default()
            })
            .await
            .unwrap();
        }
    });
    let audit = |args: &[&str]| {
        let (ok, stdout, stderr) = run(proxy().arg("audit").arg("--audit-db").arg(&db).args(args));
        assert!(ok, "{stderr}");
        stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["outcome"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(audit(&[]), ["unlinked", "forbidden", "already_unlinked"]);
    assert_eq!(
        audit(&["--account", "acc-1"]),
        ["unlinked", "already_unlinked"]
    );
    assert_eq!(audit(&["--since", "1h"]).len(), 3);
    assert!(audit(&["--since", "2999-01-01T00:00:00Z"]).is_empty());

    let (ok, _, stderr) = run(proxy().args(["audit", "--since", "last tuesday"]));
    assert!(!ok);
    assert!(stderr.contains("neither an RFC 3339 time"), "{stderr}");
}
