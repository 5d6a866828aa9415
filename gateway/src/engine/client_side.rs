//! Client → server: every statement is judged before it is sent; refused
//! ones are swapped for a probe the server must fail.

use bytes::{Bytes, BytesMut};

use super::{
    client_violation, phases::Pending, stream_buf::Next, with_formats, CopyMode, Engine, Expect,
    Phases, Portal, Request, Statement, StreamBuf, Verdict, REFUSAL_PROBE_NAME, REFUSAL_PROBE_SQL,
};
use crate::protocol::{
    backend::GatewayError,
    frame::{tag_name, Header, MAX_INSPECTED_LEN, MAX_SMALL_MESSAGE_LEN},
    frontend::{self as fe, Target},
    sqlstate,
};

/// What the client direction needs next.
pub enum ClientStep {
    /// Read more (with room for a message of this total size, if one is
    /// being held whole).
    Read { hold_total: Option<usize> },
    /// A phase held the current statement: await this, then call again with
    /// the verdict.
    Hold(Pending),
    /// The client broke the protocol; the session ends with this error.
    Fatal(GatewayError),
}

impl Engine {
    /// Judges every complete client message in `s`. `decided` carries the
    /// verdict for a message that was held.
    pub fn process_client(
        &mut self,
        s: &mut StreamBuf,
        decided: &mut Option<Verdict>,
    ) -> ClientStep {
        loop {
            let (header, complete) = match s.next_message() {
                Err(e) => return ClientStep::Fatal(client_violation(e)),
                Ok(Next::Empty) => return ClientStep::Read { hold_total: None },
                Ok(Next::Message { header, complete }) => (header, complete),
            };
            if header.tag == fe::COPY_DATA || header.tag == fe::COPY_FAIL {
                // COPY FROM STDIN streams through: the server judges the data
                // against the COPY that was already allowed. A phase may read
                // it (the recording keeps what the client sent, up to caps).
                if header.tag == fe::COPY_DATA && self.copy == CopyMode::In {
                    let length = header.body_len();
                    let wanted =
                        length <= MAX_INSPECTED_LEN && self.phases.wants_copy_in_data(length);
                    if wanted && !complete {
                        return ClientStep::Read {
                            hold_total: Some(header.total),
                        };
                    }
                    self.phases.copied_in(wanted.then(|| s.body(&header)));
                }
                if header.tag == fe::COPY_FAIL {
                    self.copy = CopyMode::None;
                }
                s.pass(&header);
                continue;
            }
            let limit = match header.tag {
                fe::QUERY | fe::PARSE | fe::BIND | fe::FUNCTION_CALL => MAX_INSPECTED_LEN,
                _ => MAX_SMALL_MESSAGE_LEN,
            };
            if header.body_len() > limit {
                if limit == MAX_SMALL_MESSAGE_LEN {
                    return ClientStep::Fatal(client_violation(format!(
                        "message {} of {} bytes",
                        tag_name(header.tag),
                        header.total
                    )));
                }
                self.refuse_oversized(s, &header);
                continue;
            }
            if !complete {
                return ClientStep::Read {
                    hold_total: Some(header.total),
                };
            }
            match self.client_message(s, &header, decided) {
                Ok(None) => {}
                Ok(Some(pending)) => return ClientStep::Hold(pending),
                Err(e) => return ClientStep::Fatal(e),
            }
        }
    }

