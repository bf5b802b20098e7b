//! What a run tells: the counts by outcome (for the progress bar, the periodic line and the
//! summary), and `--report FILE`, one JSON line per account written as each finishes (so a
//! run killed half-way still leaves what it did), then a summary line.

use std::{
    fs::File,
    io::{BufWriter, Write},
    path::Path,
    time::Duration,
};

use serde::Serialize;
use unlink_proxy::{Principal, record::Reason};

/// How one account ended in this run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// Mono unlinked it now.
    Unlinked,
    /// It was already gone: Mono's 404, or the record answered.
    AlreadyUnlinked,
    /// The record showed it unlinked before the run: not asked again.
    Skipped,
    /// Not unlinked (listed at the end).
    Failed,
}

impl Ended {
    fn word(self) -> &'static str {
        match self {
            Self::Unlinked => "unlinked",
            Self::AlreadyUnlinked => "already_unlinked",
            Self::Skipped => "skipped",
            Self::Failed => "failed",
        }
    }
}

/// One report line.
#[derive(Debug, Serialize)]
pub(crate) struct Finished<'a> {
    pub(crate) line: usize,
    pub(crate) account_id: &'a str,
    pub(crate) outcome: &'static str,
    /// The stable code of a failure.
    pub(crate) code: Option<&'static str>,
    /// Calls to Mono for it in this run, retries and requeues included.
    pub(crate) attempts: u32,
    pub(crate) mono_status: Option<u16>,
    pub(crate) at: String,
    pub(crate) latency_ms: u64,
    pub(crate) request_id: Option<&'a str>,
    pub(crate) principal: &'a str,
    pub(crate) reason: &'static str,
}

/// Counts by outcome, and Mono's answers.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub(crate) struct Tally {
    pub(crate) unlinked: u64,
    pub(crate) already_unlinked: u64,
    pub(crate) skipped: u64,
    pub(crate) failed: u64,
    pub(crate) invalid: u64,
    /// Accounts sent back to the queue after a transient failure (a 429, Mono down).
    pub(crate) requeued: u64,
    pub(crate) mono_calls: u64,
    pub(crate) mono_429s: u64,
}

impl Tally {
    pub(crate) fn count(&mut self, ended: Ended) {
        match ended {
            Ended::Unlinked => self.unlinked += 1,
            Ended::AlreadyUnlinked => self.already_unlinked += 1,
            Ended::Skipped => self.skipped += 1,
            Ended::Failed => self.failed += 1,
        }
    }

    /// Accounts finished, one way or another.
    pub(crate) fn done(&self) -> u64 {
        self.unlinked + self.already_unlinked + self.skipped + self.failed
    }

    /// One line: counts, Mono's 429 share, and the pace.
    pub(crate) fn line(&self, elapsed: Duration) -> String {
        let share = if self.mono_calls == 0 {
            0.0
        } else {
            100.0 * self.mono_429s as f64 / self.mono_calls as f64
        };
        let asked = self.unlinked + self.already_unlinked + self.failed;
        let per_second = asked as f64 / elapsed.as_secs_f64().max(0.001);
        format!(
            "{} unlinked, {} already unlinked, {} skipped (already on record), {} failed; \
             {} calls to Mono, {} answered 429 ({share:.1} %); {:.1} s, {per_second:.1} \
             accounts/s",
            self.unlinked,
            self.already_unlinked,
            self.skipped,
            self.failed,
            self.mono_calls,
            self.mono_429s,
            elapsed.as_secs_f64()
        )
    }
}

/// `--report FILE`, or nowhere.
pub(crate) struct Report {
    file: Option<BufWriter<File>>,
}

impl Report {
    /// Creates (or empties) `path`.
    pub(crate) fn create(path: Option<&Path>) -> Result<Self, String> {
        let file = path
            .map(|path| {
                File::create(path)
                    .map(BufWriter::new)
                    .map_err(|error| format!("cannot write the report {}: {error}", path.display()))
            })
            .transpose()?;
        Ok(Self { file })
    }

    /// One account's line, flushed at once.
    pub(crate) fn write(&mut self, finished: &Finished<'_>) -> Result<(), String> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        serde_json::to_writer(&mut *file, finished)
            .map_err(std::io::Error::from)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.flush())
            .map_err(|error| format!("cannot write the report: {error}"))
    }

    /// The summary line that ends the report.
    pub(crate) fn summary(&mut self, tally: &Tally, elapsed: Duration) -> Result<(), String> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        let summary = serde_json::json!({ "summary": {
            "counts": tally,
            "seconds": elapsed.as_secs_f64(),
        }});
        serde_json::to_writer(&mut *file, &summary)
            .map_err(std::io::Error::from)
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.flush())
            .map_err(|error| format!("cannot write the report: {error}"))
    }
}

/// The words a report line uses for who and why.
pub(crate) fn words(
    principal: &Principal,
    reason: Reason,
    ended: Ended,
) -> (&str, &'static str, &'static str) {
    (principal.as_str(), reason.as_str(), ended.word())
}
