//! Records one session: wraps the session's other phases (the policy) and
//! writes what each judged request was, what was decided, and what came back
//! as the client saw it. A request's record is written before its completion
//! reaches the client: to the journal, where a killed or crashed gateway cannot
//! lose it, or durably (`sync = "each-result"`, the PostgreSQL store, a record
//! the journal could not take), in which case output waits for it.

use std::{
    collections::VecDeque,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use bytes::BytesMut;

use super::{
    bound::{self, BoundPortals},
    record::{
        ErrorInfo, NoticeInfo, NotificationInfo, SessionClosed, SessionOpened, StatementRecord,
    },
    statements::{self, Outcome},
    writer::{Durable, SessionChain, Writer},
    Event,
};
use crate::{
    engine::{Barrier, Columns, Finish, Phases, Request, ServerText, Verdict},
    policy::catalog::FunctionsByOid,
    protocol::{
        backend::GatewayError,
        frontend::Parameters,
        server_messages::{decode_data_row, decode_function_call_response, ErrorFields},
    },
};

/// SQLSTATE io_error: the record store cannot write.
const STORE_UNAVAILABLE: &str = "58030";

/// Caps on what is kept of a result.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub rows: usize,
    pub bytes: usize,
}

/// A judged request waiting for its answer.
struct Pending {
    record: StatementRecord,
    kept_bytes: usize,
    /// The bytes of the notices and notifications kept (caps of their own).
    notice_bytes: usize,
    /// A simple Query: the results of its statements completed so far (it is
    /// recorded as one record per statement).
    outcomes: Option<Vec<Outcome>>,
    /// A fast-path call whose result comes back in binary format.
    result_binary: bool,
}

impl Pending {
    /// Whether the caps are reached, with `kept` rows (or COPY messages) kept.
    fn kept_all(&self, kept: usize, caps: Caps) -> bool {
        kept >= caps.rows || self.kept_bytes >= caps.bytes
    }

    /// Whether one more entry of `size` bytes fits the caps (counted if so). The
    /// first that does not ends the keeping: the record is marked truncated.
    fn make_room(&mut self, kept: usize, size: usize, caps: Caps) -> bool {
        if kept >= caps.rows || self.kept_bytes + size > caps.bytes {
            self.stop_keeping(caps);
            return false;
        }
        self.kept_bytes += size;
        true
    }

    /// Whether one more notice or notification of `size` bytes fits the caps (counted
    /// if so, apart from the result's rows). The first that does not ends the keeping,
    /// marked `notices_truncated`.
    fn room_for_message(&mut self, size: usize, caps: Caps) -> bool {
        let record = &mut self.record;
        let kept = record.notices.len() + record.notifications.len();
        if record.notices_truncated || kept >= caps.rows || self.notice_bytes + size > caps.bytes {
            record.notices_truncated = true;
            return false;
        }
        self.notice_bytes += size;
        true
    }

    /// Keeps nothing more of this result (something did not fit): marked truncated.
    fn stop_keeping(&mut self, caps: Caps) {
        self.record.truncated = true;
        self.kept_bytes = caps.bytes;
    }
}

pub struct RecordedPhases {
    inner: Box<dyn Phases>,
    writer: Writer,
    chain: SessionChain,
    session_id: String,
    caps: Caps,
    pending: VecDeque<Pending>,
    /// Records handed to the recorder thread, not yet durable: output waits for them.
    unconfirmed: Vec<Durable>,
    /// The columns of the result being answered, and their type OIDs.
    columns: Vec<String>,
    column_types: Vec<u32>,
    /// What each portal was bound with, for the record of its Execute.
    bound: BoundPortals,
    /// The COPY being answered (TO STDOUT or FROM STDIN) is in binary format.
    copy_binary: bool,
    /// Notifications that came while no request was answered, for the next record, or
    /// the closing one (within the caps; `idle_overflowed` when more came).
    idle_notifications: Vec<NotificationInfo>,
    idle_overflowed: bool,
    /// Function OID → qualified name, to name a fast-path call's function (empty
    /// unless the identity may make fast-path calls).
    functions_by_oid: FunctionsByOid,
}

/// A session id unique across restarts: the daemon's start time and its
/// session counter.
pub fn session_id(counter: u64) -> String {
    static STARTED: std::sync::LazyLock<i64> = std::sync::LazyLock::new(now_us);
    format!("{:x}-{counter}", *STARTED)
}

pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