    /// Handles one complete message; returns a hold to wait for.
    fn client_message(
        &mut self,
        s: &mut StreamBuf,
        header: &Header,
        decided: &mut Option<Verdict>,
    ) -> Result<Option<Pending>, GatewayError> {
        let body = s.body(header);
        match header.tag {
            fe::QUERY => {
                let text = fe::decode_query(body).map_err(client_violation)?;
                let verdict = judge(&mut *self.phases, decided, &Request::Query { text });
                match verdict {
                    Verdict::Allow => {
                        self.expect(Expect::Query { refusal: None });
                        s.pass(header);
                    }
                    Verdict::Refuse(error) => self.refuse(s, header, error),
                    Verdict::Hold(pending) => return Ok(Some(pending)),
                }
            }
            fe::PARSE => {
                let parse = fe::decode_parse(body).map_err(client_violation)?;
                let request = Request::Parse {
                    name: parse.name,
                    text: parse.query,
                };
                let verdict = judge(&mut *self.phases, decided, &request);
                match verdict {
                    Verdict::Allow => {
                        if let Err(error) = self.remember_statement(parse.name, parse.query) {
                            self.refuse(s, header, error);
                            return Ok(None);
                        }
                        self.expect(Expect::Parse {
                            name: parse.name.to_owned(),
                        });
                        s.pass(header);
                    }
                    Verdict::Refuse(error) => self.refuse(s, header, error),
                    Verdict::Hold(pending) => return Ok(Some(pending)),
                }
            }
            fe::BIND => {
                let bind = fe::decode_bind(body).map_err(client_violation)?;
                self.phases.bound(bind.portal, &bind.parameters);
                let statement = self.statements.get(bind.statement);
                let portal = Portal {
                    statement: bind.statement.into(),
                    text: statement.map(|st| st.text.clone()),
                    columns: Default::default(),
                    described: false,
                };
                if let Some(columns) = statement.and_then(|st| st.columns.as_ref()) {
                    let _ = portal
                        .columns
                        .set(with_formats(columns, &bind.result_formats));
                }
                let name = bind.portal.to_owned();
                self.portals.insert(name.clone(), portal);
                self.expect(Expect::Bind { portal: name });
                s.pass(header);
            }
            fe::DESCRIBE => {
                let describe = fe::decode_describe(body).map_err(client_violation)?;
                let expect = match describe.target {
                    Target::Statement => Expect::DescribeStatement {
                        name: describe.name.to_owned(),
                    },
                    Target::Portal => {
                        let columns = match self.portals.get_mut(describe.name) {
                            Some(portal) => {
                                portal.described = true;
                                portal.columns.clone()
                            }
                            None => Default::default(),
                        };
                        Expect::DescribePortal {
                            columns,
                            swallow: false,
                        }
                    }
                };
                self.expect(expect);
                s.pass(header);
            }
            fe::EXECUTE => {
                let execute = fe::decode_execute(body).map_err(client_violation)?;
                let portal = self.portals.get(execute.portal);
                let request = Request::Execute {
                    portal: execute.portal,
                    statement: portal.map(|p| &*p.statement),
                    text: portal.and_then(|p| p.text.as_deref()),
                };
                let verdict = judge(&mut *self.phases, decided, &request);
                match verdict {
                    Verdict::Allow => {
                        let portal = self.portals.get(execute.portal);
                        let columns = portal.map(|p| p.columns.clone()).unwrap_or_default();
                        let needs_describe = self.rewrite_rows
                            && portal.is_some_and(|p| !p.described && p.columns.get().is_none());
                        if needs_describe {
                            // Rows will need their columns; ask the server
                            // first and keep its answer from the client.
                            let mut describe = BytesMut::new();
                            fe::encode_describe_portal(&mut describe, execute.portal);
                            s.insert(describe.freeze());
                            self.expect(Expect::DescribePortal {
                                columns: columns.clone(),
                                swallow: true,
                            });
                        }
                        self.expect(Expect::Execute {
                            columns,
                            announced: false,
                        });
                        s.pass(header);
                    }
                    Verdict::Refuse(error) => self.refuse(s, header, error),
                    Verdict::Hold(pending) => return Ok(Some(pending)),
                }
            }
            fe::CLOSE => {
                let close = fe::decode_close(body).map_err(client_violation)?;
                match close.target {
                    Target::Statement => self.forget_statement(close.name),
                    Target::Portal => drop(self.portals.remove(close.name)),
                }
                self.expect(Expect::Close);
                s.pass(header);
            }
            fe::SYNC => {
                // The server ignores Sync while it waits for COPY data.
                if self.copy != CopyMode::In {
                    self.server_skipping = false;
                    self.expect(Expect::Sync);
                }
                s.pass(header);
            }
            fe::FLUSH => s.pass(header),
            fe::FUNCTION_CALL => {
                let call = fe::decode_function_call(body).map_err(client_violation)?;
                let request = Request::FunctionCall(call);
                let verdict = judge(&mut *self.phases, decided, &request);
                match verdict {
                    Verdict::Allow => {
                        self.expect(Expect::FunctionCall { refusal: None });
                        s.pass(header);
                    }
                    Verdict::Refuse(error) => self.refuse(s, header, error),
                    Verdict::Hold(pending) => return Ok(Some(pending)),
                }
            }
            fe::COPY_DONE => {
                self.copy = CopyMode::None;
                s.pass(header);
            }
            fe::TERMINATE => {
                self.terminated = true;
                s.pass(header);
            }
            other => {
                return Err(client_violation(format!(
                    "unexpected message type {}",
                    tag_name(other)
                )))
            }
        }
        Ok(None)
    }

