//! The operator's `[[mask]]` and `[[detect]]` rules, compiled, and the view
//! of them one identity gets for a session.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, Mutex},
};

use super::{
    detectors::{DetectorSet, KindSet},
    masks::{HashKey, Mask},
};
use crate::policy::rules::{Glob, Subjects};

/// The names of the uses of a masked column, beyond a plain output column,
/// that a rule can allow (`allow_uses`): the static check's allowable uses.
/// Each lets an agent learn something about the values without seeing them
/// (a filter answers yes/no value by value), so each is refused unless allowed.
pub fn allowable_uses() -> impl Iterator<Item = &'static str> {
    super::uses::Use::ALL
        .into_iter()
        .filter(|u| u.allowable())
        .map(|u| u.name())
}

/// `schema.table.column`, `table.column` (any schema) or `column` (any
/// table or view), each part a `*` glob. Matching is exact otherwise, as
/// PostgreSQL stores the names (unquoted identifiers are lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnPattern {
    text: String,
    schema: Option<Glob>,
    table: Option<Glob>,
    column: Glob,
}

impl ColumnPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('.').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(format!(
                "column pattern \"{text}\" has an empty part; write schema.table.column, table.column or column (each part may use *)"
            ));
        }
        let (schema, table, column) = match parts.as_slice() {
            [column] => (None, None, Glob::new(column)),
            [table, column] => (None, Some(Glob::new(table)), Glob::new(column)),
            [schema, table, column] => (
                Some(Glob::new(schema)),
                Some(Glob::new(table)),
                Glob::new(column),
            ),
            _ => {
                return Err(format!(
                    "column pattern \"{text}\" has {} parts; at most 3 (schema.table.column)",
                    parts.len()
                ))
            }
        };
        Ok(Self {
            text: text.to_owned(),
            schema,
            table,
            column,
        })
    }

    pub fn matches(&self, schema: &str, table: &str, column: &str) -> bool {
        self.column.matches(column)
            && self.table.as_ref().is_none_or(|t| t.matches(table))
            && self.schema.as_ref().is_none_or(|s| s.matches(schema))
    }

    /// Whether a column of this name could match, in some table.
    pub fn matches_column_name(&self, column: &str) -> bool {
        self.column.matches(column)
    }

    /// The column part, a `*` glob (for a catalog query's pre-filter).
    pub fn column_glob(&self) -> &str {
        self.column.as_str()
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for ColumnPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A `[[mask]]`.
#[derive(Debug, Clone)]
pub struct MaskRule {
    /// Named in refusals and recordings.
    pub name: String,
    pub patterns: Vec<ColumnPattern>,
    pub mask: Mask,
    /// Who sees the real values.
    pub exempt: Subjects,
    /// Names from `allowable_uses`.
    pub allowed_uses: Vec<String>,
}

impl MaskRule {
    pub fn matches(&self, schema: &str, table: &str, column: &str) -> bool {
        self.patterns
            .iter()
            .any(|p| p.matches(schema, table, column))
    }

    pub fn matches_column_name(&self, column: &str) -> bool {
        self.patterns.iter().any(|p| p.matches_column_name(column))
    }

    pub fn exempts(&self, identity: &str, groups: &[String]) -> bool {
        self.exempt.covers(identity, groups)
    }

    /// Whether a masked column may be used this way (an `allowable_uses` name).
    pub fn allows_use(&self, use_name: &str) -> bool {
        self.allowed_uses.iter().any(|u| u == use_name)
    }
}

/// A `[[detect]]`.
#[derive(Debug, Clone)]
pub struct DetectRule {
    pub name: String,
    pub subjects: Subjects,
    pub kinds: KindSet,
}

/// Every masking rule of the configuration. Empty (the default) masks
/// nothing. Cheap to clone: the rules are shared.
#[derive(Clone, Default)]
pub struct MaskPolicy {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    rules: Vec<MaskRule>,
    detects: Vec<DetectRule>,
    hash_key: Option<HashKey>,
    /// Compiled detector sets by the kinds they cover, built on first use:
    /// identities that share a set of kinds share its compiled pattern.
    detector_sets: Mutex<HashMap<KindSet, DetectorSet>>,
}

impl fmt::Debug for MaskPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaskPolicy")
            .field("rules", &self.inner.rules)
            .field("detects", &self.inner.detects)
            .field("hash_key", &self.inner.hash_key)
            .finish()
    }
}

