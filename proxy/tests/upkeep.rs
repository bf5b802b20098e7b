//! The record grows for ever unless `--retain-days` is set, so nothing that runs on a
//! schedule or walks the trail may load it: a record of a million rows, and the memory the
//! upkeep's counts and a full `audit` walk take, measured by this test binary's own
//! allocator.

mod support;

use std::{
    alloc::{GlobalAlloc, Layout, System},
    sync::atomic::{AtomicUsize, Ordering},
};

use support::*;
use unlink_proxy::store::{Only, Query, Record, for_each_entry, patient_deadline};

/// The system allocator, keeping the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        IN_USE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How many bytes above what was in use before `work` the peak reached while it ran.
async fn peak_growth<T>(work: impl Future<Output = T>) -> (T, usize) {
    let before = IN_USE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = work.await;
    (out, PEAK.load(Ordering::Relaxed) - before)
}

/// Rows of each of the two kinds written: a record of a million rows in all.
const ROWS: u64 = 500_000;

/// Memory a step may take whatever the record's length: pages and statements, not rows.
const FLAT: usize = 8 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_rows_are_counted_and_walked_in_flat_memory() {
    let mut h = harness(&[]).await;
    // Half a million unlinks Mono answered long ago and never confirmed, and as many intents
    // without an outcome, written in one statement each.
    let writer = rusqlite::Connection::open(h.store.path()).unwrap();
    writer
        .execute_batch(&format!(
            "BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
             INSERT INTO audit (ts, kind, principal, account_id, outcome, source)
                SELECT '2026-01-01T00:00:00.000Z', 'unlink', 'user-' || i, 'acc' || i,
                    'unlinked', 'upstream' FROM n;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
             INSERT INTO audit (ts, kind, principal, account_id)
                SELECT '2026-01-01T00:00:00.000Z', 'intent', 'user-' || i, 'gone' || i FROM n;
             COMMIT;"
        ))
        .unwrap();
    drop(writer);
    let proxy = h.proxy_with(|_| {}).await;
    let store = h.store.clone();

    // The upkeep's open questions, as it counts them every 10 s.
    let (_, grew) = peak_growth(proxy.count_open_questions()).await;
    assert!(grew < FLAT, "counting took {} MB", grew >> 20);
    let older = Only::Unconfirmed {
        older_than: std::time::Duration::from_secs(600),
    };
    assert_eq!(store.count(older, patient_deadline()).await.unwrap(), ROWS);
    assert_eq!(
        store
            .count(Only::Unresolved, patient_deadline())
            .await
            .unwrap(),
        ROWS
    );

    // `unlink-proxy audit` and `migrate-audit` walk every row, a page at a time.
    let mut seen = 0u64;
    let (walked, grew) = peak_growth(for_each_entry(&*store, &Query::default(), |_| {
        seen += 1;
        Ok(())
    }))
    .await;
    assert_eq!(walked.unwrap(), 2 * ROWS);
    assert_eq!(seen, 2 * ROWS);
    assert!(grew < FLAT, "walking took {} MB", grew >> 20);
}
