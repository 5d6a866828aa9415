//! The engine without I/O: client and server messages in, the bytes each
//! side would receive out. The server's replies are written by hand the way
//! PostgreSQL answers, including its skipping after an extended-protocol error.

use bytes::{BufMut, BytesMut};
use postgres_protocol::message::frontend as fe;

use super::*;
use crate::protocol::{backend::GatewayError, frame::peek_header, server_messages::ErrorFields};

/// Refuses statements containing `/*refuse*/` (at Query or Parse) and
/// Executes of statements containing `/*refuse-execute*/`; rewrites text
/// cells equal to `secret` into `masked` when told to rewrite, and then also
/// reads COPY FROM STDIN data of up to 8 bytes.
struct MarkerPhases {
    rewrite: bool,
    seen_columns: Vec<usize>,
    copied_in: CopiedIn,
    /// The notices' messages and the notifications, as the phase was given them.
    notices: Log<String>,
}

/// What a phase was given, in order, for the test to read.
type Log<T> = std::sync::Arc<std::sync::Mutex<Vec<T>>>;

/// What `copied_in` was given, in order.
type CopiedIn = Log<Option<Vec<u8>>>;

fn refusal(text: &str) -> Verdict {
    Verdict::Refuse(GatewayError::error(
        "42501",
        format!("test refused: {text}"),
    ))
}

impl Phases for MarkerPhases {
    fn classify(&mut self, request: &Request<'_>) -> Verdict {
        match request {
            Request::Query { text } | Request::Parse { text, .. }
                if text.contains("/*refuse*/") =>
            {
                refusal(text)
            }
            Request::Execute {
                text: Some(text), ..
            } if text.contains("/*refuse-execute*/") => refusal(text),
            _ => Verdict::Allow,
        }
    }

    fn result_description(&mut self, columns: &Columns) {
        self.seen_columns.push(columns.len());
    }

    fn rewrites_rows(&self) -> bool {
        self.rewrite
    }

    fn rewrite_row(
        &mut self,
        _columns: Option<&Columns>,
        cells: &[Option<&[u8]>],
        out: &mut BytesMut,
    ) -> bool {
        if !cells.iter().any(|c| *c == Some(&b"secret"[..])) {
            return false;
        }
        let cells = cells.iter().map(|c| {
            if *c == Some(&b"secret"[..]) {
                Some(&b"masked"[..])
            } else {
                *c
            }
        });
        crate::protocol::server_messages::encode_data_row(out, cells);
        true
    }

    fn rewrites_copy_data(&self) -> bool {
        self.rewrite
    }

    fn rewrite_copy_data(&mut self, data: &[u8], out: &mut Vec<u8>) -> Result<bool, GatewayError> {
        let text = String::from_utf8_lossy(data);
        if !text.contains("secret") {
            return Ok(false);
        }
        out.extend_from_slice(text.replace("secret", "masked").as_bytes());
        Ok(true)
    }

    fn wants_copy_in_data(&self, length: usize) -> bool {
        self.rewrite && length <= 8
    }

    fn wants_notices(&self) -> bool {
        self.rewrite
    }

    fn notice(&mut self, fields: &ErrorFields) {
        let mut log = self.notices.lock().expect("not poisoned");
        log.push(fields.message.clone());
    }

    fn notification(&mut self, _pid: i32, channel: &str, payload: &str) {
        let mut log = self.notices.lock().expect("not poisoned");
        log.push(format!("{channel}: {payload}"));
    }

    fn copied_in(&mut self, data: Option<&[u8]>) {
        let mut log = self.copied_in.lock().expect("not poisoned");
        log.push(data.map(<[u8]>::to_vec));
    }

    fn wants_function_results(&self) -> bool {
        self.rewrite
    }

    fn function_result(&mut self, value: Option<&[u8]>, out: &mut BytesMut) -> bool {
        if value != Some(&b"secret"[..]) {
            return false;
        }
        crate::protocol::server_messages::encode_function_call_response(out, Some(b"masked"));
        true
    }

    fn rewrites_server_text(&self) -> bool {
        self.rewrite
    }

    fn rewrite_server_text(&mut self, _source: ServerText, text: &str) -> Option<String> {
        text.contains("secret")
            .then(|| text.replace("secret", "masked"))
    }
}

struct Harness {
    engine: Engine,
    client: StreamBuf,
    server: StreamBuf,
    copied_in: CopiedIn,
    notices: Log<String>,
}

