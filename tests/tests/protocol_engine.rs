//! The protocol engine at the edges of a session: protocol 3.0 and 3.2 (long
//! cancel keys) and newer versions negotiated down, a client that breaks the
//! protocol after startup, and a database server that dies under a session.

use std::time::Duration;

use cordon_e2e::{
    clients::{probe, probe_field, psql_spawn},
    process::send_signal,
    require_root,
    scenario::{Scenario, ROLE},
};

/// A startup packet for protocol 3.`minor` as `app_user` to database `postgres`.
fn startup(minor: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&3u16.to_be_bytes());
    body.extend_from_slice(&minor.to_be_bytes());
    for s in ["user", "app_user", "database", "postgres", ""] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    let mut packet = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    packet.extend(body);
    packet
}

fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The messages in what the gateway sent back (the `received=` hex).
fn messages(received_hex: &str) -> Vec<(u8, Vec<u8>)> {
    let bytes: Vec<u8> = (0..received_hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&received_hex[i..i + 2], 16).expect("hex"))
        .collect();
    let mut rest = &bytes[..];
    let mut out = Vec::new();
    while rest.len() >= 5 {
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        assert!(rest.len() > len, "a cut message in {received_hex}");
        out.push((rest[0], rest[5..len + 1].to_vec()));
        rest = &rest[len + 1..];
    }
    assert!(rest.is_empty(), "trailing bytes in {received_hex}");
    out
}

/// Sends `bytes` from the agent cgroup to the database's address and
/// returns the messages that came back until the gateway closed.
fn exchange(s: &Scenario, bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let port = s.pg.port().to_string();
    let out = probe(
        &s.agent,
        &[
            "--raw-hex",
            &hex(bytes),
            "--read-timeout-ms",
            "10000",
            "127.0.0.1",
            &port,
        ],
    );
    out.expect_success("pg-probe --raw-hex");
    assert_eq!(probe_field(&out, "end").as_deref(), Some("eof"), "{out}");
    messages(&probe_field(&out, "received").unwrap_or_default())
}

fn body_of(messages: &[(u8, Vec<u8>)], tag: u8) -> Option<&[u8]> {
    messages
        .iter()
        .find(|(t, _)| *t == tag)
        .map(|(_, b)| b.as_slice())
}

#[test]
fn protocol_3_0_and_3_2_and_newer_versions_negotiated_down() {
    require_root();
    let s = Scenario::start();
    let session = |minor: u16| {
        let mut bytes = startup(minor);
        bytes.extend(message(b'Q', b"SELECT 6 * 7\0"));
        bytes.extend(message(b'X', b""));
        exchange(&s, &bytes)
    };

    let v30 = session(0);
    assert_eq!(
        body_of(&v30, b'K').map(<[u8]>::len),
        Some(8),
        "3.0: a 4-byte key"
    );
    assert!(body_of(&v30, b'v').is_none(), "3.0 needs no negotiation");

    let v32 = session(2);
    assert_eq!(
        body_of(&v32, b'K').map(<[u8]>::len),
        Some(4 + 32),
        "3.2: a 32-byte cancel key"
    );
    assert!(body_of(&v32, b'v').is_none(), "3.2 is spoken as asked");
    let row = body_of(&v32, b'D').expect("the query ran");
    assert!(row.ends_with(b"42"), "{row:?}");

    let v37 = session(7);
    let negotiated = body_of(&v37, b'v').expect("NegotiateProtocolVersion for 3.7");
    assert_eq!(&negotiated[..4], &[0, 3, 0, 2], "negotiated down to 3.2");
    assert_eq!(body_of(&v37, b'K').map(<[u8]>::len), Some(36));
    s.finish();
}

#[test]
fn a_client_breaking_the_protocol_after_startup_gets_08p01_and_the_session_ends() {
    require_root();
    let s = Scenario::start();
    let mut bytes = startup(0);
    bytes.extend(message(b'Q', b"SELECT 1\0"));
    bytes.extend(message(b'?', b"nonsense"));
    let got = exchange(&s, &bytes);
    let tags: String = got.iter().map(|(t, _)| *t as char).collect();
    assert!(tags.ends_with('E'), "an error last: {tags}");
    let error = String::from_utf8_lossy(&got.last().unwrap().1).into_owned();
    assert!(
        error.contains("C08P01") && error.contains("protocol violation"),
        "{error}"
    );
    assert!(error.contains("SFATAL"), "{error}");
    s.gateway.wait_for_log(
        &["session closed", "protocol violation"],
        Duration::from_secs(5),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while backends_of_role(&s) != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server session should be ended too"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s.finish();
}

#[test]
fn a_server_that_dies_gives_the_client_a_proper_error() {
    require_root();
    let s = Scenario::start();
    let info = s.conninfo("127.0.0.1");
    let client = psql_spawn(&s.agent, &info, &["SELECT pg_sleep(30)"]);
    s.wait_session_opened(client.pid());
    // The backend serving the gateway's session, killed outright: no FATAL
    // from the server, just a closed socket.
    let backend = wait_for_backend(&s);
    send_signal(backend, libc::SIGKILL);
    let out = client.wait(Duration::from_secs(20));
    assert!(!out.success(), "psql should fail: {out}");
    assert!(
        out.stderr
            .contains("cordon: the database server closed the connection unexpectedly"),
        "the client should hear it from the gateway: {out}"
    );
    s.gateway.wait_for_log(
        &["session closed", "the database server ended the connection"],
        Duration::from_secs(5),
    );
    assert!(s.gateway.log_text().contains("told_client=true"));
    s.finish();
}

fn wait_for_backend(s: &Scenario) -> u32 {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let pid = s.pg.psql_admin(&format!(
            "SELECT pid FROM pg_stat_activity WHERE usename = '{ROLE}' AND query LIKE '%pg_sleep%'"
        ));
        if let Ok(pid) = pid.trim().parse() {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no backend running pg_sleep"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn backends_of_role(s: &Scenario) -> u32 {
    s.pg.psql_admin(&format!(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = '{ROLE}'"
    ))
    .trim()
    .parse()
    .expect("a count")
}
