//! What every store engine shares, public so a partner can write one of their own (MySQL,
//! say) that keeps the same promises: the checks a row passes before it is written, the rule
//! for an outcome that arrives after its claim was taken over, the row that releases an
//! intent Mono was never called for, and a claim holder's name.
//!
//! The engines spell the trail's vocabulary (`'intent'`, `'unlinked'`, …) in their SQL; the
//! test at the bottom reads every such word in the engines' sources and migrations and checks
//! that it is one of [`crate::record`]'s, so a typo cannot write a row nobody can find.

use std::time::Duration;

use tokio::time::Instant;

use super::StoreError;
use crate::record::{Entry, Kind, Outcome, Source};

/// Refuses, before any write, a row that is not valid: every engine calls it, so none can
/// store what another would refuse.
pub fn valid(entry: &Entry) -> Result<(), StoreError> {
    entry.validate().map_err(invalid)
}

/// [`valid`], and of the `kind` the operation writes.
pub fn check(entry: &Entry, kind: Kind) -> Result<(), StoreError> {
    valid(entry)?;
    if entry.kind != kind {
        return Err(invalid("this operation writes another kind of row"));
    }
    Ok(())
}

fn invalid(why: &'static str) -> StoreError {
    StoreError::Broken(format!("refusing to write an invalid audit row: {why}"))
}

/// The outcome row for an intent that was committed too late to call Mono (or whose
/// commit's answer was lost): `audit_unavailable`, Mono not called. Writing it with
/// [`Record::finish`](super::Record::finish) releases the claim.
pub fn unsent(intent: &Entry, intent_id: i64) -> Entry {
    let mut outcome = intent.clone();
    outcome.kind = Kind::Unlink;
    outcome.outcome = Some(Outcome::AuditUnavailable);
    outcome.source = Some(Source::Proxy);
    outcome.intent_id = Some(intent_id);
    outcome.attempts = 0;
    outcome.upstream_status = None;
    outcome.detail =
        Some("the intent was committed after its deadline, so Mono was not called".into());
    outcome
}

/// The row [`Record::finish`](super::Record::finish) writes: the outcome as it is, or, when
/// its intent was already marked (another replica took the claim over: `late`), a row that
/// cannot contradict the mark. A final answer from Mono settles the unknown (a
/// `resolution`); anything else leaves it unknown and keeps Mono's status for the operator.
pub fn late_or_on_time(mut outcome: Entry, late: bool) -> Entry {
    if !late {
        return outcome;
    }
    let said = outcome.outcome.map_or("-", Outcome::as_str);
    if outcome.outcome.is_some_and(Outcome::is_final) {
        outcome.kind = Kind::Resolution;
        outcome.detail = Some(format!(
            "Mono answered {said} after this call's claim was taken over"
        ));
    } else {
        outcome.outcome = Some(Outcome::OutcomeUnknown);
        outcome.detail = Some(format!(
            "Mono's late answer ({said}) came after this call's claim was taken over; the \
             outcome stays unknown"
        ));
    }
    outcome
}

/// A name no other open store has, in this process or another, for its claims:
/// `host/pidN-ms-n`, so a claim says which machine and process holds it.
pub fn holder_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static OPENED: AtomicU32 = AtomicU32::new(0);
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    format!(
        "{}/pid{}-{}-{n}",
        this_host(),
        std::process::id(),
        crate::time::now_ms()
    )
}

/// This machine's name, as claims record it.
fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

/// Whether the process holding a claim still runs: `Some(false)` when it ran on this
/// machine and is gone (a crash, `kill -9`), so its claims need not wait for their lease;
/// `None` when that cannot be told (another machine), so the lease decides. A pid reused by
/// another process reads as alive: the lease decides then too.
pub fn holder_alive(holder: &str) -> Option<bool> {
    let (host, rest) = holder.split_once('/')?;
    if host != this_host() {
        return None;
    }
    let pid: u32 = rest.strip_prefix("pid")?.split('-').next()?.parse().ok()?;
    if cfg!(target_os = "linux") {
        Some(std::path::Path::new(&format!("/proc/{pid}")).exists())
    } else {
        None
    }
}

