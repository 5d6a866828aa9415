//! What the operations ([`super::ops`]) need from a database: transactions, statements
//! with `$1`-style parameters, and rows of integers and text. Both back ends provide
//! exactly this, so the chain, the listing and retention are written once.

use std::{borrow::Cow, sync::Arc};

use super::{
    appender::{JournalAppender, Sealed},
    heads::HeadCache,
    record::Event,
    store::StoreError,
};

/// A parameter or a column value. Integer columns are 64-bit in both back ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Null,
    Int(i64),
    /// Borrowed for parameters: a batch's records are bound without copying them.
    Text(Cow<'a, str>),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(Cow::Borrowed(v))
    }
}

impl From<String> for Value<'_> {
    fn from(v: String) -> Self {
        Value::Text(Cow::Owned(v))
    }
}

/// One result row.
pub struct Row(pub Vec<Value<'static>>);

impl Row {
    pub fn int(&self, i: usize) -> Result<i64, StoreError> {
        match self.0.get(i) {
            Some(Value::Int(v)) => Ok(*v),
            other => Err(unexpected(i, "an integer", other)),
        }
    }

    pub fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.0.get(i) {
            Some(Value::Null) => Ok(None),
            _ => self.int(i).map(Some),
        }
    }

    pub fn text(&mut self, i: usize) -> Result<String, StoreError> {
        match self.0.get_mut(i) {
            Some(Value::Text(v)) => Ok(std::mem::take(v).into_owned()),
            other => Err(unexpected(i, "text", other.map(|v| &*v))),
        }
    }
}

fn unexpected(i: usize, wanted: &str, got: Option<&Value>) -> StoreError {
    StoreError::Other(format!("column {i}: expected {wanted}, got {got:?}"))
}

/// Statements inside one transaction.
pub trait Tx {
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, StoreError>;
    /// Runs `sql` once for each `width` parameters of `params` in turn (prepared once,
    /// where the back end keeps prepared statements).
    fn execute_each(&self, sql: &str, params: &[Value], width: usize) -> Result<u64, StoreError> {
        let mut n = 0;
        for one in params.chunks(width) {
            n += self.execute(sql, one)?;
        }
        Ok(n)
    }
    /// Calls `each` for every row, streaming (a query may return the whole store).
    fn query(
        &self,
        sql: &str,
        params: &[Value],
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
    /// Several statements without parameters (migrations).
    fn batch(&self, sql: &str) -> Result<(), StoreError>;
    /// Whether the store finds a session's records through `record_spans` (ranges of
    /// ids, one per session per batch) rather than an index entry per record: SQLite,
    /// where that index was most of a batch's cost (see `sqlite::MIGRATIONS`).
    fn keeps_record_spans(&self) -> bool {
        false
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A consistent snapshot, no writes.
    Read,
    /// Serialised against every other writer of the store (other gateways included).
    Write,
}

pub trait Backend {
    /// Runs `f` in one transaction and commits if it returns Ok (durably, for writes).
    fn transaction(
        &self,
        access: Access,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// The chain heads of the sessions this store appends to (see [`super::heads`]).
    fn heads(&self) -> &HeadCache;

    /// Stores `events`, durable when it returns (see [`super::AuditStore::append`]).
    fn append_events(&mut self, events: &[Event]) -> Result<(), StoreError>;

    /// Stores records sealed elsewhere (a journaled store's sessions seal their own).
    fn append_sealed(&mut self, _sealed: Sealed) -> Result<(), StoreError> {
        Err(StoreError::Other(
            "this store seals its records itself".into(),
        ))
    }

    /// The journal sessions append to themselves, for a store that has one.
    fn journal(&self) -> Option<Arc<JournalAppender>> {
        None
    }

    /// Puts appended records that are durable but not yet in the tables there.
    fn settle(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// How many appended records are not yet in the tables.
    fn unsettled(&self) -> usize {
        0
    }
}

/// Runs `f` in a transaction and returns what it produced.
pub fn with_tx<T>(
    backend: &dyn Backend,
    access: Access,
    mut f: impl FnMut(&dyn Tx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut out = None;
    backend.transaction(access, &mut |tx| {
        out = Some(f(tx)?);
        Ok(())
    })?;
    Ok(out.expect("the transaction ran f"))
}

/// The integer a query of one row and one column returns (`count(*)`, `max(..)`).
pub fn query_int(tx: &dyn Tx, sql: &str) -> Result<i64, StoreError> {
    match query_all(tx, sql, &[])?.pop() {
        Some(row) => row.int(0),
        None => Err(StoreError::Other(format!("no row from {sql}"))),
    }
}

/// Collects every row of a query.
pub fn query_all(tx: &dyn Tx, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
    let mut rows = Vec::new();
    tx.query(sql, params, &mut |row| {
        rows.push(row);
        Ok(())
    })?;
    Ok(rows)
}
