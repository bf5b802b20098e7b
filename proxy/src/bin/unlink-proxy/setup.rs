//! Flags and environment → a plan for the proxy, refusing what cannot be right. The demo (a
//! fake Mono) and a real deployment are planned by separate functions, and the choice
//! between them is explicit: no key never quietly means "pretend". `serve` turns a plan into
//! a running proxy; `check` prints it.

use std::{collections::HashSet, path::Path, sync::Arc};

use unlink_proxy::{
    Config, Principal, RateLimits, SecretKey, SharedSecret, SqliteStore, UpstreamConfig,
    authorize::{Authoriser, DemoAuthoriser, HttpAuthoriser},
    fake_mono::{self, FakeMono},
    secret::ServiceTokens,
    store::{ConnectPatience, PostgresStore, Store},
};
use url::Url;

use crate::cli::{DemoArgs, MonoArgs, RecordArgs, ServeArgs};

/// The demo page's accounts. The demo user owns the first two; the third belongs to someone
/// else, so the demo can show a refusal.
pub(crate) const DEMO_OWNED: &[&str] = &["60770aa8c5878a2af69ed849", "65c4c03aa66a95b572cb5a86"];
pub(crate) const DEMO_NOT_OWNED: &str = "64779d900000000000b3de23aeb8";
pub(crate) const DEMO_USER: &str = "demo-user";

/// Everything checked, nothing opened yet.
pub(crate) struct Plan {
    pub upstream: UpstreamConfig,
    pub authoriser: Arc<dyn Authoriser>,
    /// What the proxy will talk to, for the start-up log and `check`.
    pub mono: String,
    pub authorisation: String,
    pub webhook_secret: Option<SharedSecret>,
    pub service_tokens: Option<ServiceTokens>,
    /// Things that work but deserve a look, for the log and `check`.
    pub warnings: Vec<String>,
}

/// Reads the key, then plans either the demo or a real deployment, and checks what both
/// share.
pub(crate) async fn plan(args: &ServeArgs) -> Result<Plan, String> {
    let mut warnings = Vec::new();
    let key = secret_key(&args.mono, &mut warnings)?;
    let mut plan = if args.demo.fake_mono {
        demo(args, key.is_some()).await?
    } else {
        live(args, key)?
    };
    if let Some(path) = &args.unlinks.webhook_secret_file {
        warnings.extend(readable_by_others(path));
    }
    if let Some(path) = &args.service.service_token_file {
        warnings.extend(readable_by_others(path));
    }
    plan.warnings.extend(warnings);
    plan.service_tokens = service_tokens(args)?;
    plan.upstream.check()?;
    if args.replicas.claim_lease <= args.unlinks.deadline {
        return Err(format!(
            "--claim-lease ({}) must be longer than --deadline ({}): a claim that can expire \
             while its unlink is still within its deadline lets another replica call Mono again",
            humantime::format_duration(args.replicas.claim_lease),
            humantime::format_duration(args.unlinks.deadline)
        ));
    }
    if let Some(dir) = &args.server.static_dir {
        refuse_secrets_in(dir, args)?;
    }
    // A page (index.html) or the widget (unlink.js, as in a CDN folder): anything else is
    // most likely a build that has not run, or a typo.
    if let Some(dir) = &args.server.static_dir
        && !["index.html", "unlink.js"]
            .iter()
            .any(|file| dir.join(file).is_file())
    {
        return Err(format!(
            "--static-dir {} has neither index.html nor unlink.js (build the widget first: \
             make build)",
            dir.display()
        ));
    }
    Ok(plan)
}

/// `--fake-mono`: a fake Mono on loopback and a demo user. Anything that says "real Mono"
/// alongside it is a contradiction, refused rather than ignored.
async fn demo(args: &ServeArgs, has_key: bool) -> Result<Plan, String> {
    let contradiction = |what: &str| {
        format!(
            "--fake-mono cannot be combined with {what}: the fake Mono never uses it. Drop \
             --fake-mono to use a real Mono, or drop {what} for the demo."
        )
    };
    if has_key {
        return Err(contradiction(
            "a Mono secret key (MONO_SEC_KEY or --secret-key-file)",
        ));
    }
    if args.unlinks.authorize_url.is_some() {
        return Err(contradiction("--authorize-url"));
    }
    if args.mono.mono_base_url.is_some() {
        return Err(contradiction("--mono-base-url"));
    }

    let (upstream, addr, owned) = fake_upstream(&args.demo, args.mono.upstream_attempts).await?;
    let authoriser = Arc::new(DemoAuthoriser {
        principal: Principal::new(DEMO_USER).expect("a valid principal"),
        owned,
    });
    Ok(Plan {
        upstream,
        authoriser,
        mono: format!(
            "FAKE MONO: --fake-mono is set, so unlinks go to a built-in fake Mono on {addr}. \
             Nothing reaches api.withmono.com."
        ),
        authorisation: format!(
            "demo user \"{DEMO_USER}\" owns {}; nobody else is asked",
            DEMO_OWNED.join(", ")
        ),
        webhook_secret: webhook_secret(args)?,
        service_tokens: None,
        warnings: Vec::new(),
    })
}

