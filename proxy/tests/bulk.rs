//! `unlink-proxy unlink`, the company side, as an operator runs it: thousands of accounts
//! against a rate-limited, sometimes failing fake Mono; killed half-way and run again;
//! interrupted; planned without calling anyone; and on PostgreSQL while two replicas serve
//! the widget for some of the same accounts. Every account must be unlinked at Mono exactly
//! once, and the report must match the record.

mod support;

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::binary::*;

/// One run at a time: each takes a fake Mono's whole rate, and the timings are part of what
/// is checked.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// `count` account ids, and a file of them, one per line.
fn accounts(dir: &Path, count: usize, prefix: &str) -> (Vec<String>, PathBuf) {
    let ids: Vec<String> = (0..count).map(|i| format!("{prefix}{i:06}")).collect();
    let file = dir.join(format!("{prefix}.txt"));
    std::fs::write(&file, ids.join("\n") + "\n").unwrap();
    (ids, file)
}

/// The standalone fake Mono knowing `file`'s accounts, with `extra` flags.
fn fake_with(file: &Path, extra: &[&str]) -> Spawned {
    let mut flags = vec!["--accounts-from", file.to_str().unwrap()];
    flags.extend(extra);
    fake_mono(&flags)
}

/// `unlink-proxy unlink` against `mono`, on the SQLite record `db`.
fn bulk(mono: &str, db: &Path, args: &[&str]) -> Command {
    let mut command = proxy();
    command
        .env("MONO_SEC_KEY", REPLICA_KEY)
        .env("USER", "ops")
        .args(["unlink", "--mono-base-url", mono])
        .arg("--audit-db")
        .arg(db)
        .args(args);
    command
}

fn stats(mono: &str) -> Value {
    let body = std::process::Command::new("curl")
        .args(["-sS", &format!("{mono}/fake/stats")])
        .output()
        .unwrap();
    serde_json::from_slice(&body.stdout).unwrap()
}

/// Mono's 404s in all: calls for accounts it had already unlinked.
fn repeats(stats: &Value) -> u64 {
    stats["not_found"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum()
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The report's account lines (not its summary), by account.
fn report(path: &Path) -> HashMap<String, Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|line| line.get("summary").is_none())
        .map(|line| (line["account_id"].as_str().unwrap().to_owned(), line))
        .collect()
}

/// Accounts the record shows Mono's own 2xx for, and how many each.
fn unlinked_by_mono(db: &Path) -> HashMap<String, u32> {
    let record = rusqlite::Connection::open(db).unwrap();
    let mut statement = record
        .prepare(
            "SELECT account_id, count(*) FROM audit WHERE kind = 'unlink'
             AND outcome = 'unlinked' AND source = 'upstream' GROUP BY account_id",
        )
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn unresolved(db: &Path) -> usize {
    let (ok, stdout, stderr) = run(proxy()
        .args(["audit", "--unresolved", "--audit-db"])
        .arg(db));
    assert!(ok, "{stderr}");
    stdout.lines().count()
}

#[test]
fn ten_thousand_accounts_at_monos_pace_each_unlinked_exactly_once() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (ids, file) = accounts(dir.path(), 10_000, "bulk");
    // Mono's limit, below what the run could do: the pace, not the machine, decides.
    let limit = 200;
    let fake = fake_with(
        &file,
        &[
            "--fake-mono-rate",
            &limit.to_string(),
            "--fake-mono-fault",
            "*=503%1",
        ],
    );
    let db = dir.path().join("audit.sqlite3");
    let report_file = dir.path().join("report.jsonl");
    let started = Instant::now();
    let output = bulk(&fake.url, &db, &["--from", file.to_str().unwrap()])
        .args(["--reason", "offboarding", "--concurrency", "8", "--report"])
        .arg(&report_file)
        .output()
        .unwrap();
    let took = started.elapsed();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");

    // At Mono: every account unlinked once, none asked again after it was gone.
    let stats = stats(&fake.url);
    assert_eq!(stats["unlinked"], 10_000, "{stats}");
    assert_eq!(repeats(&stats), 0, "{stats}");
    assert!(
        stats["failed"].as_u64().unwrap() > 0,
        "the 1 % of 503s happened: {stats}"
    );
    // The report and the record say the same, account by account.
    let reported = report(&report_file);
    let on_record = unlinked_by_mono(&db);
    assert_eq!(reported.len(), ids.len());
    for id in &ids {
        assert_eq!(reported[id]["outcome"], "unlinked", "{id}");
        assert_eq!(
            on_record.get(id),
            Some(&1),
            "{id}: one success from Mono on record"
        );
    }
    assert_eq!(unresolved(&db), 0);
    // The pace is printed: accounts a second, and Mono's 429s.
    let summary = stdout.lines().last().unwrap();
    assert!(summary.contains("10000 unlinked"), "{summary}");
    assert!(summary.contains("accounts/s"), "{summary}");
    let rate = 10_000.0 / took.as_secs_f64();
    println!("{summary}\n(measured here: {rate:.0} accounts/s against a limit of {limit}/s)");
    assert!(
        rate >= 0.8 * f64::from(limit),
        "{rate:.0} accounts/s: not close to Mono's limit of {limit}/s"
    );
}

