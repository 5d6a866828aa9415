//! The check a statement of an identity with masked columns passes before
//! it runs: `uses` over the catalog snapshot seen through the identity's
//! mask rules, plus what only the wire side knows (COPY formats, the
//! planner's statistics, relations the snapshot does not know), and the
//! per-session memory of what passed.

use std::sync::Arc;

use pg_query::NodeEnum;

use super::{
    catalog::{Origin, Snapshot},
    copy_plan::CopyStatement,
    rules::{IdentityMasks, MaskRule},
    uses::{self, DerivedColumn, MaskedColumn, MaskedRelation, MaskedRelations},
};
use crate::protocol::backend::GatewayError;

/// SQLSTATE insufficient_privilege, as for the policy's refusals.
pub(super) const REFUSED: &str = "42501";

/// Everything a check of a statement needs, owned (a held statement is
/// checked later, off the session).
#[derive(Clone)]
pub(super) struct Checker {
    pub masks: IdentityMasks,
    pub identity: Arc<str>,
    pub search_path: Arc<[String]>,
}

impl Checker {
    /// The rule masking a column with this origin for this identity.
    pub(super) fn rule_for(&self, origin: &Origin) -> Option<&MaskRule> {
        origin
            .names
            .iter()
            .find_map(|n| self.masks.rule_for(&n.schema, &n.table, &n.column))
    }

    /// Whether a text (lower case) names, in any case, a relation with
    /// columns masked for this identity.
    pub(super) fn names_masked(&self, lower: &str, snapshot: &Snapshot) -> bool {
        snapshot.relations().any(|relation| {
            lower.contains(&relation.name.to_ascii_lowercase())
                && relation
                    .candidates
                    .values()
                    .any(|o| self.rule_for(o).is_some())
        })
    }

    /// Refuses a text that would use a masked column where its origin is
    /// lost, or COPY a masked table in a format masks cannot be written in.
    ///
    /// Also returns the relations the text names that the snapshot does not
    /// know (created since it was read, or temporary): the caller reads the
    /// catalog again before trusting the verdict.
    pub(super) fn check(
        &self,
        text: &str,
        snapshot: &Snapshot,
    ) -> Result<Vec<RelationName>, GatewayError> {
        if !self.masks.has_column_rules() {
            return Ok(Vec::new());
        }
        let relations = SessionRelations {
            checker: self,
            snapshot,
            unknown: Default::default(),
        };
        let parsed = pg_query::parse(text, pg_query::ParserOptions::DEFAULT).map_err(|e| {
            refusal(
                format!("cordon: the statement cannot be read to check how it uses masked columns: {e}"),
                "Statements of an identity with masked columns must parse with PostgreSQL's grammar.",
            )
        })?;
        for raw in &parsed.protobuf.stmts {
            let Some(statement) = &raw.stmt else { continue };
            uses::check(statement, &relations)
                .map_err(|lost| refusal(lost.message(&self.identity), &lost.hint()))?;
            if let Some(NodeEnum::CopyStmt(copy)) = statement.node.as_ref() {
                self.check_copy_format(copy, &relations)?;
            }
        }
        let mut unknown = relations.unknown.into_inner();
        unknown.retain(|(schema, name)| schema.is_some() || !parsed.cte_names.contains(name));
        Ok(unknown)
    }

    /// COPY of a masked table to the client: only the text format, the one
    /// masks are written in row by row.
    fn check_copy_format(
        &self,
        copy: &pg_query::protobuf::CopyStmt,
        relations: &SessionRelations<'_>,
    ) -> Result<(), GatewayError> {
        let Some(relation) = &copy.relation else {
            return Ok(());
        };
        let schema = Some(relation.schemaname.as_str()).filter(|s| !s.is_empty());
        let Some(masked) = relations.lookup(schema, &relation.relname) else {
            return Ok(());
        };
        let statement = CopyStatement::from_node(copy);
        match statement.and_then(|s| s.format) {
            Some(_) => Ok(()),
            None => Err(refusal(
                format!(
                    "cordon: COPY of {} is refused for identity \"{}\": it has masked columns, and masks are written only in COPY's text format",
                    masked.qualified, self.identity
                ),
                "Use COPY ... TO STDOUT without FORMAT csv or binary.",
            )),
        }
    }
}

fn refusal(message: String, hint: &str) -> GatewayError {
    GatewayError::error(REFUSED, message).with_hint(hint)
}

/// The snapshot seen through one identity's mask rules.
pub(super) struct SessionRelations<'a> {
    checker: &'a Checker,
    snapshot: &'a Snapshot,
    /// Names asked about that the snapshot has no relation for.
    unknown: std::cell::RefCell<Vec<RelationName>>,
}

/// A relation as a statement names it (schema `None`: unqualified).
pub(super) type RelationName = (Option<String>, String);

