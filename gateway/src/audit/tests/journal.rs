//! The SQLite store's journal: what a daemon appended is in the store after it stops
//! (settled or not, killed or not), exactly once and verifiably chained; a torn frame
//! is not taken; one process appends at a time.

use std::{fs::OpenOptions, os::unix::fs::FileExt, path::Path};

use super::{session, statement, Fixture, T0};
use crate::audit::{
    chain::seal_records,
    journal,
    store::{AuditStore, SessionFilter},
    SqliteStore,
};

fn statements_of(store: &SqliteStore, id: &str) -> usize {
    store.session(id).unwrap().map_or(0, |s| s.statements.len())
}

/// Statement `n` of session `id`, its text selecting `literal` (a record as large as it).
fn statement_selecting(id: &str, n: i64, literal: &str) -> crate::audit::Event {
    let mut event = statement(id, n, "allowed", T0 + n);
    if let crate::audit::Event::Statement(s) = &mut event {
        s.text = format!("SELECT '{literal}' -- {n}");
    }
    event
}

fn verified(path: &Path) -> SqliteStore {
    let store = SqliteStore::open(path).expect("reopening");
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    store
}

#[test]
fn unsettled_records_reach_the_store_when_it_is_next_opened() {
    let f = Fixture::new();
    let path = f.store.path().to_path_buf();
    let mut daemon = SqliteStore::open_for_appending(&path).unwrap();
    daemon.append(&session("a", "etl", T0, 3)).unwrap();
    daemon.settle().unwrap();
    daemon.append(&session("b", "ci", T0 + 10, 4)).unwrap();
    assert_eq!(daemon.unsettled(), 6, "b's records wait in the journal");
    // Readers see only what was settled while the daemon holds the journal.
    let reader = SqliteStore::open(&path).unwrap();
    assert_eq!(statements_of(&reader, "b"), 0);
    drop(reader);
    // The daemon stops without settling (as if killed).
    drop(daemon);

    let store = verified(&path);
    assert_eq!(statements_of(&store, "a"), 3);
    assert_eq!(statements_of(&store, "b"), 4);
    let listed = store.sessions(&SessionFilter::default()).unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].statements, 4, "the listing counts b's statements");
    drop(store);
    // Taken once: opening again adds nothing.
    let again = verified(&path);
    assert_eq!(statements_of(&again, "b"), 4);
}

#[test]
fn a_torn_last_frame_is_not_taken() {
    let f = Fixture::new();
    let path = f.store.path().to_path_buf();
    let mut daemon = SqliteStore::open_for_appending(&path).unwrap();
    daemon.append(&session("a", "etl", T0, 2)).unwrap();
    let journal_path = journal::path_for(&path);
    let before = std::fs::read(&journal_path).unwrap();
    let used = before.iter().rposition(|b| *b != 0).unwrap() + 1;
    daemon.append(&[statement("a", 9, "allowed", T0 + 9)]).ok();
    drop(daemon);
    // The second frame's last byte never reached the disk.
    let after = std::fs::read(&journal_path).unwrap();
    let end = after.iter().rposition(|b| *b != 0).unwrap();
    assert!(end >= used, "the second frame was written");
    let file = OpenOptions::new().write(true).open(&journal_path).unwrap();
    file.write_all_at(&[after[end] ^ 0xff], end as u64).unwrap();

    let store = verified(&path);
    let detail = store.session("a").unwrap().expect("session a");
    assert_eq!(
        detail.statements.len(),
        2,
        "the torn frame's statement is not taken"
    );
    assert!(detail.closed.is_some());
}

#[test]
fn the_journal_starts_over_many_times_and_nothing_is_lost() {
    let f = Fixture::new();
    let path = f.store.path().to_path_buf();
    let mut daemon = SqliteStore::open_for_appending(&path).unwrap();
    // Enough records to fill the journal several times over.
    let big = "x".repeat(16 << 10);
    let mut n = 0;
    daemon.append(&[super::opened("long", "etl", T0)]).unwrap();
    while (n as u64) * (16 << 10) < 3 * journal::SIZE {
        n += 1;
        let event = statement_selecting("long", n, &big);
        daemon.append(&[event]).unwrap();
        if n % 64 == 0 {
            daemon.settle().unwrap();
        }
    }
    drop(daemon);
    let store = verified(&path);
    assert_eq!(statements_of(&store, "long"), n as usize);
}

#[test]
fn one_process_appends_at_a_time() {
    let f = Fixture::new();
    let path = f.store.path().to_path_buf();
    let _daemon = SqliteStore::open_for_appending(&path).unwrap();
    let second = SqliteStore::open_for_appending(&path);
    let Err(e) = second else {
        panic!("a second appender opened the store")
    };
    assert!(e.is_unavailable(), "{e}");
    assert!(e.to_string().contains("another process"), "{e}");
}

