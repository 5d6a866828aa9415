//! The gateway's SQLite store once the sessions a test ran are in its tables.
//!
//! The daemon journals each record before its client sees the result and puts
//! journaled records into the tables a moment later (within milliseconds once
//! sessions are quiet). A session's opening record is journaled before any of
//! its statements is answered, and its closing record comes last (a moment
//! after its client is gone): a store whose tables hold all the journal does,
//! and whose sessions are all closed, holds everything the sessions did.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use cordon::audit::{AuditStore, SessionFilter, SqliteStore, StatementRecord};

/// Opens the store at `path` once its tables hold all its journal does and it
/// lists at least one session, every one closed (panics after 10 s).
pub fn settled_sqlite_store(path: &Path) -> SqliteStore {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let store = SqliteStore::open(path).expect("the store opens");
        let sessions = store
            .sessions(&SessionFilter::default())
            .expect("listing sessions");
        let ahead = store.journal_ahead().expect("reading the journal");
        if !ahead && !sessions.is_empty() && sessions.iter().all(|s| s.closed_at_us.is_some()) {
            return store;
        }
        assert!(
            Instant::now() < deadline,
            "{}: after 10 s, journal ahead of the tables: {ahead}; sessions: {sessions:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every statement recorded in `store`, session by session; only those of
/// `identity`'s sessions when one is named.
#[allow(
    dead_code,
    reason = "not every test binary that includes this module reads statements"
)]
pub fn recorded_statements(store: &dyn AuditStore, identity: Option<&str>) -> Vec<StatementRecord> {
    let mut statements = Vec::new();
    for session in store.sessions(&SessionFilter::default()).expect("sessions") {
        if identity.is_none_or(|name| session.identity == name) {
            let detail = store
                .session(&session.id)
                .expect("a session")
                .expect("exists");
            statements.extend(detail.statements);
        }
    }
    statements
}
