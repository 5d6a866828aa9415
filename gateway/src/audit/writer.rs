//! Where sessions' records go (the recorder thread that puts them in the store is
//! [`super::recorder`]).
//!
//! With a journaled store (SQLite), a session seals its records and writes them to the
//! journal itself ([`super::appender`]): nothing waits, and a syncer thread flushes the
//! journal to disk every few milliseconds. With `sync = "each-result"`, with a record too
//! large for the journal, or when the journal cannot be written, the session hands its
//! records to the recorder thread instead and its client waits until they are durable.
//! With the PostgreSQL store every record goes to the recorder thread, which appends
//! whatever has queued up at once (group commit) and tells each session when its records
//! are durable.

use std::{
    cell::RefCell,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    time::Duration,
};

use tokio::sync::oneshot;

use super::{
    appender::{JournalAppender, Sealed},
    chain::{Head, RecordRow},
    fingerprints,
    index::Fact,
    journal::FrameBuf,
    recorder::{Job, Recorder, Records, Setup},
    AuditStore, Event, StoreError,
};
use crate::config::RecordingSync;

/// Sessions wait behind at most this many queued jobs before they are told
/// the store is too slow (and refuse).
const QUEUE: usize = 16 * 1024;
/// Result of a durable write, for the session that waits on it.
pub type Durable = oneshot::Receiver<Result<(), String>>;

thread_local! {
    /// The frame a session thread seals its records into, and their listing facts.
    static FRAME: RefCell<(FrameBuf, Vec<Fact>)> = RefCell::default();
}

/// Runs `f` with this thread's frame; with a fresh one when the thread is ending (a
/// session dropped while its thread's locals are being destroyed still records).
fn with_frame<R>(f: impl FnOnce(&mut (FrameBuf, Vec<Fact>)) -> R) -> R {
    let mut f = Some(f);
    match FRAME.try_with(|cell| (f.take().expect("called once"))(&mut cell.borrow_mut())) {
        Ok(result) => result,
        Err(_) => (f.take().expect("not called"))(&mut Default::default()),
    }
}

/// The handle sessions share.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::SyncSender<Job>,
    available: Arc<AtomicBool>,
    problem: Arc<std::sync::Mutex<String>>,
    /// The journal sessions write to themselves (SQLite with `sync = "periodic"`).
    journal: Option<Arc<JournalAppender>>,
    /// Sessions seal their own records (the store has a journal).
    sessions_seal: bool,
}

/// A session's place in its hash chain, when it seals its own records.
#[derive(Default)]
pub struct SessionChain {
    head: Option<Head>,
    /// Its records go to the recorder thread from now on: one was too large for the
    /// journal, or the journal failed. (Later records must not reach the journal
    /// before it is durable.)
    queued: bool,
}

impl SessionChain {
    /// Seals `events` after this chain's head.
    fn seal(&mut self, events: Vec<Event>) -> Sealed {
        let mut sealed = Sealed::default();
        for mut event in events {
            fingerprints::fill(&mut event);
            let row = RecordRow::seal(&event, self.head.as_ref());
            self.head = Some(row.head());
            sealed.facts.push(Fact::of(&event));
            sealed.rows.push(row);
        }
        sealed
    }

    /// Seals `events` into this thread's frame and writes it to `journal`: nothing is
    /// allocated per record, and nothing is left for the recorder thread to free. When
    /// the journal does not take them, the sealed records come back, and this session's
    /// later records go to the recorder thread too.
    pub(crate) fn append_to(
        &mut self,
        journal: &JournalAppender,
        events: Vec<Event>,
    ) -> Result<(), Sealed> {
        with_frame(|(frame, facts)| {
            frame.clear();
            facts.clear();
            for mut event in events {
                fingerprints::fill(&mut event);
                frame.seal(&event, &mut self.head);
                facts.push(Fact::from(event));
            }
            match journal.append_frame(frame, facts) {
                Ok(_) => Ok(()),
                Err(why) => {
                    tracing::debug!(?why, "a record goes to the store through the recorder");
                    self.queued = true;
                    Err(Sealed {
                        rows: frame.to_rows(),
                        facts: std::mem::take(facts),
                    })
                }
            }
        })
    }
}

impl Writer {
    /// Starts the recorder thread, which opens the store itself (a PostgreSQL store runs
    /// its own small runtime on that thread); returns once the store is open, or why it
    /// could not be.
    pub fn start(
        open: impl FnOnce() -> Result<Box<dyn AuditStore>, StoreError> + Send + 'static,
        retention: Option<Duration>,
        sync: RecordingSync,
    ) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let available = Arc::new(AtomicBool::new(true));
        let problem = Arc::<std::sync::Mutex<String>>::default();
        let journal = Recorder::start(
            open,
            Setup {
                queue,
                retention,
                available: available.clone(),
                problem: problem.clone(),
            },
            sync,
        )?;
        Ok(Writer {
            jobs,
            available,
            problem,
            sessions_seal: journal.is_some(),
            journal: journal.filter(|_| sync == RecordingSync::Periodic),
        })
    }

    /// Whether the store is writing; when not, why.
    pub fn unavailable(&self) -> Option<String> {
        (!self.available.load(Ordering::Acquire))
            .then(|| self.problem.lock().map(|p| p.clone()).unwrap_or_default())
    }

    /// Writes a session's events; `None` when they are durable already, else a
    /// receiver that says when they are.
    pub fn write(&self, chain: &mut SessionChain, events: Vec<Event>) -> Option<Durable> {
        let records = self.journal_or_queue(chain, events)?;
        let (done, durable) = oneshot::channel();
        self.queue(Job {
            records,
            done: Some(done),
        });
        Some(durable)
    }

    /// Writes events nobody waits for (a session opening or closing).
    pub fn write_later(&self, chain: &mut SessionChain, events: Vec<Event>) {
        if let Some(records) = self.journal_or_queue(chain, events) {
            self.queue(Job {
                records,
                done: None,
            });
        }
    }

    /// Writes the events to the journal when the session may; otherwise the records
    /// for the recorder thread.
    fn journal_or_queue(&self, chain: &mut SessionChain, events: Vec<Event>) -> Option<Records> {
        if !self.sessions_seal {
            return Some(Records::Events(events));
        }
        let Some(journal) = self.journal.as_ref().filter(|_| !chain.queued) else {
            return Some(Records::Sealed(chain.seal(events)));
        };
        match chain.append_to(journal, events) {
            Ok(()) => None,
            Err(sealed) => Some(Records::Sealed(sealed)),
        }
    }

    fn queue(&self, job: Job) {
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
    }
}