/// Records as sessions write them (sealed by their own chains, into the journal, not
/// synced, not settled) are all in the store after the daemon is gone, including after
/// writing moved to the journal's other half.
#[test]
fn records_sessions_wrote_reach_the_store_across_both_halves() {
    let f = Fixture::new();
    let path = f.store.path().to_path_buf();
    let mut daemon = SqliteStore::open_for_appending(&path).unwrap();
    let journal = daemon.journal().expect("a journaled store");
    let mut chain = crate::audit::writer::SessionChain::default();
    // As a session's thread writes them.
    let write = |chain: &mut crate::audit::writer::SessionChain, event| {
        chain
            .append_to(&journal, vec![event])
            .ok()
            .expect("journaled")
    };
    write(&mut chain, super::opened("s", "etl", T0));
    let big = "x".repeat(8 << 10);
    let mut n = 0;
    let text = |n: i64| statement_selecting("s", n, &big);
    // Fill the first half; the next frame moves to the second.
    while !journal.other_half_unsettled() {
        n += 1;
        write(&mut chain, text(n));
    }
    // The first half cannot be reused until the tables hold it durably.
    daemon.settle().unwrap();
    assert!(!journal.other_half_unsettled());
    for _ in 0..10 {
        n += 1;
        write(&mut chain, text(n));
    }
    drop(journal);
    drop(daemon);

    let store = verified(&path);
    assert_eq!(statements_of(&store, "s"), n as usize);
}

#[test]
fn a_record_too_large_for_the_journal_goes_to_the_tables() {
    let f = Fixture::new();
    let path = f.store.path().to_path_buf();
    let mut daemon = SqliteStore::open_for_appending(&path).unwrap();
    daemon.append(&[super::opened("s", "etl", T0)]).unwrap();
    let event = statement_selecting("s", 1, &"x".repeat(journal::SIZE as usize / 2));
    daemon.append(&[event]).unwrap();
    assert_eq!(
        daemon.unsettled(),
        0,
        "it went to the tables, with what came before"
    );
    daemon
        .append(&[statement("s", 2, "allowed", T0 + 2)])
        .unwrap();
    drop(daemon);
    let store = verified(&path);
    assert_eq!(statements_of(&store, "s"), 2);
}

#[test]
fn frames_after_a_gap_are_not_taken() {
    let frames = |numbers: &[u64]| {
        numbers
            .iter()
            .map(|&number| journal::Frame {
                number,
                rows: Vec::new(),
            })
            .collect::<Vec<_>>()
    };
    let taken = |numbers: &[u64], after| {
        journal::following(frames(numbers), after)
            .iter()
            .map(|f| f.number)
            .collect::<Vec<_>>()
    };
    assert_eq!(taken(&[3, 4, 5, 6], 4), vec![5, 6]);
    assert_eq!(taken(&[3, 4, 6, 7], 3), vec![4], "5 never reached the disk");
    assert_eq!(taken(&[6, 7], 4), Vec::<u64>::new());
}

/// A record sealed straight into a frame (as sessions write them) is the record the
/// store seals itself: the same payload, chain and hashes.
#[test]
fn records_sealed_into_a_frame_are_the_records_the_store_seals() {
    let events = vec![
        super::opened("s", "etl", T0),
        statement("s", 1, "allowed", T0 + 1),
        statement("s", 2, "refused", T0 + 2),
        super::closed("s", T0 + 3),
    ];
    let mut frame = journal::FrameBuf::default();
    let mut head = None;
    for event in &events {
        frame.seal(event, &mut head);
    }
    let expected = seal_records(&events, |_| Ok::<_, ()>(None)).unwrap();
    assert_eq!(frame.rows(), 4);
    assert_eq!(frame.to_rows(), expected);
    assert_eq!(head, Some(expected[3].head()));
}

/// A record the journal cannot take (larger than half of it) comes back sealed, for the
/// recorder thread to put in the tables: the record its chain would have journaled.
#[test]
fn a_record_the_journal_cannot_take_comes_back_sealed() {
    let f = Fixture::new();
    let daemon = SqliteStore::open_for_appending(f.store.path()).unwrap();
    let journal = daemon.journal().expect("a journaled store");
    let mut chain = crate::audit::writer::SessionChain::default();
    let opened = super::opened("s", "etl", T0);
    let big = statement_selecting("s", 1, &"x".repeat(journal::SIZE as usize / 2));
    chain
        .append_to(&journal, vec![opened.clone()])
        .ok()
        .expect("journaled");
    let Err(sealed) = chain.append_to(&journal, vec![big.clone()]) else {
        panic!("a record larger than half the journal was journaled")
    };
    let expected = seal_records(&[opened, big], |_| Ok::<_, ()>(None)).unwrap();
    assert_eq!(sealed.rows, expected[1..]);
    assert_eq!(sealed.facts.len(), 1);
}
