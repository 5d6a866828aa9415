//! Cancel requests through the gateway: the client's cancel key is the gateway's, the
//! gateway maps it to the server's and forwards it.

use cordon_e2e::{clients::cancelled_after, require_root, scenario::Scenario};

#[test]
fn pg_sleep_cancelled_from_the_client_ends_within_a_second() {
    require_root();
    let s = Scenario::start();
    for host in ["127.0.0.1", "::1"] {
        let started = std::time::Instant::now();
        let after = cancelled_after(&s.agent, &s.conninfo(host), 500, "SELECT pg_sleep(30)");
        assert!(
            after < 1000,
            "via {host}: the query ended {after} ms after the cancel request"
        );
        assert!(started.elapsed().as_secs() < 10, "via {host}");
    }
    s.gateway.wait_for_log(
        &["cancel request forwarded"],
        std::time::Duration::from_secs(5),
    );
    s.finish();
}
