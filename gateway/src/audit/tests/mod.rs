//! Fixtures shared by the audit tests: sessions of a few statements with recognisable
//! contents, and a store in a temporary directory.

mod chain;
mod journal;
mod sqlite;
mod tamper;
mod throughput;

use tempfile::TempDir;

use super::{
    record::{ErrorInfo, Event, SessionClosed, SessionOpened, StatementRecord},
    sqlite::SqliteStore,
};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000_000;

fn opened(id: &str, identity: &str, at_us: i64) -> Event {
    Event::Opened(SessionOpened {
        session_id: id.into(),
        identity: identity.into(),
        cgroup: format!("/agents.slice/{identity}.service"),
        pid: 4242,
        uid: 1000,
        comm: "python3".into(),
        destination: "10.0.0.5:5432".into(),
        role: "app_ro".into(),
        database: "shop".into(),
        client_tls: false,
        application_name: Some("psql".into()),
        at_us,
    })
}

fn statement(id: &str, n: i64, decision: &str, at_us: i64) -> Event {
    let refused = decision == "refused";
    Event::Statement(StatementRecord {
        session_id: id.into(),
        text: format!("SELECT name, email FROM customers WHERE id = {n}"),
        fingerprint: "a1b2c3d4".into(),
        decision: decision.into(),
        rule: refused.then(|| "deny-pii".to_string()),
        approval: None,
        started_at_us: at_us,
        duration_us: 850,
        command_tag: (!refused).then(|| "SELECT 1".to_string()),
        rows: (!refused).then_some(1),
        error: refused.then(|| ErrorInfo {
            sqlstate: "42501".into(),
            message: "refused by cordon".into(),
            ..Default::default()
        }),
        columns: vec!["name".into(), "email".into()],
        column_types: Vec::new(),
        result_rows: if refused {
            vec![]
        } else {
            vec![vec![Some(format!("customer {n}")), None]]
        },
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

/// Opened, `statements` statements (every third refused), closed; one second apart.
fn session(id: &str, identity: &str, start_us: i64, statements: i64) -> Vec<Event> {
    let mut events = vec![opened(id, identity, start_us)];
    for n in 1..=statements {
        let decision = if n % 3 == 0 { "refused" } else { "allowed" };
        events.push(statement(id, n, decision, start_us + n * 1_000_000));
    }
    events.push(closed(id, start_us + (statements + 1) * 1_000_000));
    events
}

struct Fixture {
    dir: TempDir,
    store: SqliteStore,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = SqliteStore::open(&dir.path().join("audit").join("audit.db"))
            .expect("opening the store");
        Self { dir, store }
    }

    /// A second connection to the file, for tampering.
    fn raw(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.store.path()).expect("opening the file directly")
    }
}
