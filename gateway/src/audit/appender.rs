//! Appending to the SQLite store's journal from the sessions' own threads.
//!
//! A session seals its records itself (it owns its chain) and writes them to the journal
//! under a short lock: one `pwrite` into the page cache, no thread hand-off and no
//! waiting. From then on the record survives the gateway being killed or crashing (the
//! kernel holds it), so the statement's result may go to the client. A syncer thread
//! flushes the journal to disk every few milliseconds (see [`super::recorder`]); with
//! `sync = "each-result"` sessions hand their records to the recorder thread instead,
//! which writes and syncs them before any result is released.
//!
//! The records also wait here, in order, until the store takes them into its tables
//! ([`JournalAppender::take_pending`]).

use std::{
    fs::File,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex, MutexGuard,
    },
    time::Instant,
};

use super::{
    chain::RecordRow,
    index::Fact,
    journal::{AppendError, Encoded, Journal},
};

/// Sealed records and what the listing needs of them, in order.
#[derive(Default)]
pub struct Sealed {
    pub rows: Vec<RecordRow>,
    pub facts: Vec<Fact>,
}

impl Sealed {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn extend(&mut self, other: Sealed) {
        self.rows.extend(other.rows);
        self.facts.extend(other.facts);
    }
}

/// Journaled records the tables do not have yet.
#[derive(Default)]
pub struct Pending {
    pub sealed: Sealed,
    /// The newest frame they came from (0: none).
    pub frame: u64,
    /// When the oldest was written.
    pub since: Option<Instant>,
}

impl Pending {
    /// The records, noting in `frame` the newest frame taken so far.
    pub fn into_sealed(self, frame: &mut u64) -> Sealed {
        *frame = (*frame).max(self.frame);
        self.sealed
    }
}

pub struct JournalAppender {
    state: Mutex<State>,
    /// The journal's file, for syncing without the lock.
    file: File,
    /// Frames up to this number are on disk.
    synced: AtomicU64,
    /// Frames up to this number are in the tables, durably: their half may be reused.
    settled: AtomicU64,
}

struct State {
    journal: Journal,
    pending: Pending,
    /// Why the journal cannot be written (a failed write or sync); until a synced
    /// settle clears it, records go to the tables through the recorder thread.
    failed: Option<String>,
}

impl JournalAppender {
    /// `taken`: the newest frame the tables hold (durably).
    pub fn new(journal: Journal, taken: u64) -> Result<Self, super::StoreError> {
        let file = journal.handle()?;
        Ok(Self {
            state: Mutex::new(State {
                journal,
                pending: Pending::default(),
                failed: None,
            }),
            file,
            synced: AtomicU64::new(taken),
            settled: AtomicU64::new(taken),
        })
    }

    /// Writes `sealed` as one frame (not synced) and keeps it for the tables; returns
    /// the frame's number. On failure `sealed` comes back, for the recorder thread to
    /// put in the tables itself; a write error also marks the journal failed.
    pub fn append(&self, sealed: Sealed) -> Result<u64, (AppendError, Sealed)> {
        let frame = Encoded::new(&sealed.rows);
        let mut state = self.lock();
        if let Some(why) = &state.failed {
            let why = why.clone();
            return Err((AppendError::Io(why), sealed));
        }
        let settled = self.settled.load(Ordering::Acquire);
        match state.journal.append(frame, settled) {
            Ok(number) => {
                let pending = &mut state.pending;
                pending.sealed.extend(sealed);
                pending.frame = number;
                pending.since.get_or_insert_with(Instant::now);
                Ok(number)
            }
            Err(e) => {
                if let AppendError::Io(why) = &e {
                    state.failed = Some(why.clone());
                }
                Err((e, sealed))
            }
        }
    }

    /// Flushes every frame written so far to disk; returns the newest frame synced.
    pub fn sync(&self) -> Result<u64, String> {
        let newest = self.lock().journal.newest();
        if newest <= self.synced.load(Ordering::Acquire) {
            return Ok(newest);
        }
        match self.file.sync_data() {
            Ok(()) => {
                self.synced.fetch_max(newest, Ordering::AcqRel);
                Ok(newest)
            }
            Err(e) => {
                let why = format!("syncing the journal: {e}");
                self.lock().failed = Some(why.clone());
                Err(why)
            }
        }
    }

    /// The records waiting for the tables, handed over (they stay in the journal).
    pub fn take_pending(&self) -> Pending {
        std::mem::take(&mut self.lock().pending)
    }

    /// How many records wait for the tables, and since when.
    pub fn waiting(&self) -> (usize, Option<Instant>) {
        let state = self.lock();
        (state.pending.sealed.len(), state.pending.since)
    }

    /// After a synced settle: the tables hold frames up to `frame` durably, and the
    /// journal may be written again.
    pub fn settled_durably(&self, frame: u64) {
        self.settled.fetch_max(frame, Ordering::AcqRel);
        self.lock().failed = None;
    }

    /// Whether writing can only move on once the tables hold the other half's frames
    /// durably (a synced settle).
    pub fn other_half_unsettled(&self) -> bool {
        self.lock().journal.newest_in_other_half() > self.settled.load(Ordering::Acquire)
    }

    /// Why the journal cannot be written, if it cannot.
    pub fn failed(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    /// Whether frames were written since the last sync.
    pub fn unsynced(&self) -> bool {
        self.lock().journal.newest() > self.synced.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A thread that panicked holding the lock left the state whole: every change
        // under it is a single step.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