/// The built-in fake Mono, started on loopback with the demo's accounts (and `demo`'s extra
/// accounts, faults and rate), and the upstream that reaches it. Returns the accounts the
/// demo user owns too.
async fn fake_upstream(
    demo: &DemoArgs,
    attempts: u32,
) -> Result<(UpstreamConfig, std::net::SocketAddr, HashSet<String>), String> {
    let mut fake = FakeMono::new(fake_mono::DEMO_SECRET_KEY);
    let mut owned: HashSet<String> = DEMO_OWNED.iter().map(|s| s.to_string()).collect();
    owned.extend(demo.fake_mono_accounts.iter().map(|id| id.to_string()));
    for id in owned.iter().map(String::as_str).chain([DEMO_NOT_OWNED]) {
        fake = fake.with_account(id);
    }
    for (id, fault) in &demo.fake_mono_faults {
        fake = fake.with_fault(id, *fault);
    }
    if let Some(per_second) = demo.fake_mono_rate {
        fake = fake.with_rate_limit(per_second);
    }
    let addr = Arc::new(fake)
        .spawn()
        .await
        .map_err(|error| format!("cannot start the fake Mono: {error}"))?;
    let mut upstream = UpstreamConfig::new(
        SecretKey::parse(fake_mono::DEMO_SECRET_KEY).expect("the demo key is valid"),
    );
    upstream.base_url = Url::parse(&format!("http://{addr}")).expect("a valid URL");
    upstream.max_attempts = attempts;
    Ok((upstream, addr, owned))
}

/// How `unlink-proxy unlink` reaches Mono: the same key, flags and variables as the proxy,
/// or the fake with `--fake-mono`. No authoriser and no origins: the operator is the yes.
pub(crate) async fn bulk_upstream(
    mono: &MonoArgs,
    demo: &DemoArgs,
) -> Result<(UpstreamConfig, String, Vec<String>), String> {
    let mut warnings = Vec::new();
    let key = secret_key(mono, &mut warnings)?;
    if demo.fake_mono {
        if key.is_some() || mono.mono_base_url.is_some() {
            return Err(
                "--fake-mono cannot be combined with a Mono key or --mono-base-url: \
                 the fake Mono never uses them"
                    .into(),
            );
        }
        let (upstream, addr, _) = fake_upstream(demo, mono.upstream_attempts).await?;
        let described = format!("FAKE MONO on {addr} (--fake-mono): nothing reaches Mono");
        return Ok((upstream, described, warnings));
    }
    if !demo.fake_mono_accounts.is_empty()
        || !demo.fake_mono_faults.is_empty()
        || demo.fake_mono_rate.is_some()
    {
        return Err(
            "--fake-mono-account, --fake-mono-fault and --fake-mono-rate need --fake-mono".into(),
        );
    }
    let Some(key) = key else {
        return Err(
            "no Mono secret key: set MONO_SEC_KEY (or --secret-key-file) to your live_sk_… or \
             test_sk_… key, or pass --fake-mono to try it against a fake Mono"
                .into(),
        );
    };
    let mut upstream = UpstreamConfig::new(key.clone());
    if let Some(base) = &mono.mono_base_url {
        upstream.base_url = base.clone();
    }
    upstream.api = mono.mono_api;
    upstream.max_attempts = mono.upstream_attempts;
    upstream.check()?;
    let described = format!(
        "Mono at {} ({}) with a {} key ({})",
        upstream.base_url.origin().ascii_serialization(),
        mono.mono_api,
        if key.is_live() { "live" } else { "test" },
        key.prefix()
    );
    Ok((upstream, described, warnings))
}

