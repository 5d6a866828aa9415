//! The operator's rules, compiled from the configuration: who they apply to,
//! and name patterns for objects and functions.

use super::facts::{Actions, BaselineCheck};

/// A `*` glob over one name (no other wildcards: names may hold any character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: &str) -> Self {
        Glob(pattern.to_owned())
    }

    pub fn is_star(&self) -> bool {
        self.0 == "*"
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn matches(&self, text: &str) -> bool {
        glob_match(self.0.as_bytes(), text.as_bytes())
    }
}

fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    // Greedy with backtracking to the last star: linear for one star,
    // O(n*m) worst case, and names are short.
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// `schema.name` (each a glob), or `*` for every object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectPattern {
    Any,
    Qualified { schema: Glob, name: Glob },
}

impl ObjectPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text == "*" {
            return Ok(ObjectPattern::Any);
        }
        match text.split_once('.') {
            Some((schema, name)) if !schema.is_empty() && !name.is_empty() => {
                Ok(ObjectPattern::Qualified {
                    schema: Glob::new(schema),
                    name: Glob::new(name),
                })
            }
            _ => Err(format!(
                "object pattern \"{text}\" must be schema.name (e.g. public.* or app.orders), or * for everything"
            )),
        }
    }

    pub fn matches_relation(&self, schema: &str, name: &str) -> bool {
        match self {
            ObjectPattern::Any => true,
            ObjectPattern::Qualified { schema: s, name: n } => s.matches(schema) && n.matches(name),
        }
    }

    /// A whole schema: only a pattern covering every name in it.
    pub fn matches_schema(&self, schema: &str) -> bool {
        match self {
            ObjectPattern::Any => true,
            ObjectPattern::Qualified { schema: s, name: n } => s.matches(schema) && n.is_star(),
        }
    }

    pub fn is_any(&self) -> bool {
        matches!(self, ObjectPattern::Any)
    }
}

/// A function grant: `name`, `schema.name` (globs), `operator:SYMBOL`, or `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionPattern {
    pub schema: Option<Glob>,
    pub name: Glob,
}

impl FunctionPattern {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("a function pattern must not be empty".into());
        }
        if text.starts_with("operator:") {
            return Ok(FunctionPattern {
                schema: None,
                name: Glob::new(text),
            });
        }
        Ok(match text.split_once('.') {
            Some((schema, name)) => FunctionPattern {
                schema: Some(Glob::new(schema)),
                name: Glob::new(name),
            },
            None => FunctionPattern {
                schema: None,
                name: Glob::new(text),
            },
        })
    }

    /// `schema` is where the call resolves (`None`: unqualified built-in name).
    pub fn matches(&self, schema: Option<&str>, name: &str) -> bool {
        if !self.name.matches(name) {
            return false;
        }
        match (&self.schema, schema) {
            (None, _) => true,
            (Some(pattern), Some(schema)) => pattern.matches(schema),
            (Some(pattern), None) => pattern.matches("pg_catalog"),
        }
    }
}

/// Who a rule applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subjects {
    pub identities: Vec<String>,
    pub groups: Vec<String>,
}

impl Subjects {
    pub fn covers(&self, identity: &str, groups: &[String]) -> bool {
        self.identities.iter().any(|i| i == "*" || i == identity)
            || self
                .groups
                .iter()
                .any(|g| g == "*" || groups.iter().any(|mine| mine == g))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub kind: RuleKind,
    pub subjects: Subjects,
    pub actions: Actions,
    pub objects: Vec<ObjectPattern>,
    pub functions: Vec<FunctionPattern>,
    pub languages: Vec<String>,
    pub fast_path_calls: bool,
    pub require_approval: bool,
}

impl Rule {
    /// "read, insert on app.*, public.orders" for hints.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.actions.is_empty() {
            let objects: Vec<String> = self
                .objects
                .iter()
                .map(|o| match o {
                    ObjectPattern::Any => "*".to_owned(),
                    ObjectPattern::Qualified { schema, name } => format!("{}.{}", schema.0, name.0),
                })
                .collect();
            parts.push(format!("{} on {}", self.actions, objects.join(", ")));
        }
        if !self.functions.is_empty() {
            let names: Vec<String> = self
                .functions
                .iter()
                .map(|f| match &f.schema {
                    Some(s) => format!("{}.{}", s.0, f.name.0),
                    None => f.name.0.clone(),
                })
                .collect();
            parts.push(format!("functions {}", names.join(", ")));
        }
        if !self.languages.is_empty() {
            parts.push(format!("languages {}", self.languages.join(", ")));
        }
        if self.fast_path_calls {
            parts.push("fast-path calls".into());
        }
        parts.join("; ")
    }
}

