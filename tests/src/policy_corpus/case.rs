//! One corpus case as its file states it, and the checks every file must pass.

use std::{fs, path::Path};

use serde::Deserialize;

use super::IDENTITIES;

/// The verdict docs/policy.md gives a case.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allowed,
    Refused,
    /// Allowed only through a `require_approval` rule. No approver is configured, so
    /// over the wire this is a refusal whose message says so.
    Approval,
}

impl Verdict {
    /// What `cordon explain` exits with.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Allowed => 0,
            Verdict::Refused => 1,
            Verdict::Approval => 2,
        }
    }
}

/// How the case's SQL reaches the gateway over the wire.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Each message of `sql` is one Query message.
    #[default]
    Simple,
    /// `steps`, each followed by its own Sync.
    Extended,
    /// `steps` in libpq's pipeline mode; `sync` ends a pipeline.
    Pipeline,
}

/// What running the case directly on the server (as the identity's role, no gateway)
/// shows; checked by the fixture test.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Direct {
    /// It succeeds and, for a case the gateway must not allow (or an allowed case with
    /// `allowed_effect`), changes `effect`.
    #[default]
    Changes,
    /// It succeeds but leaves nothing a later query could see (a read, a lock, a
    /// setting that dies with the session).
    NoEffect,
    /// The server itself fails it; the case is about the gateway's verdict alone.
    Error,
}

/// What an allowed case must do to its `effect` over the wire.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AllowedEffect {
    /// The statement runs, but what the gateway neutralised (e.g. startup options) must
    /// not show.
    Unchanged,
    Changed,
}

/// `sql`: one Query, or several sent one after another on one connection.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Sql {
    One(String),
    Messages(Vec<String>),
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The file name without `.toml`.
    #[serde(skip)]
    pub name: String,
    pub identity: String,
    pub expect: Verdict,
    /// What `cordon explain` says when it differs from the gateway: explain
    /// judges without a database, so it cannot see functions, operators and
    /// casts the database defines in the search path.
    pub explain_expect: Option<Verdict>,
    pub sql: Sql,
    /// A substring the refusal message and the explain output must contain.
    pub rule: Option<String>,
    #[serde(default)]
    pub protocol: Protocol,
    /// Protocol steps (`parse NAME: SQL`, `exec NAME`, `close NAME`, `query: SQL`,
    /// `sync`; `{sql}` stands for `sql`). Default: `query: {sql}` (extended), or a Parse
    /// in one pipeline executed twice in the next (pipeline).
    #[serde(default)]
    pub steps: Vec<String>,
    /// Rows a `COPY ... FROM STDIN` reads (text format).
    pub copy_data: Option<String>,
    /// A query run directly as the superuser before and after the case.
    pub effect: Option<String>,
    /// For an allowed case: whether `effect` must change (not checked when absent).
    pub allowed_effect: Option<AllowedEffect>,
    /// The client's `options` startup parameter (libpq `options`), over the wire only.
    pub options: Option<String>,
    #[serde(default)]
    pub direct: Direct,
    pub note: Option<String>,
}

/// Stands for a per-run directory the server may write (files, programs).
pub const TMP_PLACEHOLDER: &str = "{tmp}";

impl Case {
    /// Reads `path`; the case is named after the file.
    pub fn read(path: &Path) -> Result<Case, String> {
        let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
        let mut case: Case = toml::from_str(&text).map_err(|e| e.to_string())?;
        case.name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("a file name that is UTF-8")?
            .to_string();
        Ok(case)
    }

    /// The Query messages, with `{tmp}` filled in.
    pub fn messages(&self, tmp: &str) -> Vec<String> {
        let fill = |s: &String| s.replace(TMP_PLACEHOLDER, tmp);
        match &self.sql {
            Sql::One(sql) => vec![fill(sql)],
            Sql::Messages(all) => all.iter().map(fill).collect(),
        }
    }

    /// What `cordon explain` judges: every message, one after the other.
    pub fn explain_sql(&self, tmp: &str) -> String {
        self.messages(tmp).join(";\n")
    }

    /// The protocol steps, defaults filled in.
    pub fn steps(&self) -> Vec<String> {
        if !self.steps.is_empty() {
            return self.steps.clone();
        }
        let default: &[&str] = match self.protocol {
            Protocol::Simple => &[],
            Protocol::Extended => &["query: {sql}"],
            Protocol::Pipeline => &["parse s1: {sql}", "sync", "exec s1", "exec s1", "sync"],
        };
        default.iter().map(|s| s.to_string()).collect()
    }

    pub fn effect(&self, tmp: &str) -> Option<String> {
        self.effect
            .as_ref()
            .map(|e| e.replace(TMP_PLACEHOLDER, tmp))
    }

    /// The first line of the SQL, shortened, for reports.
    pub fn summary(&self) -> String {
        let all = self.explain_sql(TMP_PLACEHOLDER).replace('\n', "\\n");
        match all.char_indices().nth(100) {
            Some((i, _)) => format!("{}...", &all[..i]),
            None => all,
        }
    }

    /// Everything wrong with the file beyond what parsing checks.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let digits = self.name.split('-').next().unwrap_or("");
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            out.push("the file name must start with three digits and a dash".into());
        }
        if !IDENTITIES.iter().any(|i| i.name == self.identity) {
            out.push(format!("unknown identity {:?}", self.identity));
        }
        match (self.protocol, &self.sql) {
            (Protocol::Simple, _) if !self.steps.is_empty() => {
                out.push("steps need protocol extended or pipeline".into())
            }
            (Protocol::Extended | Protocol::Pipeline, Sql::Messages(_)) => {
                out.push("an extended or pipeline case has one sql string".into())
            }
            _ => {}
        }
        for step in self.steps() {
            let kind = step.split([' ', ':']).next().unwrap_or("");
            if !["parse", "exec", "close", "query", "sync"].contains(&kind) {
                out.push(format!("unknown step {step:?}"));
            }
        }
        let changes = self.direct == Direct::Changes;
        if self.expect != Verdict::Allowed && changes && self.effect.is_none() {
            out.push(
                "a case the gateway must stop needs an effect query \
                 (or direct = \"no-effect\" when it changes nothing)"
                    .into(),
            );
        }
        if self.allowed_effect.is_some()
            && (self.expect != Verdict::Allowed || self.effect.is_none())
        {
            out.push("allowed_effect needs an allowed case with an effect query".into());
        }
        if self.expect == Verdict::Allowed && self.direct == Direct::Error {
            out.push("an allowed case must succeed on the server".into());
        }
        out
    }
}
