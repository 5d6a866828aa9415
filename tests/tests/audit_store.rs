//! The audit store against real storage: the PostgreSQL back end on a throwaway server
//! (the same append, listing, retention and tamper checks as the SQLite unit tests),
//! and the SQLite back end on a full file system of the test's own.

use std::{
    fs,
    process::Command,
    time::{Duration, Instant},
};

use cordon::audit::{
    chain::{Head, RecordRow},
    AuditStore, ErrorInfo, Event, PostgresStore, ProblemKind, SessionClosed, SessionFilter,
    SessionOpened, SqliteStore, StatementRecord, StoreError,
};
use cordon_e2e::{
    postgres::{quote_literal, TestPostgres},
    require_root,
    small_fs::SmallFs,
};

const T0: i64 = 1_767_225_600_000_000;

fn opened(id: &str, identity: &str, at_us: i64) -> Event {
    Event::Opened(SessionOpened {
        session_id: id.into(),
        identity: identity.into(),
        cgroup: format!("/agents.slice/{identity}.service"),
        pid: 4242,
        uid: 1000,
        comm: "psql".into(),
        destination: "127.0.0.1:5432".into(),
        role: "app".into(),
        database: "shop".into(),
        client_tls: true,
        application_name: None,
        at_us,
    })
}

/// A statement whose result carries `payload_bytes` of row data.
fn statement(id: &str, n: i64, decision: &str, at_us: i64, payload_bytes: usize) -> Event {
    Event::Statement(StatementRecord {
        session_id: id.into(),
        text: format!("SELECT * FROM orders WHERE id = {n}"),
        fingerprint: "f00d".into(),
        decision: decision.into(),
        rule: None,
        approval: None,
        started_at_us: at_us,
        duration_us: 120,
        command_tag: Some("SELECT 1".into()),
        rows: Some(1),
        error: (decision == "refused").then(|| ErrorInfo {
            sqlstate: "42501".into(),
            message: "refused".into(),
            ..Default::default()
        }),
        columns: vec!["id".into(), "note".into()],
        column_types: Vec::new(),
        result_rows: vec![vec![Some(n.to_string()), Some("x".repeat(payload_bytes))]],
        truncated: false,
        copy_data: Vec::new(),
        copy_in_data: Vec::new(),
        part: None,
        request_text: None,
        parameters: Vec::new(),
        parameters_truncated: false,
        notices: Vec::new(),
        notices_truncated: false,
        notifications: Vec::new(),
    })
}

fn closed(id: &str, at_us: i64) -> Event {
    Event::Closed(SessionClosed {
        session_id: id.into(),
        at_us,
        reason: "client terminated".into(),
        notifications: Vec::new(),
        notifications_truncated: false,
    })
}

/// Opened, `n` statements (every third refused), closed; one second apart.
fn session(id: &str, identity: &str, start: i64, n: i64) -> Vec<Event> {
    let mut events = vec![opened(id, identity, start)];
    for i in 1..=n {
        let decision = if i % 3 == 0 { "refused" } else { "allowed" };
        events.push(statement(id, i, decision, start + i * 1_000_000, 16));
    }
    events.push(closed(id, start + (n + 1) * 1_000_000));
    events
}

/// A fresh database on `pg` and a store in it.
fn pg_store(pg: &TestPostgres, db: &str) -> (PostgresStore, String) {
    pg.psql_admin(&format!("CREATE DATABASE {db}"));
    let conninfo = pg.socket_conninfo(db);
    let store = PostgresStore::connect(&conninfo).expect("connecting the store");
    (store, conninfo)
}

