//! `unlink-proxy migrate-audit --from FILE --to postgres://…`: moving a single-process trail
//! into PostgreSQL when a partner outgrows SQLite. Rows are copied in order, in batches,
//! each labelled with its file and old id, so running it again skips what is there and an
//! interrupted copy resumes. It ends by counting both sides.

use std::{process::ExitCode, time::Duration};

use indicatif::{ProgressBar, ProgressStyle};
use unlink_proxy::{
    SqliteStore,
    store::{ConnectPatience, Only, PostgresStore, Query, Record, patient_deadline},
};

use crate::{cli::MigrateArgs, fail};

/// Rows per transaction.
const BATCH: u32 = 500;

pub(crate) async fn run(args: MigrateArgs) -> ExitCode {
    match migrate(&args).await {
        Ok((copied, total)) => {
            println!(
                "migrate-audit: {total} rows in {} are in PostgreSQL ({copied} copied now)",
                args.from.display()
            );
            ExitCode::SUCCESS
        }
        Err(message) => fail(&message),
    }
}

async fn migrate(args: &MigrateArgs) -> Result<(u64, u64), String> {
    let source = SqliteStore::open_existing(&args.from).map_err(|e| e.to_string())?;
    let patience = ConnectPatience {
        total: Duration::from_secs(30),
    };
    let target = PostgresStore::connect(&args.to, args.database_ca_file.as_deref(), patience)
        .await
        .map_err(|e| e.to_string())?;
    // The file's name labels its rows: the same file copied twice is the same rows.
    let label = format!(
        "sqlite:{}",
        std::fs::canonicalize(&args.from)
            .unwrap_or_else(|_| args.from.clone())
            .display()
    );
    let total = source
        .count(Only::All, patient_deadline())
        .await
        .map_err(|e| e.to_string())?;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows, {eta} left")
            .expect("a valid template"),
    );
    let (mut copied, mut after) = (0, 0);
    loop {
        let page = Query {
            after_id: Some(after),
            limit: Some(BATCH),
            ..Query::default()
        };
        let rows = source
            .entries(&page, patient_deadline())
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = rows.last() else {
            break;
        };
        after = last.id;
        copied += target
            .import(&label, &rows)
            .await
            .map_err(|e| e.to_string())?;
        bar.inc(rows.len() as u64);
    }
    bar.finish_and_clear();
    let landed = target
        .count_imported(&label)
        .await
        .map_err(|e| e.to_string())?;
    if landed != total {
        return Err(format!(
            "count check failed: {total} rows in {}, {landed} in PostgreSQL; run it again",
            args.from.display()
        ));
    }
    Ok((copied, total))
}
