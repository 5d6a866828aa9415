//! The embedded back end: one SQLite file under the state directory (WAL).
//!
//! Opened by the daemon ([`SqliteStore::open_for_appending`]), records are sealed and
//! written to the journal beside the file (by the sessions themselves, see
//! [`super::appender`]), and only later put in the tables (`settle`, many statements per
//! transaction, synced only when the journal needs the room back): see
//! [`super::journal`]. Opened otherwise (the CLI, tests), an append is one transaction
//! with `synchronous = FULL`, on disk when it returns.

use std::{
    cell::RefCell,
    collections::HashMap,
    fs,
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use rusqlite::{types::ValueRef, Connection, ErrorCode};

use super::{
    appender::{JournalAppender, Pending, Sealed},
    chain::{RecordRow, RowRef},
    db::{query_all, with_tx, Access, Backend, Row, Tx, Value},
    heads::HeadCache,
    index::Fact,
    journal::{self, Journal},
    ops,
    record::Event,
    store::StoreError,
    wal::Checkpointer,
};

/// Schema migrations, in order; `schema_version` holds how many have run.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE records (
        id INTEGER PRIMARY KEY,
        session_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        kind TEXT NOT NULL,
        at_us BIGINT NOT NULL,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE INDEX records_session ON records (session_id, id);
    CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY,
        at_us BIGINT NOT NULL,
        kind TEXT NOT NULL,
        heads TEXT NOT NULL,
        purged TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        identity TEXT NOT NULL DEFAULT '',
        cgroup TEXT NOT NULL DEFAULT '',
        pid BIGINT NOT NULL DEFAULT 0,
        comm TEXT NOT NULL DEFAULT '',
        opened_us BIGINT NOT NULL,
        closed_us BIGINT,
        statements BIGINT NOT NULL DEFAULT 0,
        allowed BIGINT NOT NULL DEFAULT 0,
        refused BIGINT NOT NULL DEFAULT 0,
        needs_approval BIGINT NOT NULL DEFAULT 0
    );
    CREATE INDEX sessions_opened ON sessions (opened_us);
    CREATE INDEX sessions_closed ON sessions (closed_us);
",
    "
    CREATE TABLE journal_taken (frame BIGINT NOT NULL);
    INSERT INTO journal_taken (frame) VALUES (0);
",
    // A session's records are found through spans of ids, written once per session
    // per batch, instead of an index entry per record: with many sessions recording at
    // once, every batch rewrote one index page per session (and the WAL checkpoint
    // copied each again), which cost more than the records themselves.
    "
    CREATE TABLE record_spans (
        session_id TEXT NOT NULL,
        first_id INTEGER NOT NULL,
        last_id INTEGER NOT NULL,
        PRIMARY KEY (session_id, first_id)
    ) WITHOUT ROWID;
    INSERT INTO record_spans (session_id, first_id, last_id)
        SELECT session_id, id, id FROM records;
    DROP INDEX records_session;
",
];

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    heads: HeadCache,
    /// Shared SQL (`$1`) -> SQLite SQL (`?1`), for the statements in use.
    spellings: RefCell<HashMap<String, String>>,
    /// Moves the WAL into the database file; stops with the store.
    checkpointer: Option<Checkpointer>,
    /// The daemon's store: appends go to the journal first.
    journaled: Option<Journaled>,
}

/// The journal, and the records taken from it that the tables do not have yet (a
/// settle failed), then those that could not be journaled.
struct Journaled {
    appender: Arc<JournalAppender>,
    /// Journaled records a settle took and could not write: read again next time.
    unwritten: Pending,
    /// Records not in the journal, written after `unwritten` (a session whose record
    /// could not be journaled sends all its later ones here).
    taken: Sealed,
    /// The newest frame taken so far.
    frame: u64,
}

/// Prepared statements kept: one multi-row INSERT per batch size, besides the fixed ones.
const STATEMENT_CACHE: usize = 96;