impl Harness {
    fn new(rewrite: bool) -> Self {
        let copied_in = CopiedIn::default();
        let notices = Log::default();
        Self {
            engine: Engine::new(Box::new(MarkerPhases {
                rewrite,
                seen_columns: Vec::new(),
                copied_in: copied_in.clone(),
                notices: notices.clone(),
            })),
            client: StreamBuf::default(),
            server: StreamBuf::default(),
            copied_in,
            notices,
        }
    }

    /// Feeds client bytes; returns the message types sent to the server.
    fn client_sends(&mut self, bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        self.client.buf.extend_from_slice(bytes);
        match self.engine.process_client(&mut self.client, &mut None) {
            ClientStep::Read { .. } => {}
            ClientStep::Hold(_) => panic!("unexpected hold"),
            ClientStep::Fatal(e) => panic!("fatal: {}", e.message),
        }
        self.client.split_judged();
        messages(self.client.out.drain(..).flat_map(|b| b.to_vec()).collect())
    }

    /// Feeds server bytes; returns the messages sent to the client.
    fn server_sends(&mut self, bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
        self.server.buf.extend_from_slice(bytes);
        match self.engine.process_server(&mut self.server) {
            ServerStep::Read { .. } => {}
            ServerStep::Fatal(e) => panic!("fatal: {}", e.message),
        }
        self.server.split_judged();
        messages(self.server.out.drain(..).flat_map(|b| b.to_vec()).collect())
    }
}

fn messages(bytes: Vec<u8>) -> Vec<(u8, Vec<u8>)> {
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    while let Some(header) = peek_header(rest) {
        let header = header.unwrap();
        out.push((header.tag, rest[5..header.total].to_vec()));
        rest = &rest[header.total..];
    }
    assert!(rest.is_empty(), "a partial message was sent");
    out
}

fn tags(messages: &[(u8, Vec<u8>)]) -> String {
    messages.iter().map(|(t, _)| *t as char).collect()
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![tag];
    b.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    b.extend_from_slice(body);
    b
}

fn query(text: &str) -> Vec<u8> {
    let mut b = BytesMut::new();
    fe::query(text, &mut b).unwrap();
    b.to_vec()
}

fn parse(name: &str, text: &str) -> Vec<u8> {
    let mut b = BytesMut::new();
    fe::parse(name, text, [], &mut b).unwrap();
    b.to_vec()
}

fn bind(portal: &str, statement: &str, result_formats: &[i16]) -> Vec<u8> {
    let mut b = BytesMut::new();
    fe::bind(
        portal,
        statement,
        [],
        Vec::<Option<&[u8]>>::new(),
        |_: Option<&[u8]>, _: &mut BytesMut| Ok(postgres_protocol::IsNull::Yes),
        result_formats.iter().copied(),
        &mut b,
    )
    .map_err(|_| "bind")
    .unwrap();
    b.to_vec()
}

fn execute(portal: &str) -> Vec<u8> {
    let mut b = BytesMut::new();
    fe::execute(portal, 0, &mut b).unwrap();
    b.to_vec()
}

fn describe(kind: u8, name: &str) -> Vec<u8> {
    let mut b = BytesMut::new();
    fe::describe(kind, name, &mut b).unwrap();
    b.to_vec()
}

fn sync() -> Vec<u8> {
    let mut b = BytesMut::new();
    fe::sync(&mut b);
    b.to_vec()
}

fn ready(status: u8) -> Vec<u8> {
    msg(b'Z', &[status])
}

fn server_error(sqlstate: &str) -> Vec<u8> {
    msg(
        b'E',
        format!("SERROR\0VERROR\0C{sqlstate}\0Mserver says no\0\0").as_bytes(),
    )
}

fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', format!("{tag}\0").as_bytes())
}

fn row_description(names: &[&str]) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i16(names.len() as i16);
    for name in names {
        b.put_slice(name.as_bytes());
        b.put_u8(0);
        b.put_u32(16384);
        b.put_i16(1);
        b.put_u32(25);
        b.put_i16(-1);
        b.put_i32(-1);
        b.put_i16(0);
    }
    msg(b'T', &b)
}

