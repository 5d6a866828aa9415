//! Records per second the SQLite store sustains, by batch size (`cargo test -p cordon
//! --lib audit_throughput -- --ignored --nocapture`). A measurement, not a test.

use std::time::{Duration, Instant};

use super::{statement, Fixture, T0};
use crate::audit::AuditStore;

#[test]
#[ignore = "a measurement; run by hand"]
fn audit_throughput_sqlite() {
    for batch in [1usize, 16, 128] {
        let mut f = Fixture::new();
        let budget = Duration::from_secs(3);
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
            f.store.append(&events).unwrap();
            records += batch as u64;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "sqlite batch {batch:>3}: {:>8.0} records/s ({:.0} commits/s)",
            records as f64 / secs,
            records as f64 / secs / batch as f64
        );
    }
}
