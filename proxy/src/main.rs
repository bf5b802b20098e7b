//! `unlink-proxy`: run the reference proxy, or read its audit trail.
//!
//! ```text
//! MONO_SEC_KEY=live_sk_… unlink-proxy --authorize-url https://app.example/internal/can-unlink
//! unlink-proxy --fake-mono --static-dir dist          # the demo: no key, no network
//! unlink-proxy audit --account 60770aa8c5878a2af69ed849 --since 24h
//! ```

use std::{
    collections::HashSet,
    net::SocketAddr,
    num::NonZeroU32,
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
    time::Duration,
};

use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;
use unlink_proxy::{
    Config,
    account::AccountId,
    audit::{AuditLog, parse_since},
    authorize::{Authoriser, DemoAuthoriser, HttpAuthoriser},
    fake_mono::{self, FakeMono, Fault},
    mono::{MonoApi, UpstreamConfig},
    ratelimit::RateLimits,
    secret::{SecretKey, SharedSecret},
};
use url::Url;

/// The demo page's accounts. The demo user owns the first two; the third belongs to someone
/// else, so the demo can show a refusal.
const DEMO_OWNED: &[&str] = &["60770aa8c5878a2af69ed849", "65c4c03aa66a95b572cb5a86"];
const DEMO_NOT_OWNED: &str = "64779d900000000000b3de23aeb8";
const DEMO_USER: &str = "demo-user";

/// The reference backend for the unlink widget: holds the Mono secret key, checks the caller
/// may unlink the account, forwards the unlink to Mono and records an audit trail.
///
/// The secret key comes from MONO_SEC_KEY or --secret-key-file, never from a flag (flags show
/// up in `ps`). Without a key it runs a built-in fake Mono (demo mode).
#[derive(Parser, Debug)]
#[command(name = "unlink-proxy", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print audit rows as JSON lines, oldest first.
    Audit(AuditArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "UNLINK_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Path prefix of the routes; the widget's `endpoint` option.
    #[arg(long, env = "UNLINK_PREFIX", default_value = "/api/mono", value_parser = parse_prefix)]
    prefix: String,

    /// File holding the Mono secret key (test_sk_… or live_sk_…). Alternative to MONO_SEC_KEY.
    #[arg(long, env = "MONO_SEC_KEY_FILE")]
    secret_key_file: Option<PathBuf>,

    /// Mono API base URL.
    #[arg(
        long,
        env = "MONO_BASE_URL",
        default_value = "https://api.withmono.com"
    )]
    mono_base_url: Url,

    /// Which unlink path to call: v2 (/v2/accounts/{id}/unlink) or v1 (/accounts/{id}/unlink).
    #[arg(long, env = "MONO_API", value_enum, default_value_t = MonoApi::V2)]
    mono_api: MonoApi,

    /// Origin allowed to call from another site, with cookies (repeat, or comma-separate in
    /// the env var). Same-origin calls are always allowed.
    #[arg(long = "allowed-origin", env = "UNLINK_ALLOWED_ORIGINS", value_delimiter = ',',
        value_parser = parse_origin)]
    allowed_origins: Vec<String>,

    /// Your endpoint that decides who may unlink what. Before every unlink the proxy POSTs
    /// {"account_id": …} there with the caller's Cookie and Authorization headers; a 2xx
    /// (optionally {"principal": "…"}) allows, anything else denies. Required with a real key.
    #[arg(long, env = "UNLINK_AUTHORIZE_URL")]
    authorize_url: Option<Url>,

    /// How long to wait for --authorize-url before denying.
    #[arg(long, env = "UNLINK_AUTHORIZE_TIMEOUT", default_value = "2s",
        value_parser = humantime::parse_duration)]
    authorize_timeout: Duration,

    /// Serve this folder (the widget's dist/) at /, from the same origin as the API.
    #[arg(long, env = "UNLINK_STATIC_DIR")]
    static_dir: Option<PathBuf>,

    /// SQLite file for the audit trail.
    #[arg(long, env = "UNLINK_AUDIT_DB", default_value = "unlink-audit.sqlite3")]
    audit_db: PathBuf,

    /// Run against the built-in fake Mono (the default when no key is given).
    #[arg(long)]
    fake_mono: bool,

    /// Extra account for the fake Mono, owned by the demo user (repeatable).
    #[arg(long = "fake-mono-account", value_name = "ID")]
    fake_mono_accounts: Vec<AccountId>,

    /// Fault for the fake Mono, as ID=SPEC or *=SPEC (repeatable). SPEC: 500, 503, 429[:secs],
    /// drop or latency:ms, optionally followed by xN to affect only the first N calls.
    #[arg(long = "fake-mono-fault", value_name = "ID=SPEC", value_parser = parse_fault)]
    fake_mono_faults: Vec<(String, Fault)>,

    /// File holding the webhook secret. Alternative to MONO_WEBHOOK_SECRET. Without either,
    /// the webhook route answers 503.
    #[arg(long, env = "MONO_WEBHOOK_SECRET_FILE")]
    webhook_secret_file: Option<PathBuf>,

    /// Unlink attempts allowed per user per minute.
    #[arg(long, env = "UNLINK_RATE_LIMIT_PER_MINUTE", default_value = "10")]
    rate_limit_per_minute: NonZeroU32,

    /// Unlink attempts allowed per client IP per minute.
    #[arg(long, env = "UNLINK_IP_RATE_LIMIT_PER_MINUTE", default_value = "60")]
    ip_rate_limit_per_minute: NonZeroU32,

    /// Most calls to Mono per unlink (retries on 429/502/503/504 and broken connections).
    #[arg(long, env = "UNLINK_UPSTREAM_ATTEMPTS", default_value = "3",
        value_parser = clap::value_parser!(u32).range(1..=10))]
    upstream_attempts: u32,

    /// Behind a reverse proxy: take the client address (for per-address limits and the audit
    /// trail) from the last X-Forwarded-For entry. Leave off when clients connect directly.
    #[arg(long, env = "UNLINK_TRUST_FORWARDED_FOR")]
    trust_forwarded_for: bool,

    /// Log lines as human-readable text or JSON.
    #[arg(long, env = "UNLINK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
}

