//! Moves the SQLite store's WAL into the database file from a thread of its own.
//!
//! Left to itself, SQLite checkpoints inside the COMMIT that pushes the WAL past 1000
//! pages: that commit copies the pages into the database file and syncs it, while every
//! session waiting on the batch waits too. And since each batch rewrites the same hot
//! pages (the tails of the records table and of the session lookup), checkpointing
//! often copies the same pages over and over. Here the appending connection never
//! checkpoints; this thread does, with its own connection, a few times a second, in
//! PASSIVE mode (it never blocks the writer; what it cannot copy yet waits for the next
//! round). Durability is unchanged: a commit is synced in the WAL either way.

use std::{
    path::Path,
    sync::mpsc::{self, RecvTimeoutError},
    time::Duration,
};

use rusqlite::Connection;

const EVERY: Duration = Duration::from_millis(250);

/// Stops the thread when dropped (with the store).
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    /// Starts checkpointing the WAL of the database at `path`; `None` (and SQLite's
    /// own checkpointing stays on) when no thread or connection could be had.
    pub fn start(path: &Path) -> Option<Self> {
        let conn = Connection::open(path).ok()?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("cordon-audit-wal".into())
            .spawn(move || loop {
                match stopped.recv_timeout(EVERY) {
                    Err(RecvTimeoutError::Timeout) => {
                        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                            tracing::debug!(reason = %e, "checkpointing the recording store's WAL failed; retrying");
                        }
                    }
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            })
            .ok()?;
        Some(Self { _stop: stop })
    }
}