/// Whether another holder's claim may be taken: its lease ran out, or its process is gone.
pub fn claim_is_stale(holder: &str, lease_expired: bool) -> bool {
    lease_expired || holder_alive(holder) == Some(false)
}

/// Milliseconds since the epoch for a trail timestamp (`2026-11-23T20:19:40.123Z`).
pub fn ts_millis(ts: &str) -> Result<i64, StoreError> {
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| StoreError::Broken(format!("a row's time {ts:?} is not RFC 3339")))
}

/// A deadline far enough away to mean "until it works" for background writes.
pub fn patient_deadline() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

#[cfg(test)]
mod tests {
    use super::{claim_is_stale, holder_alive, holder_name};
    use crate::record::{Kind, Outcome, Reason, Source, Via};

    #[test]
    fn a_holder_on_this_machine_is_alive_until_its_process_is_gone() {
        assert_eq!(holder_alive(&holder_name()), Some(true));
        let gone = holder_name().replacen(&format!("pid{}-", std::process::id()), "pid4000000-", 1);
        assert_eq!(holder_alive(&gone), Some(false), "{gone}");
        assert_eq!(holder_alive("elsewhere.example/pid1-2-3"), None);
        assert!(claim_is_stale(&gone, false));
        assert!(!claim_is_stale(&holder_name(), false));
        assert!(claim_is_stale(&holder_name(), true));
        assert!(!claim_is_stale("elsewhere.example/pid1-2-3", false));
    }

    /// The engines' SQL and migrations, as text.
    const SQL_SOURCES: &[(&str, &str)] = &[
        ("sqlite.rs", include_str!("sqlite.rs")),
        ("postgres.rs", include_str!("postgres.rs")),
        (
            "sqlite/0001",
            include_str!("../../migrations/sqlite/0001_audit.sql"),
        ),
        (
            "sqlite/0002",
            include_str!("../../migrations/sqlite/0002_intents_keys_claims.sql"),
        ),
        (
            "sqlite/0003",
            include_str!("../../migrations/sqlite/0003_health_reason_via.sql"),
        ),
        (
            "postgres/0001",
            include_str!("../../migrations/postgres/0001_schema.sql"),
        ),
        (
            "postgres/0002",
            include_str!("../../migrations/postgres/0002_health_reason_via.sql"),
        ),
    ];

    /// Single-quoted SQL literals that are not the trail's vocabulary: formats, units.
    const NOT_VOCABULARY: &[&str] = &["UTC", "milliseconds", "1 millisecond", "#%"];

    #[test]
    fn every_word_the_sql_spells_is_one_of_the_records() {
        let known: Vec<&str> = Kind::ALL
            .iter()
            .map(|w| w.as_str())
            .chain(Outcome::ALL.iter().map(|w| w.as_str()))
            .chain(Source::ALL.iter().map(|w| w.as_str()))
            .chain(Reason::ALL.iter().map(|w| w.as_str()))
            .chain(Via::ALL.iter().map(|w| w.as_str()))
            .collect();
        let mut checked = 0;
        for (file, text) in SQL_SOURCES {
            // Every '…' between two quotes that is an SQL word. An apostrophe in a comment
            // ("process's") or a Rust char literal ('a') only shifts the pairing by one.
            let quotes: Vec<usize> = text.match_indices('\'').map(|(at, _)| at).collect();
            let mut pair = 0;
            while pair + 1 < quotes.len() {
                let word = &text[quotes[pair] + 1..quotes[pair + 1]];
                let looks_like_sql_word =
                    word.len() > 1 && word.chars().all(|c| c.is_ascii_lowercase() || c == '_');
                if !looks_like_sql_word {
                    pair += 1;
                    continue;
                }
                pair += 2;
                if NOT_VOCABULARY.contains(&word) {
                    continue;
                }
                assert!(
                    known.contains(&word),
                    "{file}: '{word}' is not a word of the record's vocabulary"
                );
                checked += 1;
            }
        }
        assert!(
            checked > 40,
            "only {checked} words found: is the scan broken?"
        );
    }
}