impl RecordedPhases {
    /// Starts recording a session (its opening record goes first).
    pub fn new(inner: Box<dyn Phases>, writer: Writer, opened: SessionOpened, caps: Caps) -> Self {
        let session_id = opened.session_id.clone();
        let mut chain = SessionChain::default();
        writer.write_later(&mut chain, vec![Event::Opened(opened)]);
        RecordedPhases {
            inner,
            writer,
            chain,
            session_id,
            caps,
            pending: VecDeque::new(),
            unconfirmed: Vec::new(),
            columns: Vec::new(),
            column_types: Vec::new(),
            bound: BoundPortals::default(),
            copy_binary: false,
            idle_notifications: Vec::new(),
            idle_overflowed: false,
            functions_by_oid: Arc::default(),
        }
    }

    /// Names fast-path calls' functions by these OIDs (read at login).
    pub fn naming_functions(mut self, functions_by_oid: FunctionsByOid) -> Self {
        self.functions_by_oid = functions_by_oid;
        self
    }

    fn start(&mut self, text: &str, decision: &str, error: Option<&GatewayError>) {
        self.pending.push_back(Pending {
            record: StatementRecord {
                session_id: self.session_id.clone(),
                text: text.to_owned(),
                // Now, while the policy's scan of this text is at hand.
                fingerprint: super::fingerprints::of(text),
                decision: decision.to_owned(),
                rule: error.and_then(|e| rule_of(&e.message)),
                approval: None,
                started_at_us: now_us(),
                duration_us: 0,
                command_tag: None,
                rows: None,
                error: error.map(|e| ErrorInfo {
                    sqlstate: e.sqlstate.to_owned(),
                    message: e.message.clone(),
                    detail: e.detail.clone(),
                    hint: e.hint.clone(),
                    ..Default::default()
                }),
                columns: Vec::new(),
                column_types: Vec::new(),
                result_rows: Vec::new(),
                truncated: false,
                copy_data: Vec::new(),
                copy_in_data: Vec::new(),
                part: None,
                request_text: None,
                parameters: Vec::new(),
                parameters_truncated: false,
                notices: Vec::new(),
                notices_truncated: false,
                notifications: Vec::new(),
            },
            kept_bytes: 0,
            notice_bytes: 0,
            outcomes: None,
            result_binary: false,
        });
        if !self.idle_notifications.is_empty() || self.idle_overflowed {
            self.take_idle_notifications();
        }
    }

    /// The notifications that came while the session was idle go with the record just
    /// started, within its caps.
    fn take_idle_notifications(&mut self) {
        let Some(pending) = self.pending.back_mut() else {
            return;
        };
        for notification in self.idle_notifications.drain(..) {
            let size = notification.channel.len() + notification.payload.len();
            if pending.room_for_message(size, self.caps) {
                pending.record.notifications.push(notification);
            }
        }
        pending.record.notices_truncated |= std::mem::take(&mut self.idle_overflowed);
    }

    fn note_verdict(&mut self, request: &Request<'_>, verdict: &Verdict) {
        let text = match request {
            Request::Query { text } => (*text).to_owned(),
            Request::Parse { text, .. } => (*text).to_owned(),
            Request::Execute {
                text: Some(text), ..
            } => (*text).to_owned(),
            Request::Execute {
                portal, statement, ..
            } => format!(
                "-- portal \"{portal}\" of prepared statement \"{}\"",
                statement.unwrap_or("")
            ),
            Request::FunctionCall(call) => match self.functions_by_oid.get(&call.oid) {
                Some(function) => format!(
                    "-- fast-path call of {} (function oid {})",
                    function.name, call.oid
                ),
                None => format!("-- fast-path call of function oid {}", call.oid),
            },
        };
        let (decision, error) = match verdict {
            // An allowed Parse prepares; the Execute is what runs.
            Verdict::Allow if matches!(request, Request::Parse { .. }) => return,
            Verdict::Allow => ("allowed", None),
            Verdict::Refuse(error) => ("refused", Some(error)),
            // Recorded when the hold comes to a verdict (`resolved`).
            Verdict::Hold(_) => return,
        };
        self.start(&text, decision, error);
        let Some(pending) = self.pending.back_mut() else {
            return;
        };
        let record = &mut pending.record;
        if let (Some(rules), None) = (self.inner.allowed_by(), error) {
            record.rule = Some(rules.to_owned());
        }
        match request {
            // Its statements are recorded one by one.
            Request::Query { .. } => pending.outcomes = Some(Vec::new()),
            Request::Execute {
                portal, statement, ..
            } => match self.bound.values_of(portal) {
                Some(bound) => {
                    record.parameters.clone_from(&bound.values);
                    record.parameters_truncated = bound.truncated;
                }
                // Bound (the engine knows the portal), but too many portals ago.
                None => record.parameters_truncated = statement.is_some(),
            },
            Request::FunctionCall(call) => {
                let kept = bound::kept(&call.arguments, self.caps.bytes);
                record.parameters = kept.values;
                record.parameters_truncated = kept.truncated;
                pending.result_binary = call.result_binary;
            }
            _ => {}
        }
    }
}

