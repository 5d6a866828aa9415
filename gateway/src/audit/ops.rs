//! The store's operations, written once over [`Backend`]: sealing and appending a batch,
//! the listing index, export, verification, retention and schema migrations. The SQL is
//! the common subset of SQLite and PostgreSQL (`$n` parameters, `ON CONFLICT`).

use std::io::Write;

use super::{
    appender::{JournalAppender, Sealed},
    chain::{
        checkpoint_after, seal_records, CheckpointHead, CheckpointRow, Head, Heads, RecordRow,
        RowRef, CHECKPOINT_PURGE,
    },
    db::{query_all, query_int, with_tx, Access, Backend, Row, Tx, Value},
    heads::HeadCache,
    index::{self, Fact},
    record::Event,
    spans,
    store::{now_us, AuditStore, SessionDetail, SessionFilter, SessionSummary, StoreError},
    verify::{Verifier, VerifyReport},
};

/// The newest schema this build knows.
pub fn known_version(migrations: &[&str]) -> i64 {
    migrations.len() as i64
}

/// Brings the schema up to date; `prepare` runs first in the same transaction (the
/// PostgreSQL back end creates its schema there).
pub fn migrate(
    backend: &dyn Backend,
    prepare: &str,
    migrations: &[&str],
) -> Result<(), StoreError> {
    with_tx(backend, Access::Write, |tx| {
        if !prepare.is_empty() {
            tx.batch(prepare)?;
        }
        tx.batch("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
        let rows = query_all(tx, "SELECT MAX(version) FROM schema_version", &[])?;
        let current = match rows.first() {
            Some(row) => row.opt_int(0)?.unwrap_or(0),
            None => 0,
        };
        let known = known_version(migrations);
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        for (i, sql) in migrations.iter().enumerate().skip(current as usize) {
            tx.batch(sql)?;
            tx.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[Value::Int(i as i64 + 1)],
            )?;
        }
        Ok(())
    })
}

/// Seals and writes `events` in one transaction, durable when it commits.
pub fn append(backend: &dyn Backend, events: &[Event]) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let heads = backend.heads();
    let written = with_tx(backend, Access::Write, |tx| {
        let rows = seal_records(events, |event| head_before(heads, tx, event))?;
        let facts: Vec<Fact> = events.iter().map(Fact::of).collect();
        let views: Vec<RowRef> = rows.iter().map(RecordRow::view).collect();
        write_rows(tx, &views, &facts.iter().collect::<Vec<_>>())?;
        Ok(rows)
    });
    match written {
        Ok(rows) => {
            heads.committed(events, &rows);
            Ok(())
        }
        Err(e) => {
            heads.forget();
            Err(e)
        }
    }
}

/// Chains `events` after their sessions' heads, reading from the store (in a read
/// transaction) only the heads the cache does not hold.
pub fn seal(backend: &dyn Backend, events: &[Event]) -> Result<Vec<RecordRow>, StoreError> {
    let heads = backend.heads();
    if !needs_stored_heads(heads, events) {
        return seal_records(events, |e| Ok(cached_head(heads, e).flatten()));
    }
    with_tx(backend, Access::Read, |tx| {
        seal_records(events, |event| head_before(heads, tx, event))
    })
}

/// Inserts sealed records, what the listing needs of them (`facts[i]` of `rows[i]`), and
/// the checkpoint naming their sessions' new heads.
pub fn write_rows(tx: &dyn Tx, rows: &[RowRef], facts: &[&Fact]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let last = last_checkpoint(tx)?;
    let checkpoint = checkpoint_after(rows, last.as_ref(), now_us());
    if tx.keeps_record_spans() {
        spans::insert_grouped(tx, rows)?;
    } else {
        for chunk in rows.chunks(INSERT_CHUNK) {
            insert_records(tx, chunk)?;
        }
    }
    index::update(tx, rows, facts)?;
    insert_checkpoint(tx, &checkpoint)
}

/// Whether sealing `events` reads a head from the store (the cache lacks one).
pub fn needs_stored_heads(heads: &HeadCache, events: &[Event]) -> bool {
    events.iter().any(|e| cached_head(heads, e).is_none())
}

