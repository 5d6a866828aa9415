//! The protocol engine: a session as messages, not bytes.
//!
//! Each direction is framed over a reusable buffer ([`stream_buf`]). Client
//! messages are judged by the [`phases`] before they reach the server; server
//! messages are matched against what the client asked for, in order, so the
//! engine always knows which statement a row, an error or a ReadyForQuery
//! belongs to. What needs no decision passes through as the original bytes.
//!
//! A refusal never fakes the server's side: the refused message is replaced
//! by one the server itself must fail (a statement that does not parse), so
//! the server aborts the transaction or skips the rest of the pipeline
//! exactly as it would have for a failing statement; the gateway only swaps
//! the server's error for its own. A later COMMIT therefore cannot commit
//! work the server rolled back, and the client and server stay in step.

mod client_side;
#[cfg(test)]
mod fuzz;
pub mod phases;
mod relay;
mod server_side;
mod stream_buf;
#[cfg(test)]
mod tests;

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, OnceLock},
};

pub use client_side::ClientStep;
pub use phases::{
    AllowAll, Barrier, Columns, Finish, PhaseFactory, Phases, Request, ServerText, SessionFacts,
    Verdict,
};

pub use relay::{relay, RelayEnd, RelayOptions};
pub use server_side::ServerStep;
pub use stream_buf::StreamBuf;

use crate::protocol::{backend::GatewayError, server_messages::Field, sqlstate};

/// What the server is sent in place of a refused statement: it fails in the
/// parser, before anything runs, on every PostgreSQL version.
pub const REFUSAL_PROBE_SQL: &str = "CORDON_REFUSED_THIS_STATEMENT";
/// The statement name the probe is parsed under (named, so the client's
/// unnamed statement survives; a failed Parse creates nothing).
const REFUSAL_PROBE_NAME: &str = "cordon_refused";

/// A result shape learned later (Describe) by an earlier request (Bind).
type ColumnsSlot = Arc<OnceLock<Columns>>;

/// A prepared statement as the client created it.
struct Statement {
    text: Arc<str>,
    /// From the server's RowDescription for Describe (statement); formats
    /// are all text there, Bind decides the real ones.
    columns: Option<Columns>,
}

/// A portal: a bound statement, ready to Execute.
struct Portal {
    /// The prepared statement it was bound from ("" for the unnamed one).
    statement: Box<str>,
    text: Option<Arc<str>>,
    columns: ColumnsSlot,
    /// A Describe of this portal is on its way: no need to inject one.
    described: bool,
}

/// What the server will answer next, in the order the client asked.
enum Expect {
    /// A simple Query: any results, then ReadyForQuery.
    Query {
        refusal: Option<GatewayError>,
    },
    /// A fast-path call: FunctionCallResponse or an error, then ReadyForQuery.
    FunctionCall {
        refusal: Option<GatewayError>,
    },
    /// ParseComplete (or an error: the statement then does not exist).
    Parse {
        name: String,
    },
    /// The server's error for a refusal probe, to be swapped for this one.
    Refused(GatewayError),
    Bind {
        portal: String,
    },
    /// ParameterDescription, then RowDescription or NoData.
    DescribeStatement {
        name: String,
    },
    /// RowDescription or NoData; `swallow` when the gateway asked, not the client.
    DescribePortal {
        columns: ColumnsSlot,
        swallow: bool,
    },
    /// Rows, then CommandComplete, EmptyQueryResponse or PortalSuspended.
    Execute {
        columns: ColumnsSlot,
        announced: bool,
    },
    Close,
    Sync,
}

impl Expect {
    fn name(&self) -> &'static str {
        match self {
            Self::Query { .. } => "Query",
            Self::FunctionCall { .. } => "FunctionCall",
            Self::Parse { .. } => "Parse",
            Self::Refused(_) => "a refusal",
            Self::Bind { .. } => "Bind",
            Self::DescribeStatement { .. } => "Describe (statement)",
            Self::DescribePortal { .. } => "Describe (portal)",
            Self::Execute { .. } => "Execute",
            Self::Close => "Close",
            Self::Sync => "Sync",
        }
    }

    fn is_describe(&self) -> bool {
        matches!(
            self,
            Self::DescribeStatement { .. } | Self::DescribePortal { .. }
        )
    }

    /// Requests answered by ReadyForQuery.
    fn ends_with_ready(&self) -> bool {
        matches!(
            self,
            Self::Query { .. } | Self::FunctionCall { .. } | Self::Sync
        )
    }
}

