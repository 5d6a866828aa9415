//! What `cordon explain` says about masking, without a database: which
//! output columns of a statement would arrive masked, by which rule, and
//! whether a masked column is used where its mask would be lost.
//!
//! Offline, the columns a relation has are unknown: a relation is taken to
//! have every column the statement names and every column a rule names
//! literally (no `*` in its column part). The gateway itself reads the real
//! columns from the database's catalog.

use std::collections::{BTreeSet, HashMap};

use pg_query::{protobuf as pb, NodeEnum};
use serde::Serialize;

use super::{
    rules::IdentityMasks,
    uses::{self, MaskedColumn, MaskedRelation, MaskedRelations},
};

/// Masking's part of one statement's explanation.
#[derive(Debug, Default, Serialize)]
pub struct MaskExplanation {
    /// `output ← schema.table.column: mask (rule "NAME")`, per masked output column.
    pub masked: Vec<String>,
    /// Set when a masked column is used where its mask would be lost:
    /// the mask rule, the message and the hint.
    pub refusal: Option<(String, String, String)>,
}

/// Explains one statement (`text`, already known to parse).
pub fn explain(
    masks: &IdentityMasks,
    identity: &str,
    search_path: &[String],
    text: &str,
) -> MaskExplanation {
    let mut explanation = MaskExplanation::default();
    if !masks.has_column_rules() {
        return explanation;
    }
    let Ok(parsed) = pg_query::parse(text, pg_query::ParserOptions::DEFAULT) else {
        return explanation;
    };
    let Some(statement) = parsed.protobuf.stmts.first().and_then(|r| r.stmt.as_ref()) else {
        return explanation;
    };
    let tree = serde_json::to_value(statement).unwrap_or_default();
    let mut names: BTreeSet<String> = BTreeSet::new();
    collect_column_names(&tree, &mut names);
    for rule in masks.rules() {
        for pattern in &rule.patterns {
            if !pattern.column_glob().contains('*') {
                names.insert(pattern.column_glob().to_owned());
            }
        }
    }
    let relations = Offline {
        masks,
        search_path,
        names: names.into_iter().collect(),
    };
    if let Err(lost) = uses::check(statement, &relations) {
        explanation.refusal = Some((lost.rule.clone(), lost.message(identity), lost.hint()));
    }
    if let Some(NodeEnum::SelectStmt(select)) = statement.node.as_ref() {
        explanation.masked = output_columns(select, &relations);
    }
    explanation
}

/// Relations as the rules see them, with the columns named anywhere.
struct Offline<'a> {
    masks: &'a IdentityMasks,
    search_path: &'a [String],
    names: Vec<String>,
}

impl Offline<'_> {
    fn schema_of(&self, schema: Option<&str>) -> String {
        schema
            .map(str::to_owned)
            .or_else(|| self.search_path.first().cloned())
            .unwrap_or_else(|| "public".to_owned())
    }

    /// `(rule, mask)` for a column of a relation.
    fn rule(&self, schema: &str, table: &str, column: &str) -> Option<(String, String)> {
        self.masks
            .rule_for(schema, table, column)
            .map(|r| (r.name.clone(), r.mask.name().to_owned()))
    }
}

impl MaskedRelations for Offline<'_> {
    fn lookup(&self, schema: Option<&str>, name: &str) -> Option<MaskedRelation> {
        let schema = self.schema_of(schema);
        let columns: Vec<MaskedColumn> = self
            .names
            .iter()
            .filter_map(|column| {
                let rule = self.masks.rule_for(&schema, name, column)?;
                Some(MaskedColumn::under(column, rule))
            })
            .collect();
        (!columns.is_empty()).then(|| MaskedRelation {
            qualified: format!("{schema}.{name}"),
            columns,
            derived: Vec::new(),
        })
    }
}

/// The top-level SELECT's output columns that are plain references to
/// masked columns (`*` lists the masked columns the rules name).
fn output_columns(select: &pb::SelectStmt, relations: &Offline<'_>) -> Vec<String> {
    let mut by_alias: HashMap<String, (String, String)> = HashMap::new();
    for item in &select.from_clause {
        collect_from(item, relations, &mut by_alias);
    }
    let sole = (by_alias.len() == 1)
        .then(|| by_alias.values().next().cloned())
        .flatten();
    let mut out = Vec::new();
    for target in &select.target_list {
        let Some(NodeEnum::ResTarget(target)) = target.node.as_ref() else {
            continue;
        };
        let Some(NodeEnum::ColumnRef(column)) = target.val.as_ref().and_then(|v| v.node.as_ref())
        else {
            continue;
        };
        let fields: Vec<Option<&str>> = column
            .fields
            .iter()
            .map(|f| match f.node.as_ref() {
                Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .collect();
        let (relation, column) = match fields[..] {
            [Some(qualifier), name] => (by_alias.get(qualifier).cloned(), name),
            [name] => (sole.clone(), name),
            _ => continue,
        };
        let Some((schema, table)) = relation else {
            continue;
        };
        let columns: Vec<&str> = match column {
            Some(name) => vec![name],
            None => relations.names.iter().map(String::as_str).collect(),
        };
        for name in columns {
            if let Some((rule, mask)) = relations.rule(&schema, &table, name) {
                let output = if target.name.is_empty() {
                    name
                } else {
                    &target.name
                };
                out.push(format!(
                    "{output} <- {schema}.{table}.{name}: {mask} (rule \"{rule}\")"
                ));
            }
        }
    }
    out
}

fn collect_from(
    item: &pb::Node,
    relations: &Offline<'_>,
    by_alias: &mut HashMap<String, (String, String)>,
) {
    match item.node.as_ref() {
        Some(NodeEnum::RangeVar(range)) => {
            let schema =
                relations.schema_of(Some(range.schemaname.as_str()).filter(|s| !s.is_empty()));
            let alias = range
                .alias
                .as_ref()
                .map_or(range.relname.clone(), |a| a.aliasname.clone());
            by_alias.insert(alias, (schema, range.relname.clone()));
        }
        Some(NodeEnum::JoinExpr(join)) => {
            for side in [&join.larg, &join.rarg].into_iter().flatten() {
                collect_from(side, relations, by_alias);
            }
        }
        _ => {}
    }
}

/// The last name of every column reference in a serialized tree.
fn collect_column_names(value: &serde_json::Value, out: &mut BTreeSet<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map {
                if key == "ColumnRef" {
                    if let Some(last) = inner
                        .get("fields")
                        .and_then(|f| f.as_array())
                        .and_then(|f| f.last())
                        .and_then(|f| f.pointer("/node/String/sval"))
                        .and_then(|s| s.as_str())
                    {
                        out.insert(last.to_owned());
                    }
                }
                collect_column_names(inner, out);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| collect_column_names(i, out)),
        _ => {}
    }
}