/// A real Mono: needs a key and the partner's authoriser.
fn live(args: &ServeArgs, key: Option<SecretKey>) -> Result<Plan, String> {
    if !args.demo.fake_mono_accounts.is_empty()
        || !args.demo.fake_mono_faults.is_empty()
        || args.demo.fake_mono_rate.is_some()
    {
        return Err(
            "--fake-mono-account, --fake-mono-fault and --fake-mono-rate need --fake-mono".into(),
        );
    }
    let Some(key) = key else {
        return Err(
            "no Mono secret key: set MONO_SEC_KEY (or --secret-key-file) to your test_sk_… or \
             live_sk_… key, or pass --fake-mono to run the demo against a fake Mono"
                .into(),
        );
    };
    let Some(url) = &args.unlinks.authorize_url else {
        return Err(
            "refusing to start: set --authorize-url (or UNLINK_AUTHORIZE_URL). Without an \
             authoriser any visitor could unlink any account. (Library users pass an \
             Authoriser to Config::new.)"
                .into(),
        );
    };
    if args.server.public_origins.is_empty() && args.server.allowed_origins.is_empty() {
        return Err(
            "refusing to start: set --public-origin (the origin of your pages, e.g. \
             https://app.example) or --allowed-origin. Without them the proxy would decide \
             \"same origin\" from the client's own Host header."
                .into(),
        );
    }
    let authoriser: Arc<dyn Authoriser> = Arc::new(
        HttpAuthoriser::new(url.clone(), args.unlinks.authorize_timeout)
            .map_err(|error| format!("cannot build the authoriser client: {error}"))?,
    );
    let mut upstream = UpstreamConfig::new(key.clone());
    if let Some(base) = &args.mono.mono_base_url {
        upstream.base_url = base.clone();
    }
    upstream.api = args.mono.mono_api;
    upstream.max_attempts = args.mono.upstream_attempts;
    let mut warnings = Vec::new();
    if !key.is_live() {
        let public: Vec<&String> = args
            .server
            .public_origins
            .iter()
            .chain(&args.server.allowed_origins)
            .filter(|origin| !is_loopback_origin(origin))
            .collect();
        if let Some(first) = public.first() {
            warnings.push(format!(
                "a test_sk_ (sandbox) key serves {first}, which is not this machine: Mono's \
                 sandbox does not know live accounts and answers 404, which the proxy reports \
                 as \"already unlinked\", so real users would be told their account is gone \
                 while nothing was unlinked. Use your live_sk_ key for real users."
            ));
        }
    }
    let forwarded: Vec<String> = ["Cookie", "Authorization"]
        .into_iter()
        .map(str::to_owned)
        .chain(
            args.unlinks
                .authorize_forward_headers
                .iter()
                .map(|h| h.to_string()),
        )
        .collect();
    Ok(Plan {
        mono: format!(
            "using Mono at {} ({}) with a {} key ({})",
            upstream.base_url.origin().ascii_serialization(),
            args.mono.mono_api,
            if key.is_live() { "live" } else { "test" },
            key.prefix()
        ),
        upstream,
        authoriser,
        authorisation: format!(
            "asking {} (timeout {}), forwarding {}",
            url.origin().ascii_serialization() + url.path(),
            humantime::format_duration(args.unlinks.authorize_timeout),
            forwarded.join(", ")
        ),
        webhook_secret: webhook_secret(args)?,
        service_tokens: None,
        warnings,
    })
}

