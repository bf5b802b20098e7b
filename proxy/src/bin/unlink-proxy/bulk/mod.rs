//! `unlink-proxy unlink`: the company side of Mono's unlink (an account closed, an erasure
//! request, an offboarding of thousands), through the proxy's own `Unlinker`: the same
//! record, single flight, claims and Mono client as the widget's route, so a run beside
//! serving replicas still makes one Mono call per account.
//!
//! A run reads its accounts (`input`), asks the record about each (the plan: new, already
//! done, unknown), then unlinks what is left at an adaptive pace (`pace`), reporting as it
//! goes (`report`). It is resumable: a second run skips what the record shows unlinked and
//! asks again about what a crash left unknown (Mono's 404 then settles it). Accounts that
//! fail for a passing reason (a 429, Mono or the record unavailable) go back to the queue,
//! no sooner than Mono's `Retry-After`, up to `--tries`; a wrong key or a URL that is not
//! Mono's stops the run at once. Ctrl-C stops taking new accounts, lets the calls in flight
//! finish and be recorded, and exits 130.

mod input;
mod pace;
mod report;

use std::{
    cmp::Reverse,
    collections::BinaryHeap,
    io::{IsTerminal, Read},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::{task::JoinSet, time::Instant};
use unlink_proxy::{
    Config, Denied, NotUnlinked, Principal, Proxy, UnlinkRequest, Unlinked, Unlinker,
    account::AccountId,
    authoriser_fn,
    error::ApiError,
    record::{Reason, Via},
    store::AccountState,
};

use self::{
    input::{Input, Line},
    pace::Pacer,
    report::{Ended, Finished, Report, Tally},
};
use crate::{cli::BulkArgs, setup};

/// Exit code for a run stopped with Ctrl-C, as shells report a SIGINT.
const INTERRUPTED: u8 = 130;
/// Exit code for a usage error (bad flags, an unreadable file), as clap's own.
const USAGE: u8 = 2;

pub(crate) async fn run(args: BulkArgs) -> ExitCode {
    match run_inner(args).await {
        Ok(code) => code,
        Err(Failure::Usage(message)) => {
            eprintln!("unlink-proxy unlink: {message}");
            ExitCode::from(USAGE)
        }
        Err(Failure::Run(message)) => crate::fail(&message),
    }
}

enum Failure {
    Usage(String),
    Run(String),
}

/// An account to unlink, and how this run has fared with it so far.
struct Work {
    line: Line,
    principal: Principal,
    reason: Reason,
    /// Tries so far (each may call Mono more than once).
    tries: u32,
    mono_calls: u32,
    not_before: Instant,
    started: Option<Instant>,
}

async fn run_inner(args: BulkArgs) -> Result<ExitCode, Failure> {
    let started = Instant::now();
    let input = read_input(&args)?.dedupe();
    for invalid in &input.invalid {
        eprintln!("line {}: {} (skipped)", invalid.number, invalid.why);
    }
    for (line, earlier) in &input.repeated {
        eprintln!("line {line}: the same account as line {earlier} (done once)");
    }
    let principal = match &args.principal {
        Some(principal) => Principal::new(principal.clone())
            .map_err(|denied| Failure::Usage(format!("--principal: {denied}")))?,
        None => Principal::new(format!("cli:{}", user()))
            .map_err(|denied| Failure::Usage(denied.to_string()))?,
    };

    let (mut upstream, described, warnings) = setup::bulk_upstream(&args.mono, &args.demo)
        .await
        .map_err(Failure::Usage)?;
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    // A 429 goes back to the queue, paced, rather than holding a worker for Retry-After.
    upstream.retry_after_cap = Duration::ZERO;
    let record = args
        .record
        .open(args.database_connect_timeout)
        .await
        .map_err(Failure::Run)?;
    let nobody = authoriser_fn(|_| async { Err(Denied("the command line asks nobody".into())) });
    let mut config =
        Config::new(upstream, nobody, record).map_err(|e| Failure::Usage(e.to_string()))?;
    config.deadline = args.deadline;
    config.lease = config.lease.max(args.deadline + Duration::from_secs(10));
    let proxy = Proxy::start(config)
        .await
        .map_err(|error| Failure::Run(error.to_string()))?;
    let unlinker = proxy.unlinker();

    // The plan: what the record already says about each account.
    let mut tally = Tally {
        invalid: input.invalid.len() as u64,
        ..Tally::default()
    };
    let mut report = Report::create(args.report.as_deref()).map_err(Failure::Usage)?;
    let (mut todo, mut unknown) = (Vec::new(), 0);
    for line in input.lines {
        let record = unlinker
            .account(&line.account)
            .await
            .map_err(|error| Failure::Run(error.to_string()))?;
        let reason = line.reason.or(args.reason).unwrap_or(Reason::Other);
        let who = line.principal.clone().unwrap_or_else(|| principal.clone());
        match record.state() {
            AccountState::Unlinked => {
                tally.count(Ended::Skipped);
                if !args.dry_run {
                    let skipped = Written {
                        ended: Ended::Skipped,
                        ..Written::default()
                    };
                    write_line(&mut report, &line, &who, reason, skipped).map_err(Failure::Run)?;
                }
            }
            state => {
                if state == AccountState::Unknown {
                    unknown += 1;
                }
                todo.push(Work {
                    line,
                    principal: who,
                    reason,
                    tries: 0,
                    mono_calls: 0,
                    not_before: started,
                    started: None,
                });
            }
        }
    }
    println!(
        "unlink-proxy unlink: {} accounts ({described}): {} new, {} already done (skipped), \
         {unknown} unknown (asked again), {} invalid lines",
        todo.len() as u64 + tally.skipped,
        todo.len() - unknown,
        tally.skipped,
        tally.invalid,
    );
    if args.dry_run {
        println!("dry run: Mono was not called");
        return Ok(exit_code(&tally, false));
    }

    let total = todo.len() as u64;
    let stop = Stop::watch();
    let progress = Progress::new(total);
    let mut pacer = Pacer::new(args.rate, args.max_rate, Instant::now());
    let mut queue: BinaryHeap<Reverse<(Instant, usize)>> = BinaryHeap::new();
    let mut items: Vec<Option<Work>> = Vec::with_capacity(todo.len());
    for work in todo {
        queue.push(Reverse((work.not_before, items.len())));
        items.push(Some(work));
    }
    let mut failures: Vec<String> = Vec::new();
    let mut fatal: Option<String> = None;
    let mut in_flight: JoinSet<(usize, Result<Unlinked, NotUnlinked>)> = JoinSet::new();
    let mut summary_tick = tokio::time::interval(Duration::from_secs(10));
    summary_tick.tick().await;
    loop {
        let taking = !stop.requested() && fatal.is_none();
        if in_flight.is_empty() && (!taking || queue.is_empty()) {
            break;
        }
        let room = taking && in_flight.len() < args.concurrency as usize && !queue.is_empty();
        tokio::select! {
            Some(finished) = in_flight.join_next(), if !in_flight.is_empty() => {
                let Ok((index, result)) = finished else { continue };
                let Some(mut work) = items[index].take() else { continue };
                let mono = match &result {
                    Ok(done) => done.mono,
                    Err(failed) => failed.mono,
                };
                if let Some(mono) = mono {
                    work.mono_calls += mono.attempts;
                    tally.mono_calls += u64::from(mono.attempts);
                    tally.mono_429s += u64::from(mono.rate_limited);
                    pacer.answered(Instant::now(), mono.rate_limited > 0);
                }
                match settle(&result, &work, args.tries) {
                    Settled::Done(ended, code) => {
                        tally.count(ended);
                        if ended == Ended::Failed {
                            failures.push(format!(
                                "line {} {}: {}",
                                work.line.number,
                                work.line.account,
                                code.unwrap_or("failed")
                            ));
                        }
                        let (request_id, status) = match &result {
                            Ok(done) => (done.request_id.as_str(), done.mono.and_then(|m| m.status)),
                            Err(failed) => (failed.request_id.as_str(), failed.mono.and_then(|m| m.status)),
                        };
                        let written = Written {
                            ended,
                            code,
                            attempts: work.mono_calls,
                            mono_status: status,
                            latency_ms: work.started.map_or(0, |at| at.elapsed().as_millis() as u64),
                            request_id: Some(request_id),
                        };
                        write_line(&mut report, &work.line, &work.principal, work.reason, written)
                            .map_err(Failure::Run)?;
                        progress.advance(&tally);
                    }
                    Settled::Again(wait) => {
                        tally.requeued += 1;
                        work.not_before = Instant::now() + wait;
                        queue.push(Reverse((work.not_before, index)));
                        items[index] = Some(work);
                    }
                    Settled::Stop(why) => {
                        tally.count(Ended::Failed);
                        failures.push(format!("line {} {}: {why}", work.line.number, work.line.account));
                        fatal = Some(why);
                        progress.advance(&tally);
                    }
                }
            }
            () = launch_ready(&queue), if room => {
                let Some(Reverse((_, index))) = queue.pop() else { continue };
                let Some(work) = items[index].as_mut() else { continue };
                let slot = pacer.next(Instant::now().max(work.not_before));
                work.tries += 1;
                work.started.get_or_insert_with(Instant::now);
                let request = unlink_request(work);
                let unlinker: Unlinker = unlinker.clone();
                in_flight.spawn(async move {
                    tokio::time::sleep_until(slot).await;
                    (index, unlinker.unlink_request(request).await)
                });
            }
            () = stop.wait(), if taking => {
                progress.message("stopping: finishing the unlinks in flight");
            }
            _ = summary_tick.tick() => {
                progress.periodic(&tally, started.elapsed(), pacer.rate());
            }
        }
    }
    progress.finish();
    let not_attempted = items.iter().flatten().count();
    report
        .summary(&tally, started.elapsed())
        .map_err(Failure::Run)?;
    println!("unlink-proxy unlink: {}", tally.line(started.elapsed()));
    if let Some(why) = &fatal {
        eprintln!("stopped: {why}; {not_attempted} accounts were not attempted");
    } else if stop.requested() && not_attempted > 0 {
        eprintln!(
            "interrupted: {not_attempted} accounts were not attempted; run it again to finish"
        );
    }
    for failure in &failures {
        eprintln!("failed: {failure}");
    }
    if tally.invalid > 0 {
        eprintln!(
            "{} lines were not account ids and were skipped (listed above): correct them and \
             run again; what is done is skipped",
            tally.invalid
        );
    }
    if stop.requested() {
        return Ok(ExitCode::from(INTERRUPTED));
    }
    Ok(exit_code(&tally, fatal.is_some() || not_attempted > 0))
}

/// 0 when every account is unlinked (or already was), 1 when any failed or was left.
fn exit_code(tally: &Tally, left: bool) -> ExitCode {
    if tally.failed == 0 && tally.invalid == 0 && !left {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What to do with an account after a try.
enum Settled {
    /// Finished: unlinked, already, or failed for good (with the code).
    Done(Ended, Option<&'static str>),
    /// A passing failure: try again after this long.
    Again(Duration),
    /// Every other account would fail the same way: stop the run.
    Stop(String),
}

fn settle(result: &Result<Unlinked, NotUnlinked>, work: &Work, tries: u32) -> Settled {
    let error = match result {
        Ok(done) if done.already_unlinked => return Settled::Done(Ended::AlreadyUnlinked, None),
        Ok(_) => return Settled::Done(Ended::Unlinked, None),
        Err(failed) => &failed.error,
    };
    match error {
        ApiError::UpstreamUnavailable { .. }
        | ApiError::AuditUnavailable
        | ApiError::RateLimited { .. }
            if work.tries < tries =>
        {
            // Mono's Retry-After, or a backoff that doubles.
            let backoff = Duration::from_millis(500 * (1 << work.tries.min(6)));
            let wait = error.retry_after().map_or(backoff, Duration::from_secs);
            Settled::Again(wait)
        }
        ApiError::UpstreamRejectedKey => Settled::Stop(
            "Mono rejected the secret key: check MONO_SEC_KEY (test vs live, revoked)".into(),
        ),
        ApiError::UpstreamUnexpected => Settled::Stop(
            "the Mono URL answered something that is not Mono's: check --mono-base-url and \
             --mono-api"
                .into(),
        ),
        ApiError::InvalidAccountId
        | ApiError::InvalidIdempotencyKey
        | ApiError::IdempotencyKeyReused
        | ApiError::Forbidden
        | ApiError::RateLimited { .. }
        | ApiError::UnlinkRejected
        | ApiError::UpstreamUnavailable { .. }
        | ApiError::AuditUnavailable
        | ApiError::Unauthorized
        | ApiError::InvalidWebhook
        | ApiError::WebhookNotConfigured
        | ApiError::NotFound
        | ApiError::MethodNotAllowed
        | ApiError::PayloadTooLarge
        | ApiError::InvalidRequest => Settled::Done(Ended::Failed, Some(error.code())),
    }
}

/// The request for one try. The key is the same on every try and every run for this account
/// and principal: a finished unlink replays, never calls again.
fn unlink_request(work: &Work) -> UnlinkRequest {
    let mut request = UnlinkRequest::new(
        work.line.account.clone(),
        work.principal.clone(),
        work.reason,
        key_for(&work.line.account, &work.principal),
    );
    request.via = Via::Cli;
    request
}

/// `cli:{account}:{hash of the principal}`: stable, and within the key's 255 characters.
fn key_for(account: &AccountId, principal: &Principal) -> String {
    // FNV-1a: stable across runs and versions, which std's hasher is not.
    let hash = principal
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    format!("cli:{account}:{hash:016x}")
}

/// Resolves when the earliest queued account may start (at once if it may now).
async fn launch_ready(queue: &BinaryHeap<Reverse<(Instant, usize)>>) {
    if let Some(Reverse((not_before, _))) = queue.peek() {
        tokio::time::sleep_until(*not_before).await;
    }
}

/// How an account ended, for its report line.
struct Written<'a> {
    ended: Ended,
    code: Option<&'static str>,
    attempts: u32,
    mono_status: Option<u16>,
    latency_ms: u64,
    request_id: Option<&'a str>,
}

impl Default for Written<'_> {
    fn default() -> Self {
        Self {
            ended: Ended::Failed,
            code: None,
            attempts: 0,
            mono_status: None,
            latency_ms: 0,
            request_id: None,
        }
    }
}

fn write_line(
    report: &mut Report,
    line: &Line,
    principal: &Principal,
    reason: Reason,
    written: Written<'_>,
) -> Result<(), String> {
    let (principal, reason, outcome) = report::words(principal, reason, written.ended);
    report.write(&Finished {
        line: line.number,
        account_id: line.account.as_str(),
        outcome,
        code: written.code,
        attempts: written.attempts,
        mono_status: written.mono_status,
        at: unlink_proxy::time::now_rfc3339(),
        latency_ms: written.latency_ms,
        request_id: written.request_id,
        principal,
        reason,
    })
}

fn read_input(args: &BulkArgs) -> Result<Input, Failure> {
    let Some(from) = &args.from else {
        if args.reason.is_none() {
            return Err(Failure::Usage(format!(
                "give --reason ({})",
                input::reasons()
            )));
        }
        return Ok(Input::from_ids(&args.ids));
    };
    let mut text = String::new();
    let read = if from.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(from).and_then(|mut file| file.read_to_string(&mut text).map(|_| ()))
    };
    read.map_err(|error| Failure::Usage(format!("cannot read {}: {error}", from.display())))?;
    Input::parse(&text, args.reason.is_none()).map_err(Failure::Usage)
}

/// Who runs this, for the default principal.
fn user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|user| !user.trim().is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Ctrl-C (or SIGTERM): asked once, remembered.
#[derive(Clone)]
struct Stop(Arc<tokio::sync::watch::Sender<bool>>);

impl Stop {
    fn watch() -> Self {
        let (sender, _) = tokio::sync::watch::channel(false);
        let stop = Self(Arc::new(sender));
        let signal = crate::shutdown_signal();
        let set = stop.clone();
        tokio::spawn(async move {
            signal.await;
            set.0.send_replace(true);
        });
        stop
    }

    fn requested(&self) -> bool {
        *self.0.borrow()
    }

    async fn wait(&self) {
        let mut changes = self.0.subscribe();
        let _ = changes.wait_for(|stopped| *stopped).await;
    }
}

/// A bar on a terminal; a line every 10 s otherwise (a log file, a CI job).
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(total: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} accounts, {per_sec}, {eta} left  {msg}",
                )
                .expect("a valid template"),
            );
            bar
        });
        Self { bar }
    }

    fn advance(&self, tally: &Tally) {
        if let Some(bar) = &self.bar {
            bar.set_position(tally.done() - tally.skipped);
            bar.set_message(format!(
                "unlinked {}, already {}, failed {}, requeued {}",
                tally.unlinked, tally.already_unlinked, tally.failed, tally.requeued
            ));
        }
    }

    fn message(&self, message: &'static str) {
        match &self.bar {
            Some(bar) => bar.set_message(message),
            None => eprintln!("{message}"),
        }
    }

    fn periodic(&self, tally: &Tally, elapsed: Duration, rate: f64) {
        if self.bar.is_none() {
            eprintln!("progress: {} (pace {rate:.0}/s)", tally.line(elapsed));
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_per_account_and_principal_and_short_enough() {
        let account = AccountId::parse("60770aa8c5878a2af69ed849").unwrap();
        let ada = Principal::new("cli:ada").unwrap();
        let key = key_for(&account, &ada);
        assert_eq!(key, key_for(&account, &ada));
        assert_ne!(key, key_for(&account, &Principal::new("cli:bob").unwrap()));
        assert!(key.starts_with("cli:60770aa8c5878a2af69ed849:"));
        let long = Principal::new("x".repeat(256)).unwrap();
        let key = key_for(&AccountId::parse(&"a".repeat(64)).unwrap(), &long);
        assert!(key.len() <= 255, "{}", key.len());
    }
}
