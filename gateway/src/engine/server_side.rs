//! Server → client: every reply is matched to the request it answers, so
//! rows meet their columns, refusals replace the probe's error, and the
//! engine follows transactions, COPY and the extended protocol's skipping.

use std::sync::Arc;

use bytes::BytesMut;

use super::{
    lost_track,
    phases::{Finish, ServerText},
    stream_buf::Next,
    Columns, CopyMode, Engine, Expect, StreamBuf,
};
use crate::protocol::{
    backend::GatewayError,
    frame::{tag_name, Header, MAX_INSPECTED_LEN},
    server_messages::{self as be, ErrorFields},
};

/// What the server direction needs next.
pub enum ServerStep {
    Read {
        hold_total: Option<usize>,
    },
    /// The session cannot go on; the client gets this error.
    Fatal(GatewayError),
}

impl Engine {
    /// Follows every server message in `s`, rewriting where a phase asks.
    pub fn process_server(&mut self, s: &mut StreamBuf) -> ServerStep {
        loop {
            let (header, complete) = match s.next_message() {
                Err(e) => return ServerStep::Fatal(lost_track(e)),
                Ok(Next::Empty) => return ServerStep::Read { hold_total: None },
                Ok(Next::Message { header, complete }) => (header, complete),
            };
            if header.tag == be::DATA_ROW {
                // The phases learn an Execute's columns before they are
                // asked whether they want its first row.
                self.announce_execute_columns();
            }
            let result = if self.needs_body(header.tag) {
                if header.body_len() > MAX_INSPECTED_LEN {
                    return ServerStep::Fatal(lost_track(format!(
                        "message {} of {} bytes is larger than the gateway inspects",
                        tag_name(header.tag),
                        header.total
                    )));
                }
                if !complete {
                    return ServerStep::Read {
                        hold_total: Some(header.total),
                    };
                }
                self.server_message(s, &header)
            } else {
                self.server_tag(s, &header)
            };
            if let Err(e) = result {
                return ServerStep::Fatal(e);
            }
        }
    }

    /// Messages judged by their type alone: they stream through.
    fn server_tag(&mut self, s: &mut StreamBuf, header: &Header) -> Result<(), GatewayError> {
        match header.tag {
            be::PARSE_COMPLETE => {
                self.pop(header.tag, |e| matches!(e, Expect::Parse { .. }))?;
            }
            be::BIND_COMPLETE => {
                self.pop(header.tag, |e| matches!(e, Expect::Bind { .. }))?;
            }
            be::CLOSE_COMPLETE => {
                self.pop(header.tag, |e| matches!(e, Expect::Close))?;
            }
            be::NO_DATA => {
                let described = self.pop(header.tag, Expect::is_describe)?;
                if self.describe_answered(described, Arc::new([])) {
                    s.drop_message(header);
                    return Ok(());
                }
            }
            be::EMPTY_QUERY => {
                if matches!(self.expected.front(), Some(Expect::Execute { .. })) {
                    self.expected.pop_front();
                    self.phases.finished(Finish::Completed);
                }
            }
            be::PORTAL_SUSPENDED => {
                self.pop(header.tag, |e| matches!(e, Expect::Execute { .. }))?;
                self.phases.finished(Finish::Suspended);
            }
            // A row's Execute columns were announced before it was framed.
            be::DATA_ROW => {}
            be::COPY_DONE => self.copy = CopyMode::None,
            be::COPY_OUT_RESPONSE
            | be::COPY_BOTH_RESPONSE
            | be::COPY_DATA
            | be::FUNCTION_CALL_RESPONSE
            | be::NOTICE_RESPONSE
            | be::NOTIFICATION
            | be::PARAMETER_STATUS => {}
            other => {
                return Err(lost_track(format!(
                    "unexpected message type {}",
                    tag_name(other)
                )))
            }
        }
        s.pass(header);
        Ok(())
    }