#[test]
fn killed_half_way_the_same_command_finishes_repeating_only_what_was_in_flight() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (ids, file) = accounts(dir.path(), 2_000, "kill");
    let fake = fake_with(&file, &["--fake-mono-rate", "200"]);
    let db = dir.path().join("audit.sqlite3");
    let first_report = dir.path().join("first.jsonl");
    let command = |report: &Path| {
        let mut command = bulk(&fake.url, &db, &["--from", file.to_str().unwrap()]);
        command
            .args(["--reason", "offboarding", "--report"])
            .arg(report);
        command
    };
    let mut first = command(&first_report)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(&first_report).map_or(0, |text| text.lines().count())
        < ids.len() / 2
    {
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(&first, "KILL");
    first.wait().unwrap();
    let done_before = report(&first_report).len();
    assert!(done_before < ids.len(), "killed before the end");

    let second_report = dir.path().join("second.jsonl");
    let output = command(&second_report).output().unwrap();
    let (stdout, stderr) = text(&output);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // Everything the first run reported is skipped now, without asking Mono.
    let skipped: usize = stdout
        .split(" already done (skipped)")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no plan in {stdout}"));
    assert!(
        skipped >= done_before,
        "{skipped} skipped, {done_before} done: {stdout}"
    );
    let stats = stats(&fake.url);
    assert_eq!(stats["unlinked"], 2_000, "no gaps: {stats}");
    // Only calls in flight at the kill (at most the concurrency, 4) were made twice: Mono
    // answered those 404, which settled their unknown outcome.
    assert!(repeats(&stats) <= 4, "{stats}");
    assert_eq!(unresolved(&db), 0);
    let second = report(&second_report);
    for id in &ids {
        let outcome = second[id]["outcome"].as_str().unwrap();
        assert!(
            ["unlinked", "already_unlinked", "skipped"].contains(&outcome),
            "{id}: {outcome}"
        );
    }
}

#[test]
fn ctrl_c_finishes_what_is_in_flight_records_it_and_exits_130() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (ids, file) = accounts(dir.path(), 1_000, "stop");
    let fake = fake_with(
        &file,
        &[
            "--fake-mono-rate",
            "100",
            "--fake-mono-fault",
            "*=latency:200",
        ],
    );
    let db = dir.path().join("audit.sqlite3");
    let report_file = dir.path().join("report.jsonl");
    let child = bulk(&fake.url, &db, &["--from", file.to_str().unwrap()])
        .args([
            "--reason",
            "account_closed",
            "--concurrency",
            "8",
            "--report",
        ])
        .arg(&report_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while std::fs::read_to_string(&report_file).map_or(0, |t| t.lines().count()) < 100 {
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(&child, "INT");
    let output = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(130), "{stdout}\n{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(stdout.contains("unlinked"), "the summary: {stdout}");
    let last = std::fs::read_to_string(&report_file).unwrap();
    assert!(last.lines().last().unwrap().contains("\"summary\""));
    // What was in flight finished and is on record: nothing is left unknown.
    assert_eq!(unresolved(&db), 0);
    let reported = report(&report_file).len() as u64;
    assert_eq!(stats(&fake.url)["unlinked"].as_u64().unwrap(), reported);

    // Run again: it finishes, and nothing is asked twice.
    let output = bulk(&fake.url, &db, &["--from", file.to_str().unwrap()])
        .args(["--reason", "account_closed", "--concurrency", "8"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{:?}", text(&output));
    let stats = stats(&fake.url);
    assert_eq!(stats["unlinked"].as_u64().unwrap(), ids.len() as u64);
    assert_eq!(repeats(&stats), 0, "{stats}");
}

#[test]
fn a_dry_run_plans_names_bad_lines_and_calls_nobody() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (ids, _) = accounts(dir.path(), 3, "plan");
    let fake = fake_with(&dir.path().join("plan.txt"), &[]);
    let db = dir.path().join("audit.sqlite3");
    // One already unlinked on record.
    let output = bulk(&fake.url, &db, &["--reason", "other", &ids[0]])
        .output()
        .unwrap();
    assert!(output.status.success(), "{:?}", text(&output));
    let csv = dir.path().join("offboarding.csv");
    std::fs::write(
        &csv,
        format!(
            "account_id,principal,reason\n{},ada,offboarding\n{},,erasure_request\nnot/an/id,,other\n{},,closed\n{},bob,offboarding\n",
            ids[0], ids[1], ids[2], ids[1]
        ),
    )
    .unwrap();
    let calls_before = stats(&fake.url)["calls"].clone();
    let output = bulk(
        &fake.url,
        &db,
        &["--dry-run", "--from", csv.to_str().unwrap()],
    )
    .output()
    .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(
        output.status.code(),
        Some(1),
        "invalid lines fail the plan: {stdout}"
    );
    assert!(stderr.contains("line 4: not an account id"), "{stderr}");
    assert!(
        stderr.contains("line 5: reason \"closed\" is not one of"),
        "{stderr}"
    );
    assert!(
        stderr.contains("line 6: the same account as line 3"),
        "{stderr}"
    );
    assert!(
        stdout.contains("1 new, 1 already done (skipped), 0 unknown (asked again), 2 invalid"),
        "{stdout}"
    );
    assert!(stdout.contains("dry run: Mono was not called"));
    assert_eq!(stats(&fake.url)["calls"], calls_before);
}

#[test]
fn failures_are_listed_and_exit_1_usage_errors_exit_2_and_a_wrong_key_stops_the_run() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (ids, file) = accounts(dir.path(), 20, "codes");
    let refused = ids[3].clone();
    let fake = fake_with(&file, &["--fake-mono-fault", &format!("{refused}=409")]);
    let db = dir.path().join("audit.sqlite3");
    let output = bulk(
        &fake.url,
        &db,
        &["--reason", "offboarding", "--from", file.to_str().unwrap()],
    )
    .output()
    .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(&format!("failed: line 4 {refused}: unlink_rejected")),
        "{stderr}"
    );
    assert!(
        stdout.contains("19 unlinked") && stdout.contains("1 failed"),
        "{stdout}"
    );

    // A usage error: no reason.
    let output = bulk(&fake.url, &db, &[&ids[0]]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).1.contains("--reason"), "{:?}", text(&output));
    let output = bulk(&fake.url, &db, &["--reason", "sometimes", &ids[0]])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));

    // A key Mono refuses: the run stops at once instead of failing every account.
    let (_, file) = accounts(dir.path(), 50, "wrongkey");
    let wrong = fake_with(&file, &["--fake-mono-fault", "*=401"]);
    let output = bulk(
        &wrong.url,
        &db,
        &["--reason", "other", "--from", file.to_str().unwrap()],
    )
    .output()
    .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("stopped: Mono rejected the secret key"),
        "{stderr}"
    );
    let calls = stats(&wrong.url)["calls"].as_u64().unwrap();
    assert!(
        calls < 20,
        "stopped early, not after every account: {calls} calls"
    );
}

