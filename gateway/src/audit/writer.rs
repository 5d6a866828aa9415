//! The one thread that writes records: sessions hand it events, it appends
//! whatever has queued up at once (group commit: one sync for many sessions'
//! statements) and tells each session when its events are durable. A store that
//! journals (SQLite) is told to settle its records into its tables when enough
//! have waited, when the oldest has waited long enough, or when nothing else is
//! happening.
//!
//! When the store cannot write, every waiting session is told so (and keeps
//! its client from seeing results that have no record), the store is marked
//! unavailable so new statements are refused, and the thread keeps the
//! unwritten records and retries them (with whatever else arrives) every
//! half second until they are written: service resumes by itself.

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

use tokio::sync::oneshot;

use super::{AuditStore, Event, StoreError};

/// At most this many events go into one transaction.
const MAX_BATCH: usize = 1024;
/// Sessions wait behind at most this many queued jobs before they are told
/// the store is too slow (and refuse).
const QUEUE: usize = 16 * 1024;
const RETRY_EVERY: Duration = Duration::from_millis(500);
/// Retention is enforced at start and this often.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Records kept in memory while the store cannot write.
const MAX_BACKLOG: usize = 1_000_000;

/// Journaled records (SQLite) are put in the tables once this many wait, ...
const SETTLE_AT: usize = 4096;
/// ... or once the oldest has waited this long, ...
const SETTLE_EVERY: Duration = Duration::from_millis(200);
/// ... or when no statement came for this long.
const SETTLE_WHEN_IDLE: Duration = Duration::from_millis(2);

/// What keeps the store from writing: the last append's or settle's failure.
#[derive(Default)]
struct Health {
    append: Option<String>,
    settle: Option<String>,
}

impl Health {
    fn problem(&self) -> Option<&String> {
        self.append.as_ref().or(self.settle.as_ref())
    }
}

/// Result of a durable write, for the session that waits on it.
pub type Durable = oneshot::Receiver<Result<(), String>>;

struct Job {
    events: Vec<Event>,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// The handle sessions share.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::SyncSender<Job>,
    available: Arc<AtomicBool>,
    problem: Arc<std::sync::Mutex<String>>,
}

