//! The SQLite back end: what goes in comes out, filters, export, retention, migrations.

use std::os::unix::fs::PermissionsExt;

use super::{closed, opened, session, statement, Fixture, T0};
use crate::audit::{
    sqlite::SqliteStore,
    store::{AuditStore, SessionFilter, StoreError},
    Event,
};

const HOUR: i64 = 3_600_000_000;

/// Three sessions: `a` (etl, closed, one refusal), `b` (ci, closed, no refusal),
/// `c` (etl, still open), an hour apart.
fn three_sessions(store: &mut SqliteStore) -> Vec<Event> {
    let a = session("a", "etl", T0, 3);
    let b = session("b", "ci", T0 + HOUR, 2);
    let c = vec![
        opened("c", "etl", T0 + 2 * HOUR),
        statement("c", 1, "needs approval", T0 + 2 * HOUR + 1),
    ];
    store.append(&a).unwrap();
    store.append(&b).unwrap();
    store.append(&c).unwrap();
    [a, b, c].concat()
}

fn ids(store: &SqliteStore, filter: SessionFilter) -> Vec<String> {
    store
        .sessions(&filter)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

#[test]
fn sessions_come_back_as_stored() {
    let mut f = Fixture::new();
    let events = three_sessions(&mut f.store);

    let all = f.store.sessions(&SessionFilter::default()).unwrap();
    assert_eq!(all.len(), 3);
    let a = &all[0];
    assert_eq!(
        (a.id.as_str(), a.identity.as_str(), a.comm.as_str(), a.pid),
        ("a", "etl", "python3", 4242)
    );
    assert_eq!(a.cgroup, "/agents.slice/etl.service");
    assert_eq!((a.opened_at_us, a.closed_at_us), (T0, Some(T0 + 4_000_000)));
    assert_eq!((a.statements, a.refused), (3, 1));
    assert_eq!(all[2].closed_at_us, None);

    let detail = f.store.session("a").unwrap().expect("session a");
    let Event::Opened(o) = &events[0] else {
        unreachable!()
    };
    assert_eq!(detail.opened.as_ref(), Some(o));
    assert_eq!(detail.statements.len(), 3);
    let Event::Statement(s) = &events[3] else {
        unreachable!()
    };
    assert_eq!(&detail.statements[2], s);
    assert_eq!(
        detail.closed.as_ref().map(|c| c.at_us),
        Some(T0 + 4_000_000)
    );
    assert!(f.store.session("nope").unwrap().is_none());
    assert!(f.store.verify().unwrap().is_ok());
}

#[test]
fn filters_select_by_identity_time_and_decision() {
    let mut f = Fixture::new();
    three_sessions(&mut f.store);
    let by = |identity: &str| SessionFilter {
        identity: Some(identity.into()),
        ..Default::default()
    };
    assert_eq!(ids(&f.store, by("etl")), ["a", "c"]);
    assert_eq!(ids(&f.store, by("nobody")), Vec::<String>::new());
    let decision = |d: &str| SessionFilter {
        decision: Some(d.into()),
        ..Default::default()
    };
    assert_eq!(ids(&f.store, decision("refused")), ["a"]);
    assert_eq!(ids(&f.store, decision("allowed")), ["a", "b"]);
    assert_eq!(ids(&f.store, decision("needs approval")), ["c"]);
    assert!(matches!(
        f.store.sessions(&decision("maybe")),
        Err(StoreError::Other(_))
    ));
    // Active at or after T0 + 30 min: a closed before then; c is still open.
    let since = SessionFilter {
        since_us: Some(T0 + HOUR / 2),
        ..Default::default()
    };
    assert_eq!(ids(&f.store, since), ["b", "c"]);
    let until = SessionFilter {
        until_us: Some(T0 + HOUR),
        ..Default::default()
    };
    assert_eq!(ids(&f.store, until), ["a"]);
    let limit = SessionFilter {
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(ids(&f.store, limit), ["a", "b"]);
}

#[test]
fn export_writes_one_json_line_per_record() {
    let mut f = Fixture::new();
    let events = three_sessions(&mut f.store);
    let mut out = Vec::new();
    let filter = SessionFilter {
        identity: Some("etl".into()),
        ..Default::default()
    };
    let n = f.store.export(&filter, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    // a: opened, 3 statements, closed; c: opened, 1 statement.
    assert_eq!((n, lines.len()), (7, 7));
    assert_eq!(lines[0]["session_id"], "a");
    assert_eq!(lines[0]["seq"], 1);
    assert_eq!(lines[0]["kind"], "opened");
    assert_eq!(lines[0]["event"]["identity"], "etl");
    let statement: Event = serde_json::from_value(lines[3]["event"].clone()).unwrap();
    assert_eq!(statement, events[3]);
    assert_eq!(lines[6]["session_id"], "c");
    assert_eq!(lines[6]["event"]["decision"], "needs approval");
}

#[test]
fn chains_continue_across_reopening() {
    let f = Fixture::new();
    let path = f.store.path().to_path_buf();
    let mut store = f.store;
    store.append(&[opened("s", "etl", T0)]).unwrap();
    drop(store);
    let mut store = SqliteStore::open(&path).unwrap();
    store
        .append(&[statement("s", 1, "allowed", T0 + 1), closed("s", T0 + 2)])
        .unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(
        (report.sessions, report.records, report.checkpoints),
        (1, 3, 2)
    );
    assert_eq!(store.session("s").unwrap().unwrap().statements.len(), 1);
}

#[test]
fn retention_removes_whole_closed_sessions_and_verify_accepts_it() {
    let mut f = Fixture::new();
    three_sessions(&mut f.store);
    // a closed at T0 + 4 s, b at T0 + 1 h + 3 s; c is open.
    assert_eq!(f.store.purge_before(T0 + HOUR).unwrap(), 1);
    assert_eq!(ids(&f.store, SessionFilter::default()), ["b", "c"]);
    assert!(f.store.session("a").unwrap().is_none());
    let report = f.store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.purged_sessions, 1);

    assert_eq!(f.store.purge_before(T0 + 10 * HOUR).unwrap(), 1);
    assert_eq!(ids(&f.store, SessionFilter::default()), ["c"]);
    assert_eq!(f.store.purge_before(T0 + 10 * HOUR).unwrap(), 0);
    // The open session keeps growing after a purge.
    f.store.append(&[closed("c", T0 + 3 * HOUR)]).unwrap();
    assert!(f.store.verify().unwrap().is_ok());

    // Without the purge checkpoints, the purged sessions are missing.
    f.raw()
        .execute("DELETE FROM checkpoints WHERE kind = 'purge'", [])
        .unwrap();
    let kinds = f.store.verify().unwrap().kinds();
    assert!(
        kinds.contains(&crate::audit::ProblemKind::Removed),
        "{kinds:?}"
    );
}

#[test]
fn the_file_is_private_and_its_directory_created() {
    let f = Fixture::new();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(f.store.path()), 0o600);
    assert_eq!(mode(&f.dir.path().join("audit")), 0o700);
    let wal = f.store.path().with_extension("db-wal");
    assert!(wal.exists(), "WAL mode");
    assert_eq!(mode(&wal), 0o600);
}

#[test]
fn a_newer_schema_is_refused() {
    let f = Fixture::new();
    let version: i64 = f
        .raw()
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SqliteStore::schema_version());
    f.raw()
        .execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [version + 1],
        )
        .unwrap();
    match SqliteStore::open(f.store.path()) {
        Err(StoreError::SchemaTooNew { found, known }) => {
            assert_eq!((found, known), (version + 1, version))
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("opened a store with a newer schema"),
    }
}