    /// Messages the engine reads whole.
    fn server_message(&mut self, s: &mut StreamBuf, header: &Header) -> Result<(), GatewayError> {
        let body = s.body(header);
        match header.tag {
            be::ROW_DESCRIPTION => {
                let fields = be::decode_row_description(body).map_err(lost_track)?;
                match self.expected.front() {
                    Some(front) if front.is_describe() => {
                        let described = self.expected.pop_front().expect("front exists");
                        if self.describe_answered(described, fields.into()) {
                            s.drop_message(header);
                            return Ok(());
                        }
                    }
                    Some(Expect::Query { .. }) => {
                        let columns: Columns = fields.into();
                        self.phases.result_description(&columns);
                        self.current = Some(columns);
                    }
                    other => {
                        return Err(lost_track(format!(
                            "RowDescription while expecting {}",
                            other.map_or("nothing", Expect::name)
                        )))
                    }
                }
            }
            be::PARAMETER_DESCRIPTION => {
                be::decode_parameter_description(body).map_err(lost_track)?;
                if !matches!(
                    self.expected.front(),
                    Some(Expect::DescribeStatement { .. })
                ) {
                    return Err(lost_track("ParameterDescription without a Describe"));
                }
            }
            be::DATA_ROW => {
                let columns = match self.expected.front() {
                    Some(Expect::Execute { columns, .. }) => columns.get().cloned(),
                    _ => self.current.clone(),
                };
                let cells = be::decode_data_row(body).map_err(lost_track)?;
                let mut out = BytesMut::new();
                if self.phases.rewrite_row(columns.as_ref(), &cells, &mut out) {
                    s.replace(header, out.freeze());
                    return Ok(());
                }
            }
            be::COMMAND_COMPLETE => {
                let tag = be::decode_command_complete(body).map_err(lost_track)?;
                self.phases.command_complete(tag);
                self.current = None;
                if matches!(self.expected.front(), Some(Expect::Execute { .. })) {
                    self.expected.pop_front();
                    self.phases.finished(Finish::Completed);
                }
            }
            be::ERROR_RESPONSE => {
                // Rewritten first, so the phases (a recording) see the
                // error as the client will.
                let rewritten = self.rewrite_notice(header.tag, body)?;
                let seen = as_sent(&rewritten, body);
                let fields = be::decode_error_fields(seen).map_err(lost_track)?;
                if let Some(refusal) = self.on_error(&fields) {
                    s.replace(header, refusal.to_bytes());
                    return Ok(());
                }
                if let Some(rewritten) = rewritten {
                    s.replace(header, rewritten.freeze());
                    return Ok(());
                }
            }
            be::NOTICE_RESPONSE => {
                let rewritten = self.rewrite_notice(header.tag, body)?;
                if self.watch_notices {
                    let seen = as_sent(&rewritten, body);
                    let fields = be::decode_error_fields(seen).map_err(lost_track)?;
                    self.phases.notice(&fields);
                }
                if let Some(rewritten) = rewritten {
                    s.replace(header, rewritten.freeze());
                    return Ok(());
                }
            }
            be::NOTIFICATION => {
                let phases = &mut self.phases;
                let rewritten = if self.rewrite_text {
                    be::rewrite_notification(body, |payload, text| {
                        let source = if payload {
                            ServerText::NotificationPayload
                        } else {
                            ServerText::NotificationChannel
                        };
                        phases.rewrite_server_text(source, text)
                    })
                    .map_err(lost_track)?
                } else {
                    None
                };
                if self.watch_notices {
                    let seen = as_sent(&rewritten, body);
                    let (pid, channel, payload) =
                        be::decode_notification(seen).map_err(lost_track)?;
                    self.phases.notification(pid, channel, payload);
                }
                if let Some(rewritten) = rewritten {
                    s.replace(header, rewritten.freeze());
                    return Ok(());
                }
            }
            be::COPY_OUT_RESPONSE | be::COPY_BOTH_RESPONSE => {
                self.copy = CopyMode::Out;
                self.phases.copy_out(copy_is_binary(body));
            }
            be::COPY_IN_RESPONSE => {
                self.copy = CopyMode::In;
                // Syncs the client sent behind an Execute that turned out
                // to be COPY FROM STDIN are ignored by the server.
                if matches!(self.expected.front(), Some(Expect::Execute { .. })) {
                    while matches!(self.expected.get(1), Some(Expect::Sync)) {
                        self.expected.remove(1);
                    }
                }
                self.phases.copy_in(copy_is_binary(body));
            }
            be::COPY_DATA => {
                let mut out = Vec::new();
                if self.phases.rewrite_copy_data(body, &mut out)? {
                    s.replace(header, copy_data(&out));
                    return Ok(());
                }
            }
            be::FUNCTION_CALL_RESPONSE => {
                let value = be::decode_function_call_response(body).map_err(lost_track)?;
                let mut out = BytesMut::new();
                if self.phases.function_result(value, &mut out) {
                    s.replace(header, out.freeze());
                    return Ok(());
                }
            }
            be::READY_FOR_QUERY => {
                let status = be::decode_ready_for_query(body).map_err(lost_track)?;
                self.on_ready(status)?;
            }
            other => unreachable!("needs_body covers {}", tag_name(other)),
        }
        s.pass(header);
        Ok(())
    }

