//! Unmodified applications on the usual client libraries (psycopg, asyncpg,
//! node-postgres) reach the database's own address through the gateway, each
//! with a wrong password and its library's default TLS behaviour.

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
