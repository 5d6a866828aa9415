//! Transparent interception end to end: real PostgreSQL, the real eBPF programs at the
//! cgroup2 root, real cgroups, unmodified clients (psql, tokio-postgres).

use std::net::SocketAddr;

use cordon_e2e::{
    clients::{probe, probe_field, probe_line, probe_sql, psql, Conninfo},
    logfile, require_root,
    scenario::{Scenario, APP_PASSWORD, APP_USER, IDENTITY, ROLE},
};

/// `host:port` as `SocketAddr` prints it (`[::1]:5432` for IPv6).
fn socket_addr(host: &str, port: u16) -> String {
    let ip: std::net::IpAddr = host.parse().expect("an IP literal");
    SocketAddr::new(ip, port).to_string()
}

#[test]
fn bound_psql_and_tokio_postgres_reach_every_address_through_the_gateway() {
    require_root();
    let s = Scenario::start();
    let port = s.pg.port();
    for host in ["127.0.0.1", "127.0.0.2", "::1"] {
        // psql claims app_user with a wrong password; the gateway logs in as its own role,
        // to the address the client asked for.
        let out = psql(
            &s.agent,
            &s.conninfo(host),
            "SELECT current_user, inet_server_addr()",
        );
        out.expect_success(&format!("psql via {host}"));
        assert_eq!(out.out(), format!("{ROLE}|{host}"), "{out}");
        let line = s.wait_session_opened(out.pid);
        s.assert_session_line(&line, out.pid, "psql", &socket_addr(host, port));

        let out = probe_sql(
            &s.agent,
            &s.conninfo(host),
            "SELECT current_user, inet_server_addr()",
        );
        out.expect_success(&format!("tokio-postgres via {host}"));
        assert_eq!(out.out(), format!("{ROLE}\t{host}"), "{out}");
        let line = s.wait_session_opened(out.pid);
        s.assert_session_line(&line, out.pid, "pg-probe", &socket_addr(host, port));
    }
    s.finish();
}

#[test]
fn the_agent_needs_no_secret() {
    require_root();
    let s = Scenario::start();
    let base = s.conninfo("127.0.0.1");
    let cases = [
        ("wrong password", base.clone()),
        (
            "the real password of another role",
            base.clone().password(APP_PASSWORD),
        ),
        (
            "no password",
            Conninfo {
                password: None,
                ..base.clone()
            },
        ),
        (
            "a role that does not exist",
            base.clone().user("no_such_role").password("x"),
        ),
        ("sslmode=prefer", base.clone().sslmode("prefer")),
        ("sslmode=require", base.clone().sslmode("require")),
    ];
    for (what, info) in cases {
        let out = psql(&s.agent, &info, "SELECT current_user");
        out.expect_success(&format!("psql with {what}"));
        assert_eq!(out.out(), ROLE, "psql with {what}: {out}");
    }
    let out = probe_sql(
        &s.agent,
        &Conninfo {
            password: None,
            ..base
        },
        "SELECT current_user",
    );
    out.expect_success("tokio-postgres without a password");
    assert_eq!(out.out(), ROLE);
    // Whatever the clients claimed never reached the server: every login was the gateway's.
    let log = s.pg.log_text();
    assert!(
        !log.contains(&format!("user={APP_USER}")),
        "a client's own user reached PostgreSQL:\n{log}"
    );
    assert!(!log.contains("no_such_role"), "{log}");
    assert!(!log.contains("password authentication failed"), "{log}");
    s.finish();
}

#[test]
fn unbound_cgroup_is_refused_with_28000_naming_its_cgroup() {
    require_root();
    let s = Scenario::start();
    let info = s.conninfo("127.0.0.2").password(APP_PASSWORD);

    let out = probe_sql(&s.other, &info, "SELECT current_user");
    assert_eq!(
        out.code,
        Some(2),
        "tokio-postgres from an unbound cgroup: {out}"
    );
    assert_eq!(
        probe_field(&out, "sqlstate").as_deref(),
        Some("28000"),
        "{out}"
    );
    let message = probe_line(&out, "message=").unwrap_or_default();
    assert!(
        message.contains(s.other.path()),
        "the refusal should name {}: {out}",
        s.other.path()
    );

    let out = psql(&s.other, &info, "SELECT current_user");
    out.expect_failure("psql from an unbound cgroup");
    assert!(out.stderr.contains(s.other.path()), "{out}");

    let refused = s.gateway.wait_for_log(
        &["session refused", "28000"],
        std::time::Duration::from_secs(5),
    );
    assert!(logfile::field(&refused, "reason").is_some(), "{refused}");
    assert!(
        s.gateway.log_lines("session opened").is_empty(),
        "{}",
        s.gateway.log_text()
    );
    let log = s.pg.log_text();
    assert!(
        !log.contains(&format!("user={APP_USER}")),
        "the unbound client reached PostgreSQL:\n{log}"
    );
    s.finish();
}