/// Whether a COPY is streaming, and which way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CopyMode {
    None,
    /// COPY FROM STDIN: the client sends data until CopyDone or CopyFail.
    In,
    /// COPY TO STDOUT: the server sends data until CopyDone.
    Out,
}

/// Where a session is, as later stages (recording, approvals) see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Ready for a query, outside a transaction block.
    Idle,
    /// Ready for a query inside a transaction block.
    InTransaction,
    /// Inside a failed transaction block: only ROLLBACK will do.
    FailedTransaction,
    /// The server is working on requests sent.
    Busy,
    CopyIn,
    CopyOut,
}

/// One session's protocol state, shared by its two directions.
pub struct Engine {
    phases: Box<dyn Phases>,
    rewrite_rows: bool,
    /// Whether the phases rewrite server texts (errors, notices, notifications).
    rewrite_text: bool,
    /// Whether the phases want each notice and notification as the client sees it.
    watch_notices: bool,
    statements: HashMap<String, Statement>,
    /// Total text of `statements`.
    statement_bytes: usize,
    portals: HashMap<String, Portal>,
    expected: VecDeque<Expect>,
    /// After an error in the extended protocol the server discards every
    /// message until Sync; so does the engine's bookkeeping.
    server_skipping: bool,
    copy: CopyMode,
    /// The columns of the simple Query result being returned.
    current: Option<Columns>,
    /// Transaction status from the last ReadyForQuery: I, T or E.
    transaction: u8,
    /// The client said Terminate.
    terminated: bool,
    /// The server sent a FATAL or PANIC error: it is closing.
    server_fatal: bool,
}

impl Engine {
    pub fn new(phases: Box<dyn Phases>) -> Self {
        Self {
            rewrite_rows: phases.rewrites_rows(),
            rewrite_text: phases.rewrites_server_text(),
            watch_notices: phases.wants_notices(),
            phases,
            statements: HashMap::new(),
            statement_bytes: 0,
            portals: HashMap::new(),
            expected: VecDeque::new(),
            server_skipping: false,
            copy: CopyMode::None,
            current: None,
            transaction: b'I',
            terminated: false,
            server_fatal: false,
        }
    }

    /// I (idle), T (in a transaction block) or E (in a failed one), as of
    /// the last ReadyForQuery.
    pub fn transaction_status(&self) -> u8 {
        self.transaction
    }

    /// What must happen before the output just judged reaches the client.
    pub fn before_client_sees(&mut self) -> Option<Barrier> {
        self.phases.before_client_sees()
    }

    pub fn state(&self) -> SessionState {
        match self.copy {
            CopyMode::In => SessionState::CopyIn,
            CopyMode::Out => SessionState::CopyOut,
            CopyMode::None if !self.expected.is_empty() => SessionState::Busy,
            CopyMode::None => match self.transaction {
                b'T' => SessionState::InTransaction,
                b'E' => SessionState::FailedTransaction,
                _ => SessionState::Idle,
            },
        }
    }

    pub fn terminated(&self) -> bool {
        self.terminated
    }

    pub fn server_sent_fatal(&self) -> bool {
        self.server_fatal
    }

    /// Requests the server has yet to answer.
    pub fn outstanding(&self) -> usize {
        self.expected.len()
    }

    fn expect(&mut self, expect: Expect) {
        if !self.server_skipping {
            self.expected.push_back(expect);
        }
    }
}

/// The session-ending error for a client that broke the protocol.
fn client_violation(what: impl std::fmt::Display) -> GatewayError {
    GatewayError::fatal(
        sqlstate::PROTOCOL_VIOLATION,
        format!("cordon: protocol violation from the client: {what}"),
    )
}

/// The session-ending error when the server's messages make no sense to the
/// gateway: it cannot judge what it cannot follow, so it stops.
fn lost_track(what: impl std::fmt::Display) -> GatewayError {
    GatewayError::fatal(
        sqlstate::PROTOCOL_VIOLATION,
        format!("cordon: the server's reply could not be followed, the session is closed: {what}"),
    )
}

/// `columns` with the formats a Bind asked for (none: all text; one: all
/// that; else one per column).
fn with_formats(columns: &[Field], formats: &[i16]) -> Columns {
    columns
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let format = match formats {
                [] => 0,
                [one] => *one,
                many => many.get(i).copied().unwrap_or(0),
            };
            Field {
                format,
                ..field.clone()
            }
        })
        .collect()
}