#[derive(Args, Debug)]
struct AuditArgs {
    /// SQLite file for the audit trail.
    #[arg(long, env = "UNLINK_AUDIT_DB", default_value = "unlink-audit.sqlite3")]
    audit_db: PathBuf,

    /// Only rows for this account.
    #[arg(long)]
    account: Option<AccountId>,

    /// Only rows from this time on: RFC 3339 (2026-11-23T00:00:00Z) or an age (24h, 30m).
    #[arg(long, value_parser = parse_since)]
    since: Option<time::OffsetDateTime>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    match cli.command {
        Some(Command::Audit(args)) => runtime.block_on(print_audit(args)),
        None => {
            init_logging(cli.serve.log_format);
            runtime.block_on(serve(cli.serve))
        }
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("unlink-proxy: error: {message}");
    ExitCode::FAILURE
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,unlink_proxy=info,tower_http=info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

async fn print_audit(args: AuditArgs) -> ExitCode {
    let log = match AuditLog::open(&args.audit_db) {
        Ok(log) => log,
        Err(error) => return fail(&error.to_string()),
    };
    let account = args.account.map(|id| id.to_string());
    match log.entries(account, args.since).await {
        Ok(entries) => {
            for entry in entries {
                match serde_json::to_string(&entry) {
                    Ok(line) => println!("{line}"),
                    Err(error) => return fail(&format!("cannot print a row: {error}")),
                }
            }
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error.to_string()),
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    match build(&args).await {
        Ok((config, banner)) => {
            let listener = match tokio::net::TcpListener::bind(args.listen).await {
                Ok(listener) => listener,
                Err(error) => return fail(&format!("cannot listen on {}: {error}", args.listen)),
            };
            let shutdown = shutdown_signal();
            // The real address, when --listen asked for port 0.
            let addr = listener.local_addr().unwrap_or(args.listen);
            let app = unlink_proxy::router(config);
            tracing::info!("{banner}");
            tracing::info!("listening on http://{addr}");
            if args.static_dir.is_some() {
                // On stdout: the line the demo command and the browser tests wait for.
                println!("Demo: http://{addr}/");
            }
            match unlink_proxy::serve(listener, app, shutdown).await {
                Ok(()) => {
                    tracing::info!("stopped; requests in flight finished");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&format!("server error: {error}")),
            }
        }
        Err(message) => fail(&message),
    }
}

/// Turns flags and environment into a [`Config`], refusing unsafe combinations.
async fn build(args: &ServeArgs) -> Result<(Config, String), String> {
    let key = secret_key(args)?;
    let fake = args.fake_mono || key.is_none();
    if !fake && (!args.fake_mono_accounts.is_empty() || !args.fake_mono_faults.is_empty()) {
        return Err("--fake-mono-account and --fake-mono-fault need --fake-mono".into());
    }

    let (upstream, authoriser, banner) = if fake {
        if key.is_some() {
            tracing::warn!("--fake-mono: ignoring the configured Mono secret key");
        }
        let mut fake = FakeMono::new(fake_mono::DEMO_SECRET_KEY);
        let mut owned: HashSet<String> = DEMO_OWNED.iter().map(|s| s.to_string()).collect();
        owned.extend(args.fake_mono_accounts.iter().map(|id| id.to_string()));
        for id in owned.iter().map(String::as_str).chain([DEMO_NOT_OWNED]) {
            fake = fake.with_account(id);
        }
        for (id, fault) in &args.fake_mono_faults {
            fake = fake.with_fault(id, *fault);
        }
        let addr = Arc::new(fake)
            .spawn()
            .await
            .map_err(|error| format!("cannot start the fake Mono: {error}"))?;
        let mut upstream = UpstreamConfig::new(
            SecretKey::parse(fake_mono::DEMO_SECRET_KEY).expect("demo key is valid"),
        );
        upstream.base_url = Url::parse(&format!("http://{addr}")).expect("valid URL");
        let authoriser: Arc<dyn Authoriser> = match &args.authorize_url {
            Some(url) => http_authoriser(url, args.authorize_timeout)?,
            None => Arc::new(DemoAuthoriser {
                principal: DEMO_USER.into(),
                owned,
            }),
        };
        let banner = format!(
            "FAKE MONO: no Mono secret key in use, so unlinks go to a built-in fake Mono on \
             {addr}. Nothing reaches api.withmono.com. Demo user \"{DEMO_USER}\" owns {}.",
            DEMO_OWNED.join(", ")
        );
        tracing::warn!("{banner}");
        (upstream, authoriser, "demo mode".to_owned())
    } else {
        let key = key.expect("checked above");
        let Some(url) = &args.authorize_url else {
            return Err(
                "refusing to start: set --authorize-url (or UNLINK_AUTHORIZE_URL). \
                 Without an authoriser any visitor could unlink any account. (Library users \
                 pass an Authoriser to Config::new.)"
                    .into(),
            );
        };
        let authoriser = http_authoriser(url, args.authorize_timeout)?;
        let mut upstream = UpstreamConfig::new(key.clone());
        upstream.base_url = args.mono_base_url.clone();
        upstream.api = args.mono_api;
        let banner = format!(
            "using Mono at {} ({:?}) with a {} key ({})",
            args.mono_base_url,
            args.mono_api,
            if key.is_live() { "live" } else { "test" },
            key.prefix()
        );
        (upstream, authoriser, banner)
    };

    let mut upstream = upstream;
    upstream.max_attempts = args.upstream_attempts;
    let audit = AuditLog::open(&args.audit_db).map_err(|error| error.to_string())?;
    let mut config = Config::new(upstream, authoriser, audit)
        .map_err(|error| format!("cannot build the HTTP client: {error}"))?;
    config.prefix = args.prefix.clone();
    config.allowed_origins = args.allowed_origins.clone();
    config.webhook_secret = webhook_secret(args)?;
    config.trust_forwarded_for = args.trust_forwarded_for;
    config.rate_limits = RateLimits {
        per_principal: args.rate_limit_per_minute,
        per_ip: args.ip_rate_limit_per_minute,
    };
    if let Some(dir) = &args.static_dir {
        if !dir.join("index.html").is_file() {
            return Err(format!(
                "--static-dir {} has no index.html (build the widget first: make build)",
                dir.display()
            ));
        }
        config.static_dir = Some(dir.clone());
    }
    if config.webhook_secret.is_none() {
        tracing::info!("webhooks disabled: set MONO_WEBHOOK_SECRET to enable them");
    }
    Ok((config, banner))
}

fn http_authoriser(url: &Url, timeout: Duration) -> Result<Arc<dyn Authoriser>, String> {
    HttpAuthoriser::new(url.clone(), timeout)
        .map(|a| Arc::new(a) as Arc<dyn Authoriser>)
        .map_err(|error| format!("cannot build the authoriser client: {error}"))
}

/// MONO_SEC_KEY or --secret-key-file (not both). Only the prefix is ever logged.
fn secret_key(args: &ServeArgs) -> Result<Option<SecretKey>, String> {
    let from_env = std::env::var("MONO_SEC_KEY")
        .ok()
        .filter(|k| !k.trim().is_empty());
    let raw = match (&args.secret_key_file, from_env) {
        (Some(_), Some(_)) => {
            return Err("give the Mono secret key once: MONO_SEC_KEY or --secret-key-file".into());
        }
        (Some(path), None) => Some(read_secret_file(path)?),
        (None, key) => key,
    };
    raw.map(|raw| SecretKey::parse(&raw).map_err(|error| format!("refusing to start: {error}")))
        .transpose()
}

fn webhook_secret(args: &ServeArgs) -> Result<Option<SharedSecret>, String> {
    let raw = match &args.webhook_secret_file {
        Some(path) => Some(read_secret_file(path)?),
        None => std::env::var("MONO_WEBHOOK_SECRET").ok(),
    };
    Ok(raw.as_deref().and_then(SharedSecret::new))
}

fn read_secret_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))
}

fn parse_prefix(value: &str) -> Result<String, String> {
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

fn parse_origin(value: &str) -> Result<String, String> {
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

fn parse_fault(value: &str) -> Result<(String, Fault), String> {
    let (id, spec) = value
        .split_once('=')
        .ok_or_else(|| format!("{value:?}: use ID=SPEC, e.g. *=503x1"))?;
    if id != "*" {
        AccountId::parse(id).map_err(|error| format!("{id:?}: {error}"))?;
    }
    Ok((id.to_owned(), spec.parse()?))
}

/// Resolves on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when
/// it is first awaited, so a signal right after start-up is not lost.
fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        )
    };
    async move {
        #[cfg(unix)]
        match signals {
            (Ok(mut terminate), Ok(mut interrupt)) => {
                tokio::select! {
                    _ = terminate.recv() => {}
                    _ = interrupt.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing requests in flight");
    }
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
}
