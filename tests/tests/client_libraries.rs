//! Unmodified applications on the usual client libraries (psycopg, asyncpg,
//! node-postgres) and pgbench reach the database's own address through the
//! gateway, each with a wrong password and its library's default TLS behaviour.

use std::time::Duration;

use cordon_e2e::{
    client_libs, logfile,
    process::run,
    require_root,
    scenario::{Scenario, APP_USER, IDENTITY, ROLE},
};

const SQL: &str = "SELECT current_user, inet_server_addr()";

#[test]
fn psycopg_asyncpg_and_node_postgres_go_through_the_gateway() {
    require_root();
    let s = Scenario::start();
    let port = s.pg.port();
    let url =
        |host: &str| format!("postgresql://{APP_USER}:not-the-password@{host}:{port}/postgres");
    let cases = [
        (
            "psycopg",
            client_libs::python(
                &s.agent,
                "psycopg_query.py",
                &format!("host=127.0.0.1 port={port} user={APP_USER} password=wrong dbname=postgres sslmode=prefer"),
                SQL,
            ),
            "127.0.0.1",
            "python",
        ),
        (
            "asyncpg",
            client_libs::python(&s.agent, "asyncpg_query.py", &url("127.0.0.2"), SQL),
            "127.0.0.2",
            "python",
        ),
        (
            "node-postgres",
            client_libs::node(&s.agent, "node_pg_query.js", &url("[::1]"), SQL),
            "::1",
            "node",
        ),
    ];
    for (library, mut cmd, host, comm) in cases {
        let out = run(&mut cmd, Duration::from_secs(60));
        out.expect_success(library);
        assert_eq!(out.out(), format!("{ROLE}\t{host}"), "{library}: {out}");
        let line = s.wait_session_opened(out.pid);
        assert_eq!(
            logfile::field(&line, "identity").as_deref(),
            Some(IDENTITY),
            "{library}: {line}"
        );
        assert!(
            logfile::field(&line, "comm").is_some_and(|c| c.starts_with(comm)),
            "{library}: the session should name the {comm} process: {line}"
        );
    }
    s.finish();
}

/// pgbench in both query modes: the simple protocol and prepared statements
/// (the extended protocol), a bounded two-second run each.
#[test]
fn pgbench_runs_through_the_gateway() {
    require_root();
    let s = Scenario::start();
    let mut init = std::process::Command::new(cordon_e2e::postgres::pg_bin("pgbench"));
    cordon_e2e::clients::clean_pg_env(&mut init);
    init.args(["-i", "-s", "1", "-q", "-h"])
        .arg(s.pg.socket_dir())
        .args(["-p", &s.pg.port().to_string(), "-U", "postgres", "postgres"]);
    run(&mut init, Duration::from_secs(120)).expect_success("pgbench -i over the unix socket");
    s.pg.psql_admin(&format!("GRANT pg_read_all_data TO {ROLE}"));
    for mode in ["simple", "prepared"] {
        let mut cmd = s.agent.command(cordon_e2e::postgres::pg_bin("pgbench"));
        cordon_e2e::clients::clean_pg_env(&mut cmd);
        cmd.env("PGPASSWORD", "not-the-password")
            .args([
                "-S",
                "-n",
                "-c",
                "2",
                "-T",
                "2",
                "-M",
                mode,
                "-h",
                "127.0.0.1",
            ])
            .args(["-p", &s.pg.port().to_string(), "-U", APP_USER, "postgres"]);
        let out = run(&mut cmd, Duration::from_secs(60));
        out.expect_success(&format!("pgbench -M {mode} through the gateway"));
        let processed = out
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("number of transactions actually processed: "))
            .and_then(|n| n.split('/').next()?.trim().parse::<u64>().ok());
        assert!(processed.is_some_and(|n| n > 0), "pgbench -M {mode}: {out}");
        assert!(
            out.stdout.contains("number of failed transactions: 0"),
            "pgbench -M {mode}: {out}"
        );
    }
    s.finish();
}
