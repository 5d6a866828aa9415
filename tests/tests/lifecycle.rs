//! The daemon's life: SIGKILL fails closed, a restart adopts the pinned programs,
//! `cordon bind`/`unbind`/`status` talk to the running daemon, `cordon detach` and the
//! fixtures leave nothing behind.

use std::time::Duration;

use cordon_e2e::{
    clients::{probe_field, probe_sql, psql, psql_spawn},
    process::send_signal,
    require_root,
    scenario::{Scenario, APP_PASSWORD, APP_USER, IDENTITY, ROLE},
};

fn postgres_logins_as(s: &Scenario, user: &str) -> usize {
    s.pg.log_text()
        .matches(&format!("connection authorized: user={user} "))
        .count()
}

#[test]
fn sigkill_fails_closed_and_a_restart_adopts_the_pinned_programs() {
    require_root();
    let mut s = Scenario::start();
    // The client even knows a real password: a direct connection would succeed.
    let info = s.conninfo("127.0.0.1").password(APP_PASSWORD);
    let out = psql(&s.agent, &info, "SELECT current_user");
    out.expect_success("psql before the kill");
    assert_eq!(out.out(), ROLE);
    let programs_before = s.gateway.status_json()["programs"].clone();
    assert!(
        programs_before.as_array().is_some_and(|p| !p.is_empty()),
        "{programs_before}"
    );

    s.gateway.kill9();
    for host in ["127.0.0.1", "127.0.0.2", "::1"] {
        let info = s.conninfo(host).password(APP_PASSWORD);
        for cgroup in [&s.agent, &s.other] {
            let out = psql(cgroup, &info, "SELECT current_user");
            out.expect_failure(&format!("psql via {host} while the gateway is down"));
            assert!(out.stderr.contains("Connection refused"), "{out}");
        }
        let out = probe_sql(&s.agent, &info, "SELECT current_user");
        assert_eq!(out.code, Some(2), "{out}");
    }
    assert_eq!(
        postgres_logins_as(&s, APP_USER),
        0,
        "a client connected directly:\n{}",
        s.pg.log_text()
    );
    // The exempt cgroup is unaffected.
    let out = psql(&s.direct, &info, "SELECT current_user");
    out.expect_success("psql from the exempt cgroup while the gateway is down");
    assert_eq!(out.out(), APP_USER);

    s.gateway.restart();
    s.gateway
        .wait_for_log(&["adopted pinned interception"], Duration::from_secs(5));
    let status = s.gateway.status_json();
    assert_eq!(status["adopted"], serde_json::Value::Bool(true), "{status}");
    assert_eq!(
        status["programs"], programs_before,
        "the restart attached something new"
    );
    let out = psql(&s.agent, &s.conninfo("127.0.0.2"), "SELECT current_user");
    out.expect_success("psql after the restart");
    assert_eq!(out.out(), ROLE);
    s.wait_session_opened(out.pid);
    s.finish();
}

#[test]
fn bind_and_unbind_change_the_running_daemon() {
    require_root();
    let s = Scenario::builder().unbound_agent().start();
    let info = s.conninfo("127.0.0.1");
    let refused = |when: &str| {
        let out = probe_sql(&s.agent, &info, "SELECT current_user");
        assert_eq!(
            probe_field(&out, "sqlstate").as_deref(),
            Some("28000"),
            "{when}: {out}"
        );
    };
    refused("before cordon bind");

    let path = s.agent.path();
    s.gateway
        .cordon(&["bind", "--cgroup", path, "--identity", IDENTITY])
        .expect_success("cordon bind");
    let out = probe_sql(&s.agent, &info, "SELECT current_user");
    out.expect_success("tokio-postgres after cordon bind");
    assert_eq!(out.out(), ROLE);
    let status = s.gateway.status_json();
    let bindings = status["bindings"].as_array().cloned().unwrap_or_default();
    assert!(
        bindings
            .iter()
            .any(|b| b["subject"].as_str().is_some_and(|v| v.contains(path))
                && b["identity"] == IDENTITY
                && b["source"] == "runtime"),
        "{status}"
    );

    s.gateway
        .cordon(&["unbind", "--cgroup", path])
        .expect_success("cordon unbind");
    refused("after cordon unbind");
    s.finish();
}

