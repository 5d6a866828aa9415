//! Judges one classified statement against one identity's rules, in the
//! session's context (pinned search_path, what the session has prepared).

use std::{borrow::Cow, collections::HashSet};

use super::{
    builtins,
    facts::{Access, FunctionUse, SessionEffect, Statement, Target},
    rules::{IdentityRules, Rule},
};

/// The session's state that decisions depend on.
#[derive(Debug, Clone, Default)]
pub struct SessionContext {
    /// The pinned search_path, in order, without the implicit pg_catalog.
    pub search_path: Vec<String>,
    /// Functions, operators and casts the database defines.
    pub catalog: std::sync::Arc<super::catalog::SessionCatalog>,
    /// Temporary relations the session created (unqualified names find them first).
    pub temp_relations: HashSet<String>,
    /// Prepared statements (SQL PREPARE) this session made through the gateway.
    pub prepared: HashSet<String>,
    /// Cursors declared (or portals bound) through the gateway.
    pub cursors: HashSet<String>,
}

impl SessionContext {
    /// Applies what an allowed statement did to the session.
    pub fn apply(&mut self, effects: &[SessionEffect]) {
        for effect in effects {
            match effect {
                SessionEffect::Prepare(name) => {
                    self.prepared.insert(name.clone());
                }
                SessionEffect::Deallocate(Some(name)) => {
                    self.prepared.remove(name);
                }
                SessionEffect::Deallocate(None) => self.prepared.clear(),
                SessionEffect::Declare(name) => {
                    self.cursors.insert(name.clone());
                }
                SessionEffect::Close(Some(name)) => {
                    self.cursors.remove(name);
                }
                SessionEffect::Close(None) => self.cursors.clear(),
                SessionEffect::CreateTemp(name) => {
                    self.temp_relations.insert(name.clone());
                }
                SessionEffect::Execute(_) | SessionEffect::Fetch(_) => {}
            }
        }
    }
}

/// The verdict on one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// `rules`: the allow rules that covered it (empty for session statements).
    Allowed {
        rules: Vec<String>,
    },
    /// Allowed only by a rule that wants a human's approval.
    NeedsApproval {
        rule: String,
    },
    Refused(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule, baseline check or "default deny" that refused.
    pub rule: String,
    pub message: String,
    pub hint: String,
}

/// Judges `statement` for the identity.
pub fn decide(rules: &IdentityRules, statement: &Statement, context: &SessionContext) -> Decision {
    let who = &rules.identity;
    if let Some(why) = &statement.unjudgeable {
        return refused(
            "unjudgeable",
            format!(
                "cordon policy refuses a statement it cannot judge, for identity \"{who}\": {why}"
            ),
            "Only statements the gateway can classify are let through; rewrite it in plain SQL."
                .into(),
        );
    }
    for hit in &statement.baseline {
        match rules.overrides.iter().find(|o| o.check == hit.check) {
            Some(o) => tracing::warn!(
                identity = %who,
                override_rule = %o.name,
                check = hit.check.name(),
                reason = %o.reason,
                "baseline check overridden: {}", hit.detail
            ),
            None => {
                return refused(
                    hit.check.name(),
                    format!(
                        "cordon policy: baseline check \"{}\" refuses {} for identity \"{who}\"",
                        hit.check.name(),
                        hit.detail
                    ),
                    format!(
                        "The built-in baseline refuses this for every identity. An operator can add a [[baseline_override]] with check = \"{}\" and a reason.",
                        hit.check.name()
                    ),
                )
            }
        }
    }
    for language in &statement.languages {
        if is_untrusted_language(language) {
            return refused(
                "untrusted-language",
                format!("cordon policy refuses code in the untrusted language \"{language}\" for identity \"{who}\": it runs with the server's own privileges"),
                "Untrusted languages are never allowed through the gateway.".into(),
            );
        }
    }
    if let Some(refusal) = session_refusal(statement, context, who) {
        return Decision::Refused(refusal);
    }
    let accesses = resolve_accesses(statement, context);
    let functions = functions_used(statement, context);
    if let Some(refusal) = denied(rules, statement, &accesses, &functions) {
        return Decision::Refused(refusal);
    }
    allowed(rules, statement, &accesses, &functions, context)
}

