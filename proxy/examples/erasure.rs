//! A Rust backend's erasure job: each request to erase a user's data unlinks their Mono
//! accounts through the proxy's `Unlinker`, on the same record as the widget's unlinks (an
//! intent before Mono is called, the outcome after), one Mono call per account however often
//! the job is retried.
//!
//! ```sh
//! MONO_SEC_KEY=test_sk_… cargo run -p unlink-proxy --example erasure -- 60770aa8c5878a2af69ed849
//! ```
//!
//! `proxy/tests/server_side.rs` runs `erase` against a fake Mono.

use std::sync::Arc;

use unlink_proxy::{
    Config, Denied, Principal, Proxy, SecretKey, SqliteStore, Unlinker, UpstreamConfig,
    account::AccountId, authoriser_fn, record::Reason,
};

/// One erasure request: who asked (a ticket), and the accounts they linked.
pub struct Erasure {
    pub ticket: String,
    pub accounts: Vec<AccountId>,
}

/// How each account ended: unlinked now, already gone, or why not (to retry the ticket).
pub async fn erase(
    unlinker: &Unlinker,
    erasure: &Erasure,
) -> Vec<(AccountId, Result<bool, String>)> {
    let principal = Principal::new(format!("erasure:{}", erasure.ticket)).expect("a ticket id");
    let mut ended = Vec::new();
    for account in &erasure.accounts {
        // One key per account and ticket: running the job again replays, never calls twice.
        let key = format!("erasure:{}:{account}", erasure.ticket);
        let result = unlinker
            .unlink(account, &principal, Reason::ErasureRequest, &key)
            .await
            .map(|done| done.already_unlinked)
            .map_err(|failed| failed.error.code().to_owned());
        ended.push((account.clone(), result));
    }
    ended
}

#[allow(dead_code)] // the test uses `erase`, not `main`
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let key = SecretKey::parse(&std::env::var("MONO_SEC_KEY")?)?;
    let record = Arc::new(SqliteStore::open("unlink-audit.sqlite3")?);
    // This process serves no widget: nobody is asked, the job is the yes.
    let nobody = authoriser_fn(|_| async { Err(Denied("no widget here".into())) });
    let proxy = Proxy::start(Config::new(UpstreamConfig::new(key), nobody, record)?).await?;
    let accounts = std::env::args()
        .skip(1)
        .map(|id| AccountId::parse(&id))
        .collect::<Result<_, _>>()?;
    let erasure = Erasure {
        ticket: "T-1001".into(),
        accounts,
    };
    for (account, ended) in erase(&proxy.unlinker(), &erasure).await {
        match ended {
            Ok(true) => println!("{account}: already unlinked"),
            Ok(false) => println!("{account}: unlinked"),
            Err(code) => println!("{account}: not unlinked ({code}); run the job again"),
        }
    }
    Ok(())
}
