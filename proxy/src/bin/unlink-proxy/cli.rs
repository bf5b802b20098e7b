//! The command line: flags, their environment variables, and how each value is read. Every
//! flag a partner's operator may set has an environment variable; secrets never have a flag
//! (flags show up in `ps`).

use std::{net::SocketAddr, num::NonZeroU32, path::PathBuf, time::Duration};

use axum::http::HeaderName;
use clap::{Args, Parser, Subcommand, ValueEnum};
use unlink_proxy::{
    account::AccountId, fake_mono::Fault, mono::MonoApi, record::Reason, time::parse_since,
};
use url::Url;

/// The reference backend for the unlink widget: holds the Mono secret key, checks the caller
/// may unlink the account, forwards the unlink to Mono and records an audit trail.
///
/// The secret key comes from MONO_SEC_KEY or --secret-key-file, never from a flag. The demo
/// runs with --fake-mono instead: a built-in fake Mono, no key, no network.
#[derive(Parser, Debug)]
#[command(name = "unlink-proxy", version, args_conflicts_with_subcommands = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
pub(crate) enum Command {
    /// Print audit rows as JSON lines, oldest first.
    Audit(AuditArgs),
    /// Check a configuration and print what the proxy would do, without serving.
    Check(Box<CheckArgs>),
    /// Run the fake Mono on its own, for several replicas (and your own tests) to share. It
    /// accepts any test_sk_ key, and answers POST /demo/can-unlink as an authoriser for the
    /// demo user.
    FakeMono(FakeMonoArgs),
    /// Copy an SQLite audit trail into PostgreSQL. Safe to run again: rows already copied
    /// are skipped, so an interrupted copy resumes.
    MigrateAudit(MigrateArgs),
    /// Unlink accounts on your company's say-so (an account closed, an erasure request, an
    /// offboarding): one, a list, or a file, on the same record as the proxy, one Mono call
    /// per account, paced to Mono's limit. Safe to run again: what the record shows unlinked
    /// is skipped, what a crash left unknown is asked again.
    Unlink(Box<BulkArgs>),
}

/// `unlink-proxy unlink`.
#[derive(Args, Debug)]
pub(crate) struct BulkArgs {
    /// Account ids to unlink.
    #[arg(
        value_name = "ID",
        required_unless_present = "from",
        conflicts_with = "from"
    )]
    pub ids: Vec<String>,

    /// Read the accounts from this file (`-`: standard input): one id per line, or CSV with
    /// a header account_id[,principal][,reason].
    #[arg(long, value_name = "FILE|-", help_heading = "Accounts")]
    pub from: Option<PathBuf>,

    /// Why: user_request, account_closed, erasure_request, offboarding or other. Recorded on
    /// every row. Required unless the CSV has a reason column.
    #[arg(long, value_parser = parse_reason, help_heading = "Accounts")]
    pub reason: Option<Reason>,

    /// Who asks, recorded on every row (a CSV's principal column wins) [default: cli:$USER].
    #[arg(long, help_heading = "Accounts")]
    pub principal: Option<String>,

    /// Check every line and print the plan (new, already done, unknown, invalid); call
    /// nobody.
    #[arg(long, help_heading = "Accounts")]
    pub dry_run: bool,

    /// Unlinks in flight at once.
    #[arg(long, default_value = "4", value_parser = clap::value_parser!(u32).range(1..=256),
        help_heading = "Pace")]
    pub concurrency: u32,

    /// Calls to Mono a second to start at; the pace then adapts to Mono's 429s.
    #[arg(long, default_value = "20", value_parser = parse_rate, help_heading = "Pace")]
    pub rate: f64,

    /// Never more calls a second than this.
    #[arg(long, default_value = "1000", value_parser = parse_rate, help_heading = "Pace")]
    pub max_rate: f64,

    /// Each unlink is answered within this, retries included, as on the proxy's route.
    #[arg(long, default_value = "12s", value_parser = parse_deadline, help_heading = "Pace")]
    pub deadline: Duration,

    /// How often an account that failed for a passing reason (a 429, Mono or the record
    /// unavailable) is tried, in all.
    #[arg(long, default_value = "5", value_parser = clap::value_parser!(u32).range(1..=100),
        help_heading = "Pace")]
    pub tries: u32,

    /// Write one JSON line per account (id, outcome, attempts, Mono's status, time, request
    /// id) as each finishes, and a summary at the end.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub report: Option<PathBuf>,

    #[command(flatten)]
    pub mono: MonoArgs,

    #[command(flatten)]
    pub record: RecordArgs,

    /// At start-up, how long to keep trying to reach PostgreSQL before giving up.
    #[arg(long, env = "UNLINK_DATABASE_CONNECT_TIMEOUT", default_value = "30s",
        value_parser = humantime::parse_duration, help_heading = "Record")]
    pub database_connect_timeout: Duration,

    #[command(flatten)]
    pub demo: DemoArgs,
}