#[test]
fn an_empty_store_verifies_and_an_empty_batch_writes_nothing() {
    let mut f = Fixture::new();
    f.store.append(&[]).unwrap();
    let report = f.store.verify().unwrap();
    assert!(report.is_ok());
    assert_eq!((report.checkpoints, report.last_checkpoint), (0, None));
}

/// Sessions recording at once: each batch holds records of several sessions, and each
/// session's records come back whole and in order (through one span per session per
/// batch); retention removes the records and their spans.
#[test]
fn interleaved_sessions_read_back_through_their_spans() {
    let mut f = Fixture::new();
    f.store
        .append(&[opened("x", "etl", T0), opened("y", "ci", T0)])
        .unwrap();
    for n in 1..=5 {
        f.store
            .append(&[
                statement("x", n, "allowed", T0 + 2 * n),
                statement("y", n, "refused", T0 + 2 * n + 1),
            ])
            .unwrap();
    }
    f.store
        .append(&[closed("x", T0 + 20), closed("y", T0 + 21)])
        .unwrap();
    for (id, decision) in [("x", "allowed"), ("y", "refused")] {
        let detail = f.store.session(id).unwrap().expect("the session");
        let starts: Vec<i64> = detail.statements.iter().map(|s| s.started_at_us).collect();
        let first = if id == "x" { T0 + 2 } else { T0 + 3 };
        assert_eq!(starts, (0..5).map(|k| first + 2 * k).collect::<Vec<_>>());
        assert!(detail.statements.iter().all(|s| s.decision == decision));
        assert!(detail.closed.is_some());
    }
    let spans = |f: &Fixture| -> i64 {
        f.raw()
            .query_row("SELECT count(*) FROM record_spans", [], |r| r.get(0))
            .unwrap()
    };
    // One span per session per batch: seven batches, two sessions each.
    assert_eq!(spans(&f), 14);
    assert!(f.store.verify().unwrap().is_ok());

    assert_eq!(f.store.purge_before(T0 + HOUR).unwrap(), 2);
    assert_eq!(spans(&f), 0);
    let records: i64 = f
        .raw()
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(records, 0);
}