/// Catalog views that show sampled column values (the planner's
/// statistics), and those columns: while an identity has masked columns,
/// any reference to them is refused (they are values without an origin).
const STATISTICS_VIEWS: [(&str, &[&str]); 3] = [
    (
        "pg_stats",
        &["most_common_vals", "histogram_bounds", "most_common_elems"],
    ),
    ("pg_stats_ext", &["most_common_vals"]),
    (
        "pg_stats_ext_exprs",
        &["most_common_vals", "histogram_bounds", "most_common_elems"],
    ),
];

impl SessionRelations<'_> {
    /// A statistics view, when the name means one (pg_catalog comes first
    /// in every search path) and the identity has a masked column.
    fn statistics_view(&self, schema: Option<&str>, name: &str) -> Option<MaskedRelation> {
        if !matches!(schema, None | Some("pg_catalog")) {
            return None;
        }
        let (view, columns) = STATISTICS_VIEWS.iter().find(|(view, _)| *view == name)?;
        let rule = self
            .snapshot
            .relations()
            .find_map(|r| r.candidates.values().find_map(|o| self.checker.rule_for(o)))?;
        Some(MaskedRelation {
            qualified: format!("pg_catalog.{view}"),
            columns: Vec::new(),
            derived: columns
                .iter()
                .map(|column| DerivedColumn {
                    name: (*column).to_owned(),
                    rule: rule.name.clone(),
                })
                .collect(),
        })
    }
}

impl MaskedRelations for SessionRelations<'_> {
    fn lookup(&self, schema: Option<&str>, name: &str) -> Option<MaskedRelation> {
        if let Some(statistics) = self.statistics_view(schema, name) {
            return Some(statistics);
        }
        if !self.snapshot.knows(schema, name, &self.checker.search_path) {
            let name = (schema.map(str::to_owned), name.to_owned());
            let mut unknown = self.unknown.borrow_mut();
            if !unknown.contains(&name) {
                unknown.push(name);
            }
        }
        let relation = self
            .snapshot
            .relation(schema, name, &self.checker.search_path)?;
        let mut masked = MaskedRelation {
            qualified: format!("{}.{}", relation.schema, relation.name),
            ..Default::default()
        };
        for (number, column) in &relation.all_columns {
            let Some(origin) = relation.candidates.get(number) else {
                continue;
            };
            let Some(rule) = self.checker.rule_for(origin) else {
                continue;
            };
            if origin.derived {
                masked.derived.push(DerivedColumn {
                    name: column.clone(),
                    rule: rule.name.clone(),
                });
            } else {
                masked.columns.push(MaskedColumn::under(column, rule));
            }
        }
        (!masked.columns.is_empty() || !masked.derived.is_empty()).then_some(masked)
    }

    fn any_masked(&self) -> bool {
        self.snapshot.relations().any(|r| {
            r.candidates
                .values()
                .any(|o| self.checker.rule_for(o).is_some())
        })
    }
}

/// Relation names the current snapshot was read after and does not know.
#[derive(Default)]
pub(super) struct AbsentNames {
    snapshot: Option<Arc<Snapshot>>,
    names: std::collections::HashSet<RelationName>,
}

impl AbsentNames {
    const MAX: usize = 1024;

    pub(super) fn contains(&self, name: &RelationName, snapshot: &Arc<Snapshot>) -> bool {
        self.snapshot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, snapshot))
            && self.names.contains(name)
    }

    pub(super) fn add(&mut self, name: RelationName, snapshot: &Arc<Snapshot>) {
        let same = self
            .snapshot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, snapshot));
        if !same || self.names.len() >= Self::MAX {
            self.names.clear();
            self.snapshot = Some(Arc::clone(snapshot));
        }
        self.names.insert(name);
    }
}

/// Statement texts the check passed, for one catalog snapshot: a statement
/// run again is not parsed again. Bounded by count and bytes.
#[derive(Default)]
pub(super) struct PassedTexts {
    snapshot: Option<Arc<Snapshot>>,
    texts: std::collections::HashSet<String>,
    bytes: usize,
}

impl PassedTexts {
    const MAX_TEXTS: usize = 512;
    const MAX_BYTES: usize = 128 << 10;

    pub(super) fn knows(&self, text: &str, snapshot: &Arc<Snapshot>) -> bool {
        self.snapshot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, snapshot))
            && self.texts.contains(text)
    }

    pub(super) fn add(&mut self, text: &str, snapshot: &Arc<Snapshot>) {
        let same = self
            .snapshot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, snapshot));
        if !same || self.texts.len() >= Self::MAX_TEXTS || self.bytes + text.len() > Self::MAX_BYTES
        {
            self.texts.clear();
            self.bytes = 0;
            self.snapshot = Some(Arc::clone(snapshot));
        }
        if text.len() <= Self::MAX_BYTES {
            self.bytes += text.len();
            self.texts.insert(text.to_owned());
        }
    }
}
