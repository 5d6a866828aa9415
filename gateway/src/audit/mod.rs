//! Session recording: the durable, tamper-evident store of what every session did.
//!
//! [`record`] defines what is stored, [`chain`] how records are hash-chained and
//! checkpointed, [`verify`] how the chains are checked, [`store`] the interface, and
//! [`sqlite`] / [`postgres`] the two back ends. Both run the same operations (`ops`) over
//! a small database abstraction (`db`), so they behave the same and share one schema.

pub mod appender;
mod bound;
pub mod chain;
mod db;
mod fingerprints;
mod heads;
pub(crate) mod index;
mod journal;
mod ops;
pub mod postgres;
pub mod record;
mod recorder;
pub mod session;
mod spans;
pub mod sqlite;
mod statements;
pub mod store;
pub mod verify;
mod wal;
pub mod writer;

#[cfg(test)]
mod tests;

pub use chain::{CheckpointHead, Head};
pub use ops::export_line;
pub use postgres::PostgresStore;
pub use record::{
    ErrorInfo, Event, NoticeInfo, NotificationInfo, SessionClosed, SessionOpened, StatementRecord,
};
pub use sqlite::SqliteStore;
pub use store::{AuditStore, SessionDetail, SessionFilter, SessionSummary, StoreError};
pub use verify::{Problem, ProblemKind, VerifyReport};

/// Opens the store the configuration names, for the daemon to append to.
pub fn open_for_appending(
    store: &crate::config::RecordingStore,
) -> Result<Box<dyn AuditStore>, StoreError> {
    Ok(match store {
        crate::config::RecordingStore::Sqlite { path } => {
            Box::new(SqliteStore::open_for_appending(path)?)
        }
        crate::config::RecordingStore::Postgres { conninfo } => {
            Box::new(PostgresStore::connect(conninfo)?)
        }
    })
}

/// Opens the store the configuration names (to read, or purge).
pub fn open(store: &crate::config::RecordingStore) -> Result<Box<dyn AuditStore>, StoreError> {
    Ok(match store {
        crate::config::RecordingStore::Sqlite { path } => Box::new(SqliteStore::open(path)?),
        crate::config::RecordingStore::Postgres { conninfo } => {
            Box::new(PostgresStore::connect(conninfo)?)
        }
    })
}
