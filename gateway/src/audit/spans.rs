//! Where a session's records are. PostgreSQL keeps an index entry per record
//! (`records_session`); SQLite keeps `record_spans` instead: a batch's records are
//! inserted grouped by session, so each session's part is one range of ids, named by a
//! single span row. The chain does not depend on either: `verify` reads the records
//! themselves, and a record outside every span is still checked there.

use std::collections::BTreeMap;

use super::{
    chain::RowRef,
    db::{query_int, Tx},
    ops,
    store::StoreError,
};

/// The records of the session `$1`, as a table to select from (`AS session_records`).
pub fn session_records(tx: &dyn Tx) -> &'static str {
    if tx.keeps_record_spans() {
        "(SELECT r.* FROM record_spans s JOIN records r ON r.id BETWEEN s.first_id AND s.last_id \
         WHERE s.session_id = $1 AND r.session_id = $1) AS session_records"
    } else {
        "(SELECT * FROM records WHERE session_id = $1) AS session_records"
    }
}

/// The records no span of their own session covers, as a table to select from.
pub const OUTSIDE_SPANS: &str = "records r WHERE NOT EXISTS (SELECT 1 FROM record_spans s \
     WHERE s.session_id = r.session_id AND r.id BETWEEN s.first_id AND s.last_id) \
     ORDER BY r.session_id, r.id";

/// Inserts `rows` grouped by session (each session's rows in their order), and one span
/// per session. SQLite gives each row the next id (one writer holds the transaction);
/// that is checked, not assumed, since a wrong span would hide records from `show`.
/// Ids chosen by SQLite rather than given: a given id costs a lookup per row.
pub fn insert_grouped(tx: &dyn Tx, rows: &[RowRef]) -> Result<(), StoreError> {
    let mut newest = query_int(tx, "SELECT coalesce(max(id), 0) FROM records")?;
    let mut by_session: BTreeMap<&str, Vec<&RowRef>> = BTreeMap::new();
    for row in rows {
        by_session.entry(row.session_id).or_default().push(row);
    }
    let mut params = Vec::new();
    for (session, rows) in by_session {
        ops::insert_each(tx, &rows, &mut params)?;
        let first = newest + 1;
        newest += rows.len() as i64;
        let last = query_int(tx, "SELECT last_insert_rowid()")?;
        if last != newest {
            return Err(StoreError::Other(format!(
                "records of session {session} were given ids up to {last}, not {first}..={newest}"
            )));
        }
        tx.execute(
            "INSERT INTO record_spans (session_id, first_id, last_id) VALUES ($1, $2, $3)",
            &[session.into(), first.into(), last.into()],
        )?;
    }
    Ok(())
}

/// Removes a session's records (and its spans).
pub fn delete_session(tx: &dyn Tx, session: &str) -> Result<(), StoreError> {
    if tx.keeps_record_spans() {
        tx.execute(
            &format!(
                "DELETE FROM records WHERE id IN (SELECT id FROM {})",
                session_records(tx)
            ),
            &[session.into()],
        )?;
        tx.execute(
            "DELETE FROM record_spans WHERE session_id = $1",
            &[session.into()],
        )?;
    } else {
        tx.execute(
            "DELETE FROM records WHERE session_id = $1",
            &[session.into()],
        )?;
    }
    Ok(())
}