impl SqliteStore {
    /// Opens (or creates, mode 0600, with its directory) the store at `path` and brings
    /// its schema up to date. Records a stopped daemon left in the journal are put in
    /// the tables first (when no daemon holds the journal; if that fails, a warning).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut store = Self::open_tables(path)?;
        let journal = journal::path_for(path);
        if journal.exists() {
            if let Err(e) = store.take_journal(&journal, false) {
                tracing::warn!(journal = %journal.display(), reason = %e, "records in the journal could not be put in the store; reading without them");
            }
        }
        Ok(store)
    }

    /// Opens the store for the daemon: records are appended to the journal (created
    /// beside the database) and reach the tables when [`AuditStore::settle`]d. Fails
    /// when another process appends to the store.
    pub fn open_for_appending(path: &Path) -> Result<Self, StoreError> {
        let mut store = Self::open_tables(path)?;
        store.take_journal(&journal::path_for(path), true)?;
        store
            .conn
            .execute_batch("PRAGMA synchronous = NORMAL")
            .map_err(map_err)?;
        Ok(store)
    }

    fn open_tables(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| io_error(&format!("creating {}", dir.display()), e))?;
        }
        // SQLite gives the -wal and -shm files the database file's mode.
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io_error(&format!("creating {}", path.display()), e))?;
        let conn = Connection::open(path).map_err(map_err)?;
        // For a new file only (an existing one keeps its pages): a record is a few
        // hundred bytes, and larger pages hold more of them per B-tree and WAL frame
        // (measured: about 1 µs of CPU less per record settled and checkpointed).
        conn.execute_batch("PRAGMA page_size = 16384")
            .map_err(map_err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(map_err)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(map_err)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Other(format!(
                "{}: journal mode {mode}, not WAL",
                path.display()
            )));
        }
        // A multi-row INSERT keeps a statement journal: in memory, not in a temp file
        // written page by page. A settle writes megabytes: its pages stay in memory
        // until it commits.
        conn.execute_batch(
            "PRAGMA synchronous = FULL; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -32768",
        )
        .map_err(map_err)?;
        let mut store = Self {
            conn,
            path: path.to_path_buf(),
            heads: HeadCache::default(),
            spellings: RefCell::default(),
            checkpointer: None,
            journaled: None,
        };
        ops::migrate(&store, "", MIGRATIONS)?;
        // Off the commit path (see `wal`), unless no thread could take it over.
        store.checkpointer = Checkpointer::start(path);
        if store.checkpointer.is_some() {
            store
                .conn
                .execute_batch("PRAGMA wal_autocheckpoint = 0")
                .map_err(map_err)?;
        }
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the journal beside the file holds records the tables do not yet (a
    /// daemon appending now puts them there within a fraction of a second).
    pub fn journal_ahead(&self) -> Result<bool, StoreError> {
        let path = journal::path_for(&self.path);
        let newest = match journal::newest_frame(&path) {
            Ok(newest) => newest,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::Unavailable(format!("{}: {e}", path.display()))),
        };
        Ok(match newest {
            Some(n) => n > self.journal_taken()?,
            None => false,
        })
    }

    fn journal_taken(&self) -> Result<u64, StoreError> {
        with_tx(self, Access::Read, |tx| {
            let rows = query_all(tx, "SELECT MAX(frame) FROM journal_taken", &[])?;
            Ok(rows
                .first()
                .map(|r| r.opt_int(0))
                .transpose()?
                .flatten()
                .unwrap_or(0) as u64)
        })
    }

    /// The schema version this build creates.
    pub fn schema_version() -> i64 {
        ops::known_version(MIGRATIONS)
    }
}

impl Backend for SqliteStore {
    fn transaction(
        &self,
        access: Access,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // A read transaction sees one snapshot of the WAL; a write takes the lock first.
        let begin = match access {
            Access::Read => "BEGIN DEFERRED",
            Access::Write => "BEGIN IMMEDIATE",
        };
        self.conn.execute_batch(begin).map_err(map_err)?;
        let result = f(self).and_then(|()| self.conn.execute_batch("COMMIT").map_err(map_err));
        if result.is_err() && !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
        result
    }

    fn heads(&self) -> &HeadCache {
        &self.heads
    }

    fn append_events(&mut self, events: &[Event]) -> Result<(), StoreError> {
        if self.journaled.is_none() {
            return ops::append(self, events);
        }
        if events.is_empty() {
            return Ok(());
        }
        // A head the cache lacks is read from the tables, which must hold every
        // journaled record first.
        if self.unsettled() > 0 && ops::needs_stored_heads(&self.heads, events) {
            self.settle_journal(false)?;
        }
        let rows = ops::seal(self, events)?;
        self.heads.committed(events, &rows);
        let facts = events.iter().map(Fact::of).collect();
        self.append_sealed(Sealed { rows, facts })
    }