#[derive(Args, Debug)]
pub(crate) struct FakeMonoArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,

    /// Extra account, linked and owned by the demo user (repeatable).
    #[arg(long = "fake-mono-account", value_name = "ID")]
    pub accounts: Vec<AccountId>,

    /// More linked accounts, one id per line (for bulk runs and benchmarks).
    #[arg(long, value_name = "FILE")]
    pub accounts_from: Option<PathBuf>,

    /// Fault, as ID=SPEC or *=SPEC (repeatable); see the proxy's --fake-mono-fault.
    #[arg(long = "fake-mono-fault", value_name = "ID=SPEC", value_parser = parse_fault)]
    pub faults: Vec<(String, Fault)>,

    /// The demo authoriser says yes to every account (for load tests), not just the demo
    /// user's.
    #[arg(long)]
    pub demo_owns_all: bool,

    /// Allow this many unlink calls a second, answering 429 with Retry-After beyond it, as
    /// Mono's own limit would.
    #[arg(long = "fake-mono-rate", value_name = "PER_SECOND")]
    pub rate: Option<u32>,

    /// The demo authoriser answers after a random wait of up to this (a loaded session
    /// store), e.g. 800ms.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub demo_authoriser_latency: Duration,
}

#[derive(Args, Debug)]
pub(crate) struct MigrateArgs {
    /// The SQLite trail to copy.
    #[arg(long)]
    pub from: PathBuf,

    /// The PostgreSQL database to copy it into.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub to: String,

    /// Extra CA certificates (PEM) for PostgreSQL's TLS, e.g. your cloud's RDS bundle.
    #[arg(long, env = "UNLINK_DATABASE_CA_FILE")]
    pub database_ca_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// Also ask Mono, once, to unlink account 000000000000000000000000, which cannot exist:
    /// its answer tells whether the URL, API version and key are right. Nothing changes at
    /// Mono.
    #[arg(long)]
    pub probe_mono: bool,

    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub server: ServerArgs,

    #[command(flatten)]
    pub mono: MonoArgs,

    #[command(flatten)]
    pub unlinks: UnlinkArgs,

    #[command(flatten)]
    pub record: RecordArgs,

    #[command(flatten)]
    pub replicas: ReplicaArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub service: ServiceArgs,

    #[command(flatten)]
    pub demo: DemoArgs,
}

/// The service route, for partners' backends.
#[derive(Args, Debug)]
#[command(next_help_heading = "Service route")]
pub(crate) struct ServiceArgs {
    /// File of bearer tokens for POST {prefix}/service/accounts/{id}/unlink, one `name:token`
    /// per line (tokens of 24+ characters; the name is recorded as the principal). Without
    /// it the route does not exist.
    #[arg(long, env = "UNLINK_SERVICE_TOKEN_FILE")]
    pub service_token_file: Option<PathBuf>,

    /// Serve the service route on this address only (loopback or the private network),
    /// never on --listen.
    #[arg(long, env = "UNLINK_SERVICE_LISTEN", requires = "service_token_file")]
    pub service_listen: Option<SocketAddr>,

