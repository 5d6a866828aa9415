//! What each column of a view shows, read from its definition (as
//! `pg_get_viewdef` prints it with an empty search_path: every relation
//! schema-qualified, every column qualified by its relation).
//!
//! A view column that is a plain reference to a candidate column shows that
//! column (and is masked like it); one computed from candidate columns is
//! *derived* (no mask can be written for it). Anything this reading cannot
//! follow (set operations, subqueries in FROM, unresolvable names) is
//! treated as derived from every candidate it might read: fail closed.

use std::collections::HashMap;

use pg_query::{protobuf, NodeEnum};
use serde_json::Value;

use super::catalog::{ColumnName, Origin, Relation, Snapshot};

/// One entry per output column of the view's query, in order: what it shows
/// when that involves a candidate column.
pub fn resolve(definition: &str, snapshot: &Snapshot) -> Vec<Option<Origin>> {
    let Some(select) = parse_select(definition) else {
        tracing::warn!(definition, "a view definition could not be read; its columns are treated as computed from every masked candidate");
        return everything_derived(snapshot);
    };
    let scope = Scope::of(&select, snapshot);
    let whole_tree = serde_json::to_value(&select).unwrap_or(Value::Null);
    if !scope.simple {
        let derived = scope.derived(&whole_tree);
        return vec![derived; output_count(&select)];
    }
    select
        .target_list
        .iter()
        .map(|target| {
            let Some(NodeEnum::ResTarget(target)) = target.node.as_ref() else {
                return scope.derived(&whole_tree);
            };
            let value = target.val.as_deref()?;
            match value.node.as_ref() {
                Some(NodeEnum::ColumnRef(column)) => match scope.plain(column) {
                    Plain::Column(origin) => origin,
                    Plain::NotCandidate => None,
                    Plain::Unknown => {
                        scope.derived(&serde_json::to_value(value).unwrap_or(Value::Null))
                    }
                },
                _ => scope.derived(&serde_json::to_value(value).unwrap_or(Value::Null)),
            }
        })
        .collect()
}

/// How many columns a query returns: a set operation's come from its
/// leftmost arm.
fn output_count(select: &protobuf::SelectStmt) -> usize {
    match select.larg.as_deref() {
        Some(left) if select.target_list.is_empty() => output_count(left),
        _ => select.target_list.len(),
    }
}

fn parse_select(definition: &str) -> Option<protobuf::SelectStmt> {
    let parsed = pg_query::parse(definition, pg_query::ParserOptions::DEFAULT).ok()?;
    let statement = parsed.protobuf.stmts.first()?.stmt.as_ref()?;
    match statement.node.as_ref()? {
        NodeEnum::SelectStmt(select) => Some((**select).clone()),
        _ => None,
    }
}

/// A view too strange to read shows, for all we know, every candidate.
fn everything_derived(snapshot: &Snapshot) -> Vec<Option<Origin>> {
    let names: Vec<ColumnName> = snapshot
        .relations()
        .flat_map(|r| r.candidates.values().flat_map(|o| o.names.clone()))
        .collect();
    vec![
        Some(Origin {
            names,
            derived: true,
            type_oid: 0,
        });
        1600
    ]
}

enum Plain {
    Column(Option<Origin>),
    NotCandidate,
    Unknown,
}

/// The relations a view's query reads, by the names its columns use.
struct Scope<'a> {
    by_alias: HashMap<String, Option<&'a Relation>>,
    /// Only plain relations and joins in FROM, no set operation.
    simple: bool,
    /// Every candidate relation named anywhere in the query.
    everywhere: Vec<&'a Relation>,
}

impl<'a> Scope<'a> {
    fn of(select: &protobuf::SelectStmt, snapshot: &'a Snapshot) -> Self {
        let mut scope = Scope {
            by_alias: HashMap::new(),
            simple: select.op == protobuf::SetOperation::SetopNone as i32
                && select.with_clause.is_none(),
            everywhere: Vec::new(),
        };
        for item in &select.from_clause {
            scope.add_from(item, snapshot);
        }
        let tree = serde_json::to_value(select).unwrap_or(Value::Null);
        visit(&tree, &mut |key, value| {
            if key == "RangeVar" {
                if let Some(relation) = range_var_relation(value, snapshot) {
                    scope.everywhere.push(relation);
                }
            }
        });
        scope
    }