/// Runs SQL in `db` as the superuser; `psql -At` output.
fn sql(pg: &TestPostgres, db: &str, sql: &str) -> String {
    let mut cmd = Command::new(cordon_e2e::postgres::pg_bin("psql"));
    cmd.arg("-X")
        .arg("-h")
        .arg(pg.socket_dir())
        .args(["-p", &pg.port().to_string(), "-U", "postgres", "-d", db])
        .args(["-v", "ON_ERROR_STOP=1", "-qAt", "-c"])
        .arg(format!("SET search_path TO cordon_audit; {sql}"));
    let out = cmd.output().expect("running psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn ids(store: &dyn AuditStore, filter: SessionFilter) -> Vec<String> {
    store
        .sessions(&filter)
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect()
}

#[test]
fn postgres_store_records_lists_exports_and_purges() {
    require_root();
    let pg = TestPostgres::start();
    let (mut store, conninfo) = pg_store(&pg, "audit_basics");
    assert_eq!(
        sql(
            &pg,
            "audit_basics",
            "SELECT MAX(version) FROM schema_version"
        ),
        PostgresStore::schema_version().to_string()
    );

    let a = session("a", "etl", T0, 3);
    store.append(&a).unwrap();
    store
        .append(&session("b", "ci", T0 + 3_600_000_000, 2))
        .unwrap();
    store
        .append(&[opened("c", "etl", T0 + 7_200_000_000)])
        .unwrap();

    let all = store.sessions(&SessionFilter::default()).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!((all[0].statements, all[0].refused), (3, 1));
    assert_eq!(all[0].closed_at_us, Some(T0 + 4_000_000));
    assert_eq!(all[2].closed_at_us, None);
    let etl = SessionFilter {
        identity: Some("etl".into()),
        ..Default::default()
    };
    assert_eq!(ids(&store, etl.clone()), ["a", "c"]);
    let refused = SessionFilter {
        decision: Some("refused".into()),
        ..Default::default()
    };
    assert_eq!(ids(&store, refused), ["a"]);

    let detail = store.session("a").unwrap().expect("session a");
    assert_eq!(detail.statements.len(), 3);
    let Event::Statement(third) = &a[3] else {
        unreachable!()
    };
    assert_eq!(&detail.statements[2], third);

    let mut out = Vec::new();
    assert_eq!(store.export(&etl, &mut out).unwrap(), 6);
    let first: serde_json::Value =
        serde_json::from_str(String::from_utf8(out).unwrap().lines().next().unwrap()).unwrap();
    assert_eq!(
        (first["session_id"].as_str(), first["seq"].as_i64()),
        (Some("a"), Some(1))
    );

    assert_eq!(store.purge_before(T0 + 3_600_000_000).unwrap(), 1);
    assert_eq!(ids(&store, SessionFilter::default()), ["b", "c"]);
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.sessions, report.purged_sessions), (2, 1));

    // The connection is cut: the store reconnects by itself.
    pg.psql_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'audit_basics'",
    );
    let first_try = store.append(&[statement("c", 1, "allowed", T0 + 7_300_000_000, 8)]);
    if let Err(e) = &first_try {
        eprintln!("first append after the cut: {e}");
        assert!(
            e.is_unavailable(),
            "a cut connection is 'cannot write now': {e}"
        );
        store
            .append(&[statement("c", 1, "allowed", T0 + 7_300_000_000, 8)])
            .expect("the next append reconnects");
    }
    assert_eq!(store.session("c").unwrap().unwrap().statements.len(), 1);

    // A second gateway on the same database shares the chains and checkpoints.
    let mut other = PostgresStore::connect(&conninfo).unwrap();
    other.append(&[closed("c", T0 + 7_400_000_000)]).unwrap();
    store
        .append(&session("d", "ci", T0 + 8_000_000_000, 1))
        .unwrap();
    let report = other.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
}

#[test]
fn postgres_store_newer_schema_is_refused() {
    require_root();
    let pg = TestPostgres::start();
    let (_store, conninfo) = pg_store(&pg, "audit_schema");
    sql(
        &pg,
        "audit_schema",
        "INSERT INTO schema_version (version) VALUES (99)",
    );
    match PostgresStore::connect(&conninfo) {
        Err(StoreError::SchemaTooNew { found: 99, .. }) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("connected to a store with a newer schema"),
    }
}

/// `s1`: opened, 6 statements, closed, in three batches; `s2`: opened, 2, closed.
fn tamper_case(pg: &TestPostgres, db: &str, edit: impl FnOnce(&str)) -> Vec<ProblemKind> {
    let (mut store, _) = pg_store(pg, db);
    let s1 = session("s1", "etl", T0, 6);
    store.append(&s1[..3]).unwrap();
    let mut mixed = s1[3..6].to_vec();
    mixed.extend(session("s2", "ci", T0, 2));
    store.append(&mixed).unwrap();
    store.append(&s1[6..]).unwrap();
    assert!(store.verify().unwrap().is_ok());
    edit(db);
    let report = store.verify().unwrap();
    for p in &report.problems {
        eprintln!("  {db}: {p}");
    }
    report.kinds()
}

fn pg_head(pg: &TestPostgres, db: &str, session: &str) -> Head {
    let out = sql(
        pg,
        db,
        &format!(
            "SELECT seq, hash FROM records WHERE session_id = '{session}' ORDER BY id DESC LIMIT 1"
        ),
    );
    let (seq, hash) = out.split_once('|').expect("seq|hash");
    Head {
        seq: seq.parse().unwrap(),
        hash: hash.to_string(),
    }
}

fn pg_insert(pg: &TestPostgres, db: &str, row: &RecordRow) {
    sql(
        pg,
        db,
        &format!(
            "INSERT INTO records (session_id, seq, kind, at_us, payload, prev_hash, hash) \
             VALUES ({}, {}, {}, {}, {}, {}, {})",
            quote_literal(&row.session_id),
            row.seq,
            quote_literal(&row.kind),
            row.at_us,
            quote_literal(&row.payload),
            quote_literal(&row.prev_hash),
            quote_literal(&row.hash)
        ),
    );
}

