//! The listing index: one `sessions` row per session with who and when and how many
//! statements of each decision, kept in step with the records in the same transaction,
//! so `sessions list` need not read the records. It is derived data, not chained.

use std::collections::BTreeMap;

use super::{
    chain::RowRef,
    db::{Tx, Value},
    record::{Event, SessionOpened},
    store::{SessionFilter, SessionSummary, StoreError},
};

/// What a batch changes in one session's listing entry.
#[derive(Default)]
struct IndexChange<'a> {
    opened: Option<&'a SessionOpened>,
    first_statement_us: Option<i64>,
    statements: i64,
    allowed: i64,
    refused: i64,
    needs_approval: i64,
    closed_us: Option<i64>,
}

/// What the listing index needs of one record beyond the record's own columns (its
/// session and time): kept beside records the SQLite store has journaled but not yet put
/// in its tables, instead of the whole event. Only an opening allocates.
#[derive(Debug)]
pub enum Fact {
    Opened(Box<SessionOpened>),
    Statement(Decision),
    Closed,
}

/// A statement's decision, as the listing counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Refused,
    NeedsApproval,
    /// Counted as a statement only.
    Other,
}

impl Decision {
    fn of(decision: &str) -> Self {
        match decision {
            "allowed" => Decision::Allowed,
            "refused" => Decision::Refused,
            "needs approval" => Decision::NeedsApproval,
            _ => Decision::Other,
        }
    }
}

/// Without copying the opening's fields.
impl From<Event> for Fact {
    fn from(event: Event) -> Self {
        match event {
            Event::Opened(e) => Fact::Opened(Box::new(e)),
            other => Fact::of(&other),
        }
    }
}

impl Fact {
    pub fn of(event: &Event) -> Self {
        match event {
            Event::Opened(e) => Fact::Opened(Box::new(e.clone())),
            Event::Statement(e) => Fact::Statement(Decision::of(&e.decision)),
            Event::Closed(_) => Fact::Closed,
        }
    }
}

/// Keeps the listing index (`sessions`) in step with the records: at most three
/// statements per session per batch. It is derived data, not part of the chain:
/// `sessions show` and `verify` read the records themselves.
/// `facts[i]` is what the listing needs of `rows[i]`.
pub fn update(tx: &dyn Tx, rows: &[RowRef], facts: &[&Fact]) -> Result<(), StoreError> {
    if rows.len() != facts.len() {
        return Err(StoreError::Other(format!(
            "{} records came with {} listing facts",
            rows.len(),
            facts.len()
        )));
    }
    let mut changes: BTreeMap<&str, IndexChange> = BTreeMap::new();
    for (row, fact) in rows.iter().zip(facts) {
        let change = changes.entry(row.session_id).or_default();
        match fact {
            Fact::Opened(e) => change.opened = Some(e),
            Fact::Statement(decision) => {
                // A statement's record time is when it started.
                change.first_statement_us.get_or_insert(row.at_us);
                change.statements += 1;
                match decision {
                    Decision::Allowed => change.allowed += 1,
                    Decision::Refused => change.refused += 1,
                    Decision::NeedsApproval => change.needs_approval += 1,
                    Decision::Other => {}
                }
            }
            Fact::Closed => change.closed_us = Some(row.at_us),
        }
    }
    for (id, change) in changes {
        if let Some(e) = change.opened {
            tx.execute(
                "INSERT INTO sessions (session_id, identity, cgroup, pid, comm, opened_us) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO UPDATE SET \
                 identity = excluded.identity, cgroup = excluded.cgroup, pid = excluded.pid, \
                 comm = excluded.comm, opened_us = excluded.opened_us",
                &[
                    id.into(),
                    e.identity.as_str().into(),
                    e.cgroup.as_str().into(),
                    i64::from(e.pid).into(),
                    e.comm.as_str().into(),
                    e.at_us.into(),
                ],
            )?;
        }
        if let Some(first) = change.first_statement_us {
            tx.execute(
                "INSERT INTO sessions (session_id, opened_us, statements, allowed, refused, \
                 needs_approval) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (session_id) DO \
                 UPDATE SET statements = sessions.statements + excluded.statements, \
                 allowed = sessions.allowed + excluded.allowed, \
                 refused = sessions.refused + excluded.refused, \
                 needs_approval = sessions.needs_approval + excluded.needs_approval",
                &[
                    id.into(),
                    first.into(),
                    change.statements.into(),
                    change.allowed.into(),
                    change.refused.into(),
                    change.needs_approval.into(),
                ],
            )?;
        }
        if let Some(at) = change.closed_us {
            tx.execute(
                "INSERT INTO sessions (session_id, opened_us, closed_us) VALUES ($1, $2, $3) \
                 ON CONFLICT (session_id) DO UPDATE SET closed_us = excluded.closed_us",
                &[id.into(), at.into(), at.into()],
            )?;
        }
    }
    Ok(())
}

pub fn list<'f>(tx: &dyn Tx, filter: &'f SessionFilter) -> Result<Vec<SessionSummary>, StoreError> {
    let mut sql = String::from(
        "SELECT session_id, identity, cgroup, pid, comm, opened_us, closed_us, statements, \
         refused FROM sessions WHERE TRUE",
    );
    let mut params: Vec<Value<'f>> = Vec::new();
    let mut param = |sql: &mut String, clause: &str, value: Value<'f>| {
        params.push(value);
        sql.push_str(&clause.replace("$?", &format!("${}", params.len())));
    };
    if let Some(identity) = &filter.identity {
        param(&mut sql, " AND identity = $?", identity.as_str().into());
    }
    if let Some(since) = filter.since_us {
        param(
            &mut sql,
            " AND (closed_us IS NULL OR closed_us >= $?)",
            since.into(),
        );
    }
    if let Some(until) = filter.until_us {
        param(&mut sql, " AND opened_us < $?", until.into());
    }
    if let Some(decision) = &filter.decision {
        let column = match decision.as_str() {
            "allowed" => "allowed",
            "refused" => "refused",
            "needs approval" => "needs_approval",
            other => {
                return Err(StoreError::Other(format!(
                    "unknown decision {other:?} (allowed, refused or needs approval)"
                )))
            }
        };
        sql.push_str(&format!(" AND {column} > 0"));
    }
    sql.push_str(" ORDER BY opened_us, session_id");
    if let Some(limit) = filter.limit {
        param(
            &mut sql,
            " LIMIT $?",
            (limit.min(i64::MAX as u64) as i64).into(),
        );
    }
    let mut out = Vec::new();
    tx.query(&sql, &params, &mut |mut row| {
        out.push(SessionSummary {
            id: row.text(0)?,
            identity: row.text(1)?,
            cgroup: row.text(2)?,
            pid: row.int(3)? as u32,
            comm: row.text(4)?,
            opened_at_us: row.int(5)?,
            closed_at_us: row.opt_int(6)?,
            statements: row.int(7)? as u64,
            refused: row.int(8)? as u64,
        });
        Ok(())
    })?;
    Ok(out)
}