    /// Unlinks allowed per service token per minute (1 to 1,000,000).
    #[arg(long, env = "UNLINK_SERVICE_RATE_LIMIT_PER_MINUTE", default_value = "600",
        value_parser = parse_per_minute)]
    pub service_rate_limit_per_minute: NonZeroU32,
}

/// Where and how the proxy listens.
#[derive(Args, Debug)]
#[command(next_help_heading = "Server")]
pub(crate) struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "UNLINK_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Path prefix of the routes; the widget's `endpoint` option.
    #[arg(long, env = "UNLINK_PREFIX", default_value = "/api/mono", value_parser = parse_prefix)]
    pub prefix: String,

    /// Serve this folder (the widget's dist/) at /, from the same origin as the API.
    #[arg(long, env = "UNLINK_STATIC_DIR")]
    pub static_dir: Option<PathBuf>,

    /// Origin of your own pages that call the proxy same-origin, e.g. https://app.example
    /// (repeat, or comma-separate in the env var). With a real key, this or --allowed-origin
    /// is required: without them the proxy would trust the client's Host header.
    #[arg(long = "public-origin", env = "UNLINK_PUBLIC_ORIGINS", value_delimiter = ',',
        value_parser = parse_origin)]
    pub public_origins: Vec<String>,

    /// Origin allowed to call from another site, with cookies (repeat, or comma-separate in
    /// the env var).
    #[arg(long = "allowed-origin", env = "UNLINK_ALLOWED_ORIGINS", value_delimiter = ',',
        value_parser = parse_origin)]
    pub allowed_origins: Vec<String>,

    /// Behind a reverse proxy: take the client address (for per-address limits and the audit
    /// trail) from the last X-Forwarded-For entry. Leave off when clients connect directly.
    #[arg(long, env = "UNLINK_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// Serve GET /metrics (Prometheus) on this address, to any client; without it /metrics
    /// is served on --listen to clients on this machine only.
    #[arg(long, env = "UNLINK_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// On SIGTERM, how long requests in progress may take before the remaining connections
    /// are closed (unlinks in flight still record their outcome).
    #[arg(long, env = "UNLINK_SHUTDOWN_TIMEOUT", default_value = "20s",
        value_parser = humantime::parse_duration)]
    pub shutdown_timeout: Duration,

    /// Log lines as human-readable text or JSON.
    #[arg(long, env = "UNLINK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

/// How to reach Mono, with which key.
#[derive(Args, Debug)]
#[command(next_help_heading = "Mono")]
pub(crate) struct MonoArgs {
    /// File holding the Mono secret key (test_sk_… or live_sk_…). Alternative to MONO_SEC_KEY.
    #[arg(long, env = "MONO_SEC_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,

    /// Mono API base URL [default: https://api.withmono.com].
    #[arg(long, env = "MONO_BASE_URL")]
    pub mono_base_url: Option<Url>,

    /// Which unlink path to call: v2 (/v2/accounts/{id}/unlink) or v1 (/accounts/{id}/unlink).
    #[arg(long, env = "MONO_API", value_enum, default_value_t = MonoApi::V2)]
    pub mono_api: MonoApi,

    /// Most calls to Mono per unlink (retries on 429/502/503/504 and broken connections).
    #[arg(long, env = "UNLINK_UPSTREAM_ATTEMPTS", default_value = "3",
        value_parser = clap::value_parser!(u32).range(1..=10))]
    pub upstream_attempts: u32,
}

/// Who may unlink, and within how long.
#[derive(Args, Debug)]
#[command(next_help_heading = "Unlinks")]
pub(crate) struct UnlinkArgs {
    /// Your endpoint that decides who may unlink what. Before every unlink the proxy POSTs
    /// {"account_id": …} there with the caller's Cookie and Authorization headers; only 200
    /// with {"allowed": true, "principal": "<user id>"} allows. Required with a real key.
    #[arg(long, env = "UNLINK_AUTHORIZE_URL", hide_env_values = true)]
    pub authorize_url: Option<Url>,