#[test]
fn postgres_store_detects_tampering() {
    require_root();
    let pg = TestPostgres::start();
    let pg = &pg;

    let kinds = tamper_case(pg, "t_changed", |db| {
        sql(
            pg,
            db,
            "UPDATE records SET payload = replace(payload, 'orders', 'payroll') \
             WHERE session_id = 's1' AND seq = 3",
        );
    });
    assert_eq!(kinds, [ProblemKind::Changed], "a changed payload");

    let kinds = tamper_case(pg, "t_deleted", |db| {
        sql(
            pg,
            db,
            "DELETE FROM records WHERE session_id = 's1' AND seq = 4",
        );
    });
    assert_eq!(
        kinds,
        [ProblemKind::Removed],
        "a record deleted in the middle"
    );

    let kinds = tamper_case(pg, "t_tail", |db| {
        let last = pg_head(pg, db, "s1").seq;
        sql(
            pg,
            db,
            &format!("DELETE FROM records WHERE session_id = 's1' AND seq = {last}"),
        );
    });
    assert_eq!(
        kinds,
        [ProblemKind::Removed],
        "a session's last record deleted"
    );

    let kinds = tamper_case(pg, "t_forged", |db| {
        let head = pg_head(pg, db, "s2");
        let forged = RecordRow::seal(&statement("s2", 9, "allowed", T0 + 9, 8), Some(&head));
        pg_insert(pg, db, &forged);
    });
    assert_eq!(
        kinds,
        [ProblemKind::Inserted],
        "a correctly chained forged record"
    );

    let kinds = tamper_case(pg, "t_swapped", |db| {
        let id = |seq| {
            sql(
                pg,
                db,
                &format!("SELECT id FROM records WHERE session_id = 's1' AND seq = {seq}"),
            )
        };
        let (a, b) = (id(2), id(3));
        sql(
            pg,
            db,
            &format!(
                "UPDATE records SET id = -1 WHERE id = {b}; \
                 UPDATE records SET id = {b} WHERE id = {a}; \
                 UPDATE records SET id = {a} WHERE id = -1"
            ),
        );
    });
    assert_eq!(kinds, [ProblemKind::Reordered], "two records swapped");

    let kinds = tamper_case(pg, "t_checkpoint", |db| {
        sql(
            pg,
            db,
            "UPDATE checkpoints SET at_us = at_us + 1 WHERE id = 2",
        );
    });
    assert_eq!(
        kinds,
        [ProblemKind::CheckpointChanged],
        "a changed checkpoint"
    );
}

#[test]
fn sqlite_store_on_a_full_disk_refuses_then_recovers() {
    let fs_ = SmallFs::mount("2m");
    let path = fs_.path().join("audit").join("audit.db");
    let mut store = SqliteStore::open(&path).unwrap();
    for i in 0..5 {
        store
            .append(&session(&format!("before{i}"), "etl", T0 + i, 4))
            .unwrap();
    }
    let filler = fs_.fill();

    // Appends fail as "cannot write now" (each batch carries 256 KiB of rows, more than
    // the WAL can reuse), and nothing stored before is damaged.
    let mut stored = 5;
    let mut refused = None;
    for i in 0..20 {
        let id = format!("full{i}");
        let mut batch = vec![opened(&id, "etl", T0 + 100 + i)];
        batch.extend((0..4).map(|n| statement(&id, n, "allowed", T0 + 100 + i, 64 * 1024)));
        match store.append(&batch) {
            Ok(()) => stored += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let e = refused.expect("an append fails once the file system is full");
    eprintln!("full after {stored} sessions: {e}");
    assert!(e.is_unavailable(), "disk full is 'cannot write now': {e}");
    assert!(
        store.append(&session("still-full", "etl", T0, 1)).is_err(),
        "still refused while full"
    );
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.sessions, stored);

    // Space comes back: the same store writes again.
    fs::remove_file(filler).unwrap();
    store
        .append(&session("after", "etl", T0 + 1000, 2))
        .unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.sessions, stored + 1);
    drop(store);
    let reopened = SqliteStore::open(&path).unwrap();
    assert!(reopened.session("after").unwrap().is_some());
    assert!(reopened.verify().unwrap().is_ok());
}

/// Records per second the PostgreSQL store sustains by batch size (`cargo test -p
/// cordon-e2e --test audit_store -- --ignored --nocapture`). The test server runs with
/// `fsync = off`, so this measures round trips and CPU, not the disk.
#[test]
#[ignore = "a measurement; run by hand"]
fn audit_throughput_postgres() {
    require_root();
    let pg = TestPostgres::start();
    for batch in [1usize, 16, 128] {
        let (mut store, _) = pg_store(&pg, &format!("bench{batch}"));
        let start = Instant::now();
        let (mut records, mut n) = (0u64, 0i64);
        while start.elapsed() < Duration::from_secs(3) {
            let events: Vec<_> = (0..batch)
                .map(|i| {
                    n += 1;
                    statement(&format!("s{}", i % 8), n, "allowed", T0 + n, 16)
                })
                .collect();
            store.append(&events).unwrap();
            records += batch as u64;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "postgres batch {batch:>3}: {:>8.0} records/s",
            records as f64 / secs
        );
    }
}
