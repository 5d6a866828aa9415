//! `cordon explain`: what the gateway would decide for a statement text, for
//! whom, and why. Operators write and check policies with it.

use serde::Serialize;

use super::{
    classify::{classify, Dialect},
    decide::{decide, relation_schemas, Decision, SessionContext},
    facts::{Classified, Statement, Target},
    rules::Policy,
};

/// Exit codes: every statement allowed / one refused / one needs approval.
pub const EXIT_ALLOWED: u8 = 0;
pub const EXIT_REFUSED: u8 = 1;
pub const EXIT_NEEDS_APPROVAL: u8 = 2;

#[derive(Debug, Serialize)]
pub struct Explanation {
    pub identity: String,
    pub search_path: Vec<String>,
    pub statements: Vec<StatementExplanation>,
    /// Set when the whole text could not be parsed.
    pub unparsable: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StatementExplanation {
    pub text: String,
    pub command: String,
    /// "allowed", "refused" or "needs approval".
    pub decision: &'static str,
    /// The rules that allowed it, or the one that refused it.
    pub rules: Vec<String>,
    pub accesses: Vec<String>,
    pub functions: Vec<String>,
    pub languages: Vec<String>,
    /// Output columns that arrive masked (filled in by masking).
    pub masked: Vec<String>,
    pub message: Option<String>,
    pub hint: Option<String>,
}

impl Explanation {
    pub fn exit_code(&self) -> u8 {
        if self.unparsable.is_some() || self.statements.iter().any(|s| s.decision == "refused") {
            EXIT_REFUSED
        } else if self
            .statements
            .iter()
            .any(|s| s.decision == "needs approval")
        {
            EXIT_NEEDS_APPROVAL
        } else {
            EXIT_ALLOWED
        }
    }

    /// One block per statement, for a terminal.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if let Some(why) = &self.unparsable {
            out.push_str(&format!(
                "refused  (unparsable)  identity \"{}\": the statement does not parse: {why}\n",
                self.identity
            ));
        }
        for (i, s) in self.statements.iter().enumerate() {
            let rules = if s.rules.is_empty() {
                String::new()
            } else {
                format!("  rule: {}", s.rules.join(", "))
            };
            out.push_str(&format!(
                "{}. {}  {}  {}{}\n",
                i + 1,
                s.decision,
                s.command,
                s.text.trim(),
                rules
            ));
            if !s.accesses.is_empty() {
                out.push_str(&format!("   does: {}\n", s.accesses.join("; ")));
            }
            if !s.functions.is_empty() {
                out.push_str(&format!(
                    "   calls (need a grant): {}\n",
                    s.functions.join(", ")
                ));
            }
            if !s.languages.is_empty() {
                out.push_str(&format!("   languages: {}\n", s.languages.join(", ")));
            }
            for masked in &s.masked {
                out.push_str(&format!("   masked: {masked}\n"));
            }
            if let Some(message) = &s.message {
                out.push_str(&format!("   why: {message}\n"));
            }
            if let Some(hint) = &s.hint {
                out.push_str(&format!("   hint: {hint}\n"));
            }
        }
        out
    }
}

/// Explains `text` for `identity` (with its groups) under `policy`.
pub fn explain(
    policy: &Policy,
    identity: &str,
    groups: &[String],
    search_path: Vec<String>,
    text: &str,
) -> Explanation {
    let rules = policy.for_identity(identity, groups);
    let mut context = SessionContext {
        search_path,
        ..Default::default()
    };
    let mut explanation = Explanation {
        identity: identity.to_owned(),
        search_path: context.search_path.clone(),
        statements: Vec::new(),
        unparsable: None,
    };
    let statements = match classify(text, Dialect::default()) {
        Classified::Unparsable(why) => {
            explanation.unparsable = Some(why);
            return explanation;
        }
        Classified::Statements(statements) => statements,
    };
    for statement in &statements {
        let decision = decide(&rules, statement, &context);
        if matches!(decision, Decision::Allowed { .. }) {
            context.apply(&statement.effects);
        }
        explanation
            .statements
            .push(describe(text, statement, decision, &context));
    }
    explanation
}

fn describe(
    text: &str,
    statement: &Statement,
    decision: Decision,
    context: &SessionContext,
) -> StatementExplanation {
    let (decision, rules, message, hint) = match decision {
        Decision::Allowed { rules } => ("allowed", rules, None, None),
        Decision::NeedsApproval { rule } => (
            "needs approval",
            vec![rule.clone()],
            Some(format!(
                "rule \"{rule}\" allows it only with a human's approval"
            )),
            None,
        ),
        Decision::Refused(r) => ("refused", vec![r.rule], Some(r.message), Some(r.hint)),
    };
    StatementExplanation {
        text: text
            .get(statement.span.0..statement.span.1)
            .unwrap_or(text)
            .to_owned(),
        command: statement.command.clone(),
        decision,
        rules,
        accesses: statement
            .accesses
            .iter()
            .map(|a| match &a.target {
                Target::Relation { schema: None, name } => {
                    let schemas = relation_schemas(name, context);
                    let resolved: Vec<String> =
                        schemas.iter().map(|s| format!("{s}.{name}")).collect();
                    format!(
                        "{} {} (resolves to {})",
                        a.action,
                        name,
                        resolved.join(" or ")
                    )
                }
                target => format!("{} {target}", a.action),
            })
            .collect(),
        functions: statement
            .functions
            .iter()
            .map(|f| format!("{} ({})", f.display_name(), f.why))
            .collect(),
        languages: statement.languages.clone(),
        masked: Vec::new(),
        message,
        hint,
    }
}
