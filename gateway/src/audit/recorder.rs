//! The recorder thread: it appends what sessions hand it (group commit: one write for
//! many sessions' statements) and tells each session when its records are durable, and
//! it settles journaled records into the tables: when enough have waited, when the
//! oldest has waited long enough, when none came for a tick, or when the journal needs
//! its room back. Beside it, a syncer thread flushes the journal sessions write to.
//!
//! When the store cannot write, every waiting session is told so (and keeps its client
//! from seeing results that have no record), the store is marked unavailable so new
//! statements are refused, and the unwritten records are kept (here, or by a journaled
//! store itself) and retried every half second until they are written: service resumes
//! by itself.

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use super::{
    appender::{JournalAppender, Sealed},
    fingerprints, AuditStore, Event, StoreError,
};
use crate::config::RecordingSync;

/// At most this many events go into one transaction.
const MAX_BATCH: usize = 1024;
const RETRY_EVERY: Duration = Duration::from_millis(500);
/// Retention is enforced at start and this often.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Records kept in memory while the store cannot write.
const MAX_BACKLOG: usize = 1_000_000;

/// Journaled records (SQLite) are put in the tables once this many wait, ...
const SETTLE_AT: usize = 4096;
/// ... or once the oldest has waited this long, ...
const SETTLE_EVERY: Duration = Duration::from_millis(200);
/// ... or when no statement came for this long (the recorder's tick with a journal).
const SETTLE_WHEN_IDLE: Duration = Duration::from_millis(5);
/// Sessions' journal writes reach the disk within this long.
const SYNC_EVERY: Duration = Duration::from_millis(10);

/// What keeps the store from writing: the last append's or settle's failure, or the
/// journal's.
#[derive(Default)]
struct Health {
    append: Option<String>,
    settle: Option<String>,
    journal: Option<String>,
}

impl Health {
    fn problem(&self) -> Option<&String> {
        self.append
            .as_ref()
            .or(self.settle.as_ref())
            .or(self.journal.as_ref())
    }
}

/// Records for the recorder thread: events it seals (a store without a journal), or
/// records a session sealed.
pub(super) enum Records {
    Events(Vec<Event>),
    Sealed(Sealed),
}

impl Records {
    pub(super) fn len(&self) -> usize {
        match self {
            Records::Events(events) => events.len(),
            Records::Sealed(sealed) => sealed.len(),
        }
    }
}

pub(super) struct Job {
    pub(super) records: Records,
    pub(super) done: Option<oneshot::Sender<Result<(), String>>>,
}

/// What the recorder thread shares with the sessions' [`super::writer::Writer`].
pub(super) struct Setup {
    pub(super) queue: mpsc::Receiver<Job>,
    pub(super) retention: Option<Duration>,
    /// Whether the store writes, and when not, why (new statements are refused).
    pub(super) available: Arc<AtomicBool>,
    pub(super) problem: Arc<std::sync::Mutex<String>>,
}

/// The recorder thread's state.
pub(super) struct Recorder {
    store: Box<dyn AuditStore>,
    /// The store's journal, when it has one.
    journal: Option<Arc<JournalAppender>>,
    setup: Setup,
}

impl Recorder {
    /// Starts the recorder thread, which opens the store itself (a PostgreSQL store runs
    /// its own small runtime on that thread); returns the store's journal, once it is
    /// open, or why it could not be opened.
    pub(super) fn start(
        open: impl FnOnce() -> Result<Box<dyn AuditStore>, StoreError> + Send + 'static,
        setup: Setup,
        sync: RecordingSync,
    ) -> Result<Option<Arc<JournalAppender>>, StoreError> {
        let (opened, outcome) = mpsc::channel();
        std::thread::Builder::new()
            .name("cordon-recorder".into())
            .spawn(move || {
                match open().and_then(|mut store| {
                    close_abandoned(&mut *store)?;
                    Ok(store)
                }) {
                    Ok(store) => {
                        let journal = store.journal();
                        let _ = opened.send(Ok(journal.clone()));
                        let recorder = Recorder {
                            store,
                            journal,
                            setup,
                        };
                        recorder.run(sync)
                    }
                    Err(e) => {
                        let _ = opened.send(Err(e));
                    }
                }
            })
            .map_err(|e| StoreError::Other(format!("starting the recorder thread: {e}")))?;
        outcome.recv().map_err(|_| {
            StoreError::Other("the recorder thread ended while opening the store".into())
        })?
    }

    fn run(mut self, sync: RecordingSync) {
        let syncer = self
            .journal
            .clone()
            .filter(|_| sync == RecordingSync::Periodic)
            .and_then(Syncer::start);
        let mut purged_at: Option<Instant> = None;
        // Events of statements that ran but could not be written yet (a store without
        // a journal: one with a journal keeps such records itself).
        let mut backlog: Vec<Event> = Vec::new();
        let mut health = Health::default();
        // Journaled records waiting for the tables at the last tick.
        let mut waiting_before = 0;
        loop {
            if let Some(keep) = self.setup.retention {
                if purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                    purged_at = Some(Instant::now());
                    purge(&mut *self.store, keep);
                }
            }
            let wait = if !backlog.is_empty() || health.problem().is_some() {
                RETRY_EVERY
            } else if self.journal.is_some() {
                SETTLE_WHEN_IDLE
            } else {
                PURGE_EVERY
            };
            let first = match self.setup.queue.recv_timeout(wait) {
                Ok(job) => Some(job),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            if first.is_some() || !backlog.is_empty() {
                let jobs = first.map(|job| self.gather(job)).unwrap_or_default();
                health.append = self.append(jobs, &mut backlog).err();
            }
            if let Some(journal) = &self.journal {
                let since = journal.waiting().1;
                let waiting = self.store.unsettled();
                let due = waiting >= SETTLE_AT
                    || since.is_some_and(|t| t.elapsed() >= SETTLE_EVERY)
                    || (waiting > 0 && waiting == waiting_before)
                    || journal.other_half_unsettled()
                    || journal.failed().is_some()
                    || health.problem().is_some();
                if due {
                    health.settle = self.store.settle().err().map(|e| e.to_string());
                    if health.settle.is_none() {
                        // What a failed append left with the store is written now.
                        health.append = None;
                    }
                }
                waiting_before = self.store.unsettled();
                health.journal = journal.failed();
            }
            self.report(&health);
        }
        if let Some(syncer) = syncer {
            syncer.stop();
        }
        if let Err(e) = self.store.settle() {
            tracing::warn!(reason = %e, "records left in the journal at exit; the next start puts them in the store");
        }
    }