/// An error's or notice's fields, as recorded.
fn error_info(fields: &ErrorFields) -> ErrorInfo {
    ErrorInfo {
        sqlstate: fields.sqlstate.clone(),
        message: fields.message.clone(),
        position: fields.position,
        detail: fields.detail.clone(),
        hint: fields.hint.clone(),
        context: fields.context.clone(),
    }
}

/// The rule a policy refusal names (`rule "NAME"` or `check "NAME"`).
fn rule_of(message: &str) -> Option<String> {
    for marker in ["rule \"", "check \""] {
        if let Some(start) = message.find(marker) {
            let rest = &message[start + marker.len()..];
            return rest.find('"').map(|end| rest[..end].to_owned());
        }
    }
    message
        .contains("(default deny)")
        .then(|| "default deny".to_owned())
}

impl Phases for RecordedPhases {
    fn classify(&mut self, request: &Request<'_>) -> Verdict {
        if let Some(why) = self.writer.unavailable() {
            let error = GatewayError::error(
                STORE_UNAVAILABLE,
                format!("cordon: the session recording store cannot write ({why}); statements are refused until it can"),
            )
            .with_hint("The gateway retries by itself; an operator can check the state directory's disk or the fleet database.");
            return Verdict::Refuse(error);
        }
        let verdict = self.inner.classify(request);
        self.note_verdict(request, &verdict);
        verdict
    }

    fn resolved(&mut self, request: &Request<'_>, verdict: &Verdict) {
        self.note_verdict(request, verdict);
        self.inner.resolved(request, verdict);
    }

    fn bound(&mut self, portal: &str, parameters: &Parameters<'_>) {
        self.bound.bind(portal, parameters, self.caps.bytes);
        self.inner.bound(portal, parameters);
    }

    fn allowed_by(&self) -> Option<&str> {
        self.inner.allowed_by()
    }

    fn result_description(&mut self, columns: &Columns) {
        self.columns = columns.iter().map(|f| f.name.clone()).collect();
        self.column_types = columns.iter().map(|f| f.type_oid).collect();
        if let Some(front) = self.pending.front_mut() {
            if front.record.columns.is_empty() {
                front.record.columns = self.columns.clone();
                front.record.column_types = self.column_types.clone();
            }
        }
        self.inner.result_description(columns);
    }

    fn rewrites_rows(&self) -> bool {
        true
    }

    /// Rows past the caps are only counted (from the command tag), so they
    /// stream through without being read.
    fn wants_next_row(&self) -> bool {
        let kept_all = self
            .pending
            .front()
            .is_some_and(|p| p.kept_all(p.record.result_rows.len(), self.caps));
        !kept_all || (self.inner.rewrites_rows() && self.inner.wants_next_row())
    }

    fn rewrite_row(
        &mut self,
        columns: Option<&Columns>,
        cells: &[Option<&[u8]>],
        out: &mut BytesMut,
    ) -> bool {
        let rewritten = self.inner.rewrites_rows() && self.inner.rewrite_row(columns, cells, out);
        let Some(front) = self.pending.front_mut() else {
            return rewritten;
        };
        // Past the caps (the inner phases still rewrite): nothing to keep.
        if front.kept_all(front.record.result_rows.len(), self.caps) {
            front.record.truncated = true;
            return rewritten;
        }
        let decoded;
        let sent: &[Option<&[u8]>] = if rewritten {
            decoded = decode_data_row(&out[5..]).unwrap_or_default();
            &decoded
        } else {
            cells
        };
        // Kept only while both caps allow; the first row over them ends the
        // keeping (the rest of the result then streams by unread).
        let size: usize = sent.iter().flatten().map(|c| c.len()).sum();
        if !front.make_room(front.record.result_rows.len(), size, self.caps) {
            return rewritten;
        }
        let record = &mut front.record;
        let binary = |i: usize| {
            columns
                .and_then(|c| c.get(i))
                .is_some_and(|f| f.format == 1)
        };
        let row = sent
            .iter()
            .enumerate()
            .map(|(i, c)| c.map(|cell| show(cell, binary(i))))
            .collect();
        if record.columns.is_empty() {
            record.columns = self.columns.clone();
            record.column_types = self.column_types.clone();
        }
        record.result_rows.push(row);
        rewritten
    }

