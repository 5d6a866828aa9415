//! The policy as a session phase: judges every Query, Parse, Execute and
//! FunctionCall before it reaches the server.

use crate::{
    engine::{PhaseFactory, Phases, Request, SessionFacts, Verdict},
    protocol::{backend::GatewayError, frontend::FunctionCall, sqlstate},
};

use super::{
    cache::{classified, TextCache},
    catalog::fast_path_sql,
    classify::Dialect,
    decide::{decide, Decision, SessionContext},
    facts::Classified,
    rules::IdentityRules,
};

/// Makes a [`PolicyPhases`] for each session from the policy it was admitted under.
#[derive(Debug, Default)]
pub struct PolicyFactory;

impl PhaseFactory for PolicyFactory {
    fn for_session(&self, session: &SessionFacts<'_>) -> Box<dyn Phases> {
        let phases = PolicyPhases::new(
            session
                .policy
                .for_identity(session.identity, session.groups),
            session.search_path.to_vec(),
            session.dialect,
        )
        .with_catalog(session.catalog.clone());
        Box::new(phases)
    }
}

/// One session's judge.
pub struct PolicyPhases {
    rules: IdentityRules,
    context: SessionContext,
    dialect: Dialect,
    cache: TextCache,
    /// The allow rules that covered the last statement text judged (names, comma-separated).
    allowed_by: String,
}

impl PolicyPhases {
    pub fn new(rules: IdentityRules, search_path: Vec<String>, dialect: Dialect) -> Self {
        PolicyPhases {
            rules,
            context: SessionContext {
                search_path,
                ..Default::default()
            },
            dialect,
            cache: TextCache::default(),
            allowed_by: String::new(),
        }
    }

    /// What the database defines in the search path (read at login).
    pub fn with_catalog(mut self, catalog: super::catalog::SessionCatalog) -> Self {
        self.context.catalog = std::sync::Arc::new(catalog);
        self
    }

    /// Judges a statement text; `runs` says whether it executes now (Query,
    /// Execute), so its session effects take hold, or is only prepared (Parse).
    pub fn judge(&mut self, text: &str, runs: bool) -> Result<(), GatewayError> {
        self.allowed_by.clear();
        let classified = classified(&mut self.cache, self.dialect, text);
        let statements = match &*classified {
            Classified::Unparsable(why) => {
                return Err(refusal(
                    &self.rules.identity,
                    "unparsable",
                    format!("cordon policy refuses a statement it cannot parse, for identity \"{}\": {why}", self.rules.identity),
                    "The gateway reads statements with PostgreSQL's grammar and refuses what it cannot read.".into(),
                ))
            }
            Classified::Statements(statements) => statements,
        };
        let has_effects = statements.iter().any(|s| !s.effects.is_empty());
        // Effects of earlier statements in the text count for later ones
        // (PREPARE then EXECUTE); they stick only if the whole text is allowed.
        let mut scratch = has_effects.then(|| self.context.clone());
        // A refusal anywhere in the text wins over an approval: approving one
        // statement must not be asked for when another is refused anyway.
        let mut needs_approval = None;
        for statement in statements {
            let context = scratch.as_ref().unwrap_or(&self.context);
            match decide(&self.rules, statement, context) {
                Decision::Allowed { rules } => note_rules(&mut self.allowed_by, &rules),
                Decision::NeedsApproval { rule } => {
                    needs_approval.get_or_insert((rule, statement.command.clone()));
                }
                Decision::Refused(r) => {
                    return Err(refusal(&self.rules.identity, &r.rule, r.message, r.hint))
                }
            }
            if let Some(scratch) = scratch.as_mut() {
                if runs {
                    scratch.apply(&statement.effects);
                }
            }
        }
        if let Some((rule, command)) = needs_approval {
            return Err(refusal(
                &self.rules.identity,
                &rule,
                format!(
                    "cordon policy: rule \"{rule}\" lets identity \"{}\" run {command} only with a human's approval, and this gateway has no approver configured",
                    self.rules.identity
                ),
                "Ask an operator to run it, or to allow it without approval.".into(),
            ));
        }
        if let Some(scratch) = scratch {
            self.context = scratch;
        }
        Ok(())
    }