    /// Follows an error; returns the gateway's refusal to send instead when
    /// the error is the server failing a refusal probe.
    fn on_error(&mut self, fields: &ErrorFields) -> Option<GatewayError> {
        self.current = None;
        self.copy = CopyMode::None;
        if fields.ends_session() {
            self.server_fatal = true;
        }
        match self.expected.front_mut() {
            Some(Expect::Query { refusal } | Expect::FunctionCall { refusal }) => {
                let refusal = refusal.take();
                match &refusal {
                    Some(error) => self.phases.server_error(error.sqlstate, &error.message),
                    None => self.phases.server_error_fields(fields),
                }
                refusal
            }
            Some(_) => {
                let refusal = match self.expected.pop_front() {
                    Some(Expect::Refused(error)) => {
                        self.phases.server_error(error.sqlstate, &error.message);
                        self.phases.finished(Finish::Refused);
                        Some(error)
                    }
                    Some(failed) => {
                        if matches!(failed, Expect::Execute { .. }) {
                            self.phases.server_error_fields(fields);
                            self.phases.finished(Finish::Completed);
                        }
                        self.forget(failed);
                        None
                    }
                    None => None,
                };
                // The server now discards everything up to Sync.
                while let Some(skipped) = self.expected.pop_front() {
                    if matches!(skipped, Expect::Sync) {
                        self.expected.push_front(skipped);
                        break;
                    }
                    self.forget(skipped);
                }
                self.server_skipping = !matches!(self.expected.front(), Some(Expect::Sync));
                refusal
            }
            // An error nobody asked for (e.g. the server shutting down).
            None => None,
        }
    }

    /// Records a Describe's answer (the columns, empty for NoData) where it
    /// belongs; returns true when the gateway asked, not the client, so the
    /// answer must not reach the client.
    fn describe_answered(&mut self, described: Expect, columns: Columns) -> bool {
        match described {
            Expect::DescribeStatement { name } => {
                if let Some(statement) = self.statements.get_mut(&name) {
                    statement.columns = Some(columns);
                }
                false
            }
            Expect::DescribePortal {
                columns: slot,
                swallow,
            } => {
                let _ = slot.set(columns);
                swallow
            }
            _ => false,
        }
    }

    /// A request the server failed or skipped created nothing (and a judged
    /// one that was skipped is finished).
    fn forget(&mut self, expect: Expect) {
        if matches!(expect, Expect::Execute { .. } | Expect::Refused(_)) {
            self.phases.finished(Finish::Skipped);
        }
        match expect {
            Expect::Parse { name } => self.forget_statement(&name),
            Expect::Bind { portal } => drop(self.portals.remove(&portal)),
            _ => {}
        }
    }