    /// How long to wait for --authorize-url before denying.
    #[arg(long, env = "UNLINK_AUTHORIZE_TIMEOUT", default_value = "2s",
        value_parser = humantime::parse_duration)]
    pub authorize_timeout: Duration,

    /// Another caller header to forward to --authorize-url, e.g. X-CSRF-Token (repeat, or
    /// comma-separate in the env var).
    #[arg(long = "authorize-forward-header", env = "UNLINK_AUTHORIZE_FORWARD_HEADERS",
        value_delimiter = ',', value_name = "HEADER", value_parser = parse_forward_header)]
    pub authorize_forward_headers: Vec<HeaderName>,

    /// Every unlink is answered within this: authoriser, records, Mono and retries. Keep it
    /// below the widget's timeout (15 s by default).
    #[arg(long, env = "UNLINK_DEADLINE", default_value = "12s",
        value_parser = parse_deadline)]
    pub deadline: Duration,

    /// File holding the webhook secret. Alternative to MONO_WEBHOOK_SECRET. Without either,
    /// the webhook route answers 503.
    #[arg(long, env = "MONO_WEBHOOK_SECRET_FILE")]
    pub webhook_secret_file: Option<PathBuf>,
}

/// How much one user, address or connection may ask.
#[derive(Args, Debug)]
#[command(next_help_heading = "Limits")]
pub(crate) struct LimitArgs {
    /// Unlink attempts allowed per user per minute (1 to 1,000,000).
    #[arg(long, env = "UNLINK_RATE_LIMIT_PER_MINUTE", default_value = "10",
        value_parser = parse_per_minute)]
    pub rate_limit_per_minute: NonZeroU32,

    /// Unlink attempts allowed per client address (IPv6: per /64) per minute (1 to 1,000,000).
    #[arg(long, env = "UNLINK_IP_RATE_LIMIT_PER_MINUTE", default_value = "60",
        value_parser = parse_per_minute)]
    pub ip_rate_limit_per_minute: NonZeroU32,

    /// Status lookups (GET {prefix}/accounts/{id}) allowed per user per minute: a page of
    /// many widgets asks once for each.
    #[arg(long, env = "UNLINK_STATUS_RATE_LIMIT_PER_MINUTE", default_value = "300",
        value_parser = parse_per_minute)]
    pub status_rate_limit_per_minute: NonZeroU32,

    /// Webhook deliveries with the right secret allowed per minute, from all addresses
    /// together (Mono's deliveries after an offboarding come fast).
    #[arg(long, env = "UNLINK_WEBHOOK_RATE_LIMIT_PER_MINUTE", default_value = "6000",
        value_parser = parse_per_minute)]
    pub webhook_rate_limit_per_minute: NonZeroU32,

    /// A request's headers must arrive within this; idle keep-alive connections close after
    /// it too.
    #[arg(long, env = "UNLINK_HEADER_TIMEOUT", default_value = "10s",
        value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,

    /// Open connections at most; more wait until one closes.
    #[arg(long, env = "UNLINK_MAX_CONNECTIONS", default_value = "1024",
        value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Open connections per client address (IPv6: per /64) at most, and never more than a
    /// quarter of --max-connections; more are closed at once. Not applied with
    /// --trust-forwarded-for (every connection then comes from your reverse proxy).
    #[arg(long, env = "UNLINK_MAX_CONNECTIONS_PER_ADDRESS", default_value = "64",
        value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_address: u32,

    /// A connection whose answer cannot be written for this long (the client stopped
    /// reading) is closed.
    #[arg(long, env = "UNLINK_WRITE_TIMEOUT", default_value = "10s",
        value_parser = humantime::parse_duration)]
    pub write_timeout: Duration,

    /// Requests answered on one keep-alive connection at most; then it is closed.
    #[arg(long, env = "UNLINK_MAX_REQUESTS_PER_CONNECTION", default_value = "1000",
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_requests_per_connection: u32,
}

/// The built-in fake Mono, for the demo and tests.
#[derive(Args, Debug)]
#[command(next_help_heading = "Demo")]
pub(crate) struct DemoArgs {
    /// Run against the built-in fake Mono, with a demo user and no key (the demo, tests).
    #[arg(long)]
    pub fake_mono: bool,

