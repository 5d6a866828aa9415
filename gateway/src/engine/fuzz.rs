//! Property tests: arbitrary and mutated message sequences, cut at random
//! points and interleaved between the two directions, never make the engine
//! panic, and its buffers stay proportional to what actually arrived.

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::protocol::{frontend as fe, server_messages as be};

/// A test phase that refuses, rewrites and holds nothing, but does look at
/// everything (rows included), so every decoding path runs.
struct Curious;

impl Phases for Curious {
    fn classify(&mut self, request: &Request<'_>) -> Verdict {
        match request {
            Request::Query { text } | Request::Parse { text, .. } if text.contains('!') => {
                Verdict::Refuse(crate::protocol::backend::GatewayError::error(
                    "42501", "refused",
                ))
            }
            _ => Verdict::Allow,
        }
    }

    fn rewrites_rows(&self) -> bool {
        true
    }

    fn rewrite_row(
        &mut self,
        _c: Option<&Columns>,
        cells: &[Option<&[u8]>],
        out: &mut BytesMut,
    ) -> bool {
        be::encode_data_row(out, cells.iter().copied());
        true
    }

    fn wants_copy_in_data(&self, length: usize) -> bool {
        length < 64
    }
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut b = vec![tag];
    b.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    b.extend_from_slice(body);
    b
}

fn cstr(s: &str) -> Vec<u8> {
    let mut b = s.as_bytes().to_vec();
    b.push(0);
    b
}

fn client_message() -> impl Strategy<Value = Vec<u8>> {
    let name = "[a-z!]{0,3}";
    prop_oneof![
        name.prop_map(|t| {
            let mut b = BytesMut::new();
            fe::encode_query(&mut b, &t);
            b.to_vec()
        }),
        (name, name).prop_map(|(n, t)| {
            let mut b = BytesMut::new();
            fe::encode_parse(&mut b, &n, &t);
            b.to_vec()
        }),
        (name, name, prop::collection::vec(0i16..2, 0..3)).prop_map(|(p, s, formats)| {
            let mut body = cstr(&p);
            body.extend(cstr(&s));
            body.extend([0, 0, 0, 0]);
            body.extend((formats.len() as i16).to_be_bytes());
            for f in formats {
                body.extend(f.to_be_bytes());
            }
            frame(b'B', &body)
        }),
        (prop::sample::select(vec![b'S', b'P']), name).prop_map(|(k, n)| {
            let mut b = vec![k];
            b.extend(cstr(&n));
            frame(b'D', &b)
        }),
        (prop::sample::select(vec![b'S', b'P']), name).prop_map(|(k, n)| {
            let mut b = vec![k];
            b.extend(cstr(&n));
            frame(b'C', &b)
        }),
        name.prop_map(|p| {
            let mut b = cstr(&p);
            b.extend(0i32.to_be_bytes());
            frame(b'E', &b)
        }),
        Just(frame(b'S', b"")),
        Just(frame(b'H', b"")),
        Just(frame(b'F', &[0, 0, 0, 1, 0, 0, 0, 0, 0, 0])),
        prop::collection::vec(any::<u8>(), 0..20).prop_map(|d| frame(b'd', &d)),
        Just(frame(b'c', b"")),
        Just(frame(b'f', b"no\0")),
        prop::collection::vec(any::<u8>(), 0..12),
    ]
}

fn server_message() -> impl Strategy<Value = Vec<u8>> {
    let row_description = (0i16..3).prop_map(|n| {
        let mut b = n.to_be_bytes().to_vec();
        for _ in 0..n {
            b.extend(cstr("c"));
            b.extend([0u8; 18]);
        }
        frame(b'T', &b)
    });
    prop_oneof![
        prop::sample::select(vec![
            b'1', b'2', b'3', b'n', b'I', b's', b'c', b'N', b'A', b'S', b'V'
        ])
        .prop_map(|t| frame(t, b"")),
        row_description,
        Just(frame(b't', &[0, 1, 0, 0, 0, 23])),
        prop::collection::vec(
            prop::option::of(prop::collection::vec(any::<u8>(), 0..6)),
            0..3
        )
        .prop_map(|cells| {
            let mut b = BytesMut::new();
            be::encode_data_row(&mut b, cells.iter().map(|c| c.as_deref()));
            b.to_vec()
        }),
        Just(frame(b'C', b"SELECT 1\0")),
        prop::sample::select(vec!["ERROR", "FATAL"])
            .prop_map(|s| frame(b'E', format!("V{s}\0C42601\0Mx\0\0").as_bytes())),
        prop::sample::select(vec![b'I', b'T', b'E', b'?']).prop_map(|s| frame(b'Z', &[s])),
        prop::sample::select(vec![b'G', b'H']).prop_map(|t| frame(t, &[0, 0, 0])),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(|d| frame(b'd', &d)),
        prop::collection::vec(any::<u8>(), 0..12),
    ]
}

