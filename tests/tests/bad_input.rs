//! Bad input never takes the daemon down: each case ends that one connection with a
//! logged reason while a session opened before it carries on, and new sessions work.

use std::time::Duration;

use cordon_e2e::{
    clients::{probe, probe_field, psql, psql_spawn},
    logfile,
    process::Output,
    require_root,
    scenario::{Scenario, ROLE},
};

/// Sends `hex` from the bound cgroup to the database's address (so it lands on the
/// gateway) and returns what came back, with a parallel session running throughout.
fn with_bystander(startup_timeout_secs: u64, hex: &str, check: impl FnOnce(&Output)) {
    require_root();
    let mut s = Scenario::builder()
        .gateway(move |b, _| b.startup_timeout_secs(startup_timeout_secs))
        .start();
    let info = s.conninfo("127.0.0.1");
    let bystander = psql_spawn(
        &s.agent,
        &info,
        &["SELECT pg_sleep(4)", "SELECT current_user"],
    );
    s.wait_session_opened(bystander.pid());
    let refused_before = s.gateway.log_lines("session refused").len();

    let port = s.pg.port().to_string();
    let out = probe(
        &s.agent,
        &[
            "--raw-hex",
            hex,
            "--read-timeout-ms",
            "15000",
            "127.0.0.1",
            &port,
        ],
    );
    out.expect_success("pg-probe --raw-hex");
    check(&out);

    let refused = s.gateway.wait_for_log_count(
        "session refused",
        refused_before + 1,
        Duration::from_secs(5),
    );
    let line = refused.last().expect("a refusal");
    assert!(
        logfile::field(line, "reason").is_some_and(|r| !r.is_empty()),
        "the refusal should give a reason: {line}"
    );
    assert!(
        s.gateway.alive(),
        "the daemon died:\n{}",
        s.gateway.log_text()
    );

    let out = bystander.wait(Duration::from_secs(30));
    out.expect_success("the session running in parallel");
    assert_eq!(out.out(), ROLE, "{out}");
    let out = psql(&s.agent, &info, "SELECT current_user");
    out.expect_success("a new session afterwards");
    assert_eq!(out.out(), ROLE);
    s.finish();
}

fn end(out: &Output) -> (String, u64) {
    let end = probe_field(out, "end").unwrap_or_default();
    let ms = probe_field(out, "elapsed_ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    (end, ms)
}

/// Closed (EOF or reset) promptly, long before the 10 s startup timeout.
#[track_caller]
fn closed_promptly(out: &Output) {
    let (end, ms) = end(out);
    assert!(
        end == "eof" || end == "reset",
        "the gateway should close the connection: {out}"
    );
    assert!(ms < 5000, "closed only after {ms} ms: {out}");
}

#[test]
fn garbage_instead_of_a_startup_packet() {
    // A plausible length with an unknown protocol code, then junk.
    with_bystander(10, "000000101234567800deadbeefcafe00", closed_promptly);
}

#[test]
fn http_request_instead_of_a_startup_packet() {
    let http = b"GET / HTTP/1.1\r\nHost: db\r\n\r\n";
    let hex: String = http.iter().map(|b| format!("{b:02x}")).collect();
    with_bystander(10, &hex, closed_promptly);
}

#[test]
fn huge_length_field() {
    // 2 GiB startup packet, protocol 3.0, and then nothing more.
    with_bystander(10, "7fffffff00030000", closed_promptly);
}

#[test]
fn client_stalled_mid_startup_times_out() {
    // Announces an 80-byte startup packet, sends 13 bytes of it, then stalls.
    with_bystander(2, "00000050000300007573657200", |out| {
        let (end, ms) = end(out);
        assert!(
            end == "eof" || end == "reset",
            "the gateway should time the client out: {out}"
        );
        assert!(
            (1500..8000).contains(&ms),
            "timed out after {ms} ms, configured 2 s: {out}"
        );
    });
}

#[test]
fn ssl_request_followed_by_garbage() {
    with_bystander(
        10,
        "0000000804d2162f00000000deadbeefdeadbeefdeadbeef",
        |out| {
            let received = probe_field(out, "received").unwrap_or_default();
            assert!(
                received.starts_with("53") || received.starts_with("4e"),
                "the gateway answers an SSLRequest with S or N: {out}"
            );
            closed_promptly(out);
        },
    );
}
