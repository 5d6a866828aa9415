//! `systemd/cordon.service` grants the daemon only the capabilities it needs.
//! Run as root under exactly that bounding set (setpriv), it serves. Without
//! CAP_DAC_READ_SEARCH (cgroup id → path) it refuses every session; without
//! CAP_NET_ADMIN it cannot load its programs and stops with the reason.

use std::time::Duration;

use cordon_e2e::{
    clients::{probe_field, probe_sql, psql},
    gateway::GatewayBuilder,
    postgres::TestPostgres,
    require_root,
    scenario::{Scenario, ROLE},
    workspace_dir,
};

/// The unit's `CapabilityBoundingSet=`, as setpriv names them (`bpf`, ...).
fn unit_capabilities() -> Vec<String> {
    let unit = std::fs::read_to_string(workspace_dir().join("systemd/cordon.service"))
        .expect("reading cordon.service");
    let caps: Vec<String> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .flat_map(|l| l.split_whitespace())
        .map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase())
        .collect();
    assert!(
        !caps.is_empty(),
        "cordon.service sets no CapabilityBoundingSet"
    );
    caps
}

/// setpriv's `--bounding-set` value allowing only `caps`.
fn bounding_set(caps: &[String]) -> String {
    let allowed: Vec<String> = caps.iter().map(|c| format!("+{c}")).collect();
    format!("-all,{}", allowed.join(","))
}

/// A scenario whose daemon runs with only `caps` in its bounding set.
fn scenario_with(caps: &[String]) -> Scenario {
    let set = bounding_set(caps);
    Scenario::builder()
        .gateway(move |b, _| b.launcher(&["setpriv", "--bounding-set", &set, "--"]))
        .start()
}

/// Number of capabilities in the daemon's bounding set (`CapBnd` in /proc).
fn bounding_count(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("reading the daemon's status");
    let hex = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .expect("CapBnd line")
        .trim();
    u64::from_str_radix(hex, 16)
        .expect("hex capability mask")
        .count_ones()
}

#[test]
fn the_units_capabilities_are_enough() {
    require_root();
    let caps = unit_capabilities();
    let s = scenario_with(&caps);
    let pid = s.gateway.pid().expect("the daemon runs");
    assert_eq!(
        bounding_count(pid),
        caps.len() as u32,
        "the daemon runs with exactly {caps:?}"
    );
    let out = psql(&s.agent, &s.conninfo("127.0.0.1"), "SELECT current_user");
    out.expect_success("psql through a gateway with the unit's capabilities");
    assert_eq!(out.out(), ROLE);
    s.finish();
}

#[test]
fn without_dac_read_search_every_session_is_refused() {
    require_root();
    let caps: Vec<String> = unit_capabilities()
        .into_iter()
        .filter(|c| c != "dac_read_search")
        .collect();
    let s = scenario_with(&caps);
    let out = probe_sql(&s.agent, &s.conninfo("127.0.0.1"), "SELECT current_user");
    assert_eq!(
        probe_field(&out, "sqlstate").as_deref(),
        Some("28000"),
        "{out}"
    );
    assert!(out.out().contains("cannot be resolved"), "{out}");
    s.finish();
}

#[test]
fn without_net_admin_the_daemon_stops_with_the_reason() {
    require_root();
    let caps: Vec<String> = unit_capabilities()
        .into_iter()
        .filter(|c| c != "net_admin")
        .collect();
    let set = bounding_set(&caps);
    let pg = TestPostgres::start();
    let (gateway, out) = GatewayBuilder::new()
        .endpoint_for(&pg)
        .credential(ROLE, "unused")
        .identity("agent", ROLE, &[])
        .launcher(&["setpriv", "--bounding-set", &set, "--"])
        .run_to_exit(Duration::from_secs(30));
    assert!(
        !out.success() && !out.timed_out,
        "cordon run should stop: {out}"
    );
    assert!(
        out.stderr.contains("setting up interception") && out.stderr.contains("not permitted"),
        "{out}"
    );
    drop(gateway);
}
