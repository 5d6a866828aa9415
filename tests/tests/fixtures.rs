//! The fixtures on their own, without a gateway: each one must work (and clean up)
//! before the end-to-end tests can mean anything. These also pin down how the clients
//! behave when they talk to PostgreSQL directly, which the gateway must reproduce.

use std::{path::PathBuf, time::Duration};

use cordon_e2e::{
    cgroup::{Cgroup2, CgroupGuard},
    clients::{cancelled_after, probe, probe_field, probe_sql, psql, Conninfo},
    postgres::TestPostgres,
    process::Running,
    require_root,
    scenario::pid_alive,
};

#[test]
fn postgres_fixture_serves_tcp_on_every_address_and_cleans_up() {
    require_root();
    let pg = TestPostgres::start();
    pg.create_role("fixture_user", "fixture-pw");
    assert_eq!(pg.psql_admin("SELECT current_user"), "postgres");
    let cg = CgroupGuard::unique("client");
    for host in ["127.0.0.1", "127.0.0.2", "::1"] {
        let info = Conninfo::new(host, pg.port())
            .user("fixture_user")
            .password("fixture-pw");
        let out = psql(&cg, &info, "SELECT current_user, inet_server_addr()");
        out.expect_success("psql over TCP");
        let expected_addr = if host == "::1" { "::1" } else { host };
        assert_eq!(out.out(), format!("fixture_user|{expected_addr}"), "{out}");
        // SCRAM is enforced for TCP: a wrong password fails without a gateway.
        let bad = psql(&cg, &info.clone().password("wrong"), "SELECT 1");
        bad.expect_failure("psql with a wrong password");
        assert!(
            bad.stderr.contains("password authentication failed"),
            "{bad}"
        );
    }
    let dir = pg.data_dir();
    let pid = pg.postmaster_pid().expect("postmaster.pid");
    drop(cg);
    drop(pg);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!pid_alive(pid), "postmaster {pid} still running");
}

#[test]
fn postgres_fixture_with_ssl() {
    require_root();
    let pg = TestPostgres::start_with_ssl();
    pg.create_role("tls_user", "tls-pw");
    let cg = CgroupGuard::unique("client");
    let info = Conninfo::new("127.0.0.1", pg.port())
        .user("tls_user")
        .password("tls-pw")
        .sslmode("require");
    let out = psql(
        &cg,
        &info,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    out.expect_success("psql sslmode=require");
    assert_eq!(out.out(), "t");
}

#[test]
fn cgroup_guard_moves_children_in_and_cleans_up() {
    require_root();
    let cgroup2 = Cgroup2::discover();
    assert!(
        cgroup2.mount().join("cgroup.procs").is_file(),
        "{:?}",
        cgroup2
    );
    let guard = CgroupGuard::unique("sleeper");
    let dir = guard.dir();
    let root: PathBuf = guard.created_root().expect("created").to_path_buf();
    assert!(dir.is_dir());
    let mut sleeper = Running::spawn(guard.command("sleep").arg("300"));
    let pid = sleeper.pid();
    assert_eq!(Cgroup2::of_pid(pid).as_deref(), Some(guard.path()));
    assert_eq!(guard.procs(), vec![pid as i32]);
    // A grandchild lands in the same cgroup and must be killed too.
    let mut shell = Running::spawn(guard.command("sh").args(["-c", "sleep 300 & wait"]));
    std::thread::sleep(Duration::from_millis(200));
    assert!(guard.procs().len() >= 3, "{:?}", guard.procs());
    drop(guard);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(!root.exists(), "{} left behind", root.display());
    assert!(!sleeper.running());
    assert!(!shell.running());
    let out = sleeper.wait(Duration::from_secs(5));
    assert_eq!(out.code, None, "killed by a signal: {out}");
}

#[test]
fn probe_talks_to_postgres_directly() {
    require_root();
    let pg = TestPostgres::start();
    pg.create_role("probe_user", "probe-pw");
    let cg = CgroupGuard::unique("probe");
    let port = pg.port().to_string();

    let info = Conninfo::new("::1", pg.port())
        .user("probe_user")
        .password("probe-pw");
    let out = probe_sql(&cg, &info, "SELECT current_user, 1 + 1");
    out.expect_success("pg-probe query");
    assert_eq!(out.out(), "probe_user\t2");

    let out = probe_sql(&cg, &info.clone().password("wrong"), "SELECT 1");
    assert_eq!(out.code, Some(2), "{out}");
    assert_eq!(
        probe_field(&out, "sqlstate").as_deref(),
        Some("28P01"),
        "{out}"
    );

    let out = probe(&cg, &["--peername", "127.0.0.2", &port]);
    out.expect_success("pg-probe --peername");
    assert_eq!(
        probe_field(&out, "peer"),
        Some(format!("127.0.0.2:{port}")),
        "{out}"
    );

    // SSLRequest: a server without TLS answers 'N' and waits for the startup packet.
    let out = probe(
        &cg,
        &[
            "--raw-hex",
            "0000000804d2162f",
            "--read-timeout-ms",
            "500",
            "127.0.0.1",
            &port,
        ],
    );
    out.expect_success("pg-probe --raw-hex");
    assert_eq!(
        probe_field(&out, "received").as_deref(),
        Some("4e"),
        "{out}"
    );
    assert_eq!(
        probe_field(&out, "end").as_deref(),
        Some("timeout"),
        "{out}"
    );

    let conninfo = Conninfo::new("127.0.0.1", pg.port())
        .user("probe_user")
        .password("probe-pw");
    let after = cancelled_after(&cg, &conninfo, 300, "SELECT pg_sleep(30)");
    assert!(after < 1000, "ended {after} ms after the cancel request");
}