    /// Extra account for the fake Mono, owned by the demo user (repeatable).
    #[arg(long = "fake-mono-account", value_name = "ID")]
    pub fake_mono_accounts: Vec<AccountId>,

    /// Fault for the fake Mono, as ID=SPEC or *=SPEC (repeatable). SPEC: 500, 503, 429[:secs],
    /// drop or latency:ms, optionally followed by xN to affect only the first N calls.
    #[arg(long = "fake-mono-fault", value_name = "ID=SPEC", value_parser = parse_fault)]
    pub fake_mono_faults: Vec<(String, Fault)>,

    /// Allow the fake Mono this many unlink calls a second (429 with Retry-After beyond).
    #[arg(long = "fake-mono-rate", value_name = "PER_SECOND")]
    pub fake_mono_rate: Option<u32>,
}

/// Several replicas on one record: leases and upkeep.
#[derive(Args, Debug)]
#[command(next_help_heading = "Record")]
pub(crate) struct ReplicaArgs {
    /// At start-up, how long to keep trying to reach PostgreSQL before giving up.
    #[arg(long, env = "UNLINK_DATABASE_CONNECT_TIMEOUT", default_value = "30s",
        value_parser = humantime::parse_duration)]
    pub database_connect_timeout: Duration,

    /// How long a replica's claim on an account outlives the replica if it dies mid-unlink;
    /// then the unlink is marked outcome_unknown. Longer than --deadline.
    #[arg(long, env = "UNLINK_CLAIM_LEASE", default_value = "30s",
        value_parser = humantime::parse_duration)]
    pub claim_lease: Duration,

    /// How often to look for claims whose replica died, and count open questions for the
    /// metrics.
    #[arg(long, env = "UNLINK_MAINTENANCE_INTERVAL", default_value = "10s",
        value_parser = humantime::parse_duration)]
    pub maintenance_interval: Duration,

    /// Delete trail rows older than this many days (hourly). Without it, rows are kept.
    #[arg(long, env = "UNLINK_RETAIN_DAYS",
        value_parser = clap::value_parser!(u32).range(1..))]
    pub retain_days: Option<u32>,
}

/// Where the record is: the serving proxy, `audit` and `unlink` name it the same way.
#[derive(Args, Debug)]
#[command(next_help_heading = "Record")]
pub(crate) struct RecordArgs {
    /// SQLite file for the audit trail (one process). Ignored with --database-url.
    #[arg(long, env = "UNLINK_AUDIT_DB", default_value = "unlink-audit.sqlite3")]
    pub audit_db: PathBuf,

    /// PostgreSQL for the record, shared by several replicas:
    /// postgres://user:password@host:port/database. TLS is required for any host but this
    /// machine.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Extra CA certificates (PEM) for PostgreSQL's TLS, e.g. your cloud's RDS bundle.
    #[arg(long, env = "UNLINK_DATABASE_CA_FILE")]
    pub database_ca_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    pub record: RecordArgs,

    /// Only rows for this account.
    #[arg(long)]
    pub account: Option<AccountId>,

    /// Only rows from this time on: RFC 3339 (2026-11-23T00:00:00Z) or an age (24h, 30m).
    #[arg(long, value_parser = parse_since)]
    pub since: Option<time::OffsetDateTime>,

    /// Only intents sent to Mono whose outcome is unknown (the proxy stopped before it was
    /// recorded) and that no later answer from Mono settled.
    #[arg(long, conflicts_with = "unconfirmed")]
    pub unresolved: bool,

    /// Only unlinks Mono answered with success that its account_unlinked webhook has not
    /// confirmed (older than --older-than).
    #[arg(long)]
    pub unconfirmed: bool,

    /// With --unconfirmed: how long Mono's webhook may take.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration,
        requires = "unconfirmed")]
    pub older_than: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    Human,
    Json,
}

