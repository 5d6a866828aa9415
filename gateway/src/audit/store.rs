//! The interface both back ends implement, and what it returns.

use serde::Serialize;

use super::{
    record::{Event, SessionClosed, SessionOpened, StatementRecord},
    verify::VerifyReport,
};

/// The recording store. Calls block; the session engine runs them off its async workers.
pub trait AuditStore: Send {
    /// Stores `events` (in order), durable when it returns. They are in the tables (and
    /// checkpointed) then, or after a later [`AuditStore::settle`].
    fn append(&mut self, events: &[Event]) -> Result<(), StoreError>;
    /// Stores records a session sealed itself (see [`super::appender`]), durable when it
    /// returns. On failure the store keeps them and writes them with a later settle.
    fn append_sealed(&mut self, sealed: super::appender::Sealed) -> Result<(), StoreError>;
    /// The journal sessions append to directly, when the store has one.
    fn journal(&self) -> Option<std::sync::Arc<super::appender::JournalAppender>>;
    /// Puts what was appended but is only durable elsewhere (the SQLite store's journal)
    /// into the tables, where readers see it.
    fn settle(&mut self) -> Result<(), StoreError>;
    /// How many appended records wait for [`AuditStore::settle`].
    fn unsettled(&self) -> usize;
    /// Sessions matching `filter`, oldest first.
    fn sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionSummary>, StoreError>;
    fn session(&self, id: &str) -> Result<Option<SessionDetail>, StoreError>;
    /// Writes the records of the sessions matching `filter` as JSON lines (see
    /// [`export_line`](super::export_line)); returns how many lines.
    fn export(
        &self,
        filter: &SessionFilter,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, StoreError>;
    fn verify(&self) -> Result<VerifyReport, StoreError>;
    /// Removes the sessions closed before `cutoff_us` (whole sessions only), recording
    /// them in a purge checkpoint; returns how many sessions.
    fn purge_before(&mut self, cutoff_us: i64) -> Result<u64, StoreError>;
}

/// Which sessions to list or export. Empty: all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub identity: Option<String>,
    /// Sessions still open at or after this time (closed at or after it, or not closed).
    pub since_us: Option<i64>,
    /// Sessions opened before this time.
    pub until_us: Option<i64>,
    /// Sessions with at least one statement with this decision (`allowed`, `refused`,
    /// `needs approval`).
    pub decision: Option<String>,
    /// At most this many sessions (the oldest matching).
    pub limit: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionSummary {
    pub id: String,
    pub identity: String,
    pub cgroup: String,
    pub pid: u32,
    pub comm: String,
    pub opened_at_us: i64,
    pub closed_at_us: Option<i64>,
    pub statements: u64,
    pub refused: u64,
}

/// A whole session, from its records (not from the listing index).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionDetail {
    /// None only if the store holds statements without their session's opening.
    pub opened: Option<SessionOpened>,
    pub statements: Vec<StatementRecord>,
    pub closed: Option<SessionClosed>,
}

impl SessionDetail {
    pub(super) fn from_events(events: impl IntoIterator<Item = Event>) -> Self {
        let mut detail = Self {
            opened: None,
            statements: Vec::new(),
            closed: None,
        };
        for event in events {
            match event {
                Event::Opened(e) => detail.opened = Some(e),
                Event::Statement(e) => detail.statements.push(e),
                Event::Closed(e) => detail.closed = Some(e),
            }
        }
        detail
    }
}

/// Why a store call failed. The session engine refuses new statements while
/// [`is_unavailable`](Self::is_unavailable) and retries; anything else needs a person.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot write (or read) now: disk full, permissions, I/O error, lock
    /// held too long, the fleet database unreachable. Nothing stored was damaged.
    #[error("the audit store is unavailable: {0}")]
    Unavailable(String),
    /// The store's files or tables are damaged (not tampering: that is `verify`'s).
    #[error("the audit store is corrupt: {0}")]
    Corrupt(String),
    /// The store was written by a newer Cordon.
    #[error("the audit store has schema version {found}, newer than this Cordon knows ({known})")]
    SchemaTooNew { found: i64, known: i64 },
    /// Writing an export failed.
    #[error("writing the export: {0}")]
    Output(#[source] std::io::Error),
    /// Anything else (a bug, a stored record that does not parse).
    #[error("the audit store failed: {0}")]
    Other(String),
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Time now in microseconds since the epoch.
pub(super) fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
