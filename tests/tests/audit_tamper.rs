//! Tampering behind the store's back, found by the real `cordon audit verify`: a
//! record's payload changed, a record deleted, a correctly chained record inserted,
//! two records swapped; each on the SQLite file (edited with SQLite itself) and on the
//! PostgreSQL back end (edited with SQL as the database superuser). Each case starts
//! from a clean store that verifies, and must exit 1 with a line naming the edit.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use cordon::audit::{
    chain::{Head, RecordRow},
    AuditStore, ErrorInfo, Event, PostgresStore, SessionClosed, SessionOpened, SqliteStore,
    StatementRecord,
};
use cordon_e2e::{
    cordon_bin,
    postgres::{pg_bin, quote_literal, TestPostgres},
    process::{run, Output},
    require_root,
    tempdir::TempDir,
};

const T0: i64 = 1_767_225_600_000_000;
const SEC: i64 = 1_000_000;

fn statement(id: &str, n: i64, at_us: i64) -> Event {
    Event::Statement(StatementRecord {
        session_id: id.into(),
        text: format!("SELECT name FROM customers WHERE id = {n}"),
        fingerprint: "f00d".into(),
        decision: if n == 3 { "refused" } else { "allowed" }.into(),
        rule: None,
        approval: None,
        started_at_us: at_us,
        duration_us: 300,
        command_tag: Some("SELECT 1".into()),
        rows: Some(1),
        error: (n == 3).then(|| ErrorInfo {
            sqlstate: "42501".into(),
            message: "cordon: refused (default deny)".into(),
            ..ErrorInfo::default()
        }),
        columns: vec!["name".into()],
        result_rows: vec![vec![Some(format!("customer-{n}"))]],
        truncated: false,
        ..StatementRecord::default()
    })
}

/// Opened, `n` statements, closed; one second apart.
fn session(id: &str, n: i64) -> Vec<Event> {
    let mut events = vec![Event::Opened(SessionOpened {
        session_id: id.into(),
        identity: "etl".into(),
        cgroup: "/agents.slice/etl.service".into(),
        pid: 77,
        uid: 1000,
        comm: "python3".into(),
        destination: "127.0.0.1:5432".into(),
        role: "app".into(),
        database: "shop".into(),
        client_tls: false,
        application_name: None,
        at_us: T0,
    })];
    events.extend((1..=n).map(|i| statement(id, i, T0 + i * SEC)));
    events.push(Event::Closed(SessionClosed {
        session_id: id.into(),
        at_us: T0 + (n + 1) * SEC,
        reason: "client terminated".into(),
        notifications: Vec::new(),
        notifications_truncated: false,
    }));
    events
}

/// `s1` (opened, 5 statements, closed) and `s2` (opened, 2, closed), in batches the way
/// the recorder writes them: three checkpoints.
fn fill(store: &mut dyn AuditStore) {
    let s1 = session("s1", 5);
    store.append(&s1[..3]).expect("appending");
    let mut mixed = s1[3..].to_vec();
    mixed.extend(session("s2", 2));
    store.append(&mixed[..5]).expect("appending");
    store.append(&mixed[5..]).expect("appending");
}

/// One back end's store, with a configuration naming it and a way to run SQL on it
/// behind the store's back.
trait Tamperable {
    fn config(&self) -> &Path;
    fn sql(&self, sql: &str) -> String;
}

struct SqliteCase {
    _dir: TempDir,
    db: PathBuf,
    config: PathBuf,
}

impl SqliteCase {
    fn new() -> Self {
        let dir = TempDir::new("cordon-audit-tamper");
        let db = dir.path().join("audit.db");
        fill(&mut SqliteStore::open(&db).expect("creating the store"));
        let config = write_config(
            dir.path(),
            &format!("store = \"sqlite\"\npath = {:?}", db.display().to_string()),
        );
        Self {
            _dir: dir,
            db,
            config,
        }
    }
}

impl Tamperable for SqliteCase {
    fn config(&self) -> &Path {
        &self.config
    }

    fn sql(&self, sql: &str) -> String {
        let db = rusqlite::Connection::open(&self.db).expect("opening the store file");
        if !sql.starts_with("SELECT") {
            db.execute_batch(sql).expect("editing the store file");
            return String::new();
        }
        let mut stmt = db.prepare(sql).expect("preparing");
        let columns = stmt.column_count();
        let mut rows = stmt.query([]).expect("running");
        let mut out = Vec::new();
        while let Some(row) = rows.next().expect("a row") {
            let cells: Vec<String> = (0..columns)
                .map(|i| match row.get_ref(i).expect("a cell") {
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                    other => format!("{other:?}"),
                })
                .collect();
            out.push(cells.join("|"));
        }
        out.join("\n")
    }
}

struct PostgresCase<'a> {
    pg: &'a TestPostgres,
    db: String,
    _dir: TempDir,
    config: PathBuf,
}

impl<'a> PostgresCase<'a> {
    fn new(pg: &'a TestPostgres, db: &str) -> Self {
        pg.psql_admin(&format!("CREATE DATABASE {db}"));
        let conninfo = pg.socket_conninfo(db);
        fill(&mut PostgresStore::connect(&conninfo).expect("connecting the store"));
        let dir = TempDir::new("cordon-audit-tamper-pg");
        let config = write_config(
            dir.path(),
            &format!("store = \"postgres\"\nconninfo = {conninfo:?}"),
        );
        Self {
            pg,
            db: db.into(),
            _dir: dir,
            config,
        }
    }
}

