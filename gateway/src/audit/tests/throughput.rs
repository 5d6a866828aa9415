//! Records per second the SQLite store sustains, by batch size, appending straight to
//! the tables and through the journal (`cargo test --release -p cordon --lib
//! audit_throughput -- --ignored --nocapture`). A measurement, not a test.

use std::time::{Duration, Instant};

use super::{opened, statement, Fixture, T0};
use crate::audit::{AuditStore, SqliteStore};

#[test]
#[ignore = "a measurement; run by hand"]
fn audit_throughput_sqlite() {
    for journaled in [false, true] {
        for batch in [1usize, 8, 16, 128] {
            let f = Fixture::new();
            let path = f.store.path().to_path_buf();
            let mut store = match journaled {
                true => SqliteStore::open_for_appending(&path).expect("opening for appending"),
                false => SqliteStore::open(&path).expect("opening"),
            };
            let sessions: Vec<_> = (0..8)
                .map(|i| opened(&format!("s{i}"), "etl", T0))
                .collect();
            store.append(&sessions).unwrap();
            let budget = Duration::from_secs(2);
            let start = Instant::now();
            let mut records = 0u64;
            let mut n = 0i64;
            while start.elapsed() < budget {
                // Spread each batch over 8 sessions, as group commit across sessions would.
                let events: Vec<_> = (0..batch)
                    .map(|i| {
                        n += 1;
                        statement(&format!("s{}", i % 8), n, "allowed", T0 + n)
                    })
                    .collect();
                store.append(&events).unwrap();
                if store.unsettled() >= 4096 {
                    store.settle().unwrap();
                }
                records += batch as u64;
            }
            store.settle().unwrap();
            let secs = start.elapsed().as_secs_f64();
            println!(
                "sqlite {} batch {batch:>3}: {:>8.0} records/s ({:.0} commits/s)",
                if journaled { "journaled" } else { "direct   " },
                records as f64 / secs,
                records as f64 / secs / batch as f64
            );
        }
    }
}
