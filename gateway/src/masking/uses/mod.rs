//! Masked columns must never lose their origin.
//!
//! The gateway masks a result cell by where it comes from: the result
//! description gives each output field the table and column it is taken
//! from, but PostgreSQL fills that in only for a plain column reference
//! (followed through FROM-subqueries, CTEs and views). A masked column inside
//! an expression, an aggregate, a whole-row reference or a set operation would
//! arrive without an origin, so unmasked; one used in WHERE, JOIN, ORDER BY,
//! GROUP BY or DISTINCT lets an agent infer its values row by row; one copied
//! into another table (INSERT ... SELECT, UPDATE ... SET, CREATE TABLE AS,
//! COPY to a file) comes back later from a column nobody masks.
//!
//! This module reads a statement's parse tree, before it runs, and refuses
//! every such use unless the column's mask rule allows it. The analysis
//! matches columns by name (a reference named like a masked column of any
//! masked relation in the statement counts as masked), which can refuse more
//! than necessary and never less: over-refusing is a usability cost,
//! under-refusing a leak.
//!
//! Shape: a fast path asks [`MaskedRelations`] about every relation the
//! statement names and stops when none has masked columns; otherwise the tree
//! is turned into JSON (every field of every node, including node types added
//! in later grammars) and read twice: `scope` learns which names carry masked
//! values (relations, aliases, subquery and CTE outputs, to a fixpoint), then
//! `judge` finds every use of them and its kind. `hidden` covers SQL the tree
//! does not show (function bodies, `query_to_xml`, `CREATE TABLE AS EXECUTE`).
//!
//! Where PostgreSQL keeps the origin, checked against a real server by
//! `tests/tests/masking_origins.rs` over `tests/masking-corpus/`: a plain
//! column (also aliased, `t.*`, `*`) of a SELECT, followed through
//! FROM-subqueries (LATERAL too) and WITH queries (also over
//! `UPDATE ... RETURNING`), of a view's plain columns, of a cursor's FETCH and
//! a prepared statement's EXECUTE, and of INSERT/UPDATE/DELETE ... RETURNING:
//! those are plain outputs here. A no-op cast (`ssn::text` of a text column),
//! `email(c)` and `(c).email` keep it too, but are refused: their shapes are
//! not told apart from the ones that lose it.
//!
//! Decisions worth knowing:
//! - EXPLAIN is judged as its statement, ANALYZE or not: a plan's row
//!   estimates come from statistics drawn from the values.
//! - EXISTS ignores its subquery's output list (the planner drops it).
//! - `ORDER BY 2` / `GROUP BY 2` after a `*` may be any column.
//! - Aliased column lists (`customers AS c(a, b)`) rename by position, which
//!   only the catalog knows: every new name counts as every masked column.
//! - `excluded.col` in ON CONFLICT holds the values being inserted.
//! - COPY of a table TO STDOUT is left to the stream (masked by position);
//!   to a file or program, or COPY (query), it is copying elsewhere.
//! - Functions in FROM never pass masked values, whatever the rule: the names
//!   of their output columns are the catalog's, so later uses are unknown.
//! - A body in a language other than SQL or PL/pgSQL, or one running dynamic
//!   SQL (`EXECUTE`, `query_to_xml`), is refused while the identity has any
//!   masked column ([`MaskedRelations::any_masked`]); one naming a masked
//!   relation always.
//!
//! Not seen here (the catalog or the policy must): functions that read masked
//! tables inside their own bodies (created earlier, by someone else); tables
//! that inherit masked columns (children, partitions) unless `lookup` reports
//! them; catalog views that show column statistics (`pg_stats`'
//! `most_common_vals` of a masked column); a unique index on a masked column
//! telling an INSERT whether a value exists.

mod fixed;
mod hidden;
mod json;
mod judge;
mod scope;
mod types;

#[cfg(test)]
mod tests;

pub use fixed::FixedRelations;
pub use types::{
    CheckError, DerivedColumn, LostOrigin, MaskedColumn, MaskedRelation, MaskedRelations, Use,
};

use pg_query::protobuf as pb;

/// Checks one parsed statement (the `stmt` of a `RawStmt`).
pub fn check(stmt: &pb::Node, relations: &dyn MaskedRelations) -> Result<(), LostOrigin> {
    let named = named(stmt)?;
    let mut masked = Vec::new();
    for (schema, name) in &named.relations {
        if let Some(relation) = relations.lookup(schema.as_deref(), name) {
            masked.push(relation);
        }
    }
    if let Some(refusal) = hidden::check(stmt, &named.functions, relations) {
        return Err(refusal);
    }
    if masked
        .iter()
        .all(|r| r.columns.is_empty() && r.derived.is_empty())
    {
        return Ok(());
    }
    let tree = serde_json::to_value(stmt).map_err(|e| unreadable(&masked, &e.to_string()))?;
    let names = scope::collect(&tree, relations);
    judge::statement(&tree, &names)
}

/// Parses `sql` with PostgreSQL's grammar and checks every statement in it.
/// A text that does not parse is refused too: what cannot be read cannot be
/// shown to keep its origins.
pub fn check_text(sql: &str, relations: &dyn MaskedRelations) -> Result<(), CheckError> {
    let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT)
        .map_err(|e| CheckError::Unparsable(e.to_string()))?;
    for raw in &parsed.protobuf.stmts {
        if let Some(stmt) = &raw.stmt {
            check(stmt, relations).map_err(CheckError::LostOrigin)?;
        }
    }
    Ok(())
}

/// What a statement names: relations and functions called.
struct Named {
    /// Unqualified ones with schema `None`. CTE names are included (they may
    /// shadow a table; the slow path resolves scopes exactly), so this can
    /// only ask about more relations.
    relations: Vec<(Option<String>, String)>,
    functions: Vec<Vec<String>>,
}

fn named(stmt: &pb::Node) -> Result<Named, LostOrigin> {
    let tree = crate::policy::walker::walk(stmt).map_err(|e| LostOrigin {
        column: String::new(),
        rule: String::new(),
        usage: Use::Expression,
        why: Some(format!("the parse tree could not be read: {e}")),
    })?;
    let mut relations: Vec<(Option<String>, String)> = Vec::new();
    for relation in tree.relations {
        if relation.name.is_empty() {
            continue;
        }
        let schema = Some(relation.schema).filter(|s| !s.is_empty());
        let key = (schema, relation.name);
        if !relations.contains(&key) {
            relations.push(key);
        }
    }
    let functions = tree.functions.into_iter().map(|f| f.name).collect();
    Ok(Named {
        relations,
        functions,
    })
}

/// The JSON form of the tree could not be built: refuse, naming a masked
/// column the statement touches.
fn unreadable(masked: &[MaskedRelation], why: &str) -> LostOrigin {
    let (column, rule) = masked
        .iter()
        .find_map(|r| {
            r.columns
                .first()
                .map(|c| (format!("{}.{}", r.qualified, c.name), c.rule.clone()))
        })
        .unwrap_or_else(|| (String::new(), String::new()));
    LostOrigin {
        column,
        rule,
        usage: Use::Expression,
        why: Some(format!("the parse tree could not be read: {why}")),
    }
}