fn refused(rule: &str, message: String, hint: String) -> Decision {
    Decision::Refused(Refusal {
        rule: rule.to_owned(),
        message,
        hint,
    })
}

pub fn is_untrusted_language(language: &str) -> bool {
    let language = language.to_ascii_lowercase();
    language == "c" || language == "internal" || language.ends_with('u')
}

/// EXECUTE and FETCH may only use what this session made through the gateway.
fn session_refusal(statement: &Statement, context: &SessionContext, who: &str) -> Option<Refusal> {
    // A statement text can PREPARE and EXECUTE in one go: what it prepares counts.
    let prepared_here: Vec<&String> = statement
        .effects
        .iter()
        .filter_map(|e| match e {
            SessionEffect::Prepare(n) => Some(n),
            _ => None,
        })
        .collect();
    for effect in &statement.effects {
        match effect {
            SessionEffect::Execute(name)
                if !context.prepared.contains(name) && !prepared_here.contains(&name) =>
            {
                return Some(Refusal {
                    rule: "unknown-prepared-statement".into(),
                    message: format!("cordon policy refuses EXECUTE {name} for identity \"{who}\": this session did not prepare \"{name}\" through the gateway, so what it runs was never judged"),
                    hint: "PREPARE the statement in this session first.".into(),
                });
            }
            SessionEffect::Fetch(name) if !context.cursors.contains(name) => {
                return Some(Refusal {
                    rule: "unknown-cursor".into(),
                    message: format!("cordon policy refuses FETCH/MOVE from cursor \"{name}\" for identity \"{who}\": this session did not declare it through the gateway, so its query was never judged"),
                    hint: "DECLARE the cursor in this session first.".into(),
                });
            }
            _ => {}
        }
    }
    None
}

/// The functions a statement needs grants for: those it names, and those the
/// database makes it run (a same-named function or operator in the search
/// path that overload resolution may prefer to the built-in, a cast's function).
fn functions_used<'s>(
    statement: &'s Statement,
    context: &SessionContext,
) -> Cow<'s, [FunctionUse]> {
    let catalog = &context.catalog;
    let shadowed_calls = statement
        .builtin_calls
        .iter()
        .filter(|name| catalog.path_functions.contains(*name))
        .map(|name| FunctionUse {
            schema: None,
            name: name.clone(),
            why: format!("the database defines a function of this name in the search path, which may be chosen over the built-in; write pg_catalog.{name} to call the built-in").into(),
        });
    let shadowed_operators = statement
        .builtin_operators
        .iter()
        .filter(|symbol| catalog.path_operators.contains(*symbol))
        .map(|symbol| FunctionUse {
            schema: None,
            name: format!("operator:{symbol}"),
            why: format!("the database defines an operator of this symbol in the search path, which may be chosen over the built-in; write OPERATOR(pg_catalog.{symbol}) to use the built-in").into(),
        });
    let casts = statement.casts.iter().filter_map(|target| {
        let Target::Routine { name, .. } = target else {
            return None;
        };
        let function = catalog.cast_functions.get(name)?;
        let (schema, function) = function.split_once('.')?;
        Some(FunctionUse {
            schema: Some(schema.to_owned()),
            name: function.to_owned(),
            why: format!("a cast to {name} runs it").into(),
        })
    });
    let extra: Vec<FunctionUse> = shadowed_calls
        .chain(shadowed_operators)
        .chain(casts)
        .collect();
    if extra.is_empty() {
        Cow::Borrowed(&statement.functions)
    } else {
        Cow::Owned(statement.functions.iter().cloned().chain(extra).collect())
    }
}

/// An access with every schema its object may resolve to.
struct Resolved<'a> {
    access: &'a Access,
    /// For relations and routines: the schemas it may be in.
    schemas: Vec<String>,
}