    /// A fast-path call needs an allow rule with `fast_path_calls`, and is then judged
    /// as the SQL call of the function its OID names (grants, deny rules, baseline);
    /// an OID the gateway cannot name is refused.
    fn judge_fast_path_call(&mut self, call: &FunctionCall) -> Result<(), GatewayError> {
        let identity = &self.rules.identity;
        let Some(gate) = self.rules.allows.iter().find(|r| r.fast_path_calls) else {
            return Err(refusal(
                identity,
                "default deny",
                format!(
                    "cordon policy: no allow rule lets identity \"{identity}\" make fast-path function calls (function oid {})",
                    call.oid
                ),
                "An allow rule with fast_path_calls = true permits them.".into(),
            ));
        };
        let gate = gate.name.clone();
        let Some(function) = self
            .context
            .catalog
            .functions_by_oid
            .get(&call.oid)
            .map(|f| f.name.clone())
        else {
            return Err(refusal(
                identity,
                "unknown-function",
                format!(
                    "cordon policy refuses a fast-path call of function oid {} for identity \"{identity}\": no function had that oid when the session logged in, so the call cannot be judged",
                    call.oid
                ),
                "Call functions created during the session in SQL.".into(),
            ));
        };
        let sql = fast_path_sql(&function, call.arguments.len());
        self.judge(&sql, true).map_err(|mut e| {
            e.message = format!(
                "{} (a fast-path call of {function}, oid {})",
                e.message, call.oid
            );
            e
        })?;
        note_rules(&mut self.allowed_by, &[gate]);
        Ok(())
    }
}

/// Adds `rules` to the comma-separated `names`, each name once.
fn note_rules(names: &mut String, rules: &[String]) {
    for rule in rules {
        if !names.split(", ").any(|name| name == rule) {
            if !names.is_empty() {
                names.push_str(", ");
            }
            names.push_str(rule);
        }
    }
}

fn refusal(identity: &str, rule: &str, message: String, hint: String) -> GatewayError {
    tracing::info!(identity, rule, reason = %message, "statement refused");
    GatewayError::error(sqlstate::INSUFFICIENT_PRIVILEGE, message).with_hint(hint)
}

impl Phases for PolicyPhases {
    fn classify(&mut self, request: &Request<'_>) -> Verdict {
        self.allowed_by.clear();
        let result = match request {
            Request::Query { text } => self.judge(text, true),
            Request::Parse { name, text } => {
                let result = self.judge(text, false);
                if result.is_ok() && !name.is_empty() {
                    // SQL EXECUTE may name it too.
                    self.context.prepared.insert((*name).to_owned());
                }
                result
            }
            Request::Execute {
                portal,
                text: Some(text),
                ..
            } => {
                let result = self.judge(text, true);
                if result.is_ok() && !portal.is_empty() {
                    self.context.cursors.insert((*portal).to_owned());
                }
                result
            }
            // A statement made by SQL PREPARE, judged then.
            Request::Execute {
                statement: Some(name),
                text: None,
                ..
            } if !name.is_empty() && self.context.prepared.contains(*name) => Ok(()),
            Request::Execute {
                portal, text: None, ..
            } => Err(refusal(
                &self.rules.identity,
                "unknown-statement",
                format!(
                    "cordon policy refuses executing portal \"{portal}\" for identity \"{}\": it was bound to a statement the gateway did not see prepared, so it was never judged",
                    self.rules.identity
                ),
                "Prepare statements with the protocol's Parse (or PREPARE) in this session.".into(),
            )),
            Request::FunctionCall(call) => self.judge_fast_path_call(call),
        };
        match result {
            Ok(()) => Verdict::Allow,
            Err(e) => Verdict::Refuse(e),
        }
    }

    fn allowed_by(&self) -> Option<&str> {
        (!self.allowed_by.is_empty()).then_some(self.allowed_by.as_str())
    }
}
