//! What the recorder stores: a session opening, each statement with its decision and
//! the rows as the client saw them, and the session closing. These are the payloads of
//! the hash chain ([`super::chain`]); their JSON is what is hashed, so a field added
//! later must be optional (`#[serde(default)]`) to keep old records readable.

use serde::{Deserialize, Serialize};

/// A session was admitted: who connected, from which process, to where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOpened {
    pub session_id: String,
    /// The binding the process matched.
    pub identity: String,
    pub cgroup: String,
    pub pid: u32,
    pub uid: u32,
    pub comm: String,
    /// The address the client meant to reach (before redirection).
    pub destination: String,
    /// The upstream role and database the session runs as.
    pub role: String,
    pub database: String,
    pub client_tls: bool,
    /// As the client claimed it in the startup packet.
    pub application_name: Option<String>,
    pub at_us: i64,
}

/// An error the server (or the gateway) returned for a statement, with the fields psql
/// prints at its default verbosity. The optional fields came later: records without
/// them read as `None`, and a field that is `None` is left out of the JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    pub sqlstate: String,
    pub message: String,
    /// Where in the statement's text the error is: a 1-based character position (psql
    /// prints the `LINE n:` excerpt and a caret from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
    /// The call stack of the error (a function's body, a trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

/// A notice (NOTICE, WARNING, INFO...) the server sent while a statement ran, as the
/// client saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticeInfo {
    pub severity: String,
    #[serde(flatten)]
    pub fields: ErrorInfo,
}

/// An asynchronous notification (`LISTEN`/`NOTIFY`) the client received, as it saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationInfo {
    /// The notifying server process.
    pub pid: i32,
    pub channel: String,
    pub payload: String,
}

/// One statement: what was asked, what was decided, and what came back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementRecord {
    pub session_id: String,
    pub text: String,
    pub fingerprint: String,
    /// `allowed`, `refused` or `needs approval`.
    pub decision: String,
    /// The rule that decided, when one did: the one that refused, or for an allowed
    /// statement the allow rules that covered it (names, comma-separated).
    pub rule: Option<String>,
    pub approval: Option<String>,
    pub started_at_us: i64,
    pub duration_us: i64,
    pub command_tag: Option<String>,
    /// Rows returned or affected.
    pub rows: Option<u64>,
    pub error: Option<ErrorInfo>,
    /// Result columns and rows as sent to the client (after masking), up to the caps.
    pub columns: Vec<String>,
    /// The columns' type OIDs, in the order of `columns` (psql right-aligns numbers).
    /// Empty in records written before they were kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub column_types: Vec<u32>,
    pub result_rows: Vec<Vec<Option<String>>>,
    /// Set when `result_rows` (or `copy_data`, or `copy_in_data`) stops short of
    /// what was sent.
    pub truncated: bool,
    /// A `COPY ... TO STDOUT`: each CopyData message as sent to the client (after
    /// masking), text as is (rows end in a newline), binary as `\x` hex; up to the caps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copy_data: Vec<String>,
    /// A `COPY ... FROM STDIN`: each CopyData message the client sent, kept like
    /// `copy_data` (not masked: it is the agent's own data, like bound values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copy_in_data: Vec<String>,
    /// A simple Query of several statements gets one record per statement: this one's
    /// number in it (from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    /// On the first of those records, the request's whole text as the client sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_text: Option<String>,
    /// For an Execute, the parameter values its portal was bound with: text as sent,
    /// binary as `\x` hex, `None` for NULL. Kept up to the byte cap on results.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Option<String>>,
    /// Set when `parameters` stops short of what was bound.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parameters_truncated: bool,
    /// The notices the server sent while it ran (after masking), up to the caps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<NoticeInfo>,
    /// Set when `notices` (or `notifications`) stops short of what was sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notices_truncated: bool,
    /// The notifications the client received while it ran, or while the session was
    /// idle before it (psql shows those after it too), up to the caps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<NotificationInfo>,
}

/// The session ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionClosed {
    pub session_id: String,
    pub at_us: i64,
    pub reason: String,
    /// Notifications the client received after its last statement (none is kept with
    /// a statement for them), up to the caps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<NotificationInfo>,
    /// Set when `notifications` stops short of what the client received.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub notifications_truncated: bool,
}

/// One record of a session, in the order it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[allow(
    clippy::large_enum_variant,
    reason = "nearly every event is a statement; boxing it would cost an allocation per statement"
)]
pub enum Event {
    Opened(SessionOpened),
    Statement(StatementRecord),
    Closed(SessionClosed),
}

impl Event {
    pub fn session_id(&self) -> &str {
        match self {
            Event::Opened(e) => &e.session_id,
            Event::Statement(e) => &e.session_id,
            Event::Closed(e) => &e.session_id,
        }
    }

    /// The `kind` column: `opened`, `statement` or `closed` (the same as the JSON tag).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Opened(_) => "opened",
            Event::Statement(_) => "statement",
            Event::Closed(_) => "closed",
        }
    }

    /// When it happened (a statement: when it started).
    pub fn at_us(&self) -> i64 {
        match self {
            Event::Opened(e) => e.at_us,
            Event::Statement(e) => e.started_at_us,
            Event::Closed(e) => e.at_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A statement record as Cordon wrote it before column types, error positions and
    /// split queries were kept.
    const OLDER: &str = r#"{"kind":"statement","session_id":"s","text":"SELECT 1/0","fingerprint":"f","decision":"allowed","rule":null,"approval":null,"started_at_us":1,"duration_us":2,"command_tag":null,"rows":null,"error":{"sqlstate":"22012","message":"division by zero"},"columns":["n"],"result_rows":[],"truncated":false}"#;

    #[test]
    fn older_records_still_read_and_new_fields_stay_out_when_unset() {
        let event: Event = serde_json::from_str(OLDER).expect("an older record reads");
        let Event::Statement(record) = &event else {
            panic!("a statement: {event:?}")
        };
        assert!(record.column_types.is_empty());
        assert_eq!((record.part, record.request_text.as_deref()), (None, None));
        let error = record.error.as_ref().expect("its error");
        assert_eq!((error.position, error.detail.as_deref()), (None, None));
        // Written again, it is the same bytes: unset fields are left out.
        assert_eq!(serde_json::to_string(&event).expect("serializes"), OLDER);
    }
}
