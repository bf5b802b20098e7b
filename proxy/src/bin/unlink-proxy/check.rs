//! `unlink-proxy check [--probe-mono]`: what the proxy would do with these flags, refused
//! the same way, without serving or creating anything; with `--probe-mono`, what Mono says.

use std::process::ExitCode;

use crate::{cli::CheckArgs, fail, setup};

/// Prints what `serve` would do with these flags, and with `--probe-mono` what Mono says.
pub(crate) async fn run(args: CheckArgs) -> ExitCode {
    let serve = &args.serve;
    let plan = match setup::plan(serve).await {
        Ok(plan) => plan,
        Err(message) => return fail(&message),
    };
    let record = match &serve.record.database_url {
        Some(url) => match unlink_proxy::store::PostgresStore::describe_url(url) {
            Ok(place) => format!("PostgreSQL at {place} (not contacted by check)"),
            Err(error) => return fail(&error.to_string()),
        },
        None if serve.record.audit_db.is_file() => {
            format!("SQLite {} (exists)", serve.record.audit_db.display())
        }
        None => format!(
            "SQLite {} (will be created, owner-only)",
            serve.record.audit_db.display()
        ),
    };
    let origins = if serve.server.allowed_origins.is_empty() {
        "same-origin only".to_owned()
    } else {
        serve.server.allowed_origins.join(", ")
    };
    println!(
        "unlink-proxy {}: the configuration is usable",
        env!("CARGO_PKG_VERSION")
    );
    for warning in &plan.warnings {
        println!("  warning: {warning}");
    }
    for (what, value) in [
        (
            "listen",
            format!(
                "http://{}, routes under {}",
                serve.server.listen,
                if serve.server.prefix.is_empty() {
                    "/"
                } else {
                    &serve.server.prefix
                }
            ),
        ),
        ("Mono", plan.mono.clone()),
        (
            "TLS roots",
            unlink_proxy::http_client::tls_roots().to_string(),
        ),
        ("authorisation", plan.authorisation.clone()),
        ("record", record),
        (
            "deadline",
            humantime::format_duration(serve.unlinks.deadline).to_string(),
        ),
        (
            "limits",
            format!(
                "{} a minute per user, {} per address",
                serve.limits.rate_limit_per_minute, serve.limits.ip_rate_limit_per_minute
            ),
        ),
        ("callers", origins),
        (
            "webhook",
            if plan.webhook_secret.is_some() {
                "enabled".into()
            } else {
                "disabled (no MONO_WEBHOOK_SECRET)".into()
            },
        ),
        (
            "static files",
            serve
                .server
                .static_dir
                .as_ref()
                .map_or("none".into(), |d| d.display().to_string()),
        ),
    ] {
        println!("  {what:<14} {value}");
    }
    if !args.probe_mono {
        return ExitCode::SUCCESS;
    }
    let mono = match unlink_proxy::mono::Mono::new(plan.upstream) {
        Ok(mono) => mono,
        Err(error) => return fail(&error.to_string()),
    };
    let id = unlink_proxy::account::AccountId::parse(unlink_proxy::mono::PROBE_ACCOUNT_ID)
        .expect("a valid id");
    println!(
        "probe: POST {} for an account that cannot exist; nothing changes at Mono",
        mono.unlink_url(&id)
    );
    let probe = mono.probe().await;
    if probe.is_ready() {
        println!("probe: ok: {}", probe.explain());
        ExitCode::SUCCESS
    } else {
        println!("probe: FAILED: {}", probe.explain());
        ExitCode::FAILURE
    }
}
