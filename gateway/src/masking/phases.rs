//! The masking phase of one session. It wraps the session's other phases
//! (the policy) and
//! - refuses, before it runs, a statement that would use a masked column
//!   where its origin is lost (`uses`), reading the target's catalog first
//!   when that is stale (the statement is held meanwhile);
//! - masks result cells by their origin (RowDescription's table and column,
//!   resolved through views by the catalog), in text and binary formats;
//! - masks COPY TO STDOUT rows of masked tables by column position;
//! - runs the identity's content detectors over text values, error and
//!   notice texts and notification payloads;
//! - withholds error details of statements that read masked relations (a
//!   failing row is printed whole by the server).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use bytes::{BufMut, BytesMut};
use pg_query::NodeEnum;

use super::{
    catalog::{Origin, Snapshot, TargetCatalog},
    copy_plan::{copy_statements, CopyPlan, CopyStatement},
    detectors::{DetectorSet, KindSet},
    masks::Mask,
    rules::{IdentityMasks, MaskRule},
    uses::{self, DerivedColumn, MaskedColumn, MaskedRelation, MaskedRelations},
};
use crate::{
    engine::{Barrier, Columns, Finish, Phases, Request, ServerText, Verdict},
    protocol::backend::GatewayError,
};

/// SQLSTATE insufficient_privilege, as for the policy's refusals.
const REFUSED: &str = "42501";
/// SQLSTATE object_not_in_prerequisite_state: the catalog cannot be read.
const CATALOG_UNAVAILABLE: &str = "55000";

/// What the client gets instead of an error detail that may show a masked value.
const WITHHELD_DETAIL: &str =
    "(detail withheld by cordon: the statement reads masked columns, and details can show row values)";

/// Everything a check of a statement needs, owned (a held statement is
/// checked later, off the session).
#[derive(Clone)]
struct Checker {
    masks: IdentityMasks,
    identity: Arc<str>,
    search_path: Arc<[String]>,
}

/// One judged request in flight (finished in order).
#[derive(Default)]
struct InFlight {
    /// Its COPY TO STDOUT statements, in order, waiting for their data.
    copies: VecDeque<CopyStatement>,
    /// It names a relation with columns masked for this identity.
    sensitive: bool,
}

pub struct MaskingPhases {
    inner: Box<dyn Phases>,
    checker: Checker,
    catalog: Arc<TargetCatalog>,
    /// Detectors for texts whose origin is unknowable (notification
    /// payloads, error texts): the identity's own, or all kinds when the
    /// identity has masked columns but no detectors.
    text_detectors: DetectorSet,
    in_flight: VecDeque<InFlight>,
    /// The last plan made, for the columns and catalog snapshot it was made
    /// with (a prepared statement's columns outlive snapshots).
    row_plan: Option<RowPlan>,
    /// Whether the rows of the result being answered need rewriting;
    /// unknown (so yes) until its columns are described.
    current_rewrites: Option<bool>,
    /// The result being answered: its columns and their plan.
    current: Option<(Columns, Arc<[Cell]>)>,
    copy: Option<CopyPlan>,
    /// The inner phases held the request being held (so it is told the
    /// outcome).
    inner_held: bool,
    /// Reused for a masked or redacted cell.
    scratch: Vec<u8>,
    /// Texts that passed the check against the current snapshot.
    passed: PassedTexts,
    /// Relations a held statement names that the catalog is read again for.
    awaiting: Vec<RelationName>,
    /// Relations a fresh read did not know either.
    absent: AbsentNames,
}

/// Relation names the current snapshot was read after and does not know.
#[derive(Default)]
struct AbsentNames {
    snapshot: Option<Arc<Snapshot>>,
    names: std::collections::HashSet<RelationName>,
}

impl AbsentNames {
    const MAX: usize = 1024;