    fn append_sealed(&mut self, sealed: Sealed) -> Result<(), StoreError> {
        let Some(journaled) = &mut self.journaled else {
            return Err(StoreError::Other(
                "sealed records need a journaled store".into(),
            ));
        };
        let appender = journaled.appender.clone();
        if !journaled.taken.is_empty() {
            // A settle writes the journaled records, then those only in memory, then
            // these: a session's later record must never be in the journal without its
            // earlier ones, so these stay out of it too.
            journaled.taken.extend(sealed);
            return self.settle_journal(true);
        }
        match appender.append(sealed) {
            Ok(_) => match appender.sync() {
                Ok(_) => Ok(()),
                // In the journal but maybe not on disk: the tables take them, synced.
                Err(_) => self.settle_journal(true),
            },
            Err((_, sealed)) => {
                // Too large for the journal, or it cannot be written: straight into the
                // tables, synced, after everything journaled before them.
                journaled.taken.extend(sealed);
                self.settle_journal(true)
            }
        }
    }

    fn settle(&mut self) -> Result<(), StoreError> {
        // Synced when the journal needs its room back, when it failed, and when records
        // only in memory (the journal did not take them) are among those written;
        // journaled records an earlier settle could not write are still in the journal.
        let durably = self.journaled.as_ref().is_some_and(|j| {
            j.appender.other_half_unsettled()
                || j.appender.failed().is_some()
                || !j.taken.is_empty()
        });
        self.settle_journal(durably)
    }

    fn unsettled(&self) -> usize {
        self.journaled.as_ref().map_or(0, |j| {
            j.unwritten.len() + j.taken.len() + j.appender.waiting().0
        })
    }

    fn journal(&self) -> Option<Arc<JournalAppender>> {
        self.journaled.as_ref().map(|j| j.appender.clone())
    }
}

/// The journal path (see [`super::journal`]).
impl SqliteStore {
    /// Writes every journaled record into the tables in one transaction, with the
    /// number of the newest frame they came from. With `durably`, the commit is synced
    /// and the journal may reuse the room they took.
    fn settle_journal(&mut self, durably: bool) -> Result<(), StoreError> {
        let Some(mut journaled) = self.journaled.take() else {
            return Ok(());
        };
        let outcome = self.write_taken(&mut journaled, durably);
        if outcome.is_ok() {
            journaled.unwritten = Pending::default();
            journaled.taken = Sealed::default();
            if durably {
                journaled.appender.settled_durably(journaled.frame);
            }
        }
        self.journaled = Some(journaled);
        outcome
    }