    fn add_from(&mut self, item: &protobuf::Node, snapshot: &'a Snapshot) {
        match item.node.as_ref() {
            Some(NodeEnum::RangeVar(range)) => {
                let relation = snapshot.relation(
                    Some(range.schemaname.as_str()).filter(|s| !s.is_empty()),
                    &range.relname,
                    &[],
                );
                let name = range
                    .alias
                    .as_ref()
                    .map_or(range.relname.clone(), |a| a.aliasname.clone());
                self.by_alias.insert(name, relation);
            }
            Some(NodeEnum::JoinExpr(join)) => {
                for side in [&join.larg, &join.rarg].into_iter().flatten() {
                    self.add_from(side, snapshot);
                }
            }
            _ => self.simple = false,
        }
    }

    /// A plain column reference: the candidate it names, if it names one.
    fn plain(&self, column: &protobuf::ColumnRef) -> Plain {
        let names: Vec<&str> = column
            .fields
            .iter()
            .map(|f| match f.node.as_ref() {
                Some(NodeEnum::String(s)) => s.sval.as_str(),
                _ => "*",
            })
            .collect();
        let (relation, column) = match names[..] {
            [alias, column] if column != "*" => match self.by_alias.get(alias) {
                Some(relation) => (*relation, column),
                None => return Plain::Unknown,
            },
            [column] if column != "*" && self.by_alias.len() == 1 => {
                (*self.by_alias.values().next().expect("one"), column)
            }
            _ => return Plain::Unknown,
        };
        match relation.and_then(|r| r.candidate_named(column)) {
            Some(origin) => Plain::Column(Some(origin.clone())),
            None => Plain::NotCandidate,
        }
    }

    /// An expression (given as its serialized tree): derived from every
    /// candidate it may read, or `None` when it reads none.
    fn derived(&self, expression: &Value) -> Option<Origin> {
        let mut names = Vec::new();
        visit(expression, &mut |key, value| {
            if key != "ColumnRef" {
                return;
            }
            let fields = column_ref_names(value);
            let last = fields.last().map(String::as_str).unwrap_or("*");
            let qualifier = (fields.len() >= 2).then(|| fields[fields.len() - 2].as_str());
            for relation in self.relations_for(qualifier) {
                if last == "*" || fields.len() == 1 && self.by_alias.contains_key(last) {
                    // A whole row: everything the relation has.
                    names.extend(relation.candidates.values().flat_map(|o| o.names.clone()));
                } else if let Some(origin) = relation.candidate_named(last) {
                    names.extend(origin.names.clone());
                }
            }
        });
        (!names.is_empty()).then_some(Origin {
            names,
            derived: true,
            type_oid: 0,
        })
    }

    /// The relations a qualifier may mean; all of them when unsure.
    fn relations_for(&self, qualifier: Option<&str>) -> Vec<&'a Relation> {
        match qualifier.and_then(|q| self.by_alias.get(q)) {
            Some(Some(relation)) if self.simple => vec![*relation],
            Some(None) if self.simple => Vec::new(),
            _ => self.everywhere.clone(),
        }
    }
}

fn range_var_relation<'a>(value: &Value, snapshot: &'a Snapshot) -> Option<&'a Relation> {
    let schema = value.get("schemaname")?.as_str().filter(|s| !s.is_empty());
    let name = value.get("relname")?.as_str()?;
    snapshot.relation(schema, name, &[])
}

/// The names of a serialized ColumnRef (`*` for a star).
fn column_ref_names(value: &Value) -> Vec<String> {
    let Some(fields) = value.get("fields").and_then(Value::as_array) else {
        return Vec::new();
    };
    fields
        .iter()
        .map(|field| {
            let mut name = "*".to_owned();
            visit(field, &mut |key, value| {
                if key == "String" {
                    if let Some(text) = value.get("sval").and_then(Value::as_str) {
                        name = text.to_owned();
                    }
                }
            });
            name
        })
        .collect()
}

/// Calls `f` with every object key and its value, depth first.
fn visit(value: &Value, f: &mut dyn FnMut(&str, &Value)) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                f(key, inner);
                visit(inner, f);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| visit(item, f)),
        _ => {}
    }
}