impl MaskPolicy {
    pub fn new(rules: Vec<MaskRule>, detects: Vec<DetectRule>, hash_key: Option<HashKey>) -> Self {
        Self {
            inner: Arc::new(Inner {
                rules,
                detects,
                hash_key,
                detector_sets: Mutex::default(),
            }),
        }
    }

    pub fn rules(&self) -> &[MaskRule] {
        &self.inner.rules
    }

    pub fn detect_rules(&self) -> &[DetectRule] {
        &self.inner.detects
    }

    pub fn hash_key(&self) -> Option<&HashKey> {
        self.inner.hash_key.as_ref()
    }

    /// No rules of either kind: masking is off.
    pub fn is_empty(&self) -> bool {
        self.inner.rules.is_empty() && self.inner.detects.is_empty()
    }

    /// The rules that apply to one identity: every mask rule that does not
    /// exempt it, and the detectors of every detect rule that covers it.
    pub fn for_identity(&self, identity: &str, groups: &[String]) -> IdentityMasks {
        let rules = (0..self.inner.rules.len())
            .filter(|&i| !self.inner.rules[i].exempts(identity, groups))
            .collect();
        let kinds = self
            .inner
            .detects
            .iter()
            .filter(|d| d.subjects.covers(identity, groups))
            .fold(KindSet::default(), |all, d| all.union(d.kinds));
        IdentityMasks {
            policy: self.clone(),
            rules,
            detectors: self.detectors(kinds),
        }
    }

    /// The column parts of every pattern, without repeats.
    pub fn column_name_globs(&self) -> Vec<&str> {
        column_name_globs(self.inner.rules.iter())
    }

    fn detectors(&self, kinds: KindSet) -> DetectorSet {
        if kinds.is_empty() {
            return DetectorSet::default();
        }
        let mut sets = self
            .inner
            .detector_sets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sets.entry(kinds)
            .or_insert_with(|| DetectorSet::new(kinds))
            .clone()
    }
}

/// A `*` glob as a SQL LIKE pattern (with the default `\` escape), for a
/// catalog query that pre-selects candidate columns: `*` becomes `%`, and
/// LIKE's own wildcards and escape are escaped.
pub fn glob_to_like(glob: &str) -> String {
    let mut like = String::with_capacity(glob.len() + 4);
    for c in glob.chars() {
        match c {
            '*' => like.push('%'),
            '%' | '_' | '\\' => {
                like.push('\\');
                like.push(c);
            }
            c => like.push(c),
        }
    }
    like
}

fn column_name_globs<'a>(rules: impl Iterator<Item = &'a MaskRule>) -> Vec<&'a str> {
    let mut globs: Vec<&str> = Vec::new();
    for glob in rules.flat_map(|r| r.patterns.iter().map(ColumnPattern::column_glob)) {
        if !globs.contains(&glob) {
            globs.push(glob);
        }
    }
    globs
}

/// The masking one identity gets, picked once per session.
#[derive(Debug, Clone)]
pub struct IdentityMasks {
    policy: MaskPolicy,
    /// Indexes of the mask rules that apply, in file order.
    rules: Vec<usize>,
    detectors: DetectorSet,
}

impl IdentityMasks {
    /// The first rule in file order that matches the column and does not
    /// exempt this identity. An exemption from one rule is no exemption
    /// from another rule that matches the same column.
    pub fn rule_for(&self, schema: &str, table: &str, column: &str) -> Option<&MaskRule> {
        self.rules().find(|r| r.matches(schema, table, column))
    }

    /// Whether some applicable rule could match a column of this name in
    /// some table: the catalog side's cheap first test.
    pub fn may_mask_column_name(&self, column: &str) -> bool {
        self.rules().any(|r| r.matches_column_name(column))
    }

    /// The applicable mask rules, in file order.
    pub fn rules(&self) -> impl Iterator<Item = &MaskRule> {
        self.rules.iter().map(|&i| &self.policy.inner.rules[i])
    }

    /// The column parts of the applicable rules' patterns, without repeats.
    pub fn column_name_globs(&self) -> Vec<&str> {
        column_name_globs(self.rules())
    }

    pub fn has_column_rules(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Whether anything is masked or redacted for this identity: when not,
    /// its results can be forwarded untouched.
    pub fn masks_anything(&self) -> bool {
        self.has_column_rules() || !self.detectors.is_empty()
    }

    pub fn detectors(&self) -> &DetectorSet {
        &self.detectors
    }

    pub fn hash_key(&self) -> Option<&HashKey> {
        self.policy.hash_key()
    }
}

#[cfg(test)]
mod tests;