    fn copy_out(&mut self, binary: bool) {
        self.copy_binary = binary;
        self.inner.copy_out(binary);
    }

    /// COPY data past the caps is only counted (from the command tag), like rows.
    fn rewrites_copy_data(&self) -> bool {
        let kept_all = self
            .pending
            .front()
            .is_none_or(|p| p.kept_all(p.record.copy_data.len(), self.caps));
        !kept_all || self.inner.rewrites_copy_data()
    }

    fn rewrite_copy_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<bool, GatewayError> {
        let rewritten =
            self.inner.rewrites_copy_data() && self.inner.rewrite_copy_data(data, out)?;
        let sent = if rewritten { &out[..] } else { data };
        if let Some(front) = self.pending.front_mut() {
            if front.make_room(front.record.copy_data.len(), sent.len(), self.caps) {
                front.record.copy_data.push(show(sent, self.copy_binary));
            }
        }
        Ok(rewritten)
    }

    fn wants_function_results(&self) -> bool {
        true
    }

    /// Kept as a one-row result of one column, `result`, as the client gets it (after
    /// masking), up to the caps.
    fn function_result(&mut self, value: Option<&[u8]>, out: &mut BytesMut) -> bool {
        let rewritten = self.inner.function_result(value, out);
        let decoded;
        let sent = if rewritten {
            decoded = decode_function_call_response(&out[5..]).ok().flatten();
            decoded
        } else {
            value
        };
        if let Some(front) = self.pending.front_mut() {
            let size = sent.map_or(0, <[u8]>::len);
            front.record.columns = vec!["result".to_owned()];
            front.record.rows = Some(1);
            if front.make_room(0, size, self.caps) {
                let binary = front.result_binary;
                let cell = sent.map(|v| show(v, binary));
                front.record.result_rows = vec![vec![cell]];
            }
        }
        rewritten
    }

    fn copy_in(&mut self, binary: bool) {
        self.copy_binary = binary;
        self.inner.copy_in(binary);
    }

    /// What the client uploads is kept up to the caps, like a result; the rest
    /// streams through unread.
    fn wants_copy_in_data(&self, length: usize) -> bool {
        let fits = self.pending.front().is_some_and(|p| {
            !p.kept_all(p.record.copy_in_data.len(), self.caps)
                && p.kept_bytes + length <= self.caps.bytes
        });
        fits || self.inner.wants_copy_in_data(length)
    }

    fn copied_in(&mut self, data: Option<&[u8]>) {
        if let Some(front) = self.pending.front_mut() {
            let kept = front.record.copy_in_data.len();
            match data {
                Some(data) if front.make_room(kept, data.len(), self.caps) => {
                    front.record.copy_in_data.push(show(data, self.copy_binary));
                }
                Some(_) => {}
                // Streamed by unread: it did not fit.
                None => front.stop_keeping(self.caps),
            }
        }
        self.inner.copied_in(data);
    }

    fn rewrites_server_text(&self) -> bool {
        self.inner.rewrites_server_text()
    }

    fn rewrite_server_text(&mut self, source: ServerText, text: &str) -> Option<String> {
        self.inner.rewrite_server_text(source, text)
    }