    /// Takes what waits in the journal, and writes it (read back from the journal,
    /// not copied), then the records not journaled, into the tables.
    fn write_taken(&self, journaled: &mut Journaled, durably: bool) -> Result<(), StoreError> {
        let pending = journaled.appender.take_pending();
        journaled.frame = journaled.frame.max(pending.frame);
        journaled.unwritten.extend(pending);
        let appender = &journaled.appender;
        let mut rows = Vec::with_capacity(journaled.unwritten.len() + journaled.taken.len());
        for frames in appender.pending_frames(&journaled.unwritten.runs) {
            journal::rows_of_frames(frames, &mut rows).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the journal {} no longer holds the frames this gateway wrote",
                    appender.path().display()
                ))
            })?;
        }
        let mut facts: Vec<&Fact> = journaled.unwritten.facts.iter().collect();
        rows.extend(journaled.taken.rows.iter().map(RecordRow::view));
        facts.extend(&journaled.taken.facts);
        self.write_journaled(&rows, &facts, journaled.frame, durably)
    }

    fn write_journaled(
        &self,
        rows: &[RowRef],
        facts: &[&Fact],
        frame: u64,
        durably: bool,
    ) -> Result<(), StoreError> {
        if rows.is_empty() && !durably {
            return Ok(());
        }
        // Synced this once, then back to the connection's own setting (NORMAL for
        // the daemon, FULL for a CLI that took a stopped daemon's journal).
        let setting = match durably {
            true => {
                let setting: i64 = self
                    .conn
                    .query_row("PRAGMA synchronous", [], |r| r.get(0))
                    .map_err(map_err)?;
                self.conn
                    .execute_batch("PRAGMA synchronous = FULL")
                    .map_err(map_err)?;
                Some(setting)
            }
            false => None,
        };
        let outcome = with_tx(self, Access::Write, |tx| {
            ops::write_rows(tx, rows, facts)?;
            tx.execute(
                "UPDATE journal_taken SET frame = $1",
                &[(frame as i64).into()],
            )?;
            Ok(())
        });
        if let Some(setting) = setting {
            self.conn
                .execute_batch(&format!("PRAGMA synchronous = {setting}"))
                .map_err(map_err)?;
        }
        outcome
    }

    /// Opens the journal at `path` and puts the records of frames the tables lack into
    /// them (synced). With `keep`, the store keeps the journal (emptied) to append to;
    /// without, a journal another process holds is left alone.
    fn take_journal(&mut self, path: &Path, keep: bool) -> Result<(), StoreError> {
        let Some((mut journal, frames)) = Journal::open(path, journal::SIZE)? else {
            return match keep {
                true => Err(StoreError::Unavailable(format!(
                    "another process is recording to this store (it holds {})",
                    path.display()
                ))),
                false => Ok(()),
            };
        };
        let taken = self.journal_taken()?;
        let mut rows = Vec::new();
        let mut last = taken;
        for frame in journal::following(frames, taken) {
            last = frame.number;
            rows.extend(frame.rows);
        }
        if !rows.is_empty() {
            let facts = rows
                .iter()
                .map(|row| {
                    row.event().map(|e| Fact::of(&e)).map_err(|e| {
                        StoreError::Corrupt(format!(
                            "{}: session {} record {}: {e}",
                            path.display(),
                            row.session_id,
                            row.seq
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let views: Vec<RowRef> = rows.iter().map(RecordRow::view).collect();
            self.write_journaled(&views, &facts.iter().collect::<Vec<_>>(), last, true)?;
            tracing::info!(records = rows.len(), journal = %path.display(), "put the records a stopped gateway left in the journal into the store");
        }
        if keep {
            journal.start_over(last + 1)?;
            self.journaled = Some(Journaled {
                appender: Arc::new(JournalAppender::new(journal, last)?),
                unwritten: Pending::default(),
                taken: Sealed::default(),
                frame: last,
            });
        }
        Ok(())
    }
}

impl SqliteStore {
    /// The statement for the shared SQL `sql`, from the connection's cache; its SQLite
    /// spelling is kept by the shared spelling, so the append path rewrites nothing.
    fn prepare(&self, sql: &str) -> Result<rusqlite::CachedStatement<'_>, StoreError> {
        let mut spellings = self.spellings.borrow_mut();
        if let Some(sqlite_sql) = spellings.get(sql) {
            return self.conn.prepare_cached(sqlite_sql).map_err(map_err);
        }
        if spellings.len() >= STATEMENT_CACHE {
            spellings.clear();
        }
        let sqlite_sql = spellings
            .entry(sql.to_owned())
            .or_insert_with(|| numbered(sql));
        self.conn.prepare_cached(sqlite_sql).map_err(map_err)
    }
}

impl Tx for SqliteStore {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(sql)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(params.iter().map(Param)))
            .map_err(map_err)?;
        Ok(n as u64)
    }

    fn execute_each(&self, sql: &str, params: &[Value], width: usize) -> Result<u64, StoreError> {
        let mut stmt = self.prepare(sql)?;
        let mut n = 0;
        for one in params.chunks(width) {
            n += stmt
                .execute(rusqlite::params_from_iter(one.iter().map(Param)))
                .map_err(map_err)? as u64;
        }
        Ok(n)
    }

    fn query(
        &self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut stmt = self.prepare(sql)?;
        let columns = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params.iter().map(Param)))
            .map_err(map_err)?;
        while let Some(row) = rows.next().map_err(map_err)? {
            let mut values = Vec::with_capacity(columns);
            for i in 0..columns {
                values.push(match row.get_ref(i).map_err(map_err)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(v) => Value::Int(v),
                    ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
                    other => {
                        return Err(StoreError::Other(format!(
                            "column {i}: unexpected {:?}",
                            other.data_type()
                        )))
                    }
                });
            }
            each(Row(values))?;
        }
        Ok(())
    }

    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.conn.execute_batch(sql).map_err(map_err)
    }

    fn keeps_record_spans(&self) -> bool {
        true
    }
}

/// `$1` (the shared SQL's parameters) to `?1`: SQLite reads `$1` as a named parameter,
/// numbered by first appearance rather than by its digits.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|d| d.is_ascii_digit()) {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// A parameter as SQLite takes it: text borrowed, not copied.
struct Param<'a>(&'a Value<'a>);

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, Value as Owned};
        Ok(match self.0 {
            Value::Null => ToSqlOutput::Owned(Owned::Null),
            Value::Int(v) => ToSqlOutput::Owned(Owned::Integer(*v)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

/// Sorts SQLite's failures into "cannot write now" and "damaged".
fn map_err(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(
            ErrorCode::DiskFull
            | ErrorCode::SystemIoFailure
            | ErrorCode::CannotOpen
            | ErrorCode::ReadOnly
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::PermissionDenied
            | ErrorCode::FileLockingProtocolFailed
            | ErrorCode::OutOfMemory,
        ) => StoreError::Unavailable(e.to_string()),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            StoreError::Corrupt(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

fn io_error(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Unavailable(format!("{what}: {e}"))
}
