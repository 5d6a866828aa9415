//! Running cases with a real client (`tests/clients/policy_corpus.py`, libpq through
//! psycopg) and reading what it saw.

use std::{fmt, fs, time::Duration};

use serde::Deserialize;

use super::Case;
use crate::{cgroup::CgroupGuard, client_libs, process::run, tempdir::TempDir};

/// How long one batch of cases (one identity) may take.
const BATCH_TIMEOUT: Duration = Duration::from_secs(120);

/// An error a case's client received.
#[derive(Clone, Debug, Deserialize)]
pub struct SeenError {
    /// The message or protocol step it answered (0-based).
    pub step: i64,
    /// The SQLSTATE, or `connection` / `client` for a failure outside PostgreSQL's.
    pub sqlstate: String,
    /// The primary message.
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl SeenError {
    /// Message and detail: where a refusal names its rule (the hint lists what the
    /// identity may do, so it names every rule).
    fn text(&self) -> String {
        match &self.detail {
            Some(detail) => format!("{} ({detail})", self.message),
            None => self.message.clone(),
        }
    }
}

/// What one case did.
#[derive(Clone, Debug, Deserialize)]
pub struct CaseRun {
    pub name: String,
    pub errors: Vec<SeenError>,
    pub effect_before: Option<String>,
    pub effect_after: Option<String>,
}

impl CaseRun {
    pub fn effect_changed(&self) -> bool {
        self.effect_before != self.effect_after
    }

    /// `before → after` for reports.
    pub fn effect_change(&self) -> String {
        let show = |v: &Option<String>| v.as_deref().unwrap_or("-").replace('\n', "; ");
        format!(
            "{} → {}",
            show(&self.effect_before),
            show(&self.effect_after)
        )
    }

    /// Whether an effect query itself failed (a broken fixture).
    pub fn effect_failed(&self) -> Option<&str> {
        [&self.effect_before, &self.effect_after]
            .into_iter()
            .flatten()
            .find(|e| e.starts_with("effect query failed"))
            .map(String::as_str)
    }
}

/// Runs `cases` inside `cgroup` over `dsn`, each on a fresh connection and between two
/// runs of its effect query over `admin_dsn`; `tmp` fills in `{tmp}`.
pub fn run_cases(
    cgroup: &CgroupGuard,
    dsn: &str,
    admin_dsn: &str,
    tmp: &str,
    cases: &[&Case],
) -> Vec<CaseRun> {
    if cases.is_empty() {
        return Vec::new();
    }
    let spec = serde_json::json!({
        "dsn": dsn,
        "admin_dsn": admin_dsn,
        "cases": cases.iter().map(|c| serde_json::json!({
            "name": c.name,
            "protocol": format!("{:?}", c.protocol).to_lowercase(),
            "messages": c.messages(tmp),
            "sql": c.messages(tmp).concat(),
            "steps": c.steps(),
            "copy_data": c.copy_data,
            "effect": c.effect(tmp),
            "options": c.options,
        })).collect::<Vec<_>>(),
    });
    let dir = TempDir::new("cordon-test-corpus-spec");
    let path = dir.path().join("cases.json");
    fs::write(&path, spec.to_string()).expect("writing the case list");
    let path = path.to_str().expect("a UTF-8 temporary path");
    let mut cmd = client_libs::python_args(cgroup, "policy_corpus.py", &[path]);
    let out = run(&mut cmd, BATCH_TIMEOUT);
    out.expect_success("policy_corpus.py");
    let runs: Vec<CaseRun> = out
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("policy_corpus.py said {l:?}: {e}"))
        })
        .collect();
    assert_eq!(runs.len(), cases.len(), "one result per case: {out}");
    runs
}

/// What a case's errors amount to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// SQLSTATE 42501 first (and only its consequences after it); the messages.
    Refused(String),
    /// A 42501 whose every message speaks of approval.
    Approval(String),
    /// Any other error.
    Failed(String),
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Allowed => write!(f, "allowed"),
            Outcome::Refused(m) => write!(f, "refused ({m})"),
            Outcome::Approval(m) => write!(f, "approval ({m})"),
            Outcome::Failed(m) => write!(f, "failed ({m})"),
        }
    }
}

pub fn outcome(errors: &[SeenError]) -> Outcome {
    const REFUSED: &str = "42501";
    // What follows a refusal and fails because of it: the aborted transaction block,
    // and a prepared statement the server never received (its Parse was refused).
    const CONSEQUENCES: [&str; 2] = ["25P02", "26000"];
    let Some(first) = errors.first() else {
        return Outcome::Allowed;
    };
    if first.sqlstate != REFUSED {
        return Outcome::Failed(describe(first));
    }
    if let Some(e) = errors
        .iter()
        .find(|e| e.sqlstate != REFUSED && !CONSEQUENCES.contains(&e.sqlstate.as_str()))
    {
        return Outcome::Failed(describe(e));
    }
    let refusals: Vec<String> = errors
        .iter()
        .filter(|e| e.sqlstate == REFUSED)
        .map(SeenError::text)
        .collect();
    let all = refusals.join(" / ");
    if refusals.iter().all(|m| m.to_lowercase().contains("approv")) {
        Outcome::Approval(all)
    } else {
        Outcome::Refused(all)
    }
}

fn describe(e: &SeenError) -> String {
    format!("step {} {}: {}", e.step, e.sqlstate, e.text())
}