fn resolve_accesses<'a>(statement: &'a Statement, context: &SessionContext) -> Vec<Resolved<'a>> {
    statement
        .accesses
        .iter()
        .map(|access| {
            let schemas = match &access.target {
                Target::Relation {
                    schema: Some(s), ..
                }
                | Target::Routine {
                    schema: Some(s), ..
                } => {
                    vec![s.clone()]
                }
                Target::Relation { schema: None, name } => relation_schemas(name, context),
                Target::Routine { schema: None, name } => routine_schemas(name, context),
                Target::Schema(_) | Target::Unnamed(_) => Vec::new(),
            };
            Resolved { access, schemas }
        })
        .collect()
}

/// Where an unqualified relation name may resolve: the session's temporary
/// schema (if it made one of that name), pg_catalog (certain, for a catalog
/// relation), then each schema of the pinned path in turn.
pub fn relation_schemas(name: &str, context: &SessionContext) -> Vec<String> {
    let mut out = Vec::new();
    if context.temp_relations.contains(name) {
        out.push("pg_temp".to_owned());
    }
    if builtins::is_relation(name) && !context.search_path.iter().any(|s| s == "pg_catalog") {
        out.push("pg_catalog".to_owned());
        return out;
    }
    for schema in &context.search_path {
        out.push(schema.clone());
        if schema == "pg_catalog" && builtins::is_relation(name) {
            break;
        }
    }
    out
}

fn routine_schemas(name: &str, context: &SessionContext) -> Vec<String> {
    let mut out = Vec::new();
    if builtins::function(name).is_some() {
        out.push("pg_catalog".to_owned());
    }
    out.extend(context.search_path.iter().cloned());
    out
}

fn covers_access(rule: &Rule, resolved: &Resolved<'_>, schema: Option<&str>) -> bool {
    let access = resolved.access;
    if !rule.actions.contains(access.action) {
        return false;
    }
    rule.objects
        .iter()
        .any(|pattern| match (&access.target, schema) {
            (Target::Relation { name, .. } | Target::Routine { name, .. }, Some(schema)) => {
                pattern.matches_relation(schema, name)
            }
            (Target::Schema(schema), _) => pattern.matches_schema(schema),
            _ => pattern.is_any(),
        })
}

/// Each schema the access may land in, or one `None` for objects without one.
fn candidate_schemas<'r>(resolved: &'r Resolved<'_>) -> Vec<Option<&'r str>> {
    match &resolved.access.target {
        Target::Relation { .. } | Target::Routine { .. } => {
            resolved.schemas.iter().map(|s| Some(s.as_str())).collect()
        }
        _ => vec![None],
    }
}

fn object_name(resolved: &Resolved<'_>, schema: Option<&str>) -> String {
    match (&resolved.access.target, schema) {
        (Target::Relation { name, .. } | Target::Routine { name, .. }, Some(schema)) => {
            format!("{schema}.{name}")
        }
        (target, _) => target.to_string(),
    }
}

fn function_schemas(function: &FunctionUse, context_path: &[String]) -> Vec<Option<String>> {
    match &function.schema {
        Some(s) => vec![Some(s.clone())],
        None if function.name.starts_with("operator:") => vec![None],
        None if builtins::function(&function.name).is_some() => vec![None],
        None => context_path.iter().cloned().map(Some).collect(),
    }
}

fn function_matches(rule: &Rule, function: &FunctionUse, schema: Option<&str>) -> bool {
    rule.functions
        .iter()
        .any(|p| p.matches(schema, &function.name))
}

