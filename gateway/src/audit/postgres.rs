//! The fleet back end: the same schema in a `cordon_audit` schema of a PostgreSQL
//! database that several gateways share. The store interface is synchronous, so this
//! holds a current-thread runtime and blocks on tokio-postgres. Appends from all
//! gateways are serialised by a transaction-scoped advisory lock, since the checkpoint
//! chain is global. A lost connection is re-established on the next call.

use std::{cell::RefCell, collections::HashMap, error::Error};

use bytes::BytesMut;
use tokio::runtime::Runtime;
use tokio_postgres::{
    error::SqlState,
    types::{to_sql_checked, IsNull, ToSql, Type},
    Client, IsolationLevel, NoTls, Statement, Transaction,
};

use super::{
    db::{Access, Backend, Row, Tx, Value},
    heads::HeadCache,
    ops,
    record::Event,
    store::StoreError,
};

/// Runs before the migrations, in their transaction.
const PREPARE: &str = "CREATE SCHEMA IF NOT EXISTS cordon_audit";

const MIGRATIONS: &[&str] = &["
    CREATE TABLE records (
        id BIGSERIAL PRIMARY KEY,
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
        id BIGINT PRIMARY KEY,
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
"];

/// The advisory lock key writers take ("cordon" in ASCII).
const WRITE_LOCK: i64 = 0x636f_7264_6f6e;

/// Rows fetched per round trip when a query streams.
const FETCH: i32 = 1000;

pub struct PostgresStore {
    runtime: Runtime,
    conninfo: String,
    conn: RefCell<Option<Connected>>,
    heads: HeadCache,
}

struct Connected {
    client: Client,
    /// Prepared statements by SQL text (they live as long as the connection).
    statements: RefCell<HashMap<String, Statement>>,
}

impl PostgresStore {
    /// Connects (libpq-style `conninfo`, without TLS for now) and brings the
    /// `cordon_audit` schema up to date.
    pub fn connect(conninfo: &str) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Other(format!("starting a runtime: {e}")))?;
        let store = Self {
            runtime,
            conninfo: conninfo.to_string(),
            conn: RefCell::new(None),
            heads: HeadCache::default(),
        };
        ops::migrate(&store, PREPARE, MIGRATIONS)?;
        Ok(store)
    }

    pub fn schema_version() -> i64 {
        ops::known_version(MIGRATIONS)
    }

    fn open(&self) -> Result<Connected, StoreError> {
        let (client, connection) = self
            .runtime
            .block_on(tokio_postgres::connect(&self.conninfo, NoTls))
            .map_err(map_err)?;
        self.runtime.spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "audit store connection ended");
            }
        });
        self.runtime
            .block_on(
                client
                    .batch_execute("SET search_path TO cordon_audit; SET synchronous_commit TO on"),
            )
            .map_err(map_err)?;
        Ok(Connected {
            client,
            statements: RefCell::new(HashMap::new()),
        })
    }
}

impl Backend for PostgresStore {
    fn transaction(
        &self,
        access: Access,
        f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut slot = self.conn.borrow_mut();
        if slot.as_ref().is_none_or(|c| c.client.is_closed()) {
            *slot = None;
            *slot = Some(self.open()?);
        }
        let conn = slot.as_mut().expect("connected above");
        let result = run_transaction(&self.runtime, conn, access, f);
        if result.as_ref().is_err_and(StoreError::is_unavailable) {
            // Reconnect next time rather than reuse a connection in an unknown state.
            *slot = None;
        }
        result
    }

    fn heads(&self) -> &HeadCache {
        &self.heads
    }

    fn append_events(&mut self, events: &[Event]) -> Result<(), StoreError> {
        // Gateways sharing the store serialise on its checkpoint chain: each batch is
        // sealed and written inside one transaction.
        ops::append(self, events)
    }
}

fn run_transaction(
    runtime: &Runtime,
    conn: &mut Connected,
    access: Access,
    f: &mut dyn FnMut(&dyn Tx) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let builder = conn.client.build_transaction();
    let builder = match access {
        Access::Read => builder
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true),
        Access::Write => builder,
    };
    let tx = runtime.block_on(builder.start()).map_err(map_err)?;
    let pg = PgTx {
        runtime,
        tx,
        statements: &conn.statements,
    };
    let mut result = Ok(());
    if access == Access::Write {
        result = pg
            .execute(
                "SELECT pg_advisory_xact_lock($1)",
                &[Value::Int(WRITE_LOCK)],
            )
            .map(drop);
    }
    result = result.and_then(|()| f(&pg));
    match result {
        Ok(()) => runtime.block_on(pg.tx.commit()).map_err(map_err),
        Err(e) => {
            let _ = runtime.block_on(pg.tx.rollback());
            Err(e)
        }
    }
}

struct PgTx<'a> {
    runtime: &'a Runtime,
    tx: Transaction<'a>,
    statements: &'a RefCell<HashMap<String, Statement>>,
}

impl PgTx<'_> {
    fn prepare(&self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(stmt) = self.statements.borrow().get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self
            .runtime
            .block_on(self.tx.prepare(sql))
            .map_err(map_err)?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }
}

fn params<'a>(values: &'a [Value<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl Tx for PgTx<'_> {
    fn execute(&self, sql: &str, values: &[Value]) -> Result<u64, StoreError> {
        let stmt = self.prepare(sql)?;
        self.runtime
            .block_on(self.tx.execute(&stmt, &params(values)))
            .map_err(map_err)
    }

    fn query(
        &self,
        sql: &str,
        values: &[Value],
        each: &mut dyn FnMut(Row) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let stmt = self.prepare(sql)?;
        let portal = self
            .runtime
            .block_on(self.tx.bind(&stmt, &params(values)))
            .map_err(map_err)?;
        loop {
            let rows = self
                .runtime
                .block_on(self.tx.query_portal(&portal, FETCH))
                .map_err(map_err)?;
            let done = rows.len() < FETCH as usize;
            for row in rows {
                each(convert(&row)?)?;
            }
            if done {
                return Ok(());
            }
        }
    }

    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.runtime
            .block_on(self.tx.batch_execute(sql))
            .map_err(map_err)
    }
}

fn convert(row: &tokio_postgres::Row) -> Result<Row, StoreError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let value = match *column.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|v| Value::Int(v.into()))),
            Type::TEXT | Type::VARCHAR | Type::NAME => row
                .try_get::<_, Option<String>>(i)
                .map(|v| v.map(Value::from)),
            ref other => {
                return Err(StoreError::Other(format!(
                    "column {}: unexpected type {other}",
                    column.name()
                )))
            }
        }
        .map_err(map_err)?;
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row(values))
}

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => v.to_sql(ty, out),
            Value::Text(s) => s.as_ref().to_sql(ty, out),
        }
    }

    // The shared SQL only binds integers to BIGINT and text to TEXT.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Sorts PostgreSQL's failures into "cannot write now" and "damaged".
fn map_err(e: tokio_postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        // No server error: the connection failed, closed or timed out.
        return StoreError::Unavailable(e.to_string());
    };
    let code = db.code();
    let class = &code.code()[..2];
    if matches!(class, "08" | "53" | "57" | "58" | "40")
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        || *code == SqlState::INSUFFICIENT_PRIVILEGE
    {
        StoreError::Unavailable(db.to_string())
    } else if *code == SqlState::DATA_CORRUPTED || *code == SqlState::INDEX_CORRUPTED {
        StoreError::Corrupt(db.to_string())
    } else {
        StoreError::Other(db.to_string())
    }
}
