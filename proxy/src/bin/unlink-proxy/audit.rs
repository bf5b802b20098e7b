//! `unlink-proxy audit`: the trail as JSON lines, oldest first, filtered by account, time or
//! open question (`--unresolved`, `--unconfirmed`), streamed a page at a time.

use std::process::ExitCode;

use unlink_proxy::{
    SqliteStore,
    store::{Only, Query, Store},
};

use crate::{cli::AuditArgs, fail};

pub(crate) async fn run(args: AuditArgs) -> ExitCode {
    let record = &args.record;
    let store: std::sync::Arc<dyn Store> = match &record.database_url {
        Some(_) => match record.open(std::time::Duration::from_secs(10)).await {
            Ok(store) => store,
            Err(message) => return fail(&message),
        },
        None => match SqliteStore::open_existing(&record.audit_db) {
            Ok(store) => std::sync::Arc::new(store),
            Err(error) => return fail(&error.to_string()),
        },
    };
    let query = Query {
        account_id: args.account.map(|id| id.to_string()),
        since: args.since,
        only: if args.unresolved {
            Only::Unresolved
        } else if args.unconfirmed {
            Only::Unconfirmed {
                older_than: args.older_than,
            }
        } else {
            Only::All
        },
        ..Query::default()
    };
    // A page at a time, each row printed as it comes: a trail of millions of rows takes no
    // more memory than a short one.
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let printed = unlink_proxy::store::for_each_entry(&*store, &query, |entry| {
        serde_json::to_writer(&mut stdout, &entry)
            .map_err(std::io::Error::from)
            .and_then(|()| std::io::Write::write_all(&mut stdout, b"\n"))
            .map_err(|error| {
                unlink_proxy::store::StoreError::Broken(format!("cannot print a row: {error}"))
            })
    })
    .await;
    match printed.and_then(|_| {
        std::io::Write::flush(&mut stdout).map_err(|error| {
            unlink_proxy::store::StoreError::Broken(format!("cannot print: {error}"))
        })
    }) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error.to_string()),
    }
}