/// One step of a session: bytes from one side, cut where the network might.
#[derive(Debug, Clone)]
enum Step {
    Client(Vec<u8>),
    Server(Vec<u8>),
}

fn session() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        prop::collection::vec(client_message(), 1..6).prop_map(|m| Step::Client(m.concat())),
        prop::collection::vec(server_message(), 1..6).prop_map(|m| Step::Server(m.concat())),
    ];
    (
        prop::collection::vec(step, 1..30),
        prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
    )
        .prop_map(|(mut steps, mutations)| {
            // Mutations: flip a byte somewhere, as a broken or hostile peer would.
            for (at, byte) in mutations {
                let i = at % steps.len();
                let bytes = match &mut steps[i] {
                    Step::Client(b) | Step::Server(b) => b,
                };
                if !bytes.is_empty() {
                    let j = at % bytes.len();
                    bytes[j] ^= byte;
                }
            }
            steps
        })
}

fn feed_client(engine: &mut Engine, s: &mut StreamBuf, bytes: &[u8], fed: &mut usize) -> bool {
    s.buf.extend_from_slice(bytes);
    *fed += bytes.len();
    let mut decided = None;
    let alive = loop {
        match engine.process_client(s, &mut decided) {
            ClientStep::Read { hold_total } => {
                s.reserve_for_read(hold_total);
                break true;
            }
            ClientStep::Hold(_) => decided = Some(Verdict::Allow),
            ClientStep::Fatal(_) => break false,
        }
    };
    s.split_judged();
    s.out.clear();
    alive
}

fn feed_server(engine: &mut Engine, s: &mut StreamBuf, bytes: &[u8], fed: &mut usize) -> bool {
    s.buf.extend_from_slice(bytes);
    *fed += bytes.len();
    let alive = match engine.process_server(s) {
        ServerStep::Read { hold_total } => {
            s.reserve_for_read(hold_total);
            true
        }
        ServerStep::Fatal(_) => false,
    };
    s.split_judged();
    s.out.clear();
    alive
}

/// Buffers may hold what arrived plus one read's room, doubled by growth.
fn bounded(s: &StreamBuf, fed: usize) -> bool {
    s.buf.capacity() <= 2 * (fed + stream_buf::READ_CHUNK) + 4096
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_sessions_never_panic_and_stay_bounded(steps in session()) {
        let mut engine = Engine::new(Box::new(Curious));
        let (mut client, mut server) = (StreamBuf::default(), StreamBuf::default());
        let (mut client_fed, mut server_fed) = (0, 0);
        let (mut client_alive, mut server_alive) = (true, true);
        for step in steps {
            match step {
                Step::Client(bytes) if client_alive => {
                    // Cut each step in two, as a read might.
                    let cut = bytes.len() / 2;
                    client_alive = feed_client(&mut engine, &mut client, &bytes[..cut], &mut client_fed)
                        && feed_client(&mut engine, &mut client, &bytes[cut..], &mut client_fed);
                    prop_assert!(bounded(&client, client_fed));
                }
                Step::Server(bytes) if server_alive => {
                    server_alive = feed_server(&mut engine, &mut server, &bytes, &mut server_fed);
                    prop_assert!(bounded(&server, server_fed));
                }
                _ => {}
            }
        }
    }

    #[test]
    fn decoders_never_panic(body in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = fe::decode_query(&body);
        let _ = fe::decode_parse(&body);
        let _ = fe::decode_bind(&body);
        let _ = fe::decode_describe(&body);
        let _ = fe::decode_close(&body);
        let _ = fe::decode_execute(&body);
        let _ = fe::decode_function_call(&body);
        let _ = be::decode_row_description(&body);
        let _ = be::decode_parameter_description(&body);
        let _ = be::decode_data_row(&body);
        let _ = be::decode_command_complete(&body);
        let _ = be::decode_ready_for_query(&body);
        let _ = be::decode_error_fields(&body);
    }

    #[test]
    fn a_claimed_length_alone_reserves_nothing_large(len in 5u32..(1 << 30)) {
        let mut engine = Engine::new(Box::new(Curious));
        let mut s = StreamBuf::default();
        let mut header = vec![b'Q'];
        header.extend_from_slice(&len.to_be_bytes());
        let mut fed = 0;
        feed_client(&mut engine, &mut s, &header, &mut fed);
        prop_assert!(s.buf.capacity() <= 64 << 10, "capacity {}", s.buf.capacity());
    }
}