/// The head `event` chains after, when the cache knows it: a session's opening record
/// starts its chain.
fn cached_head(heads: &HeadCache, event: &Event) -> Option<Option<Head>> {
    match event {
        Event::Opened(_) => Some(None),
        _ => heads.get(event.session_id()).map(Some),
    }
}

fn head_before(heads: &HeadCache, tx: &dyn Tx, event: &Event) -> Result<Option<Head>, StoreError> {
    match cached_head(heads, event) {
        Some(head) => Ok(head),
        None => session_head(tx, event.session_id()),
    }
}

pub fn sessions(
    backend: &dyn Backend,
    filter: &SessionFilter,
) -> Result<Vec<SessionSummary>, StoreError> {
    with_tx(backend, Access::Read, |tx| index::list(tx, filter))
}

pub fn session(backend: &dyn Backend, id: &str) -> Result<Option<SessionDetail>, StoreError> {
    with_tx(backend, Access::Read, |tx| {
        let mut events = Vec::new();
        tx.query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM {} ORDER BY seq, id",
                spans::session_records(tx)
            ),
            &[id.into()],
            &mut |row| {
                let row = record_row(row)?;
                let event = row.event().map_err(|e| {
                    StoreError::Other(format!("session {id} record {}: {e}", row.seq))
                })?;
                events.push(event);
                Ok(())
            },
        )?;
        Ok((!events.is_empty()).then(|| SessionDetail::from_events(events)))
    })
}

pub fn export(
    backend: &dyn Backend,
    filter: &SessionFilter,
    out: &mut dyn Write,
) -> Result<u64, StoreError> {
    with_tx(backend, Access::Read, |tx| {
        let mut lines = 0;
        for summary in index::list(tx, filter)? {
            tx.query(
                &format!(
                    "SELECT {RECORD_COLUMNS} FROM {} ORDER BY id",
                    spans::session_records(tx)
                ),
                &[summary.id.as_str().into()],
                &mut |row| {
                    let line = export_line(&record_row(row)?);
                    out.write_all(line.as_bytes()).map_err(StoreError::Output)?;
                    lines += 1;
                    Ok(())
                },
            )?;
        }
        out.flush().map_err(StoreError::Output)?;
        Ok(lines)
    })
}

/// One export line: the record's place in its chain and the event itself.
pub fn export_line(row: &RecordRow) -> String {
    let quote = |s: &str| serde_json::to_string(s).expect("strings serialize");
    format!(
        "{{\"session_id\":{},\"seq\":{},\"kind\":{},\"at_us\":{},\"prev_hash\":{},\"hash\":{},\"event\":{}}}\n",
        quote(&row.session_id),
        row.seq,
        quote(&row.kind),
        row.at_us,
        quote(&row.prev_hash),
        quote(&row.hash),
        row.payload
    )
}

pub fn verify(backend: &dyn Backend) -> Result<VerifyReport, StoreError> {
    with_tx(backend, Access::Read, |tx| {
        let mut verifier = Verifier::new();
        tx.query(
            &format!("SELECT {CHECKPOINT_COLUMNS} FROM checkpoints ORDER BY id"),
            &[],
            &mut |row| {
                verifier.checkpoint(&checkpoint_row(row)?);
                Ok(())
            },
        )?;
        if tx.keeps_record_spans() {
            verify_through_spans(tx, &mut verifier)?;
        } else {
            tx.query(
                &format!("SELECT {RECORD_COLUMNS} FROM records ORDER BY session_id, id"),
                &[],
                &mut |row| {
                    verifier.record(&record_row(row)?);
                    Ok(())
                },
            )?;
        }
        Ok(verifier.finish())
    })
}

