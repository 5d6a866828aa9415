//! The gateway's memory (issue: "1,000 concurrent idle sessions: under 64 KiB per
//! session. A 1 GB result through the gateway: resident memory grows by less than
//! 50 MB."). These are bounds on memory, not timing, so they hold on a busy machine.
//! `cargo xtask bench --only memory` reports the same figures for a release build.

use std::time::Duration;

use cordon_e2e::{
    memory::{self, ResultPath, GIB_ROWS, LARGE_RESULT_TARGET_MB, ROW_BYTES, SESSION_TARGET_KIB},
    require_root,
    scenario::Scenario,
};

const SESSIONS: usize = 1000;

/// Plain and TLS clients (the gateway terminates client TLS, so a TLS session
/// also holds the TLS state). The daemon starts with the usual soft open-file
/// limit of 1024, too few for 2,000 sockets unless it raises its own.
#[test]
fn a_thousand_idle_sessions_cost_under_64_kib_each() {
    require_root();
    let mut s = Scenario::builder()
        .max_connections(memory::max_connections_for(SESSIONS))
        .gateway(|gateway, _| gateway.launcher(&["prlimit", "--nofile=1024:", "--"]))
        .start();
    let limit = s
        .gateway
        .wait_for_log(&["open-file limit"], Duration::from_secs(5));
    assert!(
        limit.contains("raised_from=1024"),
        "the daemon should have raised its soft open-file limit from 1024: {limit}"
    );
    for tls in [false, true] {
        let idle = memory::idle_sessions(&mut s, SESSIONS, tls);
        eprintln!("{idle}");
        assert!(
            idle.judged_kib() < SESSION_TARGET_KIB,
            "the gateway grew by {:.1} KiB per idle session (target: under {SESSION_TARGET_KIB} KiB): {idle}",
            idle.judged_kib()
        );
    }
    s.finish();
}

#[test]
fn a_1_gib_result_grows_the_gateway_by_under_50_mb() {
    require_root();
    let mut s = Scenario::start();
    for path in [ResultPath::Rows, ResultPath::Copy] {
        let result = memory::large_result(&mut s, path, GIB_ROWS);
        eprintln!("{result}");
        let expected = match path {
            ResultPath::Rows => GIB_ROWS * ROW_BYTES,
            // Each COPY line ends with a newline.
            ResultPath::Copy => GIB_ROWS * (ROW_BYTES + 1),
        };
        assert_eq!(
            (result.messages, result.bytes),
            (GIB_ROWS, expected),
            "the client should have received the whole result: {result}"
        );
        assert!(
            result.peak_growth_mb() < LARGE_RESULT_TARGET_MB,
            "the gateway's resident memory grew by {:.1} MB (target: under {LARGE_RESULT_TARGET_MB} MB): {result}",
            result.peak_growth_mb()
        );
    }
    s.finish();
}