#[test]
fn exempt_cgroup_connects_directly() {
    require_root();
    let s = Scenario::start();
    for host in ["127.0.0.1", "127.0.0.2", "::1"] {
        let info = s.conninfo(host).password(APP_PASSWORD);
        let out = psql(&s.direct, &info, "SELECT current_user, inet_server_addr()");
        out.expect_success(&format!("psql from the exempt cgroup via {host}"));
        assert_eq!(out.out(), format!("{APP_USER}|{host}"), "{out}");
        // PostgreSQL's own authentication applies: this really is a direct connection.
        let out = psql(&s.direct, &info.clone().password("wrong"), "SELECT 1");
        out.expect_failure("psql from the exempt cgroup with a wrong password");
        assert!(
            out.stderr.contains("password authentication failed"),
            "{out}"
        );
    }
    let text = s.gateway.log_text();
    assert!(
        logfile::lines_with(&text, "session refused").is_empty(),
        "{text}"
    );
    assert!(
        logfile::lines_with(&text, "session opened").is_empty(),
        "{text}"
    );
    s.finish();
}

#[test]
fn getpeername_returns_the_original_address() {
    require_root();
    // 127.0.0.3 is protected too, but nothing listens there: a connect to it succeeds
    // only because it was redirected, so its getpeername proves the rewrite.
    let s = Scenario::builder()
        .gateway(|b, pg| b.endpoint("ghost", &[&format!("127.0.0.3:{}", pg.port())], "disable"))
        .start();
    let port = s.pg.port().to_string();
    for host in ["127.0.0.1", "127.0.0.2", "::1", "127.0.0.3"] {
        let out = probe(&s.agent, &["--peername", host, &port]);
        out.expect_success(&format!("pg-probe --peername {host}"));
        let expected = socket_addr(host, s.pg.port());
        assert_eq!(probe_field(&out, "peer"), Some(expected), "{out}");
    }
    // Without the gateway's hooks nothing answers at 127.0.0.3 (checked from the exempt cgroup).
    let out = probe(&s.direct, &["--peername", "127.0.0.3", &port]);
    assert!(
        !out.success(),
        "127.0.0.3 should not answer without redirection: {out}"
    );
    assert!(out.stderr.contains("refused"), "{out}");
    s.finish();
}

#[test]
fn the_gateway_upstream_connection_is_never_redirected_into_itself() {
    require_root();
    let s = Scenario::start();
    let gateway_pid = s.gateway.pid().expect("running").to_string();
    let out = psql(
        &s.agent,
        &s.conninfo("127.0.0.2"),
        "SELECT current_user, inet_server_addr()",
    );
    out.expect_success("psql through the gateway");
    assert_eq!(out.out(), format!("{ROLE}|127.0.0.2"));
    s.wait_session_opened(out.pid);
    let text = s.gateway.log_text();
    let opened = logfile::lines_with(&text, "session opened");
    assert_eq!(opened.len(), 1, "one client, one session:\n{text}");
    assert!(
        logfile::lines_with(&text, "session refused").is_empty(),
        "{text}"
    );
    for line in text.lines() {
        assert_ne!(
            logfile::field(line, "pid").as_deref(),
            Some(gateway_pid.as_str()),
            "{line}"
        );
    }
    s.finish();
}

#[test]
fn client_tls_and_upstream_tls() {
    require_root();
    let s = Scenario::builder().ssl().start();
    let info = s.conninfo("127.0.0.1").sslmode("require");
    let out = psql(
        &s.agent,
        &info,
        "SELECT current_user, ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    out.expect_success("psql sslmode=require through the gateway to an ssl=on server");
    assert_eq!(out.out(), format!("{ROLE}|t"), "{out}");
    let line = s.wait_session_opened(out.pid);
    assert_eq!(logfile::field(&line, "identity").as_deref(), Some(IDENTITY));
    s.finish();
}
