//! What the analysis is told (masked relations) and what it answers (a
//! refusal naming the column, its rule and the use).

use std::fmt;

use serde::Deserialize;

/// What the analysis needs to know about a relation named in a statement.
pub trait MaskedRelations {
    /// The relation `schema.name` refers to (schema `None`: unqualified, to be
    /// resolved as the server would through the session's search_path), when
    /// it has masked columns for this identity; `None` when it has none or
    /// does not exist.
    fn lookup(&self, schema: Option<&str>, name: &str) -> Option<MaskedRelation>;

    /// Whether the identity has masked columns anywhere. Statements that read
    /// what no name in them says (`cursor_to_xml`, `CREATE TABLE AS EXECUTE`)
    /// are refused when it does. Unknown counts as yes.
    fn any_masked(&self) -> bool {
        true
    }
}

/// A relation with masked columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskedRelation {
    /// `public.customers`, for messages.
    pub qualified: String,
    /// Its masked columns; for a view, also the view columns that are plain
    /// references to masked base columns.
    #[serde(default)]
    pub columns: Vec<MaskedColumn>,
    /// View columns computed from masked columns (expressions): any
    /// reference to them is refused ([`Use::Derived`]).
    #[serde(default)]
    pub derived: Vec<DerivedColumn>,
}

/// A masked column and what its rule allows beyond plain output.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskedColumn {
    pub name: String,
    /// The mask rule's name, for messages.
    pub rule: String,
    #[serde(default)]
    pub allowed: Vec<Use>,
}

impl MaskedColumn {
    /// A column masked under `rule`, with the uses the rule allows.
    pub fn under(name: &str, rule: &crate::masking::MaskRule) -> Self {
        MaskedColumn {
            name: name.to_owned(),
            rule: rule.name.clone(),
            allowed: rule
                .allowed_uses
                .iter()
                .filter_map(|u| Use::parse(u))
                .collect(),
        }
    }
}

/// A view column computed from a masked column.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DerivedColumn {
    pub name: String,
    /// The rule of the masked column it is computed from.
    pub rule: String,
}

/// How a statement uses a masked column. The first six can be allowed by a
/// rule; the others never: their values would leave without an origin or be
/// stored where no mask applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Use {
    /// WHERE, HAVING, an aggregate's FILTER, a sublink in a condition.
    Filter,
    /// JOIN ... ON / USING, NATURAL JOIN, MERGE ... ON.
    Join,
    /// ORDER BY, a window's ORDER BY, an aggregate's ORDER BY, CTE SEARCH.
    Sort,
    /// GROUP BY, DISTINCT, DISTINCT ON, PARTITION BY, CTE CYCLE.
    Group,
    /// The argument of an aggregate function in an output column.
    Aggregate,
    /// Any other expression: functions, operators, casts, CASE, subqueries.
    Expression,
    WholeRow,
    SetOperation,
    CopiedElsewhere,
    Derived,
}

impl Use {
    pub const ALL: [Use; 10] = [
        Use::Filter,
        Use::Join,
        Use::Sort,
        Use::Group,
        Use::Aggregate,
        Use::Expression,
        Use::WholeRow,
        Use::SetOperation,
        Use::CopiedElsewhere,
        Use::Derived,
    ];

    /// A use a rule may allow, by its configuration name.
    pub fn parse(name: &str) -> Option<Use> {
        Use::ALL
            .into_iter()
            .find(|u| u.allowable() && u.name() == name)
    }