pub(crate) fn parse_prefix(value: &str) -> Result<String, String> {
    let prefix = value.trim_end_matches('/');
    let valid = value.starts_with('/')
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/-_.~".contains(c))
        && !prefix.contains("//");
    if valid {
        Ok(prefix.to_owned())
    } else {
        Err("must be a path like /api/mono (letters, digits, - _ . ~ and /)".into())
    }
}

pub(crate) fn parse_origin(value: &str) -> Result<String, String> {
    let origin = Url::parse(value)
        .ok()
        .map(|url| url.origin().ascii_serialization());
    match origin {
        Some(origin) if origin == value.trim_end_matches('/') => Ok(origin),
        _ => Err(format!(
            "{value:?} is not an origin: use scheme://host[:port] with no path, e.g. \
             https://app.partner.example"
        )),
    }
}

fn parse_forward_header(value: &str) -> Result<HeaderName, String> {
    let name = HeaderName::from_bytes(value.trim().as_bytes())
        .map_err(|_| format!("{value:?} is not a header name"))?;
    unlink_proxy::authorize::forwardable(&name)?;
    Ok(name)
}

fn parse_per_minute(value: &str) -> Result<NonZeroU32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=1_000_000).contains(n))
        .and_then(NonZeroU32::new)
        .ok_or_else(|| "must be a whole number from 1 to 1000000".into())
}

fn parse_deadline(value: &str) -> Result<Duration, String> {
    let deadline = humantime::parse_duration(value).map_err(|error| error.to_string())?;
    if !(Duration::from_secs(1)..=Duration::from_secs(60)).contains(&deadline) {
        return Err("must be between 1s and 60s".into());
    }
    Ok(deadline)
}

fn parse_reason(value: &str) -> Result<Reason, String> {
    value.parse().map_err(|_| {
        format!(
            "{value:?} is not a reason: use {}",
            Reason::ALL
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

fn parse_rate(value: &str) -> Result<f64, String> {
    value
        .parse::<f64>()
        .ok()
        .filter(|rate| (0.1..=100_000.0).contains(rate))
        .ok_or_else(|| "must be calls a second, from 0.1 to 100000".into())
}

pub(crate) fn parse_fault(value: &str) -> Result<(String, Fault), String> {
    let (id, spec) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?}: use ID=SPEC, e.g. *=503x1"))?;
    if id != "*" {
        AccountId::parse(id).map_err(|error| format!("{id:?}: {error}"))?;
    }
    Ok((id.to_owned(), spec.parse()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn prefixes() {
        assert_eq!(parse_prefix("/api/mono").unwrap(), "/api/mono");
        assert_eq!(parse_prefix("/api/mono/").unwrap(), "/api/mono");
        assert_eq!(parse_prefix("/").unwrap(), "");
        for bad in ["api", "/a b", "/{id}", "/a//b", "/*"] {
            assert!(parse_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins() {
        assert_eq!(
            parse_origin("https://app.partner.example").unwrap(),
            "https://app.partner.example"
        );
        assert_eq!(
            parse_origin("http://localhost:3000/").unwrap(),
            "http://localhost:3000"
        );
        for bad in ["app.partner.example", "https://a.example/path", "*", "null"] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn faults() {
        let (id, fault) = parse_fault("*=503x1").unwrap();
        assert_eq!(id, "*");
        assert_eq!(fault.to_string(), "503x1");
        assert!(parse_fault("60770aa8c5878a2af69ed849=drop").is_ok());
        assert!(parse_fault("../x=drop").is_err());
        assert!(parse_fault("drop").is_err());
    }

    #[test]
    fn forwarded_headers_and_deadlines() {
        assert_eq!(
            parse_forward_header("X-CSRF-Token").unwrap(),
            "x-csrf-token"
        );
        assert!(parse_forward_header("mono-sec-key").is_err());
        assert!(parse_forward_header("bad header").is_err());
        assert_eq!(parse_deadline("12s").unwrap(), Duration::from_secs(12));
        assert!(parse_deadline("500ms").is_err());
        assert!(parse_deadline("2m").is_err());
    }
}
