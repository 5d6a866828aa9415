//! Cancel requests through the gateway: the client's cancel key is the gateway's, the
//! gateway maps it to the server's and forwards it.

use cordon_e2e::{
    clients::{probe, probe_field},
    require_root,
    scenario::{Scenario, APP_USER},
};

#[test]
fn pg_sleep_cancelled_from_the_client_ends_within_a_second() {
    require_root();
    let s = Scenario::start();
    let port = s.pg.port().to_string();
    for host in ["127.0.0.1", "::1"] {
        let out = probe(
            &s.agent,
            &[
                "--cancel-after-ms",
                "500",
                host,
                &port,
                APP_USER,
                "wrong",
                "postgres",
                "SELECT pg_sleep(30)",
            ],
        );
        out.expect_success(&format!(
            "pg-probe --cancel-after-ms via {host} (the query must fail)"
        ));
        assert_eq!(
            probe_field(&out, "sqlstate").as_deref(),
            Some("57014"),
            "{out}"
        );
        let after: u64 = probe_field(&out, "after_cancel_ms")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no after_cancel_ms: {out}"));
        assert!(
            after < 1000,
            "the query ended {after} ms after the cancel request: {out}"
        );
        assert!(out.elapsed.as_secs() < 10, "{out}");
    }
    s.gateway.wait_for_log(
        &["cancel request forwarded"],
        std::time::Duration::from_secs(5),
    );
    s.finish();
}