/// Feeds the verifier each session's records through its spans (sorting the whole
/// table by session instead would spill every payload to temporary files), then any
/// record no span of its session covers: Cordon never writes one.
fn verify_through_spans(tx: &dyn Tx, verifier: &mut Verifier) -> Result<(), StoreError> {
    let sessions = query_all(
        tx,
        "SELECT DISTINCT session_id FROM record_spans ORDER BY session_id",
        &[],
    )?;
    let mut fed = 0i64;
    for mut session in sessions {
        let id = session.text(0)?;
        tx.query(
            &format!(
                "SELECT {RECORD_COLUMNS} FROM {} ORDER BY id",
                spans::session_records(tx)
            ),
            &[id.as_str().into()],
            &mut |row| {
                verifier.record(&record_row(row)?);
                fed += 1;
                Ok(())
            },
        )?;
    }
    let stored = query_int(tx, "SELECT count(*) FROM records")?;
    // (More fed than stored: spans overlap, and the chains report the duplicates; a
    // record outside every span may hide behind them, so look in that case too.)
    if stored != fed {
        tx.query(
            &format!("SELECT {RECORD_COLUMNS} FROM {}", spans::OUTSIDE_SPANS),
            &[],
            &mut |row| {
                verifier.outside_spans(&record_row(row)?);
                Ok(())
            },
        )?;
    }
    Ok(())
}

/// Sessions removed per transaction (and per purge checkpoint).
const PURGE_CHUNK: i64 = 500;

pub fn purge_before(backend: &dyn Backend, cutoff_us: i64) -> Result<u64, StoreError> {
    // Purged sessions are closed ones, which the cache no longer holds; forgetting
    // everything keeps that from mattering.
    backend.heads().forget();
    let mut total = 0;
    loop {
        let purged = with_tx(backend, Access::Write, |tx| {
            let mut ids = Vec::new();
            for mut row in query_all(
                tx,
                "SELECT session_id FROM sessions WHERE closed_us IS NOT NULL AND closed_us < $1 \
                 ORDER BY closed_us LIMIT $2",
                &[cutoff_us.into(), PURGE_CHUNK.into()],
            )? {
                ids.push(row.text(0)?);
            }
            let mut purged = Heads::new();
            for id in ids {
                if let Some(head) = session_head(tx, &id)? {
                    purged.insert(id.clone(), head);
                }
                spans::delete_session(tx, &id)?;
                tx.execute("DELETE FROM sessions WHERE session_id = $1", &[id.into()])?;
            }
            if !purged.is_empty() {
                let last = last_checkpoint(tx)?;
                let checkpoint = CheckpointRow::seal(
                    last.as_ref(),
                    now_us(),
                    CHECKPOINT_PURGE,
                    &Heads::new(),
                    &purged,
                );
                insert_checkpoint(tx, &checkpoint)?;
            }
            Ok(purged.len() as u64)
        })?;
        total += purged;
        if purged < PURGE_CHUNK as u64 {
            return Ok(total);
        }
    }
}

const RECORD_COLUMNS: &str = "session_id, seq, kind, at_us, payload, prev_hash, hash";
const CHECKPOINT_COLUMNS: &str = "id, at_us, kind, heads, purged, prev_hash, hash";

fn record_row(mut row: Row) -> Result<RecordRow, StoreError> {
    Ok(RecordRow {
        session_id: row.text(0)?,
        seq: row.int(1)?,
        kind: row.text(2)?,
        at_us: row.int(3)?,
        payload: row.text(4)?,
        prev_hash: row.text(5)?,
        hash: row.text(6)?,
    })
}

fn checkpoint_row(mut row: Row) -> Result<CheckpointRow, StoreError> {
    Ok(CheckpointRow {
        id: row.int(0)?,
        at_us: row.int(1)?,
        kind: row.text(2)?,
        heads: row.text(3)?,
        purged: row.text(4)?,
        prev_hash: row.text(5)?,
        hash: row.text(6)?,
    })
}

/// Records per INSERT statement (PostgreSQL: each statement is a round trip).
const INSERT_CHUNK: usize = 64;

/// One multi-row INSERT: a round trip per chunk rather than per record.
fn insert_records(tx: &dyn Tx, rows: &[RowRef]) -> Result<(), StoreError> {
    let mut params = Vec::with_capacity(rows.len() * RECORD_PARAMS);
    for row in rows {
        params.extend(record_params(row));
    }
    tx.execute(&INSERT_RECORDS[rows.len()], &params)?;
    Ok(())
}

