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

use std::{collections::VecDeque, sync::Arc};

use bytes::{BufMut, BytesMut};

use super::{
    catalog::{Snapshot, TargetCatalog},
    check::{AbsentNames, Checker, PassedTexts, RelationName, REFUSED},
    copy_plan::{copy_statements, CopyPlan, CopyStatement},
    detectors::{DetectorSet, KindSet},
    masks::Mask,
    rules::IdentityMasks,
};
use crate::{
    engine::{Barrier, Columns, Finish, Phases, Request, ServerText, Verdict},
    policy::catalog::FunctionsByOid,
    protocol::{
        backend::GatewayError,
        frontend::Parameters,
        server_messages::{decode_function_call_response, encode_function_call_response},
    },
};

/// SQLSTATE object_not_in_prerequisite_state: the catalog cannot be read.
const CATALOG_UNAVAILABLE: &str = "55000";

/// What the client gets instead of an error detail that may show a masked value.
const WITHHELD_DETAIL: &str =
    "(detail withheld by cordon: the statement reads masked columns, and details can show row values)";

/// One judged request in flight (finished in order).
#[derive(Default)]
struct InFlight {
    /// Its COPY TO STDOUT statements, in order, waiting for their data.
    copies: VecDeque<CopyStatement>,
    /// It names a relation with columns masked for this identity.
    sensitive: bool,
    /// A fast-path call: the type its function returns (when the gateway knows it).
    function_returns: Option<u32>,
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
    /// A result is being answered and `row_plan` is its own: until its
    /// columns are described, every row is read.
    described: bool,
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
    /// Function OID → the function, for what a fast-path call returns (empty unless
    /// the identity may make fast-path calls).
    functions_by_oid: FunctionsByOid,
}

struct RowPlan {
    columns: Columns,
    snapshot: Option<Arc<Snapshot>>,
    cells: Arc<[Cell]>,
    /// Some cell is not passed as it is.
    rewrites: bool,
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
        // The phase exists only for an identity with masks or detectors.
        let text_detectors = if masks.detectors().is_empty() {
            DetectorSet::new(KindSet::all())
        } else {
            masks.detectors().clone()
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
            described: false,
            copy: None,
            inner_held: false,
            scratch: Vec::new(),
            passed: PassedTexts::default(),
            awaiting: Vec::new(),
            absent: AbsentNames::default(),
            functions_by_oid: Arc::default(),
        }
    }

    /// Knows fast-path calls' functions by these OIDs (read at login).
    pub fn naming_functions(mut self, functions_by_oid: FunctionsByOid) -> Self {
        self.functions_by_oid = functions_by_oid;
        self
    }

    /// The result of the fast-path call being answered goes through the detectors: its
    /// function returns text, as a column of no table would in SQL.
    fn detects_function_result(&self) -> bool {
        !self.checker.masks.detectors().is_empty()
            && self
                .in_flight
                .front()
                .and_then(|f| f.function_returns)
                .is_some_and(is_text_type)
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
        if let Request::FunctionCall(call) = request {
            in_flight.function_returns = self.functions_by_oid.get(&call.oid).map(|f| f.returns);
        }
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
        let has_column_rules = self.checker.masks.has_column_rules();
        let detects = !self.checker.masks.detectors().is_empty();
        let plan: Arc<[Cell]> = columns
            .iter()
            .map(|field| {
                let origin = match (&snapshot, field.table_oid) {
                    (_, 0) => None,
                    (Some(snapshot), oid) => snapshot.origin(oid, field.column),
                    // No catalog could be read: nothing from a table passes.
                    (None, _) if has_column_rules => return Cell::Null,
                    (None, _) => None,
                };
                match origin.and_then(|o| Some((o, self.checker.rule_for(o)?))) {
                    Some((origin, _)) if origin.derived => Cell::Null,
                    Some((_, rule)) => Cell::Mask {
                        mask: rule.mask.clone(),
                        type_oid: field.type_oid,
                        binary: field.format == 1,
                    },
                    None if detects && is_text_type(field.type_oid) => Cell::Detect,
                    None => Cell::Pass,
                }
            })
            .collect();
        self.row_plan = Some(RowPlan {
            columns: Arc::clone(columns),
            snapshot,
            cells: Arc::clone(&plan),
            rewrites: plan.iter().any(|c| !matches!(c, Cell::Pass)),
        });
        plan
    }
}

fn catalog_unavailable(why: &str) -> GatewayError {
    GatewayError::error(
        CATALOG_UNAVAILABLE,
        format!("cordon: masking cannot tell which columns are masked ({why}); statements are refused until it can"),
    )
    .with_hint("The gateway reads the database's catalog on a connection of its own; it tries again with the next statement.")
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

    fn bound(&mut self, portal: &str, parameters: &Parameters<'_>) {
        self.inner.bound(portal, parameters);
    }

    fn allowed_by(&self) -> Option<&str> {
        self.inner.allowed_by()
    }

    fn result_description(&mut self, columns: &Columns) {
        self.plan_for(columns);
        self.described = true;
        self.inner.result_description(columns);
    }

    fn rewrites_rows(&self) -> bool {
        true
    }

    fn wants_next_row(&self) -> bool {
        !self.described || self.row_plan.as_ref().is_none_or(|plan| plan.rewrites)
    }

    fn rewrite_row(
        &mut self,
        columns: Option<&Columns>,
        cells: &[Option<&[u8]>],
        out: &mut BytesMut,
    ) -> bool {
        let plan = match columns {
            Some(columns) => match &self.row_plan {
                Some(plan) if self.described && Arc::ptr_eq(&plan.columns, columns) => {
                    Arc::clone(&plan.cells)
                }
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

    fn wants_function_results(&self) -> bool {
        self.detects_function_result() || self.inner.wants_function_results()
    }

    fn function_result(&mut self, value: Option<&[u8]>, out: &mut BytesMut) -> bool {
        let rewritten = self.inner.function_result(value, out);
        if !self.detects_function_result() {
            return rewritten;
        }
        let sent = if rewritten {
            decode_function_call_response(&out[5..]).ok().flatten()
        } else {
            value
        };
        let detectors = self.checker.masks.detectors();
        let redacted = sent
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|text| detectors.redact(text));
        match redacted {
            Some(redacted) => {
                let mut masked = BytesMut::new();
                encode_function_call_response(&mut masked, Some(redacted.as_bytes()));
                *out = masked;
                true
            }
            None => rewritten,
        }
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
        self.described = false;
        if is_schema_change(tag) {
            self.catalog.invalidate();
        }
        self.inner.command_complete(tag);
    }

    fn server_error(&mut self, sqlstate: &str, message: &str) {
        self.described = false;
        self.inner.server_error(sqlstate, message);
    }

    fn finished(&mut self, how: Finish) {
        self.described = false;
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