impl Writer {
    /// Starts the writer thread, which opens the store itself (a
    /// PostgreSQL store runs its own small runtime on that thread); returns
    /// once the store is open, or why it could not be.
    pub fn start(
        open: impl FnOnce() -> Result<Box<dyn AuditStore>, StoreError> + Send + 'static,
        retention: Option<Duration>,
    ) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let writer = Writer {
            jobs,
            available: Arc::new(AtomicBool::new(true)),
            problem: Arc::default(),
        };
        let thread = writer.clone();
        let (opened, outcome) = mpsc::channel();
        std::thread::Builder::new()
            .name("cordon-recorder".into())
            .spawn(move || {
                match open().and_then(|mut store| {
                    close_abandoned(&mut *store)?;
                    Ok(store)
                }) {
                    Ok(store) => {
                        let _ = opened.send(Ok(()));
                        thread.run(store, queue, retention)
                    }
                    Err(e) => {
                        let _ = opened.send(Err(e));
                    }
                }
            })
            .map_err(|e| StoreError::Other(format!("starting the recorder thread: {e}")))?;
        outcome.recv().map_err(|_| {
            StoreError::Other("the recorder thread ended while opening the store".into())
        })??;
        Ok(writer)
    }

    /// Whether the store is writing; when not, why.
    pub fn unavailable(&self) -> Option<String> {
        (!self.available.load(Ordering::Acquire))
            .then(|| self.problem.lock().map(|p| p.clone()).unwrap_or_default())
    }

    /// Queues events; the receiver says when they are durable.
    pub fn write(&self, events: Vec<Event>) -> Durable {
        let (done, durable) = oneshot::channel();
        let job = Job {
            events,
            done: Some(done),
        };
        if let Err(e) = self.jobs.try_send(job) {
            let reason = match e {
                mpsc::TrySendError::Full(_) => "the recording queue is full",
                mpsc::TrySendError::Disconnected(_) => "the recorder thread has stopped",
            };
            let (mpsc::TrySendError::Full(job) | mpsc::TrySendError::Disconnected(job)) = e;
            if let Some(done) = job.done {
                let _ = done.send(Err(reason.into()));
            }
        }
        durable
    }

    /// Queues events nobody waits for (a session closing).
    pub fn write_later(&self, events: Vec<Event>) {
        let _ = self.jobs.try_send(Job { events, done: None });
    }

    fn run(
        self,
        mut store: Box<dyn AuditStore>,
        queue: mpsc::Receiver<Job>,
        retention: Option<Duration>,
    ) {
        let mut fingerprints = Fingerprints::default();
        let mut purged_at: Option<Instant> = None;
        // Events of statements that ran but could not be written yet.
        let mut backlog: Vec<Event> = Vec::new();
        let mut health = Health::default();
        // Since when appended records have waited to be settled.
        let mut unsettled_since: Option<Instant> = None;
        loop {
            if let Some(keep) = retention {
                if purged_at.is_none_or(|at| at.elapsed() >= PURGE_EVERY) {
                    purged_at = Some(Instant::now());
                    purge(&mut *store, keep);
                }
            }
            let wait = if !backlog.is_empty() || health.settle.is_some() {
                RETRY_EVERY
            } else if store.unsettled() > 0 {
                SETTLE_WHEN_IDLE
            } else {
                PURGE_EVERY
            };
            let first = match queue.recv_timeout(wait) {
                Ok(job) => Some(job),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    if let Err(e) = store.settle() {
                        tracing::warn!(reason = %e, "records left in the journal at exit; the next start puts them in the store");
                    }
                    return;
                }
            };
            if first.is_none() && backlog.is_empty() {
                // Quiet: the tables catch up.
                health.settle = store.settle().err().map(|e| e.to_string());
                self.report(&health);
                if health.settle.is_none() {
                    unsettled_since = None;
                }
                continue;
            }
            let mut jobs = first
                .map(|job| self.gather(job, &queue))
                .unwrap_or_default();
            let mut events = std::mem::take(&mut backlog);
            // Moved, not copied: only the jobs' reply channels are needed after this.
            events.extend(jobs.iter_mut().flat_map(|j| std::mem::take(&mut j.events)));
            for event in &mut events {
                if let Event::Statement(statement) = event {
                    if statement.fingerprint.is_empty() {
                        statement.fingerprint = fingerprints.of(&statement.text);
                    }
                }
            }
            let outcome = store.append(&events).map_err(|e| e.to_string());
            health.append = outcome.clone().err();
            if outcome.is_err() {
                // The statements ran: keep their records to write later.
                backlog = events;
                if backlog.len() > MAX_BACKLOG {
                    let lost = backlog.len() - MAX_BACKLOG;
                    tracing::error!(
                        lost,
                        "the recording backlog is full; the oldest unwritten records are dropped"
                    );
                    backlog.drain(..lost);
                }
            }
            for job in jobs {
                if let Some(done) = job.done {
                    let _ = done.send(outcome.clone());
                }
            }
            if store.unsettled() > 0 {
                let since = *unsettled_since.get_or_insert_with(Instant::now);
                if store.unsettled() >= SETTLE_AT || since.elapsed() >= SETTLE_EVERY {
                    health.settle = store.settle().err().map(|e| e.to_string());
                    if health.settle.is_none() {
                        unsettled_since = None;
                    }
                }
            }
            self.report(&health);
        }
    }

    /// Marks the store available or not after an append or settle, logging changes.
    fn report(&self, health: &Health) {
        match health.problem() {
            None => {
                if !self.available.swap(true, Ordering::AcqRel) {
                    tracing::warn!("the recording store writes again");
                }
            }
            Some(reason) => {
                if self.available.swap(false, Ordering::AcqRel) {
                    tracing::error!(reason = %reason, "the recording store cannot write; statements are refused until it can");
                }
                if let Ok(mut problem) = self.problem.lock() {
                    problem.clone_from(reason);
                }
            }
        }
    }

    /// `first` and whatever else is queued, up to a batch. Nothing waits for more:
    /// statements that finish while this batch is synced form the next one.
    fn gather(&self, first: Job, queue: &mpsc::Receiver<Job>) -> Vec<Job> {
        let mut count = first.events.len();
        let mut jobs = vec![first];
        while count < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => {
                    count += job.events.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        jobs
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

/// Statement fingerprints (the same for the same statement with other
/// constants; table names kept whole), remembered by text and by shape (the
/// text with its literals blanked, as the policy's cache keys it): a prepared
/// statement run a million times is fingerprinted once, and so is a statement
/// a client sends with new literals each time.
#[derive(Default)]
struct Fingerprints {
    by_text: HashMap<String, String>,
    by_shape: HashMap<String, String>,
}

/// Entries each map keeps before starting over.
const FINGERPRINTS_KEPT: usize = 4096;

impl Fingerprints {
    fn of(&mut self, text: &str) -> String {
        if let Some(known) = self.by_text.get(text) {
            return known.clone();
        }
        let shape = crate::policy::cache::shape_key(text);
        let known = shape.as_ref().and_then(|s| self.by_shape.get(s)).cloned();
        let fingerprint = known.unwrap_or_else(|| {
            pg_query::fingerprint(
                text,
                pg_query::ParserOptions::DEFAULT,
                pg_query::FingerprintOptions::FULL_RELNAME,
            )
            .map(|f| f.hex)
            .unwrap_or_default()
        });
        remember(&mut self.by_text, text.to_owned(), &fingerprint);
        if let Some(shape) = shape {
            remember(&mut self.by_shape, shape, &fingerprint);
        }
        fingerprint
    }
}

fn remember(map: &mut HashMap<String, String>, key: String, fingerprint: &str) {
    if map.len() >= FINGERPRINTS_KEPT {
        map.clear();
    }
    map.insert(key, fingerprint.to_owned());
}
