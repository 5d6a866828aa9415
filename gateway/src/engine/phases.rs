//! Where later stages (policy, approvals, masking, recording) plug into a
//! session. The engine calls these at fixed points; the defaults allow
//! everything and look at nothing, so a session without phases is a relay.

use std::{future::Future, pin::Pin, sync::Arc};

use bytes::BytesMut;

use crate::protocol::{
    backend::GatewayError,
    frontend::{FunctionCall, Parameters},
    server_messages::{ErrorFields, Field},
};

/// A statement about to reach the server, in the form the client sent it.
#[derive(Debug)]
pub enum Request<'a> {
    /// A simple Query message (possibly several statements).
    Query { text: &'a str },
    /// A Parse message: judged once, when the statement is prepared.
    Parse { name: &'a str, text: &'a str },
    /// An Execute of a portal; `statement` is the prepared statement it was
    /// bound from and `text` what that was prepared from (`None` when the
    /// gateway did not see it prepared: a SQL PREPARE, or never bound).
    Execute {
        portal: &'a str,
        statement: Option<&'a str>,
        text: Option<&'a str>,
    },
    /// A fast-path FunctionCall: the function, its arguments, and whether its
    /// result comes back in binary format.
    FunctionCall(FunctionCall<'a>),
}

/// A decision that needs a human or another system; resolves to Allow or
/// Refuse. The session keeps relaying the server's messages meanwhile.
pub type Pending = Pin<Box<dyn Future<Output = Verdict> + Send>>;

pub enum Verdict {
    Allow,
    /// Refused: the client gets this error (SQLSTATE and message set by the
    /// phase), the server fails the statement as if it had failed itself.
    Refuse(GatewayError),
    Hold(Pending),
}

impl std::fmt::Debug for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Allow => f.write_str("Allow"),
            Self::Refuse(e) => write!(f, "Refuse({})", e.message),
            Self::Hold(_) => f.write_str("Hold"),
        }
    }
}

/// The columns of one result, with the formats the rows will arrive in.
pub type Columns = Arc<[Field]>;

/// Called on the session's worker thread with the session's state locked:
/// every call must return quickly. Anything that waits (a human, another
/// system) returns [`Verdict::Hold`] instead.
pub trait Phases: Send {
    /// Judges a statement before any of it reaches the server.
    fn classify(&mut self, _request: &Request<'_>) -> Verdict {
        Verdict::Allow
    }