    /// Appends the jobs' records (and the backlog before them) and tells their sessions
    /// how it went.
    fn append(&mut self, mut jobs: Vec<Job>, backlog: &mut Vec<Event>) -> Result<(), String> {
        let mut events = std::mem::take(backlog);
        let mut sealed = Sealed::default();
        // Moved, not copied: only the jobs' reply channels are needed after this.
        for job in &mut jobs {
            match std::mem::replace(&mut job.records, Records::Events(Vec::new())) {
                Records::Events(more) => events.extend(more),
                Records::Sealed(more) => sealed.extend(more),
            }
        }
        let mut outcome = Ok(());
        if !events.is_empty() {
            events.iter_mut().for_each(fingerprints::fill);
            outcome = self.store.append(&events).map_err(|e| e.to_string());
            if outcome.is_err() {
                // The statements ran: keep their records to write later.
                *backlog = events;
                if backlog.len() > MAX_BACKLOG {
                    let lost = backlog.len() - MAX_BACKLOG;
                    tracing::error!(
                        lost,
                        "the recording backlog is full; the oldest unwritten records are dropped"
                    );
                    backlog.drain(..lost);
                }
            }
        }
        if !sealed.is_empty() {
            // On failure the store keeps them for a later settle.
            let written = self.store.append_sealed(sealed).map_err(|e| e.to_string());
            outcome = outcome.and(written);
        }
        for job in jobs {
            if let Some(done) = job.done {
                let _ = done.send(outcome.clone());
            }
        }
        outcome
    }

    /// Marks the store available or not after an append or settle, logging changes.
    fn report(&self, health: &Health) {
        match health.problem() {
            None => {
                if !self.setup.available.swap(true, Ordering::AcqRel) {
                    tracing::warn!("the recording store writes again");
                }
            }
            Some(reason) => {
                if self.setup.available.swap(false, Ordering::AcqRel) {
                    tracing::error!(reason = %reason, "the recording store cannot write; statements are refused until it can");
                }
                if let Ok(mut problem) = self.setup.problem.lock() {
                    problem.clone_from(reason);
                }
            }
        }
    }

    /// `first` and whatever else is queued, up to a batch. Nothing waits for more:
    /// statements that finish while this batch is synced form the next one.
    fn gather(&self, first: Job) -> Vec<Job> {
        let mut count = first.records.len();
        let mut jobs = vec![first];
        while count < MAX_BATCH {
            match self.setup.queue.try_recv() {
                Ok(job) => {
                    count += job.records.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        jobs
    }
}

/// Flushes the journal sessions write to every [`SYNC_EVERY`], on its own thread so a
/// long settle never delays it.
struct Syncer {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Syncer {
    fn start(journal: Arc<JournalAppender>) -> Option<Syncer> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("cordon-journal-sync".into())
            .spawn(move || {
                while !stopping.load(Ordering::Acquire) {
                    std::thread::sleep(SYNC_EVERY);
                    if journal.unsynced() {
                        // A failure marks the journal failed: the recorder thread puts
                        // its records in the tables, synced, and reports it.
                        if let Err(why) = journal.sync() {
                            tracing::error!(reason = %why, "the recording journal could not be synced");
                        }
                    }
                }
                let _ = journal.sync();
            });
        match thread {
            Ok(thread) => Some(Syncer { stop, thread }),
            Err(e) => {
                tracing::error!(reason = %e, "starting the journal syncer failed; records are synced by each settle only");
                None
            }
        }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.thread.join();
    }
}

/// Closes the sessions a previous run left open (it was killed or crashed):
/// their records stay complete up to what their clients were acknowledged.
fn close_abandoned(store: &mut dyn AuditStore) -> Result<(), StoreError> {
    let now = super::session::now_us();
    let filter = super::SessionFilter {
        since_us: Some(now),
        ..Default::default()
    };
    let closing: Vec<Event> = store
        .sessions(&filter)?
        .into_iter()
        .filter(|s| s.closed_at_us.is_none())
        .map(|s| {
            Event::Closed(super::SessionClosed {
                session_id: s.id,
                at_us: now,
                reason: "the gateway stopped while the session was open (killed or crashed)".into(),
                notifications: Vec::new(),
                notifications_truncated: false,
            })
        })
        .collect();
    if !closing.is_empty() {
        tracing::warn!(
            sessions = closing.len(),
            "closing the records of sessions a previous run left open"
        );
        store.append(&closing)?;
    }
    Ok(())
}

/// Retention: removes sessions closed longer ago than `keep`.
fn purge(store: &mut dyn AuditStore, keep: Duration) {
    let cutoff = super::session::now_us() - keep.as_micros() as i64;
    match store.purge_before(cutoff) {
        Ok(0) => {}
        Ok(n) => tracing::info!(sessions = n, "purged sessions past the retention period"),
        Err(e) => tracing::warn!(reason = %e, "purging old sessions failed; retrying later"),
    }
}
