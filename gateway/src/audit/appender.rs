//! Appending to the SQLite store's journal from the sessions' own threads.
//!
//! A session seals its records itself (it owns its chain), straight into a frame of its
//! thread's, and copies the frame into the journal's shared mapping under a short lock:
//! no system call, no thread hand-off and no waiting. From then on the record survives
//! the gateway being killed or crashing (the page cache holds it), so the statement's
//! result may go to the client. A syncer thread
//! flushes the journal to disk every few milliseconds (see [`super::recorder`]); with
//! `sync = "each-result"` sessions hand their records to the recorder thread instead,
//! which writes and syncs them before any result is released.
//!
//! Where the journal holds the records, and what the listing needs of them, waits here
//! until the store takes them into its tables ([`JournalAppender::take_pending`]): the
//! store reads the records back from the journal, so they are not kept in memory twice
//! and no session's memory is freed by the recorder thread.

use std::{
    fs::File,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Instant,
};

use super::{
    chain::RecordRow,
    index::Fact,
    journal::{AppendError, FrameBuf, Journal, Mapping},
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

/// Journaled records the tables do not have yet: where the journal holds them (they
/// are read back from there, not kept in memory twice) and what the listing needs of them.
#[derive(Default)]
pub struct Pending {
    /// Runs of whole frames, `(offset, length)`, in the order they were written.
    pub runs: Vec<(u64, u64)>,
    /// One per record, in order.
    pub facts: Vec<Fact>,
    /// The newest frame they came from (0: none).
    pub frame: u64,
    /// When the oldest was written.
    pub since: Option<Instant>,
}

impl Pending {
    /// How many records: one fact each.
    pub fn len(&self) -> usize {
        self.facts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.facts.is_empty()
    }

    /// Adds `later`, written after these.
    pub fn extend(&mut self, later: Pending) {
        for run in later.runs {
            self.add_run(run.0, run.1);
        }
        self.facts.extend(later.facts);
        self.frame = self.frame.max(later.frame);
        self.since = self.since.or(later.since);
    }

    fn add_run(&mut self, at: u64, length: u64) {
        match self.runs.last_mut() {
            Some((start, run)) if *start + *run == at => *run += length,
            _ => self.runs.push((at, length)),
        }
    }
}

pub struct JournalAppender {
    state: Mutex<State>,
    /// The journal's file, for syncing without the lock.
    file: File,
    /// Its mapping, for reading frames back without the lock.
    map: Arc<Mapping>,
    path: PathBuf,
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
        let path = journal.path().to_path_buf();
        Ok(Self {
            path,
            map: journal.mapping(),
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
    pub fn append(&self, mut sealed: Sealed) -> Result<u64, (AppendError, Sealed)> {
        let mut frame = FrameBuf::of(&sealed.rows);
        self.append_frame(&mut frame, &mut sealed.facts)
            .map_err(|e| (e, sealed))
    }

    /// Writes `frame` (not synced) and keeps where it went, with `facts` (one per
    /// record, taken), for the tables; returns the frame's number. On failure both are
    /// left as they were; a write error also marks the journal failed.
    pub fn append_frame(
        &self,
        frame: &mut FrameBuf,
        facts: &mut Vec<Fact>,
    ) -> Result<u64, AppendError> {
        debug_assert_eq!(frame.rows(), facts.len(), "one listing fact per record");
        let mut state = self.lock();
        if let Some(why) = &state.failed {
            return Err(AppendError::Io(why.clone()));
        }
        let settled = self.settled.load(Ordering::Acquire);
        match state.journal.append(frame, settled) {
            Ok(written) => {
                let pending = &mut state.pending;
                pending.add_run(written.at, written.length);
                pending.facts.append(facts);
                pending.frame = written.number;
                pending.since.get_or_insert_with(Instant::now);
                Ok(written.number)
            }
            Err(e) => {
                if let AppendError::Io(why) = &e {
                    state.failed = Some(why.clone());
                }
                Err(e)
            }
        }
    }

    /// The journal's bytes in `runs`, which must be those of a [`Pending`] taken from
    /// here and not yet settled durably: they stay as they are until
    /// [`JournalAppender::settled_durably`] passes them, which the store calls only
    /// once it no longer reads them.
    pub fn pending_frames(&self, runs: &[(u64, u64)]) -> Vec<&[u8]> {
        runs.iter()
            // SAFETY: as above: no append writes where unsettled frames are.
            .map(|&(at, length)| unsafe { self.map.frames(at, length) })
            .collect()
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
        (state.pending.len(), state.pending.since)
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

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A thread that panicked holding the lock left the state whole: every change
        // under it is a single step.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