    /// The snake_case name (configuration and test corpus).
    pub fn name(&self) -> &'static str {
        match self {
            Use::Filter => "filter",
            Use::Join => "join",
            Use::Sort => "sort",
            Use::Group => "group",
            Use::Aggregate => "aggregate",
            Use::Expression => "expression",
            Use::WholeRow => "whole_row",
            Use::SetOperation => "set_operation",
            Use::CopiedElsewhere => "copied_elsewhere",
            Use::Derived => "derived",
        }
    }

    /// Whether a rule can allow this use.
    pub fn allowable(&self) -> bool {
        !matches!(
            self,
            Use::WholeRow | Use::SetOperation | Use::CopiedElsewhere | Use::Derived
        )
    }

    /// The use, as the refusal names it ("using it {describe} is refused").
    pub fn describe(&self) -> &'static str {
        match self {
            Use::Filter => "in a WHERE, HAVING or FILTER condition",
            Use::Join => "in a join condition",
            Use::Sort => "to order rows (ORDER BY)",
            Use::Group => "to group or deduplicate rows (GROUP BY, DISTINCT, PARTITION BY)",
            Use::Aggregate => "inside an aggregate function",
            Use::Expression => "inside an expression (a function, operator, cast or subquery)",
            Use::WholeRow => "through a whole-row reference to its table",
            Use::SetOperation => "in a UNION, INTERSECT or EXCEPT",
            Use::CopiedElsewhere => {
                "to copy its values elsewhere (INSERT, UPDATE, CREATE TABLE AS, SELECT INTO, COPY, a function body)"
            }
            Use::Derived => "through a view column computed from it",
        }
    }

    /// Why the use cannot be let through.
    fn consequence(&self) -> &'static str {
        match self {
            Use::Filter | Use::Join | Use::Sort | Use::Group => {
                "the result would reveal its values row by row"
            }
            Use::CopiedElsewhere => "its values would be stored or written where no mask applies",
            _ => "its values would reach the client without their origin, so unmasked",
        }
    }
}

impl fmt::Display for Use {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A statement refused because it would use a masked column's values where
/// the mask cannot follow them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostOrigin {
    /// `public.customers.email`; empty when the statement reads masked data
    /// it does not name (`why` says how).
    pub column: String,
    /// Empty with `column`.
    pub rule: String,
    pub usage: Use,
    /// A reason other than the use's own (the tree could not be read).
    pub why: Option<String>,
}

impl LostOrigin {
    /// The refusal's message (SQLSTATE 42501).
    pub fn message(&self, identity: &str) -> String {
        let why = self.why.as_deref().unwrap_or(self.usage.consequence());
        if self.column.is_empty() {
            return format!(
                "cordon: identity \"{identity}\" has masked columns, and this statement may use \
                 them {} without naming them: {why}; refused",
                self.usage.describe()
            );
        }
        format!(
            "cordon: column {} is masked for identity \"{identity}\" (mask rule \"{}\"); \
             using it {} is refused: {why}",
            self.column,
            self.rule,
            self.usage.describe()
        )
    }

    /// What the identity can do instead.
    pub fn hint(&self) -> String {
        if self.column.is_empty() {
            return "name the tables the statement reads in the statement itself; plain output \
                    columns of masked tables arrive masked"
                .into();
        }
        let name = self.column.rsplit('.').next().unwrap_or(&self.column);
        format!(
            "select it as a plain output column (SELECT {name} FROM ...) and it arrives masked; \
             other uses need the mask rule \"{}\" to allow them",
            self.rule
        )
    }
}

impl fmt::Display for LostOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column.is_empty() {
            return write!(f, "masked columns may be used {}", self.usage.describe());
        }
        write!(
            f,
            "column {} (mask rule \"{}\") used {}",
            self.column,
            self.rule,
            self.usage.describe()
        )
    }
}

impl std::error::Error for LostOrigin {}

/// Why a statement text is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// The text does not parse: it cannot be shown to keep its origins.
    #[error("the statement does not parse: {0}")]
    Unparsable(String),
    #[error("{0}")]
    LostOrigin(LostOrigin),
}

impl CheckError {
    pub fn message(&self, identity: &str) -> String {
        match self {
            CheckError::Unparsable(why) => format!(
                "cordon: the statement does not parse, so its use of masked columns cannot be \
                 judged for identity \"{identity}\": {why}"
            ),
            CheckError::LostOrigin(lost) => lost.message(identity),
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            CheckError::Unparsable(_) => None,
            CheckError::LostOrigin(lost) => Some(lost.hint()),
        }
    }

    /// The refusal's use, when it is one.
    pub fn usage(&self) -> Option<Use> {
        match self {
            CheckError::Unparsable(_) => None,
            CheckError::LostOrigin(lost) => Some(lost.usage),
        }
    }
}