    fn on_ready(&mut self, status: u8) -> Result<(), GatewayError> {
        loop {
            match self.expected.pop_front() {
                Some(done) if done.ends_with_ready() => {
                    if !matches!(done, Expect::Sync) {
                        self.phases.finished(Finish::Completed);
                    }
                    break;
                }
                Some(skipped) => self.forget(skipped),
                None => return Err(lost_track("ReadyForQuery nobody asked for")),
            }
        }
        self.transaction = status;
        self.current = None;
        self.copy = CopyMode::None;
        if status == b'I' {
            // Portals live until their transaction ends.
            self.portals.clear();
        }
        Ok(())
    }

    /// Tells the phases the columns of an Execute's rows, once.
    fn announce_execute_columns(&mut self) {
        if let Some(Expect::Execute { columns, announced }) = self.expected.front_mut() {
            if !*announced {
                *announced = true;
                if let Some(columns) = columns.get() {
                    self.phases.result_description(columns);
                }
            }
        }
    }

    /// Pops the request a reply answers; anything else means the engine
    /// lost track of the session.
    fn pop(&mut self, tag: u8, answers: impl Fn(&Expect) -> bool) -> Result<Expect, GatewayError> {
        match self.expected.front() {
            Some(front) if answers(front) => Ok(self.expected.pop_front().expect("front exists")),
            other => Err(lost_track(format!(
                "{} while expecting {}",
                tag_name(tag),
                other.map_or("nothing", Expect::name)
            ))),
        }
    }
}

impl Engine {
    /// Whether a message must be read whole before it is passed on: the
    /// ones the engine follows, and the ones a phase wants to rewrite.
    fn needs_body(&self, tag: u8) -> bool {
        match tag {
            be::ROW_DESCRIPTION
            | be::PARAMETER_DESCRIPTION
            | be::COMMAND_COMPLETE
            | be::ERROR_RESPONSE
            | be::READY_FOR_QUERY
            | be::COPY_IN_RESPONSE
            | be::COPY_OUT_RESPONSE
            | be::COPY_BOTH_RESPONSE => true,
            be::DATA_ROW => self.rewrite_rows && self.phases.wants_next_row(),
            be::COPY_DATA => self.copy == CopyMode::Out && self.phases.rewrites_copy_data(),
            be::FUNCTION_CALL_RESPONSE => self.phases.wants_function_results(),
            be::NOTICE_RESPONSE | be::NOTIFICATION => self.rewrite_text || self.watch_notices,
            _ => false,
        }
    }

    /// An error or notice with its text fields as the phases rewrite them.
    fn rewrite_notice(&mut self, tag: u8, body: &[u8]) -> Result<Option<BytesMut>, GatewayError> {
        if !self.rewrite_text {
            return Ok(None);
        }
        let phases = &mut self.phases;
        be::rewrite_notice_fields(tag, body, |field, text| {
            let source = if tag == be::ERROR_RESPONSE {
                ServerText::Error(field)
            } else {
                ServerText::Notice(field)
            };
            phases.rewrite_server_text(source, text)
        })
        .map_err(lost_track)
    }
}

/// Whether a CopyIn/CopyOutResponse announces binary data (its overall format byte).
fn copy_is_binary(body: &[u8]) -> bool {
    body.first() == Some(&1)
}

/// The body the client will get: the rewritten message's, or else the original.
fn as_sent<'a>(rewritten: &'a Option<BytesMut>, body: &'a [u8]) -> &'a [u8] {
    rewritten.as_ref().map_or(body, |message| &message[5..])
}

/// A CopyData message around `payload`.
fn copy_data(payload: &[u8]) -> bytes::Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 5);
    out.extend_from_slice(&[be::COPY_DATA]);
    out.extend_from_slice(&((payload.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out.freeze()
}