/// Inserts records one by one, in order (each id the next one); `params` is room for
/// their parameters, reused.
pub fn insert_each<'a>(
    tx: &dyn Tx,
    rows: &[&RowRef<'a>],
    params: &mut Vec<Value<'a>>,
) -> Result<(), StoreError> {
    params.clear();
    for row in rows {
        params.extend(record_params(row));
    }
    tx.execute_each(&INSERT_RECORDS[1], params, RECORD_PARAMS)?;
    Ok(())
}

/// A record's columns as parameters, in the order of `RECORD_COLUMNS`.
const RECORD_PARAMS: usize = 7;

fn record_params<'a>(row: &RowRef<'a>) -> [Value<'a>; RECORD_PARAMS] {
    [
        row.session_id.into(),
        row.seq.into(),
        row.kind.into(),
        row.at_us.into(),
        row.payload.into(),
        row.prev_hash.into(),
        row.hash.into(),
    ]
}

/// The INSERT for each number of records up to a chunk, written once.
static INSERT_RECORDS: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    (0..=INSERT_CHUNK)
        .map(|rows| {
            let values: Vec<String> = (0..rows)
                .map(|i| {
                    let n = i * 7;
                    let numbers: Vec<String> = (1..=7).map(|k| format!("${}", n + k)).collect();
                    format!("({})", numbers.join(", "))
                })
                .collect();
            format!(
                "INSERT INTO records ({RECORD_COLUMNS}) VALUES {}",
                values.join(", ")
            )
        })
        .collect()
});

fn insert_checkpoint(tx: &dyn Tx, row: &CheckpointRow) -> Result<(), StoreError> {
    tx.execute(
        &format!(
            "INSERT INTO checkpoints ({CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ),
        &[
            row.id.into(),
            row.at_us.into(),
            row.kind.as_str().into(),
            row.heads.as_str().into(),
            row.purged.as_str().into(),
            row.prev_hash.as_str().into(),
            row.hash.as_str().into(),
        ],
    )?;
    Ok(())
}

fn last_checkpoint(tx: &dyn Tx) -> Result<Option<CheckpointHead>, StoreError> {
    let mut rows = query_all(
        tx,
        "SELECT id, hash FROM checkpoints ORDER BY id DESC LIMIT 1",
        &[],
    )?;
    rows.pop()
        .map(|mut row| {
            Ok(CheckpointHead {
                id: row.int(0)?,
                hash: row.text(1)?,
            })
        })
        .transpose()
}

fn session_head(tx: &dyn Tx, id: &str) -> Result<Option<Head>, StoreError> {
    let mut rows = query_all(
        tx,
        &format!(
            "SELECT seq, hash FROM {} ORDER BY id DESC LIMIT 1",
            spans::session_records(tx)
        ),
        &[id.into()],
    )?;
    rows.pop()
        .map(|mut row| {
            Ok(Head {
                seq: row.int(0)?,
                hash: row.text(1)?,
            })
        })
        .transpose()
}

/// Every back end is a store through the same operations.
impl<B: Backend + Send> AuditStore for B {
    fn append(&mut self, events: &[Event]) -> Result<(), StoreError> {
        self.append_events(events)
    }

    fn append_sealed(&mut self, sealed: Sealed) -> Result<(), StoreError> {
        Backend::append_sealed(self, sealed)
    }

    fn journal(&self) -> Option<std::sync::Arc<JournalAppender>> {
        Backend::journal(self)
    }

    fn settle(&mut self) -> Result<(), StoreError> {
        Backend::settle(self)
    }

    fn unsettled(&self) -> usize {
        Backend::unsettled(self)
    }

    fn sessions(&self, filter: &SessionFilter) -> Result<Vec<SessionSummary>, StoreError> {
        sessions(self, filter)
    }

    fn session(&self, id: &str) -> Result<Option<SessionDetail>, StoreError> {
        session(self, id)
    }

    fn export(
        &self,
        filter: &SessionFilter,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, StoreError> {
        export(self, filter, out)
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        verify(self)
    }

    fn purge_before(&mut self, cutoff_us: i64) -> Result<u64, StoreError> {
        // Sessions are purged whole: none may have records still on their way.
        Backend::settle(self)?;
        purge_before(self, cutoff_us)
    }
}