    /// A request `classify` held came to this verdict (Allow or Refuse); it
    /// goes on as if `classify` had said so.
    fn resolved(&mut self, _request: &Request<'_>, _verdict: &Verdict) {}

    /// A Bind made `portal` with these parameter values (the Execute that runs it
    /// comes later). Binds are not judged: the statement was, when prepared.
    fn bound(&mut self, _portal: &str, _parameters: &Parameters<'_>) {}

    /// The rules that let the last request allowed run (comma-separated names),
    /// when these phases judge by rules; read right after the verdict, for the record.
    fn allowed_by(&self) -> Option<&str> {
        None
    }

    /// A result's columns are known, before its first row.
    fn result_description(&mut self, _columns: &Columns) {}

    /// Whether `rewrite_row` wants rows. When false, rows are forwarded as
    /// they arrive, never held or copied.
    fn rewrites_rows(&self) -> bool {
        false
    }

    /// Whether the next row should go to `rewrite_row` (asked per row, when
    /// `rewrites_rows` is true): a phase that has seen enough of a result
    /// lets the rest stream through untouched.
    fn wants_next_row(&self) -> bool {
        true
    }

    /// Rewrites one row. `cells` are the row's values (`None` is NULL);
    /// write a replacement DataRow into `out` and return true, or return
    /// false to forward the row as it was. `columns` is `None` only when
    /// the gateway could not learn the result's shape.
    fn rewrite_row(
        &mut self,
        _columns: Option<&Columns>,
        _cells: &[Option<&[u8]>],
        _out: &mut BytesMut,
    ) -> bool {
        false
    }

    /// A COPY TO STDOUT is starting; `binary` is the overall format the
    /// server announced (CopyOutResponse).
    fn copy_out(&mut self, _binary: bool) {}

    /// Whether the next CopyData of a COPY TO STDOUT should go to
    /// `rewrite_copy_data`. When false, COPY data streams through untouched.
    fn rewrites_copy_data(&self) -> bool {
        false
    }

    /// Rewrites one CopyData payload of a COPY TO STDOUT (PostgreSQL sends
    /// one row per message). Write the replacement payload into `out` and
    /// return true, or return false to forward it; an error ends the
    /// session with that error (for data the phase cannot make safe).
    fn rewrite_copy_data(
        &mut self,
        _data: &[u8],
        _out: &mut Vec<u8>,
    ) -> Result<bool, GatewayError> {
        Ok(false)
    }

    /// Whether `function_result` wants the result of a fast-path call. When
    /// false it streams through unread.
    fn wants_function_results(&self) -> bool {
        false
    }

    /// The result of the fast-path call being answered (`None`: NULL), in
    /// the format the call asked for. Returns false to pass it on as it is, or
    /// true with a whole FunctionCallResponse written to `out` instead.
    fn function_result(&mut self, _value: Option<&[u8]>, _out: &mut BytesMut) -> bool {
        false
    }

    /// A COPY FROM STDIN is starting; `binary` is the overall format the
    /// server asked for (CopyInResponse).
    fn copy_in(&mut self, _binary: bool) {}

    /// Whether the client's next CopyData of a COPY FROM STDIN, with
    /// `length` bytes of data, should be read whole and handed to
    /// `copied_in`. When false it streams through unread.
    fn wants_copy_in_data(&self, _length: usize) -> bool {
        false
    }

    /// The client sent a CopyData of a COPY FROM STDIN (it goes to the
    /// server as it is): its data when `wants_copy_in_data` asked for it,
    /// else `None`.
    fn copied_in(&mut self, _data: Option<&[u8]>) {}

    /// Whether server texts (error and notice fields, notification
    /// payloads) go to `rewrite_server_text`; asked once per session.
    fn rewrites_server_text(&self) -> bool {
        false
    }

    /// A text from the server on its way to the client; a replacement, or
    /// `None` to leave it. Not called for the gateway's own refusals.
    fn rewrite_server_text(&mut self, _source: ServerText, _text: &str) -> Option<String> {
        None
    }

    /// Whether `notice` and `notification` want the server's notices and
    /// notifications; asked once per session.
    fn wants_notices(&self) -> bool {
        false
    }

    /// A NoticeResponse (NOTICE, WARNING, INFO...) on its way to the client, as
    /// the client will see it (after any rewrite).
    fn notice(&mut self, _fields: &ErrorFields) {}

    /// A NotificationResponse (`LISTEN`/`NOTIFY`) on its way to the client, as the
    /// client will see it: the notifying backend's PID, the channel, the payload.
    /// It may come while no request is being answered.
    fn notification(&mut self, _pid: i32, _channel: &str, _payload: &str) {}

    /// A statement finished with this command tag (e.g. `SELECT 3`).
    fn command_complete(&mut self, _tag: &str) {}

    /// The server reported an error for the request being answered.
    fn server_error(&mut self, _sqlstate: &str, _message: &str) {}

    /// The server's own error for the request being answered, with the
    /// fields psql prints besides the message (position, detail, hint,
    /// context), after any rewrite. By default it goes to `server_error`.
    fn server_error_fields(&mut self, fields: &ErrorFields) {
        self.server_error(&fields.sqlstate, &fields.message);
    }

    /// A judged request (Query, Execute, FunctionCall, or a refused Parse)
    /// is answered: requests finish in the order they were classified.
    fn finished(&mut self, _how: Finish) {}

    /// Called before server output reaches the client: a future that must
    /// resolve before it may (e.g. until a record is durable), or `None`.
    /// An error ends the session with that error instead.
    fn before_client_sees(&mut self) -> Option<Barrier> {
        None
    }
}

/// Where a server text comes from (see [`Phases::rewrite_server_text`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerText {
    /// A field of an ErrorResponse, by its type byte (`M` message, `D`
    /// detail, `H` hint, `W` context, ...).
    Error(u8),
    /// A field of a NoticeResponse.
    Notice(u8),
    /// A NotificationResponse's channel name.
    NotificationChannel,
    /// A NotificationResponse's payload.
    NotificationPayload,
}

/// How a judged request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Answered in full (with an error, if `server_error` said so).
    Completed,
    /// An Execute that stopped at its row limit (PortalSuspended).
    Suspended,
    /// The gateway refused it; the client got the refusal.
    Refused,
    /// Never run: the server skipped it after an earlier error.
    Skipped,
}

/// See [`Phases::before_client_sees`].
pub type Barrier = Pin<Box<dyn Future<Output = Result<(), GatewayError>> + Send>>;

/// Allows everything, looks at nothing.
#[derive(Debug, Default)]
pub struct AllowAll;

impl Phases for AllowAll {}

/// Makes the phases for each new session.
pub trait PhaseFactory: Send + Sync {
    fn for_session(&self, session: &SessionFacts<'_>) -> Box<dyn Phases>;
}

/// What a phase factory knows about a session when it opens.
#[derive(Debug)]
pub struct SessionFacts<'a> {
    pub id: u64,
    pub identity: &'a str,
    /// The identity's groups, as configured.
    pub groups: &'a [String],
    pub role: &'a str,
    pub database: &'a str,
    /// The configuration's SQL policy when the session opened.
    pub policy: &'a crate::policy::Policy,
    /// The search_path pinned at upstream login (existing schemas, in order).
    pub search_path: &'a [String],
    /// Functions, operators and casts the database defines.
    pub catalog: &'a crate::policy::catalog::SessionCatalog,
    /// How the server reads string literals.
    pub dialect: crate::policy::Dialect,
}

impl PhaseFactory for AllowAll {
    fn for_session(&self, _session: &SessionFacts<'_>) -> Box<dyn Phases> {
        Box::new(AllowAll)
    }
}