fn denied(
    rules: &IdentityRules,
    statement: &Statement,
    accesses: &[Resolved<'_>],
    functions: &[FunctionUse],
) -> Option<Refusal> {
    let who = &rules.identity;
    for rule in &rules.denies {
        for resolved in accesses {
            for schema in candidate_schemas(resolved) {
                if covers_access(rule, resolved, schema) {
                    return Some(Refusal {
                        rule: rule.name.clone(),
                        message: format!(
                            "cordon policy: deny rule \"{}\" refuses {} on {} for identity \"{who}\"",
                            rule.name,
                            resolved.access.action,
                            object_name(resolved, schema)
                        ),
                        hint: format!("Rule \"{}\" denies {}.", rule.name, rule.summary()),
                    });
                }
            }
        }
        for function in functions.iter() {
            if function_matches(rule, function, function.schema.as_deref()) {
                return Some(Refusal {
                    rule: rule.name.clone(),
                    message: format!(
                        "cordon policy: deny rule \"{}\" refuses calling {} for identity \"{who}\"",
                        rule.name,
                        function.display_name()
                    ),
                    hint: format!("Rule \"{}\" denies {}.", rule.name, rule.summary()),
                });
            }
        }
        for language in &statement.languages {
            if rule
                .languages
                .iter()
                .any(|l| l.eq_ignore_ascii_case(language))
            {
                return Some(Refusal {
                    rule: rule.name.clone(),
                    message: format!(
                        "cordon policy: deny rule \"{}\" refuses code in language {language} for identity \"{who}\"",
                        rule.name
                    ),
                    hint: format!("Rule \"{}\" denies {}.", rule.name, rule.summary()),
                });
            }
        }
    }
    None
}

fn allowed(
    rules: &IdentityRules,
    statement: &Statement,
    accesses: &[Resolved<'_>],
    functions: &[FunctionUse],
    context: &SessionContext,
) -> Decision {
    let mut used: Vec<&Rule> = Vec::new();
    // Prefer rules that need no approval; fall back to those that do.
    let find = |test: &dyn Fn(&Rule) -> bool| -> Option<&Rule> {
        rules
            .allows
            .iter()
            .filter(|r| !r.require_approval)
            .find(|r| test(r))
            .or_else(|| rules.allows.iter().find(|r| test(r)))
    };
    for resolved in accesses {
        let schemas = candidate_schemas(resolved);
        if schemas.is_empty() {
            return default_deny(
                rules,
                format!(
                    "{} on {}: the pinned search_path is empty, so it names no schema",
                    resolved.access.action, resolved.access.target
                ),
            );
        }
        for schema in schemas {
            match find(&|r: &Rule| covers_access(r, resolved, schema)) {
                Some(rule) => used.push(rule),
                None => {
                    let mut what = format!(
                        "{} on {}",
                        resolved.access.action,
                        object_name(resolved, schema)
                    );
                    if resolved.schemas.len() > 1 {
                        what.push_str(&format!(
                            " (the unqualified name {} may resolve to any of {})",
                            resolved.access.target,
                            resolved.schemas.join(", ")
                        ));
                    }
                    return default_deny(rules, what);
                }
            }
        }
    }
    for function in functions.iter() {
        for schema in function_schemas(function, &context.search_path) {
            match find(&|r: &Rule| function_matches(r, function, schema.as_deref())) {
                Some(rule) => used.push(rule),
                None => {
                    return default_deny(
                        rules,
                        format!(
                            "a call of {} ({})",
                            match &schema {
                                Some(s) if function.schema.is_none() =>
                                    format!("{s}.{}", function.name),
                                _ => function.display_name(),
                            },
                            function.why
                        ),
                    )
                }
            }
        }
    }
    for language in &statement.languages {
        match find(&|r: &Rule| r.languages.iter().any(|l| l.eq_ignore_ascii_case(language))) {
            Some(rule) => used.push(rule),
            None => return default_deny(rules, format!("code in language {language}")),
        }
    }
    if let Some(rule) = used.iter().find(|r| r.require_approval) {
        return Decision::NeedsApproval {
            rule: rule.name.clone(),
        };
    }
    let mut names: Vec<String> = used.iter().map(|r| r.name.clone()).collect();
    names.dedup();
    Decision::Allowed { rules: names }
}

fn default_deny(rules: &IdentityRules, what: String) -> Decision {
    let who = &rules.identity;
    let hint = if rules.allows.is_empty() {
        format!("No allow rule applies to identity \"{who}\".")
    } else {
        let summaries: Vec<String> = rules
            .allows
            .iter()
            .map(|r| format!("{} ({})", r.summary(), r.name))
            .collect();
        format!("Identity \"{who}\" may: {}.", summaries.join("; "))
    };
    refused(
        "default deny",
        format!("cordon policy: no allow rule grants identity \"{who}\" {what} (default deny)"),
        hint,
    )
}