impl Tamperable for PostgresCase<'_> {
    fn config(&self) -> &Path {
        &self.config
    }

    fn sql(&self, sql: &str) -> String {
        let out = Command::new(pg_bin("psql"))
            .arg("-X")
            .arg("-h")
            .arg(self.pg.socket_dir())
            .args(["-p", &self.pg.port().to_string(), "-U", "postgres"])
            .args(["-d", &self.db, "-v", "ON_ERROR_STOP=1", "-qAt", "-c"])
            .arg(format!("SET search_path TO cordon_audit; {sql}"))
            .output()
            .expect("running psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

fn write_config(dir: &Path, recording: &str) -> PathBuf {
    let config = dir.join("cordon.toml");
    let text = format!(
        "[gateway]\nlisten_port = 15999\nstate_dir = {state:?}\n\n\
         [[endpoint]]\nname = \"main\"\naddresses = [\"127.0.0.1:5432\"]\n\n\
         [[credential]]\nrole = \"app\"\npassword = \"secret\"\n\n\
         [[identity]]\nname = \"etl\"\nrole = \"app\"\n\n\
         [recording]\n{recording}\n",
        state = dir.join("state").display().to_string(),
    );
    std::fs::write(&config, text).expect("writing the configuration");
    config
}

fn verify(case: &dyn Tamperable) -> Output {
    let mut cmd = Command::new(cordon_bin());
    cmd.args(["audit", "verify", "--config"]).arg(case.config());
    run(&mut cmd, Duration::from_secs(60))
}

/// An edit of the store behind its back.
type Edit<'a> = &'a dyn Fn(&dyn Tamperable);

/// The four edits, each on a fresh store from `new`; `verify` must name each.
fn every_tampering_is_reported<'a>(new: &dyn Fn(&str) -> Box<dyn Tamperable + 'a>) {
    let cases: [(&str, Edit, &str); 4] = [
        (
            "changed",
            &|t| {
                t.sql(
                    "UPDATE records SET payload = replace(payload, 'customer-2', 'nobody') \
                     WHERE session_id = 's1' AND seq = 3",
                );
            },
            "  changed: session s1 record 3: ",
        ),
        (
            "deleted",
            &|t| {
                t.sql("DELETE FROM records WHERE session_id = 's1' AND seq = 4");
            },
            "  removed: session s1 record 5: record 4 is missing",
        ),
        (
            "inserted",
            &insert_forged,
            // The detail differs by store: PostgreSQL finds it after the newest record a
            // checkpoint names; SQLite outside the row ranges it wrote for the session.
            "  inserted: session s2 record 5: ",
        ),
        (
            "swapped",
            &|t| {
                let id = |seq: i64| {
                    t.sql(&format!(
                        "SELECT id FROM records WHERE session_id = 's1' AND seq = {seq}"
                    ))
                };
                let (a, b) = (id(2), id(3));
                t.sql(&format!(
                    "UPDATE records SET id = -1 WHERE id = {b}; \
                     UPDATE records SET id = {b} WHERE id = {a}; \
                     UPDATE records SET id = {a} WHERE id = -1"
                ));
            },
            "  reordered: session s1 record 2: stored after record 3",
        ),
    ];
    for (name, edit, expected) in cases {
        let case = new(name);
        let clean = verify(&*case);
        clean.expect_success(&format!("verify before the {name} edit"));
        assert!(clean.stdout.contains(": ok\n"), "{clean}");
        edit(&*case);
        let out = verify(&*case);
        assert_eq!(out.code, Some(1), "{name}: verify must fail: {out}");
        assert!(out.stdout.contains(" problem"), "{name}: {out}");
        assert!(
            out.stdout.lines().any(|l| l.starts_with(expected)),
            "{name}: no line starting {expected:?}: {out}"
        );
    }
}

/// A statement the agent never ran, chained after `s2`'s last record with a correct
/// hash (what someone who knows the format would forge).
fn insert_forged(t: &dyn Tamperable) {
    let head =
        t.sql("SELECT seq, hash FROM records WHERE session_id = 's2' ORDER BY seq DESC LIMIT 1");
    let (seq, hash) = head.split_once('|').expect("seq|hash");
    let head = Head {
        seq: seq.parse().expect("a number"),
        hash: hash.to_owned(),
    };
    let row = RecordRow::seal(&statement("s2", 9, T0 + 9 * SEC), Some(&head));
    t.sql(&format!(
        "INSERT INTO records (session_id, seq, kind, at_us, payload, prev_hash, hash) \
         VALUES ({}, {}, {}, {}, {}, {}, {})",
        quote_literal(&row.session_id),
        row.seq,
        quote_literal(&row.kind),
        row.at_us,
        quote_literal(&row.payload),
        quote_literal(&row.prev_hash),
        quote_literal(&row.hash)
    ));
}

#[test]
fn verify_reports_each_edit_of_the_sqlite_file() {
    every_tampering_is_reported(&|_| Box::new(SqliteCase::new()));
}

#[test]
fn verify_reports_each_edit_of_the_postgres_store() {
    require_root();
    let pg = TestPostgres::start();
    every_tampering_is_reported(&|name| Box::new(PostgresCase::new(&pg, &format!("t_{name}"))));
}
