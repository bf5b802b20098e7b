//! A fresh PostgreSQL database per test. `make test` starts one throwaway server for the
//! whole run and names it in `UNLINK_TEST_DATABASE_URL`; a plain `cargo test` starts one
//! itself (`scripts/pg.sh`), once per test binary, and a watchdog stops and deletes it when
//! the binary exits, however it exits.

use std::{path::Path, process::Command, sync::OnceLock};

/// Debian's PostgreSQL 15, which `scripts/setup.sh` installs.
const INITDB: &str = "/usr/lib/postgresql/15/bin/initdb";

/// The server's admin URL: `UNLINK_TEST_DATABASE_URL`, or a throwaway server of this
/// process's own.
pub fn server_url() -> String {
    if let Ok(url) = std::env::var("UNLINK_TEST_DATABASE_URL") {
        return url;
    }
    static STARTED: OnceLock<String> = OnceLock::new();
    STARTED.get_or_init(start_throwaway).clone()
}

fn start_throwaway() -> String {
    assert!(
        Path::new(INITDB).exists(),
        "PostgreSQL 15 is not installed, and these tests need a real server. Run `make test`, \
         which installs it (scripts/setup.sh), or set UNLINK_TEST_DATABASE_URL to a superuser \
         URL of a server of yours."
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg.sh");
    // Under the system's temporary folder: the server runs as `postgres` when we are root,
    // and must be able to reach its data directory.
    let dir = std::env::temp_dir().join(format!("unlink-test-pg-{}", std::process::id()));
    let started = Command::new(&script)
        .arg("start")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "scripts/pg.sh start failed: {}",
        String::from_utf8_lossy(&started.stderr)
    );
    // In a session of its own (`setsid -f` forks it off and returns), so a Ctrl-C of the
    // tests does not stop it before it cleans up.
    let watchdog = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \"$0\" destroy \"$1\"",
        pid = std::process::id()
    );
    let forked = Command::new("setsid")
        .args(["-f", "sh", "-c", &watchdog])
        .arg(&script)
        .arg(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("setsid (util-linux) starts the watchdog");
    assert!(forked.success(), "the watchdog did not start");
    String::from_utf8(started.stdout).unwrap().trim().to_owned()
}

/// Creates an empty database and returns its URL.
pub async fn fresh_database() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static MADE: AtomicU32 = AtomicU32::new(0);
    let server = tokio::task::spawn_blocking(server_url).await.unwrap();
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        MADE.fetch_add(1, Ordering::Relaxed),
        unlink_proxy::time::now_ms()
    );
    let (client, connection) = tokio_postgres::connect(&server, tokio_postgres::NoTls)
        .await
        .expect("the test PostgreSQL server answers");
    let connection = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    drop(client);
    let _ = connection.await;
    let mut url = url::Url::parse(&server).unwrap();
    url.set_path(&format!("/{name}"));
    url.to_string()
}