/// A loud exception to one baseline check.
#[derive(Debug, Clone)]
pub struct BaselineOverride {
    pub name: String,
    pub check: BaselineCheck,
    pub subjects: Subjects,
    pub reason: String,
}

/// Every rule in the configuration. Empty means everything is refused.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub rules: Vec<Rule>,
    pub overrides: Vec<BaselineOverride>,
}

impl Policy {
    /// The rules that apply to one identity, in configuration order.
    pub fn for_identity(&self, identity: &str, groups: &[String]) -> IdentityRules {
        let applies = |s: &Subjects| s.covers(identity, groups);
        IdentityRules {
            identity: identity.to_owned(),
            allows: self
                .rules
                .iter()
                .filter(|r| r.kind == RuleKind::Allow && applies(&r.subjects))
                .cloned()
                .collect(),
            denies: self
                .rules
                .iter()
                .filter(|r| r.kind == RuleKind::Deny && applies(&r.subjects))
                .cloned()
                .collect(),
            overrides: self
                .overrides
                .iter()
                .filter(|o| applies(&o.subjects))
                .cloned()
                .collect(),
        }
    }

    /// Whether an allow rule lets the identity make fast-path calls at all.
    pub fn allows_fast_path_calls(&self, identity: &str, groups: &[String]) -> bool {
        self.rules.iter().any(|r| {
            r.kind == RuleKind::Allow && r.fast_path_calls && r.subjects.covers(identity, groups)
        })
    }
}

/// The rules of one identity, picked once per session.
#[derive(Debug, Clone)]
pub struct IdentityRules {
    pub identity: String,
    pub allows: Vec<Rule>,
    pub denies: Vec<Rule>,
    pub overrides: Vec<BaselineOverride>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(Glob::new("*").matches(""));
        assert!(Glob::new("app_*").matches("app_orders"));
        assert!(!Glob::new("app_*").matches("apporders"));
        assert!(Glob::new("*_log").matches("a_b_log"));
        assert!(Glob::new("a*b*c").matches("axxbyyc"));
        assert!(!Glob::new("a*b*c").matches("axxbyy"));
        assert!(Glob::new("Orders").matches("Orders"));
        assert!(!Glob::new("orders").matches("Orders"));
    }

    #[test]
    fn object_patterns() {
        let p = ObjectPattern::parse("public.*").unwrap();
        assert!(p.matches_relation("public", "t"));
        assert!(!p.matches_relation("app", "t"));
        assert!(p.matches_schema("public"));
        assert!(!ObjectPattern::parse("public.t")
            .unwrap()
            .matches_schema("public"));
        assert!(ObjectPattern::parse("orders").is_err());
        assert!(ObjectPattern::parse("*").unwrap().is_any());
    }

    #[test]
    fn function_patterns() {
        let p = FunctionPattern::parse("dblink*").unwrap();
        assert!(p.matches(Some("public"), "dblink_exec"));
        assert!(p.matches(None, "dblink"));
        let q = FunctionPattern::parse("app.*").unwrap();
        assert!(q.matches(Some("app"), "f"));
        assert!(!q.matches(Some("public"), "f"));
        assert!(!q.matches(None, "lo_export"));
    }
}