fn data_row(values: &[&str]) -> Vec<u8> {
    let mut b = BytesMut::new();
    crate::protocol::server_messages::encode_data_row(
        &mut b,
        values.iter().map(|v| Some(v.as_bytes())),
    );
    b.to_vec()
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn error_text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[test]
fn allowed_traffic_passes_byte_for_byte() {
    let mut h = Harness::new(false);
    let q = cat(&[query("SELECT 1"), query("SELECT 2")]);
    let sent = h.client_sends(&q);
    assert_eq!(
        sent.iter()
            .map(|(t, b)| msg(*t, b))
            .collect::<Vec<_>>()
            .concat(),
        q
    );
    let reply = cat(&[
        row_description(&["a"]),
        data_row(&["1"]),
        complete("SELECT 1"),
        ready(b'I'),
    ]);
    let got = h.server_sends(&reply);
    assert_eq!(tags(&got), "TDCZ");
    assert_eq!(
        h.engine.outstanding(),
        1,
        "the second query is still running"
    );
}

#[test]
fn a_refused_query_in_a_transaction_fails_the_transaction_on_the_server() {
    let mut h = Harness::new(false);
    h.client_sends(&query("BEGIN"));
    h.server_sends(&cat(&[complete("BEGIN"), ready(b'T')]));
    let sent = h.client_sends(&query("DELETE FROM t /*refuse*/"));
    assert_eq!(sent.len(), 1);
    let sent_text = error_text(&sent[0].1);
    assert!(
        sent_text.contains(REFUSAL_PROBE_SQL),
        "the server gets a probe: {sent_text}"
    );
    assert!(
        !sent_text.contains("DELETE"),
        "the refused text never reaches the server"
    );
    // The server fails the probe and the transaction.
    let got = h.server_sends(&cat(&[server_error("42601"), ready(b'E')]));
    assert_eq!(tags(&got), "EZ");
    assert!(
        error_text(&got[0].1).contains("test refused"),
        "{}",
        error_text(&got[0].1)
    );
    assert_eq!(got[1].1, b"E");
    assert_eq!(h.engine.transaction_status(), b'E');
    assert_eq!(h.engine.state(), SessionState::FailedTransaction);
}

#[test]
fn a_refused_parse_mid_pipeline_skips_the_rest_until_sync() {
    let mut h = Harness::new(false);
    let pipeline = cat(&[
        parse("", "INSERT INTO t VALUES (1)"),
        bind("", "", &[]),
        execute(""),
        parse("", "DELETE FROM t /*refuse*/"),
        bind("", "", &[]),
        execute(""),
        sync(),
    ]);
    let sent = h.client_sends(&pipeline);
    assert_eq!(tags(&sent), "PBEPBES");
    assert!(error_text(&sent[3].1).contains(REFUSAL_PROBE_SQL));
    // PostgreSQL: ParseComplete, BindComplete, CommandComplete, the probe's
    // error, then nothing until Sync.
    let got = h.server_sends(&cat(&[
        msg(b'1', b""),
        msg(b'2', b""),
        complete("INSERT 0 1"),
        server_error("42601"),
        ready(b'I'),
    ]));
    assert_eq!(tags(&got), "12CEZ");
    assert!(error_text(&got[3].1).contains("test refused"));
    assert_eq!(h.engine.outstanding(), 0);
    // The session goes on in step.
    h.client_sends(&query("SELECT 1"));
    assert_eq!(
        tags(&h.server_sends(&cat(&[complete("SELECT 1"), ready(b'I')]))),
        "CZ"
    );
    assert_eq!(h.engine.outstanding(), 0);
}

#[test]
fn an_error_before_the_refusal_is_the_one_the_client_sees() {
    let mut h = Harness::new(false);
    h.client_sends(&cat(&[
        parse("", "SELECT 1/0"),
        bind("", "", &[]),
        execute(""),
        parse("", "x /*refuse*/"),
        sync(),
    ]));
    // The server fails the Execute and skips the probe.
    let got = h.server_sends(&cat(&[
        msg(b'1', b""),
        msg(b'2', b""),
        server_error("22012"),
        ready(b'I'),
    ]));
    assert_eq!(tags(&got), "12EZ");
    assert!(error_text(&got[2].1).contains("22012"));
    assert_eq!(h.engine.outstanding(), 0);
}

#[test]
fn a_refused_execute_of_an_earlier_prepared_statement() {
    let mut h = Harness::new(false);
    h.client_sends(&cat(&[
        parse("s1", "SELECT /*refuse-execute*/ 1"),
        describe(b'S', "s1"),
        sync(),
    ]));
    let got = h.server_sends(&cat(&[
        msg(b'1', b""),
        msg(b't', b"\0\0"),
        row_description(&["a"]),
        ready(b'I'),
    ]));
    assert_eq!(tags(&got), "1tTZ");
    let sent = h.client_sends(&cat(&[bind("p", "s1", &[]), execute("p"), sync()]));
    assert_eq!(tags(&sent), "BPS", "Execute swapped for the probe");
    let got = h.server_sends(&cat(&[msg(b'2', b""), server_error("42601"), ready(b'I')]));
    assert_eq!(tags(&got), "2EZ");
    assert!(error_text(&got[1].1).contains("test refused"));
}

#[test]
fn rows_of_a_prepared_statement_meet_the_columns_described_long_ago() {
    let mut h = Harness::new(true);
    h.client_sends(&cat(&[
        parse("s1", "SELECT email FROM t"),
        describe(b'S', "s1"),
        sync(),
    ]));
    h.server_sends(&cat(&[
        msg(b'1', b""),
        msg(b't', b"\0\0"),
        row_description(&["email"]),
        ready(b'I'),
    ]));
    // Much later: Bind with binary results, Execute.
    let sent = h.client_sends(&cat(&[bind("", "s1", &[1]), execute(""), sync()]));
    assert_eq!(tags(&sent), "BES", "columns known: no Describe injected");
    let got = h.server_sends(&cat(&[
        msg(b'2', b""),
        data_row(&["secret"]),
        data_row(&["public"]),
        complete("SELECT 2"),
        ready(b'I'),
    ]));
    assert_eq!(tags(&got), "2DDCZ");
    assert!(error_text(&got[1].1).contains("masked"));
    assert!(error_text(&got[2].1).contains("public"));
}

#[test]
fn an_execute_with_unknown_columns_gets_a_describe_the_client_never_sees() {
    let mut h = Harness::new(true);
    let sent = h.client_sends(&cat(&[
        parse("", "SELECT email FROM t"),
        bind("", "", &[]),
        execute(""),
        sync(),
    ]));
    assert_eq!(
        tags(&sent),
        "PBDES",
        "a Describe (portal) before the Execute"
    );
    let got = h.server_sends(&cat(&[
        msg(b'1', b""),
        msg(b'2', b""),
        row_description(&["email"]),
        data_row(&["secret"]),
        complete("SELECT 1"),
        ready(b'I'),
    ]));
    assert_eq!(
        tags(&got),
        "12DCZ",
        "the injected Describe's answer is swallowed"
    );
    assert!(error_text(&got[2].1).contains("masked"));
}

#[test]
fn syncs_behind_a_copy_from_stdin_are_ignored_like_the_server_does() {
    let mut h = Harness::new(false);
    h.client_sends(&cat(&[
        parse("", "COPY t FROM STDIN"),
        bind("", "", &[]),
        execute(""),
        sync(),
    ]));
    let got = h.server_sends(&cat(&[
        msg(b'1', b""),
        msg(b'2', b""),
        msg(b'G', b"\0\0\0"),
    ]));
    assert_eq!(tags(&got), "12G");
    h.client_sends(&cat(&[msg(b'd', b"1\n"), msg(b'c', b""), sync()]));
    let got = h.server_sends(&cat(&[complete("COPY 1"), ready(b'I')]));
    assert_eq!(tags(&got), "CZ");
    assert_eq!(h.engine.outstanding(), 0);
}

#[test]
fn copy_from_stdin_data_a_phase_wants_is_read_whole_and_passed_unchanged() {
    let mut h = Harness::new(true);
    h.client_sends(&query("COPY t FROM STDIN"));
    // The server asks for text data: one overall format byte, no columns.
    h.server_sends(&msg(b'G', b"\0\0\0"));
    let small = msg(b'd', b"1\tab\n");
    let large = msg(b'd', b"2\tlonger than eight\n");
    // Cut inside the small message: the engine waits for the rest of it.
    let (head, tail) = small.split_at(7);
    assert!(h.client_sends(head).is_empty(), "held until whole");
    let mut rest = tail.to_vec();
    rest.extend_from_slice(&large);
    rest.extend_from_slice(&msg(b'c', b""));
    let got = h.client_sends(&rest);
    assert_eq!(tags(&got), "ddc");
    assert_eq!(got[0].1, b"1\tab\n");
    assert_eq!(got[1].1, b"2\tlonger than eight\n");
    let seen = h.copied_in.lock().expect("not poisoned").clone();
    assert_eq!(seen, vec![Some(b"1\tab\n".to_vec()), None]);
    let got = h.server_sends(&cat(&[complete("COPY 2"), ready(b'I')]));
    assert_eq!(tags(&got), "CZ");
    assert_eq!(h.engine.outstanding(), 0);
}

#[test]
fn unknown_client_messages_end_the_session() {
    let mut h = Harness::new(false);
    h.client.buf.extend_from_slice(&msg(b'?', b""));
    match h.engine.process_client(&mut h.client, &mut None) {
        ClientStep::Fatal(e) => assert_eq!(e.sqlstate, "08P01"),
        _ => panic!("expected a protocol violation"),
    }
}

#[test]
fn a_reply_nobody_asked_for_is_not_followed_blindly() {
    let mut h = Harness::new(false);
    h.server.buf.extend_from_slice(&msg(b'1', b""));
    assert!(matches!(
        h.engine.process_server(&mut h.server),
        ServerStep::Fatal(_)
    ));
}

#[test]
fn a_statement_too_large_to_inspect_is_refused_as_it_streams_by() {
    let mut h = Harness::new(false);
    let body_len = crate::protocol::frame::MAX_INSPECTED_LEN + 1;
    let mut head = vec![b'Q'];
    head.extend_from_slice(&((body_len + 4) as u32).to_be_bytes());
    head.extend_from_slice(b"SELECT ");
    let sent = h.client_sends(&head);
    assert_eq!(tags(&sent), "Q", "the probe goes at once");
    assert!(error_text(&sent[0].1).contains(REFUSAL_PROBE_SQL));
    // The rest of the statement is dropped as it arrives, never held.
    let chunk = vec![b' '; 1 << 20];
    let mut left = body_len - 7;
    while left > 0 {
        let n = left.min(chunk.len());
        assert!(h.client_sends(&chunk[..n]).is_empty());
        assert!(h.client.buf.capacity() < 4 << 20, "never held whole");
        left -= n;
    }
    assert_eq!(
        tags(&h.client_sends(&query("SELECT 1"))),
        "Q",
        "back in step"
    );
    let got = h.server_sends(&cat(&[server_error("42601"), ready(b'I')]));
    assert_eq!(tags(&got), "EZ");
    assert!(
        error_text(&got[0].1).contains("C54000"),
        "{}",
        error_text(&got[0].1)
    );
}

#[test]
fn session_states_follow_transactions_and_copy_out() {
    let mut h = Harness::new(false);
    assert_eq!(h.engine.state(), SessionState::Idle);
    h.client_sends(&query("BEGIN"));
    assert_eq!(h.engine.state(), SessionState::Busy);
    h.server_sends(&cat(&[complete("BEGIN"), ready(b'T')]));
    assert_eq!(h.engine.state(), SessionState::InTransaction);
    h.client_sends(&query("COPY t TO STDOUT"));
    h.server_sends(&msg(b'H', b"\0\0\0"));
    assert_eq!(h.engine.state(), SessionState::CopyOut);
    let got = h.server_sends(&cat(&[
        msg(b'd', b"1\n"),
        msg(b'c', b""),
        complete("COPY 1"),
        ready(b'T'),
    ]));
    assert_eq!(tags(&got), "dcCZ");
    assert_eq!(h.engine.state(), SessionState::InTransaction);
}

#[test]
fn prepared_statements_per_session_are_capped() {
    let mut h = Harness::new(false);
    let limit = client_side::MAX_STATEMENTS;
    let many: Vec<u8> = (0..limit)
        .flat_map(|i| parse(&format!("s{i}"), "SELECT 1"))
        .collect();
    let sent = h.client_sends(&many);
    assert_eq!(sent.len(), limit);
    // Re-preparing an existing name replaces it; a new one is refused.
    assert!(!error_text(&h.client_sends(&parse("s0", "SELECT 2"))[0].1).contains(REFUSAL_PROBE_SQL));
    let refused = h.client_sends(&cat(&[parse("one_too_many", "SELECT 1"), sync()]));
    assert!(error_text(&refused[0].1).contains(REFUSAL_PROBE_SQL));
    let replies: Vec<u8> = (0..=limit).flat_map(|_| msg(b'1', b"")).collect();
    h.server_sends(&replies);
    let got = h.server_sends(&cat(&[server_error("42601"), ready(b'I')]));
    assert!(
        error_text(&got[0].1).contains("C54000"),
        "{}",
        error_text(&got[0].1)
    );
    // Closing one makes room again.
    h.client_sends(&cat(&[{
        let mut b = BytesMut::new();
        fe::close(b'S', "s1", &mut b).unwrap();
        b.to_vec()
    }]));
    assert!(
        !error_text(&h.client_sends(&parse("fits_again", "SELECT 1"))[0].1)
            .contains(REFUSAL_PROBE_SQL)
    );
}

#[test]
fn copy_rows_errors_notices_and_notifications_pass_through_the_phases() {
    let mut h = Harness::new(true);
    h.client_sends(&query("COPY t TO STDOUT"));
    let copy = cat(&[
        msg(b'H', &[0, 0, 1, 0, 0]),
        msg(b'd', b"1\tsecret\n"),
        msg(b'd', b"2\tplain\n"),
        msg(b'c', b""),
        complete("COPY 2"),
        ready(b'I'),
    ]);
    let got = h.server_sends(&copy);
    assert_eq!(tags(&got), "HddcCZ");
    assert_eq!(got[1].1, b"1\tmasked\n");
    assert_eq!(got[2].1, b"2\tplain\n");

    h.client_sends(&query("SELECT 1"));
    let noisy = cat(&[
        msg(b'N', b"SNOTICE\0VNOTICE\0C00000\0Mthe secret is out\0\0"),
        msg(b'A', b"\0\0\0\x07chan\0payload secret\0"),
        msg(
            b'E',
            b"SERROR\0VERROR\0C23514\0Mno\0DFailing row contains (secret).\0\0",
        ),
        ready(b'I'),
    ]);
    let got = h.server_sends(&noisy);
    assert_eq!(tags(&got), "NAEZ");
    assert_eq!(
        got[0].1,
        b"SNOTICE\0VNOTICE\0C00000\0Mthe masked is out\0\0"
    );
    assert_eq!(got[1].1, b"\0\0\0\x07chan\0payload masked\0");
    // The phase saw the notice and the notification as the client did: rewritten.
    let notices = h.notices.lock().expect("not poisoned").clone();
    assert_eq!(notices, ["the masked is out", "chan: payload masked"]);
    assert_eq!(
        got[2].1,
        b"SERROR\0VERROR\0C23514\0Mno\0DFailing row contains (masked).\0\0"
    );
}

#[test]
fn without_rewriting_phases_copy_and_notices_pass_byte_for_byte() {
    let mut h = Harness::new(false);
    h.client_sends(&query("COPY t TO STDOUT"));
    let bytes = cat(&[
        msg(b'H', &[0, 0, 1, 0, 0]),
        msg(b'd', b"1\tsecret\n"),
        msg(b'N', b"SNOTICE\0VNOTICE\0C00000\0Msecret\0\0"),
        msg(b'c', b""),
        complete("COPY 1"),
        ready(b'I'),
    ]);
    let got = h.server_sends(&bytes);
    let passed: Vec<u8> = got.iter().flat_map(|(t, b)| msg(*t, b)).collect();
    assert_eq!(passed, bytes);
}

/// A FunctionCall of `oid` with no arguments and a text result.
fn function_call(oid: u32) -> Vec<u8> {
    let mut body = oid.to_be_bytes().to_vec();
    body.extend(0i16.to_be_bytes());
    body.extend(0i16.to_be_bytes());
    body.extend(0i16.to_be_bytes());
    msg(b'F', &body)
}

fn function_call_response(value: &[u8]) -> Vec<u8> {
    let mut body = (value.len() as i32).to_be_bytes().to_vec();
    body.extend(value);
    msg(b'V', &body)
}

#[test]
fn a_phase_may_rewrite_a_fast_path_calls_result() {
    for rewrite in [false, true] {
        let mut h = Harness::new(rewrite);
        assert_eq!(tags(&h.client_sends(&function_call(1234))), "F");
        for (value, expected) in [(&b"secret"[..], &b"masked"[..]), (b"public", b"public")] {
            let sent = h.server_sends(&cat(&[function_call_response(value), ready(b'I')]));
            assert_eq!(tags(&sent), "VZ");
            let expected = if rewrite { expected } else { value };
            assert_eq!(
                sent[0].1,
                function_call_response(expected)[5..],
                "rewrite {rewrite}"
            );
            if value == b"secret" {
                assert_eq!(tags(&h.client_sends(&function_call(1234))), "F");
            }
        }
    }
}
