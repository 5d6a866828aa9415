//! Refusals in every protocol position, with real clients, through the daemon
//! built with test phases (`cordon-test-phases`): a refused statement reaches
//! the client as the gateway's ErrorResponse, and the server's state (aborted
//! transaction, skipped pipeline) is exactly what it would be had the
//! statement failed in the server itself. Holds and row rewrites too.

use std::time::{Duration, Instant};

use cordon_e2e::{
    client_libs,
    clients::{cancelled_after, psql_command, Conninfo},
    process::{run, Output},
    require_root,
    scenario::{Scenario, ROLE},
    test_phases_bin,
};

fn start() -> Scenario {
    require_root();
    let s = Scenario::builder()
        .gateway(|b, _| b.program(test_phases_bin()))
        .start();
    s.pg.psql_admin(&format!("GRANT CREATE ON SCHEMA public TO {ROLE}"));
    s
}

/// psql that carries on after errors, one Query message per statement.
fn psql_all(s: &Scenario, info: &Conninfo, sqls: &[&str]) -> Output {
    let mut cmd = psql_command(&s.agent, info, sqls);
    cmd.args(["-v", "ON_ERROR_STOP=0"]);
    run(&mut cmd, Duration::from_secs(60))
}

#[test]
fn a_refused_query_inside_a_transaction_block_cannot_be_committed_around() {
    let s = start();
    let info = s.conninfo("127.0.0.1");
    let out = psql_all(
        &s,
        &info,
        &[
            "CREATE TABLE tx_simple (x int)",
            "BEGIN",
            "INSERT INTO tx_simple VALUES (1)",
            "DELETE FROM tx_simple /*refuse*/",
            "SELECT 'still in the failed transaction'",
            "COMMIT",
            "SELECT 'rows=' || count(*) FROM tx_simple",
        ],
    );
    assert!(
        out.stderr
            .contains("cordon: test phase refused the statement (/*refuse*/)"),
        "{out}"
    );
    assert!(
        out.stderr.contains("current transaction is aborted"),
        "the server failed the transaction itself: {out}"
    );
    assert!(
        out.stdout.contains("ROLLBACK"),
        "COMMIT became ROLLBACK: {out}"
    );
    assert!(
        out.stdout.contains("rows=0"),
        "the insert was rolled back: {out}"
    );
    assert!(!out.stdout.contains("still in the failed"), "{out}");
    s.finish();
}

#[test]
fn psycopg_pipeline_with_a_refused_parse_and_rewritten_rows() {
    let s = start();
    let dsn = format!(
        "host=127.0.0.1 port={} user=app_user password=x dbname=postgres",
        s.pg.port()
    );
    let mut cmd = client_libs::python(&s.agent, "refusals_psycopg.py", &dsn, "");
    let out = run(&mut cmd, Duration::from_secs(60));
    out.expect_success("refusals_psycopg.py");
    let expected = [
        "pipeline error sqlstate=42501 refused_by_test_phase=True",
        // The insert before the refusal shared the batch's implicit
        // transaction, and the one after was skipped.
        "rows after pipeline 0",
        "rows after second pipeline 1",
        "binary=False row=('public', 'masked!')",
        "binary=True row=('public', 'masked!')",
    ];
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), expected, "{out}");
    s.finish();
}

#[test]
fn asyncpg_refused_execute_of_an_earlier_prepared_statement() {
    let s = start();
    let url = format!("postgresql://app_user:x@127.0.0.2:{}/postgres", s.pg.port());
    let mut cmd = client_libs::python(&s.agent, "refusals_asyncpg.py", &url, "");
    let out = run(&mut cmd, Duration::from_secs(60));
    out.expect_success("refusals_asyncpg.py");
    let expected = [
        "execute error sqlstate=42501 refused_by_test_phase=True",
        "next statement sqlstate=25P02",
        "rows after rollback 0",
        "prepare error sqlstate=42501",
        "after 42",
        "row ('public', 'masked!')",
    ];
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), expected, "{out}");
    s.finish();
}

#[test]
fn held_statements_wait_for_their_verdict() {
    let s = start();
    let info = s.conninfo("127.0.0.1");
    let started = Instant::now();
    let out = psql_all(
        &s,
        &info,
        &[
            "SELECT /*hold*/ 42",
            "SELECT /*hold-refuse*/ 43",
            "SELECT 44",
        ],
    );
    let elapsed = started.elapsed();
    assert_eq!(
        out.stdout.lines().collect::<Vec<_>>(),
        ["42", "44"],
        "{out}"
    );
    assert!(
        out.stderr
            .contains("test phase refused the statement (/*hold-refuse*/)"),
        "{out}"
    );
    assert!(
        elapsed >= Duration::from_millis(600),
        "two holds of 300 ms: {elapsed:?}"
    );
    s.finish();
}

#[test]
fn a_cancel_request_gives_up_a_held_statement() {
    let s = start();
    let after = cancelled_after(
        &s.agent,
        &s.conninfo("127.0.0.1"),
        300,
        "SELECT /*hold-long*/ 1",
    );
    assert!(after < 5000, "given up {after} ms after the cancel");
    s.finish();
}
