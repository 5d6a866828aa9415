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

/// The tables' side alone: CPU per record of settling journaled records (what the
/// recorder thread spends beside the sessions' own journal writes).
#[test]
#[ignore = "a measurement; run by hand"]
fn audit_settle_cost_sqlite() {
    let f = Fixture::new();
    let path = f.store.path().to_path_buf();
    let mut store = SqliteStore::open_for_appending(&path).expect("opening for appending");
    let journal = store.journal().expect("a journal");
    let mut chains: Vec<crate::audit::writer::SessionChain> =
        (0..16).map(|_| Default::default()).collect();
    // Written as sessions write them: sealed into a frame, copied into the journal.
    for (i, chain) in chains.iter_mut().enumerate() {
        let event = opened(&format!("s{i}"), "etl", T0);
        chain
            .append_to(&journal, vec![event])
            .ok()
            .expect("journaled");
    }
    let mut n = 0i64;
    let mut settling = Duration::ZERO;
    let mut records = 0u64;
    let start = Instant::now();
    let process_start = process_cpu();
    while start.elapsed() < Duration::from_secs(3) {
        for _ in 0..4096 {
            n += 1;
            let i = (n % 16) as usize;
            let event = statement(&format!("s{i}"), n, "allowed", T0 + n);
            chains[i]
                .append_to(&journal, vec![event])
                .ok()
                .expect("journaled");
        }
        let cpu = cpu_time();
        store.settle().unwrap();
        settling += cpu_time() - cpu;
        records += 4096;
    }
    drop(store);
    let whole = process_cpu() - process_start;
    println!(
        "settling: {:.2} us CPU per record ({records} records); the whole run, sealing and journal writes and WAL checkpoints included: {:.2} us",
        settling.as_secs_f64() * 1e6 / records as f64,
        whole.as_secs_f64() * 1e6 / records as f64
    );
}

fn cpu_time() -> Duration {
    clock(libc::CLOCK_THREAD_CPUTIME_ID)
}

fn process_cpu() -> Duration {
    clock(libc::CLOCK_PROCESS_CPUTIME_ID)
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given.
    unsafe { libc::clock_gettime(id, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}