/// Whether an origin's host is this machine (`localhost`, 127.0.0.0/8, `[::1]`).
fn is_loopback_origin(origin: &str) -> bool {
    match Url::parse(origin)
        .ok()
        .and_then(|url| url.host().map(|h| h.to_owned()))
    {
        Some(url::Host::Domain(name)) => name == "localhost" || name.ends_with(".localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Refuses a static folder that holds the SQLite record or a secret's file: anyone could
/// download them (`--static-dir .` beside the default `--audit-db` serves the whole trail).
fn refuse_secrets_in(dir: &Path, args: &ServeArgs) -> Result<(), String> {
    let Ok(dir) = dir.canonicalize() else {
        return Ok(()); // a missing folder is refused by the check for its page
    };
    let mut private: Vec<(&str, &Path)> = Vec::new();
    if args.record.database_url.is_none() {
        private.push(("the audit record (--audit-db)", &args.record.audit_db));
    }
    if let Some(file) = &args.mono.secret_key_file {
        private.push(("the Mono key file (--secret-key-file)", file));
    }
    if let Some(file) = &args.unlinks.webhook_secret_file {
        private.push(("the webhook secret file", file));
    }
    for (what, path) in private {
        if resolved(path).is_some_and(|path| path.starts_with(&dir)) {
            return Err(format!(
                "--static-dir {} would serve {what} to anyone: {} is inside it. Serve a \
                 folder holding only the widget and your page (e.g. dist/), or keep the file \
                 elsewhere",
                dir.display(),
                path.display()
            ));
        }
    }
    Ok(())
}

/// A path made absolute with its folder's real location (the file itself may not exist yet).
fn resolved(path: &Path) -> Option<std::path::PathBuf> {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    let parent = path.parent()?.canonicalize().ok()?;
    Some(parent.join(path.file_name()?))
}

/// The proxy's config: the plan, the record, and what every deployment shares.
pub(crate) fn config(
    plan: Plan,
    args: &ServeArgs,
    store: Arc<dyn Store>,
) -> Result<Config, String> {
    let mut config =
        Config::new(plan.upstream, plan.authoriser, store).map_err(|error| error.to_string())?;
    config.prefix = args.server.prefix.clone();
    config.allowed_origins = args.server.allowed_origins.clone();
    config.public_origins = args.server.public_origins.clone();
    config.authorize_forward_headers = args.unlinks.authorize_forward_headers.clone();
    config.webhook_secret = plan.webhook_secret;
    config.service_tokens = plan.service_tokens;
    config.service_apart = args.service.service_listen.is_some();
    config.trust_forwarded_for = args.server.trust_forwarded_for;
    // The demo's user is known without signing in; a real authoriser needs credentials.
    config.require_credentials = !args.demo.fake_mono;
    config.deadline = args.unlinks.deadline;
    config.lease = args.replicas.claim_lease;
    config.retain = args
        .replicas
        .retain_days
        .map(|days| std::time::Duration::from_secs(u64::from(days) * 86_400));
    config.static_dir = args.server.static_dir.clone();
    config.rate_limits = RateLimits {
        per_principal: args.limits.rate_limit_per_minute,
        per_address: args.limits.ip_rate_limit_per_minute,
        per_webhook_secret: args.limits.webhook_rate_limit_per_minute,
        per_service_token: args.service.service_rate_limit_per_minute,
        status_per_principal: args.limits.status_rate_limit_per_minute,
    };
    Ok(config)
}

/// Opens (or creates) the record: PostgreSQL with `--database-url`, else the SQLite file.
pub(crate) async fn store(args: &ServeArgs) -> Result<Arc<dyn Store>, String> {
    args.record
        .open(args.replicas.database_connect_timeout)
        .await
}

impl RecordArgs {
    /// The record named by --database-url, or the SQLite file --audit-db (created if
    /// needed); PostgreSQL gets `patience` to answer.
    pub(crate) async fn open(
        &self,
        patience: std::time::Duration,
    ) -> Result<Arc<dyn Store>, String> {
        Ok(match &self.database_url {
            Some(url) => {
                let patience = ConnectPatience { total: patience };
                let store = PostgresStore::connect(url, self.database_ca_file.as_deref(), patience)
                    .await
                    .map_err(|error| error.to_string())?;
                tracing::info!("record: PostgreSQL at {}", store.place());
                Arc::new(store)
            }
            None => Arc::new(SqliteStore::open(&self.audit_db).map_err(|error| error.to_string())?),
        })
    }
}

/// MONO_SEC_KEY or --secret-key-file (not both). Set but empty is a mistake, not "no key".
/// Only the prefix is ever logged.
fn secret_key(mono: &MonoArgs, warnings: &mut Vec<String>) -> Result<Option<SecretKey>, String> {
    let from_env =
        std::env::var_os("MONO_SEC_KEY").map(|value| value.to_string_lossy().into_owned());
    let raw = match (&mono.secret_key_file, from_env) {
        (Some(_), Some(_)) => {
            return Err("give the Mono secret key once: MONO_SEC_KEY or --secret-key-file".into());
        }
        (Some(path), None) => {
            warnings.extend(readable_by_others(path));
            Some(read_secret_file(path)?)
        }
        (None, key) => key,
    };
    raw.map(|raw| {
        SecretKey::parse(&raw).map_err(|error| {
            format!("refusing to start: {error} (MONO_SEC_KEY or --secret-key-file)")
        })
    })
    .transpose()
}

/// `--service-token-file`, read and checked (every problem, by line, never a token).
fn service_tokens(args: &ServeArgs) -> Result<Option<ServiceTokens>, String> {
    let Some(path) = &args.service.service_token_file else {
        return Ok(None);
    };
    let text = read_secret_file(path)?;
    ServiceTokens::parse(&text).map(Some).map_err(|problems| {
        format!(
            "--service-token-file {}:\n  {}",
            path.display(),
            problems.join("\n  ")
        )
    })
}

fn webhook_secret(args: &ServeArgs) -> Result<Option<SharedSecret>, String> {
    let raw = match &args.unlinks.webhook_secret_file {
        Some(path) => Some(read_secret_file(path)?),
        None => std::env::var("MONO_WEBHOOK_SECRET").ok(),
    };
    Ok(raw.as_deref().and_then(SharedSecret::new))
}

/// A warning if a secret's file can be read by its group or by everyone.
fn readable_by_others(path: &Path) -> Option<String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        (mode & 0o077 != 0).then(|| {
            format!(
                "{} is readable by other users (mode {mode:o}); a secret belongs in a file only \
                 its owner can read: chmod 600 {}",
                path.display(),
                path.display()
            )
        })
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn read_secret_file(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))
}