#[test]
fn a_run_on_postgres_beside_two_serving_replicas_keeps_one_mono_call_per_account() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let database = rt.block_on(support::postgres::fresh_database());
    let dir = tempfile::tempdir().unwrap();
    let (ids, file) = accounts(dir.path(), 600, "shared");
    let fake = fake_with(
        &file,
        &[
            "--demo-owns-all",
            "--fake-mono-rate",
            "300",
            "--fake-mono-fault",
            "*=latency:20",
        ],
    );
    let replicas = [
        replica(&database, &fake.url, &[]),
        replica(&database, &fake.url, &[]),
    ];
    let mut command = proxy();
    command
        .env("MONO_SEC_KEY", REPLICA_KEY)
        .args([
            "unlink",
            "--reason",
            "offboarding",
            "--mono-base-url",
            &fake.url,
        ])
        .args([
            "--database-url",
            &database,
            "--from",
            file.to_str().unwrap(),
        ]);
    // On a thread of its own, which reads everything it writes.
    let cli = std::thread::spawn(move || command.output().unwrap());
    // Meanwhile, users confirm every fifth account in the widget, on either replica.
    let widget: Vec<(u16, Value)> = rt.block_on(async {
        let client = reqwest::Client::new();
        let mut answers = Vec::new();
        for (i, id) in ids.iter().enumerate().step_by(5) {
            let replica = &replicas[i % 2].url;
            let answer = client
                .post(format!("{replica}/api/mono/accounts/{id}/unlink"))
                .header("idempotency-key", format!("tab-{id}"))
                .header("cookie", "session=demo")
                .send()
                .await
                .unwrap();
            answers.push((answer.status().as_u16(), answer.json().await.unwrap()));
        }
        answers
    });
    let output = cli.join().unwrap();
    assert!(output.status.success(), "{:?}", text(&output));
    for (status, body) in &widget {
        assert_eq!(*status, 200, "{body}");
    }
    let stats = stats(&fake.url);
    assert_eq!(stats["unlinked"], 600, "{stats}");
    assert_eq!(repeats(&stats), 0, "one Mono call per account: {stats}");
    let (ok, audit, _) = run(proxy().args(["audit", "--database-url", &database]));
    assert!(ok);
    let vias: HashSet<String> = audit
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|row| row["kind"] == "intent")
        .map(|row| row["via"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(vias, HashSet::from(["cli".to_owned(), "widget".to_owned()]));
}