#[test]
fn status_shows_programs_endpoints_bindings_and_live_sessions() {
    require_root();
    let s = Scenario::start();
    let held = psql_spawn(
        &s.agent,
        &s.conninfo("127.0.0.2"),
        &["SELECT pg_sleep(3)", "SELECT current_user"],
    );
    let pid = held.pid();
    s.wait_session_opened(pid);

    let out = s.gateway.cordon(&["status"]);
    out.expect_success("cordon status");
    let text = &out.stdout;
    let port = s.pg.port();
    for expected in [
        format!("127.0.0.1:{port}"),
        format!("127.0.0.2:{port}"),
        format!("[::1]:{port}"),
        s.agent.path().to_string(),
        s.direct.path().to_string(),
        format!("identity={IDENTITY}"),
        format!("pid={pid}"),
        "comm=psql".to_string(),
        s.gateway.pin_dir().display().to_string(),
    ] {
        assert!(
            text.contains(&expected),
            "`cordon status` lacks {expected:?}:\n{text}"
        );
    }
    let status = s.gateway.status_json();
    assert!(
        status["programs"].as_array().is_some_and(|p| !p.is_empty()),
        "{status}"
    );
    let sessions = status["sessions"].as_array().cloned().unwrap_or_default();
    assert!(
        sessions
            .iter()
            .any(|x| x["pid"] == pid && x["comm"] == "psql" && x["identity"] == IDENTITY),
        "{status}"
    );

    let out = held.wait(Duration::from_secs(30));
    out.expect_success("the held psql session");
    assert_eq!(out.out(), ROLE, "{out}");
    s.finish();
}

#[test]
fn detach_removes_every_pin_and_the_interception() {
    require_root();
    let mut s = Scenario::start();
    let info = s.conninfo("127.0.0.1").password(APP_PASSWORD);
    psql(&s.agent, &info, "SELECT 1").expect_success("psql through the gateway");
    let pin_dir = s.gateway.pin_dir().to_path_buf();
    assert!(
        !s.gateway.leftover_pins().is_empty(),
        "nothing pinned under {}",
        pin_dir.display()
    );

    let leftovers = s.gateway.shutdown();
    assert!(leftovers.is_empty(), "cordon detach left {leftovers:?}");
    assert!(!pin_dir.exists(), "{} still exists", pin_dir.display());
    // Nothing intercepts any more: even the unbound cgroup now reaches PostgreSQL itself.
    for host in ["127.0.0.1", "::1"] {
        let out = psql(
            &s.other,
            &s.conninfo(host).password(APP_PASSWORD),
            "SELECT current_user",
        );
        out.expect_success("psql after cordon detach");
        assert_eq!(out.out(), APP_USER, "{out}");
    }
    // `detach` with nothing to detach still succeeds.
    let again = s.gateway.cordon(&["detach"]);
    again.expect_success("a second cordon detach");
    s.finish();
}

#[test]
fn sighup_reloads_the_file_and_a_broken_file_changes_nothing() {
    require_root();
    let s = Scenario::builder().unbound_agent().start();
    let info = s.conninfo("127.0.0.1");
    let pid = s.gateway.pid().expect("the daemon runs");
    let hangup = || send_signal(pid, libc::SIGHUP);
    let sqlstate = || {
        probe_field(
            &probe_sql(&s.agent, &info, "SELECT current_user"),
            "sqlstate",
        )
    };
    assert_eq!(
        sqlstate().as_deref(),
        Some("28000"),
        "unbound before the reload"
    );

    let bound = format!(
        "{}\n[[bind]]\ncgroup = \"{}\"\nidentity = \"{IDENTITY}\"\n",
        s.gateway.config_text(),
        s.agent.path()
    );
    std::fs::write(s.gateway.config_path(), &bound).expect("rewriting the config");
    hangup();
    s.gateway
        .wait_for_log(&["configuration reloaded"], Duration::from_secs(10));
    let out = probe_sql(&s.agent, &info, "SELECT current_user");
    out.expect_success("after SIGHUP with a new binding");
    assert_eq!(out.out(), ROLE);

    std::fs::write(
        s.gateway.config_path(),
        format!("{bound}\n[[bind]]\nidentity = 7\n"),
    )
    .expect("breaking the config");
    hangup();
    let refusal = s
        .gateway
        .wait_for_log(&["reload refused"], Duration::from_secs(10));
    assert!(
        refusal.contains(&s.gateway.config_path().display().to_string())
            && refusal.contains("identity"),
        "the refusal should name the file and field: {refusal}"
    );
    let out = probe_sql(&s.agent, &info, "SELECT current_user");
    out.expect_success("the previous configuration stays in force");
    assert_eq!(out.out(), ROLE);
    s.finish();
}