    fn contains(&self, name: &RelationName, snapshot: &Arc<Snapshot>) -> bool {
        self.snapshot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, snapshot))
            && self.names.contains(name)
    }

    fn add(&mut self, name: RelationName, snapshot: &Arc<Snapshot>) {
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
struct PassedTexts {
    snapshot: Option<Arc<Snapshot>>,
    texts: std::collections::HashSet<String>,
    bytes: usize,
}

impl PassedTexts {
    const MAX_TEXTS: usize = 512;
    const MAX_BYTES: usize = 128 << 10;

    fn knows(&self, text: &str, snapshot: &Arc<Snapshot>) -> bool {
        self.snapshot
            .as_ref()
            .is_some_and(|s| Arc::ptr_eq(s, snapshot))
            && self.texts.contains(text)
    }

    fn add(&mut self, text: &str, snapshot: &Arc<Snapshot>) {
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

struct RowPlan {
    columns: Columns,
    snapshot: Option<Arc<Snapshot>>,
    cells: Arc<[Cell]>,
}

/// What happens to one column's cells.
#[derive(Debug, Clone)]
pub enum Cell {
    Pass,
    /// Detectors only (a text column with no mask).
    Detect,
    Mask {
        mask: Mask,
        type_oid: u32,
        binary: bool,
    },
    Null,
}

impl MaskingPhases {
    pub fn new(
        inner: Box<dyn Phases>,
        masks: IdentityMasks,
        identity: &str,
        search_path: &[String],
        catalog: Arc<TargetCatalog>,
    ) -> Self {
        let text_detectors = if !masks.detectors().is_empty() {
            masks.detectors().clone()
        } else if masks.has_column_rules() {
            DetectorSet::new(KindSet::all())
        } else {
            DetectorSet::new(KindSet::default())
        };
        Self {
            inner,
            checker: Checker {
                masks,
                identity: identity.into(),
                search_path: search_path.into(),
            },
            catalog,
            text_detectors,
            in_flight: VecDeque::new(),
            row_plan: None,
            current_rewrites: None,
            current: None,
            copy: None,
            inner_held: false,
            scratch: Vec::new(),
            passed: PassedTexts::default(),
            awaiting: Vec::new(),
            absent: AbsentNames::default(),
        }
    }

    /// Notes a request that will be finished (everything but an allowed Parse).
    fn note(&mut self, request: &Request<'_>, verdict: &Verdict) {
        let text = match request {
            Request::Parse { .. } if matches!(verdict, Verdict::Allow) => return,
            Request::Query { text } | Request::Parse { text, .. } => Some(*text),
            Request::Execute { text, .. } => *text,
            Request::FunctionCall { .. } => None,
        };
        let mut in_flight = InFlight::default();
        if let (Some(text), Verdict::Allow) = (text, verdict) {
            in_flight.copies = copy_statements(text).into();
            in_flight.sensitive = self.checker.masks.has_column_rules()
                && self.catalog.latest().is_none_or(|snapshot| {
                    self.checker
                        .names_masked(&text.to_ascii_lowercase(), &snapshot)
                });
        }
        self.in_flight.push_back(in_flight);
    }

    /// The check of a text against a fresh snapshot: a verdict, or `None`
    /// when the text names relations the snapshot does not know (the
    /// catalog must be read again first).
    fn judge(&mut self, text: &str, snapshot: &Arc<Snapshot>) -> Option<Verdict> {
        if self.passed.knows(text, snapshot) {
            return Some(Verdict::Allow);
        }
        match self.checker.check(text, snapshot) {
            Err(refused) => Some(Verdict::Refuse(refused)),
            Ok(unknown) => {
                let unseen: Vec<RelationName> = unknown
                    .into_iter()
                    .filter(|name| !self.absent.contains(name, snapshot))
                    .collect();
                if unseen.is_empty() {
                    self.passed.add(text, snapshot);
                    Some(Verdict::Allow)
                } else {
                    self.awaiting = unseen;
                    None
                }
            }
        }
    }

    /// The plan for a result's columns (made once per description).
    fn plan_for(&mut self, columns: &Columns) -> Arc<[Cell]> {
        let snapshot = self.catalog.latest();
        if let Some(plan) = &self.row_plan {
            let same_snapshot = match (&plan.snapshot, &snapshot) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            };
            if Arc::ptr_eq(&plan.columns, columns) && same_snapshot {
                return Arc::clone(&plan.cells);
            }
        }
        let plan: Arc<[Cell]> = columns
            .iter()
            .map(|field| {
                let origin = match (&snapshot, field.table_oid) {
                    (_, 0) => None,
                    (Some(snapshot), oid) => snapshot.origin(oid, field.column).cloned(),
                    // No catalog could be read: nothing from a table passes.
                    (None, _) if self.checker.masks.has_column_rules() => {
                        return Cell::Null;
                    }
                    (None, _) => None,
                };
                let masked = origin
                    .as_ref()
                    .and_then(|o| self.checker.rule_for(o))
                    .cloned();
                match (origin, masked) {
                    (Some(origin), Some(_)) if origin.derived => Cell::Null,
                    (Some(_), Some(rule)) => Cell::Mask {
                        mask: rule.mask.clone(),
                        type_oid: field.type_oid,
                        binary: field.format == 1,
                    },
                    _ if !self.checker.masks.detectors().is_empty()
                        && is_text_type(field.type_oid) =>
                    {
                        Cell::Detect
                    }
                    _ => Cell::Pass,
                }
            })
            .collect();
        self.row_plan = Some(RowPlan {
            columns: Arc::clone(columns),
            snapshot,
            cells: Arc::clone(&plan),
        });
        plan
    }
}

impl Checker {
    /// The rule masking a column with this origin for this identity.
    fn rule_for(&self, origin: &Origin) -> Option<&MaskRule> {
        origin
            .names
            .iter()
            .find_map(|n| self.masks.rule_for(&n.schema, &n.table, &n.column))
    }

    /// Whether a text (lower case) names, in any case, a relation with
    /// columns masked for this identity.
    fn names_masked(&self, lower: &str, snapshot: &Snapshot) -> bool {
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
    fn check(&self, text: &str, snapshot: &Snapshot) -> Result<Vec<RelationName>, GatewayError> {
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

fn catalog_unavailable(why: &str) -> GatewayError {
    GatewayError::error(
        CATALOG_UNAVAILABLE,
        format!("cordon: masking cannot tell which columns are masked ({why}); statements are refused until it can"),
    )
    .with_hint("The gateway reads the database's catalog on a connection of its own; it tries again with the next statement.")
}

fn refusal(message: String, hint: &str) -> GatewayError {
    GatewayError::error(REFUSED, message).with_hint(hint)
}

/// The snapshot seen through one identity's mask rules.
struct SessionRelations<'a> {
    checker: &'a Checker,
    snapshot: &'a Snapshot,
    /// Names asked about that the snapshot has no relation for.
    unknown: std::cell::RefCell<Vec<RelationName>>,
}

/// A relation as a statement names it (schema `None`: unqualified).
type RelationName = (Option<String>, String);

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

/// Types whose values are text in both formats (detectors read them).
fn is_text_type(type_oid: u32) -> bool {
    // text, varchar, bpchar, name, json, xml, unknown
    matches!(type_oid, 25 | 1043 | 1042 | 19 | 114 | 142 | 705)
}

impl Phases for MaskingPhases {
    fn classify(&mut self, request: &Request<'_>) -> Verdict {
        let verdict = self.inner.classify(request);
        let text = match request {
            Request::Query { text } | Request::Parse { text, .. } => Some(*text),
            _ => None,
        };
        // Results are masked by the catalog's view of the schema: every
        // statement that can return rows waits for a fresh one.
        let needs_catalog = self.checker.masks.has_column_rules()
            && !matches!(request, Request::FunctionCall { .. });
        let fresh = needs_catalog.then(|| self.catalog.fresh()).flatten();
        let mut refresh = false;
        let waits_for_catalog =
            matches!(verdict, Verdict::Allow) && needs_catalog && fresh.is_none();
        let held = matches!(verdict, Verdict::Hold(_)) || waits_for_catalog;
        let verdict = if !held {
            let verdict = match (verdict, fresh, text) {
                (Verdict::Allow, Some(snapshot), Some(text)) => match self.judge(text, &snapshot) {
                    Some(verdict) => verdict,
                    None => {
                        refresh = true;
                        Verdict::Allow
                    }
                },
                (verdict, ..) => verdict,
            };
            if !refresh {
                self.note(request, &verdict);
                return verdict;
            }
            verdict
        } else {
            verdict
        };
        // Held until the inner phases decide and the catalog is read;
        // `resolved` notes the outcome.
        self.inner_held = matches!(verdict, Verdict::Hold(_));
        let checker = self.checker.clone();
        let catalog = Arc::clone(&self.catalog);
        let text = text.map(str::to_owned);
        Verdict::Hold(Box::pin(async move {
            let verdict = match verdict {
                Verdict::Hold(pending) => pending.await,
                verdict => verdict,
            };
            if !matches!(verdict, Verdict::Allow) || !needs_catalog {
                return verdict;
            }
            if refresh {
                catalog.invalidate();
            }
            match catalog.snapshot().await {
                Ok(snapshot) => match text.map(|t| checker.check(&t, &snapshot)) {
                    Some(Err(refused)) => Verdict::Refuse(refused),
                    _ => Verdict::Allow,
                },
                Err(why) => Verdict::Refuse(catalog_unavailable(&why)),
            }
        }))
    }

    fn resolved(&mut self, request: &Request<'_>, verdict: &Verdict) {
        // Names a fresh read still does not know (temporary tables, typos)
        // do not send the next statement back to the catalog.
        if let Some(latest) = self.catalog.latest() {
            for name in std::mem::take(&mut self.awaiting) {
                if !latest.knows(name.0.as_deref(), &name.1, &self.checker.search_path) {
                    self.absent.add(name, &latest);
                }
            }
        }
        self.note(request, verdict);
        if std::mem::take(&mut self.inner_held) {
            self.inner.resolved(request, verdict);
        }
    }

    fn result_description(&mut self, columns: &Columns) {
        let plan = self.plan_for(columns);
        self.current_rewrites = Some(plan.iter().any(|c| !matches!(c, Cell::Pass)));
        self.current = Some((Arc::clone(columns), plan));
        self.inner.result_description(columns);
    }

    fn rewrites_rows(&self) -> bool {
        true
    }

    fn wants_next_row(&self) -> bool {
        // Rows of a result whose columns were not described are read.
        self.current_rewrites.unwrap_or(true)
    }

    fn rewrite_row(
        &mut self,
        columns: Option<&Columns>,
        cells: &[Option<&[u8]>],
        out: &mut BytesMut,
    ) -> bool {
        let plan = match columns {
            Some(columns) => match &self.current {
                Some((described, plan)) if Arc::ptr_eq(described, columns) => Arc::clone(plan),
                _ => self.plan_for(columns),
            },
            // The gateway could not learn the result's shape: nothing that
            // may be masked passes.
            None if self.checker.masks.has_column_rules() => vec![Cell::Null; cells.len()].into(),
            None => vec![Cell::Detect; cells.len()].into(),
        };
        if plan.iter().all(|c| matches!(c, Cell::Pass)) {
            return false;
        }
        let key = self.checker.masks.hash_key();
        let detectors = self.checker.masks.detectors();
        // The new DataRow is written straight into `out`: each cell's
        // length first (patched once the cell is written), then its bytes.
        out.reserve(5 + 2 + cells.iter().flatten().map(|c| 4 + c.len()).sum::<usize>());
        out.put_u8(b'D');
        out.put_u32(0);
        out.put_i16(cells.len() as i16);
        let mut changed = false;
        for (cell, action) in cells
            .iter()
            .zip(plan.iter().chain(std::iter::repeat(&Cell::Null)))
        {
            let replacement: Option<&[u8]> = match (cell, action) {
                (None, _) => None,
                (Some(value), Cell::Pass) => Some(value),
                (Some(value), Cell::Detect) => {
                    match std::str::from_utf8(value)
                        .ok()
                        .and_then(|t| detectors.redact(t))
                    {
                        Some(redacted) => {
                            changed = true;
                            self.scratch.clear();
                            self.scratch.extend_from_slice(redacted.as_bytes());
                            Some(&self.scratch)
                        }
                        None => Some(value),
                    }
                }
                (
                    Some(value),
                    Cell::Mask {
                        mask,
                        type_oid,
                        binary,
                    },
                ) => {
                    changed = true;
                    self.scratch.clear();
                    mask.apply(value, *type_oid, *binary, key, &mut self.scratch)
                        .then_some(&self.scratch[..])
                }
                (Some(_), Cell::Null) => {
                    changed = true;
                    None
                }
            };
            match replacement {
                None => out.put_i32(-1),
                Some(bytes) => {
                    out.put_i32(bytes.len() as i32);
                    out.extend_from_slice(bytes);
                }
            }
        }
        let len = (out.len() - 1) as u32;
        out[1..5].copy_from_slice(&len.to_be_bytes());
        changed
    }

    fn copy_out(&mut self, binary: bool) {
        let statement = self
            .in_flight
            .front_mut()
            .and_then(|f| f.copies.pop_front());
        let snapshot = self.catalog.latest();
        self.copy = Some(CopyPlan::new(
            statement,
            binary,
            snapshot.as_deref(),
            &self.checker.search_path,
            &|origin| self.checker.rule_for(origin).map(|rule| rule.mask.clone()),
            self.checker.masks.has_column_rules(),
            !self.checker.masks.detectors().is_empty(),
        ));
        self.inner.copy_out(binary);
    }

    fn rewrites_copy_data(&self) -> bool {
        self.copy.as_ref().is_some_and(CopyPlan::rewrites)
    }

    fn rewrite_copy_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<bool, GatewayError> {
        let Some(plan) = &self.copy else {
            return Ok(false);
        };
        plan.rewrite(
            data,
            self.checker.masks.hash_key(),
            self.checker.masks.detectors(),
            out,
        )
        .map_err(|why| {
            GatewayError::fatal(
                REFUSED,
                format!("cordon: a COPY row of a table with masked columns could not be masked ({why}); the session ends"),
            )
        })
    }

    fn rewrites_server_text(&self) -> bool {
        true
    }

    fn rewrite_server_text(&mut self, source: ServerText, text: &str) -> Option<String> {
        let sensitive = self.in_flight.front().is_some_and(|f| f.sensitive);
        let field = match source {
            ServerText::Error(field) | ServerText::Notice(field) => field,
            ServerText::NotificationPayload => return self.text_detectors.redact(text),
            ServerText::NotificationChannel => return None,
        };
        if sensitive && field == b'D' {
            return Some(WITHHELD_DETAIL.to_owned());
        }
        let scrubbed = (sensitive && field == b'M')
            .then(|| withhold_quoted_input(text))
            .flatten();
        let current = scrubbed.as_deref().unwrap_or(text);
        match self.text_detectors.redact(current) {
            Some(redacted) => Some(redacted),
            None => scrubbed,
        }
    }

    fn command_complete(&mut self, tag: &str) {
        self.current_rewrites = None;
        if is_schema_change(tag) {
            self.catalog.invalidate();
        }
        self.inner.command_complete(tag);
    }

    fn server_error(&mut self, sqlstate: &str, message: &str) {
        self.current_rewrites = None;
        self.inner.server_error(sqlstate, message);
    }

    fn finished(&mut self, how: Finish) {
        self.current_rewrites = None;
        self.in_flight.pop_front();
        self.copy = None;
        self.inner.finished(how);
    }

    fn before_client_sees(&mut self) -> Option<Barrier> {
        self.inner.before_client_sees()
    }
}

/// Input the server echoes in a message (`invalid input syntax for type
/// integer: "VALUE"`) may be a masked value.
fn withhold_quoted_input(message: &str) -> Option<String> {
    let echoes = ["invalid input syntax", "invalid input value"];
    if !echoes.iter().any(|e| message.starts_with(e)) {
        return None;
    }
    let start = message.find(": \"")?;
    Some(format!("{}: (value withheld by cordon)", &message[..start]))
}

/// Command tags after which the catalog may have changed.
fn is_schema_change(tag: &str) -> bool {
    [
        "CREATE",
        "ALTER",
        "DROP",
        "COMMENT",
        "GRANT",
        "REVOKE",
        "SECURITY LABEL",
        "IMPORT",
    ]
    .iter()
    .any(|prefix| tag.starts_with(prefix))
}

/// The catalogs of every target sessions have reached, by server address,
/// database and the mask patterns' name filter.
#[derive(Default)]
pub struct Catalogs {
    targets: Mutex<
        std::collections::HashMap<(std::net::SocketAddr, String, String), Arc<TargetCatalog>>,
    >,
}

impl Catalogs {
    pub fn for_target(
        &self,
        address: std::net::SocketAddr,
        database: &str,
        masks: &IdentityMasks,
        max_age: std::time::Duration,
    ) -> Arc<TargetCatalog> {
        let globs: Vec<String> = masks
            .column_name_globs()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let regex = super::catalog::names_regex(&globs);
        let key = (
            address,
            database.to_owned(),
            regex.clone().unwrap_or_default(),
        );
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(targets.entry(key).or_insert_with(|| {
            // Candidates are columns some rule's column part could match;
            // whose rules apply is decided per session.
            let masks = masks.clone();
            let matches = move |name: &str| masks.may_mask_column_name(name);
            Arc::new(TargetCatalog::new(regex, Box::new(matches), max_age))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoed_input_is_withheld() {
        assert_eq!(
            withhold_quoted_input("invalid input syntax for type integer: \"alice@example.com\"")
                .as_deref(),
            Some("invalid input syntax for type integer: (value withheld by cordon)")
        );
        assert_eq!(withhold_quoted_input("relation \"x\" does not exist"), None);
    }

    #[test]
    fn schema_changes_by_tag() {
        assert!(is_schema_change("ALTER TABLE"));
        assert!(is_schema_change("CREATE VIEW"));
        assert!(!is_schema_change("SELECT 1"));
        assert!(!is_schema_change("INSERT 0 1"));
    }
}