/// A store written before record spans (schema 2: an index entry per record) is
/// brought up to date: its records read back by session, and new ones follow.
#[test]
fn a_store_from_before_record_spans_is_upgraded() {
    let f = Fixture::new();
    let path = f.store.path().to_path_buf();
    let mut store = f.store;
    store.append(&session("old", "etl", T0, 3)).unwrap();
    store.append(&[opened("open", "ci", T0)]).unwrap();
    drop(store);
    // Back to schema 2, as Cordon before this change left it.
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute_batch(
        "DROP TABLE record_spans;
         CREATE INDEX records_session ON records (session_id, id);
         DELETE FROM schema_version WHERE version > 2;",
    )
    .unwrap();
    drop(raw);

    let mut store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.session("old").unwrap().unwrap().statements.len(), 3);
    store
        .append(&[
            statement("open", 1, "allowed", T0 + 1),
            closed("open", T0 + 2),
        ])
        .unwrap();
    let open = store.session("open").unwrap().unwrap();
    assert_eq!((open.statements.len(), open.closed.is_some()), (1, true));
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.records, 5 + 3);
}

/// Spans are how `sessions show` finds records, so one removed behind Cordon's back
/// would hide records: verify still reads them, as records outside every span.
#[test]
fn records_a_removed_span_hid_are_reported() {
    let mut f = Fixture::new();
    f.store.append(&session("a", "etl", T0, 2)).unwrap();
    f.store.append(&[opened("b", "ci", T0)]).unwrap();
    f.store
        .append(&[statement("b", 1, "allowed", T0 + 1)])
        .unwrap();
    assert!(f.store.verify().unwrap().is_ok());
    f.raw()
        .execute(
            "DELETE FROM record_spans WHERE session_id = 'b' AND first_id = \
             (SELECT max(first_id) FROM record_spans WHERE session_id = 'b')",
            [],
        )
        .unwrap();
    assert!(f.store.session("b").unwrap().unwrap().statements.is_empty());
    let report = f.store.verify().unwrap();
    let outside: Vec<_> = report
        .problems
        .iter()
        .filter(|p| p.detail.contains("outside the row ranges"))
        .map(|p| (p.session_id.as_deref(), p.seq))
        .collect();
    assert_eq!(outside, [(Some("b"), Some(2))], "{:?}", report.problems);
    assert_eq!(report.records, 4 + 2);
}