/// An upgrade: the pins of another build (here the same programs under a
/// layout name this build does not use) are still attached when the daemon
/// starts. It attaches its own programs, then detaches and removes the others;
/// were they left running, they would redirect first and every session would
/// lack its origin.
#[test]
fn another_builds_programs_are_retired_at_start() {
    require_root();
    let mut s = Scenario::start();
    s.gateway.kill9();
    let layouts = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    let current = layouts(s.gateway.pin_dir());
    assert_eq!(current.len(), 1, "one layout directory: {current:?}");
    let older = s.gateway.pin_dir().join("v1-0000000000000000");
    std::fs::rename(&current[0], &older).expect("renaming the pinned layout (bpffs)");

    s.gateway.restart();
    s.gateway.wait_for_log(
        &[
            "removed the pins of another build's interception",
            "v1-0000000000000000",
        ],
        Duration::from_secs(10),
    );
    assert_eq!(
        layouts(s.gateway.pin_dir()),
        current,
        "only this build's layout is left"
    );
    let status = s.gateway.status_json();
    assert_eq!(
        status["adopted"],
        serde_json::Value::Bool(false),
        "{status}"
    );
    let out = psql(&s.agent, &s.conninfo("127.0.0.1"), "SELECT current_user");
    out.expect_success("psql after the upgrade");
    assert_eq!(out.out(), ROLE);
    s.finish();
}

/// SIGTERM: the listeners close at once (new agents are refused), a session
/// in progress finishes, the daemon exits cleanly, and the interception stays.
#[test]
fn sigterm_drains_live_sessions_and_refuses_new_ones() {
    require_root();
    let mut s = Scenario::start();
    let info = s.conninfo("127.0.0.1");
    let live = psql_spawn(
        &s.agent,
        &info,
        &["SELECT pg_sleep(2)", "SELECT current_user"],
    );
    s.wait_session_opened(live.pid());
    let pid = s.gateway.pid().expect("the daemon runs");
    send_signal(pid, libc::SIGTERM);
    s.gateway.wait_for_log(
        &["stopping; waiting for live sessions"],
        Duration::from_secs(5),
    );

    let out = psql(&s.agent, &info, "SELECT current_user");
    out.expect_failure("a new connection while the gateway drains");
    assert!(out.stderr.contains("Connection refused"), "{out}");

    let out = live.wait(Duration::from_secs(30));
    out.expect_success("the session in progress when SIGTERM came");
    assert!(out.out().ends_with(ROLE), "{out}");
    assert_eq!(s.gateway.stop(), Some(0), "a clean exit after draining");
    s.gateway.wait_for_log(
        &["stopped; interception stays attached"],
        Duration::from_secs(5),
    );
    let out = psql(&s.agent, &info, "SELECT current_user");
    out.expect_failure("a connection after the stop");
    assert!(out.stderr.contains("Connection refused"), "{out}");
    s.finish();
}

/// An agent killed mid-query: its query is cancelled and the server
/// connection closed at once, not left running until it next writes.
#[test]
fn a_client_killed_mid_query_leaves_nothing_running_upstream() {
    require_root();
    let s = Scenario::start();
    let info = s.conninfo("127.0.0.1");
    let running = psql_spawn(&s.agent, &info, &["SELECT pg_sleep(30)"]);
    s.wait_session_opened(running.pid());
    let backends = || {
        s.pg.psql_admin(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{ROLE}'"
        ))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while backends() != "1" {
        assert!(
            std::time::Instant::now() < deadline,
            "the query never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    send_signal(running.pid(), libc::SIGKILL);
    let killed = running.wait(Duration::from_secs(10));
    assert_eq!(
        killed.code, None,
        "psql should have died of SIGKILL: {killed}"
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while backends() != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "the server still runs the dead client's query:\n{}",
            s.pg.psql_admin(&format!(
                "SELECT pid, state, query FROM pg_stat_activity WHERE usename = '{ROLE}'"
            ))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s.gateway.wait_for_log(
        &["client went away without Terminate"],
        Duration::from_secs(5),
    );
    s.finish();
}