    /// Replaces the current (complete) message with a probe the server must
    /// fail, and remembers to show the client `error` instead of the
    /// server's.
    fn refuse(&mut self, s: &mut StreamBuf, header: &Header, error: GatewayError) {
        let probe = self.refusal_probe(header.tag, error);
        s.replace(header, probe);
    }

    /// A message too large to judge is refused without being held: its
    /// bytes are dropped as they arrive and the probe goes in its place.
    fn refuse_oversized(&mut self, s: &mut StreamBuf, header: &Header) {
        let error = GatewayError::error(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!(
                "cordon: a {} message of {} bytes is larger than the gateway inspects ({} MiB); it was not run",
                message_name(header.tag),
                header.total,
                MAX_INSPECTED_LEN >> 20
            ),
        );
        let probe = self.refusal_probe(header.tag, error);
        s.drop_message(header);
        s.insert(probe);
    }

    /// The probe for a refused message of type `tag`. Query and FunctionCall
    /// are answered by an error and ReadyForQuery, so a failing Query stands
    /// in for them; in the extended protocol a failing Parse does (an error,
    /// then nothing until Sync).
    fn refusal_probe(&mut self, tag: u8, error: GatewayError) -> Bytes {
        tracing::info!(sqlstate = error.sqlstate, reason = %error.message, "statement refused");
        let mut probe = BytesMut::new();
        match tag {
            fe::QUERY => {
                fe::encode_query(&mut probe, REFUSAL_PROBE_SQL);
                self.expect(Expect::Query {
                    refusal: Some(error),
                });
            }
            fe::FUNCTION_CALL => {
                fe::encode_query(&mut probe, REFUSAL_PROBE_SQL);
                self.expect(Expect::FunctionCall {
                    refusal: Some(error),
                });
            }
            _ => {
                fe::encode_parse(&mut probe, REFUSAL_PROBE_NAME, REFUSAL_PROBE_SQL);
                self.expect(Expect::Refused(error));
            }
        }
        probe.freeze()
    }
}

/// Prepared statements one session may hold, and the total size of their
/// text: the engine keeps each one's text and shape, so a client must not
/// be able to make that grow without bound.
pub const MAX_STATEMENTS: usize = 10_000;
pub const MAX_STATEMENT_BYTES: usize = 64 << 20;

impl Engine {
    fn remember_statement(&mut self, name: &str, text: &str) -> Result<(), GatewayError> {
        let replaced = self.statements.get(name).map_or(0, |st| st.text.len());
        let count = self.statements.len() + usize::from(!self.statements.contains_key(name));
        let bytes = self.statement_bytes - replaced + text.len();
        if count > MAX_STATEMENTS || bytes > MAX_STATEMENT_BYTES {
            return Err(GatewayError::error(
                sqlstate::PROGRAM_LIMIT_EXCEEDED,
                format!(
                    "cordon: this session already holds {} prepared statements ({} KiB of text); \
                     the gateway allows {MAX_STATEMENTS} and {} MiB",
                    self.statements.len(),
                    self.statement_bytes >> 10,
                    MAX_STATEMENT_BYTES >> 20
                ),
            )
            .with_hint("close prepared statements the session no longer needs"));
        }
        self.statement_bytes = bytes;
        self.statements.insert(
            name.to_owned(),
            Statement {
                text: text.into(),
                columns: None,
            },
        );
        Ok(())
    }

    pub(super) fn forget_statement(&mut self, name: &str) {
        if let Some(statement) = self.statements.remove(name) {
            self.statement_bytes -= statement.text.len();
        }
    }
}

/// The verdict on a request: classified now, or the decision a hold on it
/// came to (which the phases are told).
fn judge(phases: &mut dyn Phases, decided: &mut Option<Verdict>, request: &Request<'_>) -> Verdict {
    match decided.take() {
        Some(verdict) => {
            phases.resolved(request, &verdict);
            verdict
        }
        None => phases.classify(request),
    }
}

fn message_name(tag: u8) -> &'static str {
    match tag {
        fe::QUERY => "Query",
        fe::PARSE => "Parse",
        fe::BIND => "Bind",
        fe::FUNCTION_CALL => "FunctionCall",
        _ => "client",
    }
}