    fn command_complete(&mut self, tag: &str) {
        if let Some(front) = self.pending.front_mut() {
            let record = &mut front.record;
            record.command_tag = Some(match record.command_tag.take() {
                Some(earlier) => format!("{earlier}; {tag}"),
                None => tag.to_owned(),
            });
            let rows = tag.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok());
            if let Some(rows) = rows {
                record.rows = Some(record.rows.unwrap_or(0) + rows);
                // COPY rows past the caps streamed by unread: the tag counted them.
                if !record.copy_data.is_empty() && rows > record.copy_data.len() as u64 {
                    record.truncated = true;
                }
            }
            if let Some(outcomes) = &mut front.outcomes {
                outcomes.push(Outcome::take(record, now_us()));
                front.kept_bytes = 0;
                front.notice_bytes = 0;
            }
        }
        self.inner.command_complete(tag);
    }

    fn wants_notices(&self) -> bool {
        true
    }

    /// Kept with the statement being answered, up to the caps (counted apart from
    /// its rows); one that does not fit ends the keeping, marked `notices_truncated`.
    fn notice(&mut self, fields: &ErrorFields) {
        if let Some(front) = self.pending.front_mut() {
            let texts = [&fields.detail, &fields.hint, &fields.context];
            let size = fields.message.len()
                + texts
                    .iter()
                    .flat_map(|t| t.as_ref())
                    .map(String::len)
                    .sum::<usize>();
            if front.room_for_message(size, self.caps) {
                front.record.notices.push(NoticeInfo {
                    severity: fields.severity.clone(),
                    fields: error_info(fields),
                });
            }
        }
        self.inner.notice(fields);
    }

    /// Kept like notices; one that comes while the session is idle goes with the next
    /// statement (psql prints it after that one's result).
    fn notification(&mut self, pid: i32, channel: &str, payload: &str) {
        let notification = NotificationInfo {
            pid,
            channel: channel.to_owned(),
            payload: payload.to_owned(),
        };
        let size = channel.len() + payload.len();
        match self.pending.front_mut() {
            Some(front) => {
                if front.room_for_message(size, self.caps) {
                    front.record.notifications.push(notification);
                }
            }
            None => {
                let held: usize = (self.idle_notifications.iter())
                    .map(|n| n.channel.len() + n.payload.len())
                    .sum();
                if self.idle_notifications.len() < self.caps.rows && held + size <= self.caps.bytes
                {
                    self.idle_notifications.push(notification);
                } else {
                    self.idle_overflowed = true;
                }
            }
        }
        self.inner.notification(pid, channel, payload);
    }

    fn server_error(&mut self, sqlstate: &str, message: &str) {
        if let Some(front) = self.pending.front_mut() {
            front.record.error.get_or_insert(ErrorInfo {
                sqlstate: sqlstate.to_owned(),
                message: message.to_owned(),
                ..Default::default()
            });
        }
        self.inner.server_error(sqlstate, message);
    }

    fn server_error_fields(&mut self, fields: &ErrorFields) {
        if let Some(front) = self.pending.front_mut() {
            front.record.error.get_or_insert_with(|| error_info(fields));
        }
        self.inner.server_error_fields(fields);
    }

    fn finished(&mut self, how: Finish) {
        if let Some(mut done) = self.pending.pop_front() {
            let record = &mut done.record;
            let now = now_us();
            record.duration_us = now - record.started_at_us;
            // Rows past the caps streamed by unread: the tag counted them.
            let returned = record.rows.unwrap_or(0) as usize;
            if !record.columns.is_empty() && returned > record.result_rows.len() {
                record.truncated = true;
            }
            if how == Finish::Skipped {
                record.error.get_or_insert(ErrorInfo {
                    sqlstate: String::new(),
                    message: "not run: the server skipped it after an earlier error".into(),
                    ..Default::default()
                });
            }
            let records = match done.outcomes {
                Some(outcomes) => statements::records(done.record, outcomes, now),
                None => vec![done.record],
            };
            let events = records.into_iter().map(Event::Statement).collect();
            if let Some(durable) = self.writer.write(&mut self.chain, events) {
                self.unconfirmed.push(durable);
            }
        }
        self.inner.finished(how);
    }

    fn before_client_sees(&mut self) -> Option<Barrier> {
        let inner = self.inner.before_client_sees();
        if self.unconfirmed.is_empty() && inner.is_none() {
            return None;
        }
        let waits = std::mem::take(&mut self.unconfirmed);
        Some(Box::pin(async move {
            for durable in waits {
                let outcome = durable
                    .await
                    .unwrap_or_else(|_| Err("the recorder thread has stopped".into()));
                if let Err(why) = outcome {
                    return Err(GatewayError::fatal(
                        STORE_UNAVAILABLE,
                        format!("cordon: the statement's record could not be written ({why}); its result is withheld and the session ends"),
                    ));
                }
            }
            match inner {
                Some(barrier) => barrier.await,
                None => Ok(()),
            }
        }))
    }
}

impl Drop for RecordedPhases {
    fn drop(&mut self) {
        let closed = Event::Closed(SessionClosed {
            session_id: self.session_id.clone(),
            at_us: now_us(),
            reason: "session ended".into(),
            notifications: std::mem::take(&mut self.idle_notifications),
            notifications_truncated: self.idle_overflowed,
        });
        self.writer.write_later(&mut self.chain, vec![closed]);
    }
}

/// A cell as text: text-format values as they are, binary-format ones (and
/// anything not UTF-8) as `\x` hex.
pub(super) fn show(cell: &[u8], binary: bool) -> String {
    match std::str::from_utf8(cell) {
        Ok(text) if !binary => text.to_owned(),
        _ => {
            let hex: String = cell.iter().map(|b| format!("{b:02x}")).collect();
            format!("\\x{hex}")
        }
    }
}
