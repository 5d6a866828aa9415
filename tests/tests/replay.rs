//! `cordon sessions replay` against what psql itself printed: a real psql session
//! through the daemon (rows with text and numeric columns and NULLs, an empty result,
//! a command tag, errors with their caret line and DETAIL, a refused statement, the data
//! of a COPY TO STDOUT, a NOTICE, a WARNING and a notification, queries of several statements, one of
//! them failing), then
//! the replay of its record, which must be the same text apart from the prompts.
//! Paced replays wait the recorded gaps.

use std::{fs, process::Stdio, time::Duration};

use cordon::audit::{AuditStore, SessionFilter};
#[path = "support/settled_store.rs"]
mod settled_store;
use settled_store::settled_sqlite_store;

use cordon_e2e::{
    clients::clean_pg_env,
    postgres::pg_bin,
    require_root,
    scenario::{Scenario, ROLE},
};

const POLICY: &str = r#"
[[allow]]
name = "agents-shop"
groups = ["agents"]
actions = ["read", "insert", "ddl"]
objects = ["public.*"]

[[allow]]
name = "agents-notify"
groups = ["agents"]
actions = ["utility"]
objects = ["*"]
"#;

/// What the agent runs, one `-c` each (one simple Query each, in one session).
const STATEMENTS: &[&str] = &[
    "SELECT id, name, price, weight FROM items ORDER BY id",
    "SELECT id, name FROM items WHERE false",
    "INSERT INTO items VALUES (20, 'fig', 1, 1), (21, 'kiwi', 2, 2), (22, 'lime', 3.5, 3)",
    "SELECT id,\n       nosuchcol\nFROM items",
    "INSERT INTO items VALUES (1, 'again', 1, 1)",
    "DELETE FROM items",
    "SELECT count(*) AS n, sum(price) AS total, string_agg(name, ', ' ORDER BY id) AS names \
     FROM items",
    // COPY TO STDOUT: psql prints the data alone (a NULL as \N, no command tag).
    "COPY (SELECT id, name FROM items WHERE id < 21 ORDER BY id) TO STDOUT",
    // Notices: psql prints them as they arrive, before the result.
    "DROP TABLE IF EXISTS nosuch",
    "COMMIT",
    // A notification: psql prints it after the statement's result.
    "LISTEN jobs",
    "NOTIFY jobs, 'done'",
    // One query of several statements: psql prints each result.
    "SELECT 1 AS one; SELECT 'two' AS two;",
    // ... and stops at the first that fails (the caret counts in the whole query).
    "SELECT max(id) AS top FROM items; SELECT nosuchcol FROM items; SELECT 3",
];

/// The replay without psql's prompts (`agent=> `, `agent-> `): what `psql -e` prints.
fn without_prompts(replay: &str) -> String {
    replay
        .lines()
        .map(|l| {
            let l = l
                .strip_prefix("agent=> ")
                .or_else(|| l.strip_prefix("agent-> "))
                .unwrap_or(l);
            format!("{l}\n")
        })
        .collect()
}

#[test]
fn replay_prints_what_psql_printed() {
    require_root();
    let s = Scenario::builder().gateway(|b, _| b.policy(POLICY)).start();
    s.pg.psql_admin(&format!(
        "CREATE TABLE public.items (id int PRIMARY KEY, name text, price numeric(8,2), \
         weight float8); \
         INSERT INTO public.items VALUES (1, 'apple', 0.5, 0.125), (2, NULL, 12.25, NULL), \
         (10, 'pear', 3, 1.5); \
         GRANT ALL ON public.items TO {ROLE}"
    ));

    // psql echoes each statement (-e) and prints its results and errors to one file (one
    // file for both streams keeps the order it printed them in). A shell command between two statements leaves a gap
    // in the session for the paced replay.
    let printed_path = s.gateway.dir().join("psql-printed.txt");
    let printed_file = fs::File::create(&printed_path).expect("creating the output file");
    let mut cmd = s.agent.command(pg_bin("psql"));
    clean_pg_env(&mut cmd);
    cmd.args(["-X", "-w", "-e"]);
    for (i, sql) in STATEMENTS.iter().enumerate() {
        if i == 3 {
            cmd.args(["-c", "\\! sleep 1"]);
        }
        cmd.args(["-c", sql]);
    }
    cmd.arg("-d")
        .arg(s.conninfo("127.0.0.1").to_string())
        .stdin(Stdio::null())
        .stdout(printed_file.try_clone().expect("a second handle"))
        .stderr(printed_file);
    // Exits 1: its last statements failed. What it printed is what counts.
    let status = cmd.status().expect("running psql");
    assert!(status.code().is_some(), "psql was killed: {status}");
    let printed = fs::read_to_string(&printed_path).expect("reading psql's output");
    eprintln!("psql printed:\n{printed}");
    // The cases the test is about are in what psql printed.
    for expected in [
        "  1 | apple |  0.50 |  0.125\n",
        "(0 rows)\n",
        "INSERT 0 3\n",
        "LINE 2:        nosuchcol\n               ^\n",
        "DETAIL:  Key (id)=(1) already exists.\n",
        "ERROR:  cordon policy: ",
        "HINT:  Identity \"agent\" may: ",
        "NOTICE:  table \"nosuch\" does not exist, skipping\nDROP TABLE\n",
        "WARNING:  there is no transaction in progress\nCOMMIT\n",
        "NOTIFY\nAsynchronous notification \"jobs\" with payload \"done\" received",
    ] {
        assert!(printed.contains(expected), "{expected:?} in:\n{printed}");
    }

    let store = settled_sqlite_store(&s.gateway.dir().join("state").join("audit.db"));
    let sessions = store.sessions(&SessionFilter::default()).expect("sessions");
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    let id = sessions[0].id.clone();
    // A query of several statements is a record per statement, each with its result.
    let records = store
        .session(&id)
        .expect("the session")
        .expect("exists")
        .statements;
    type Part<'a> = (Option<u32>, &'a str, Option<&'a str>, Option<&'a str>);
    let parts: Vec<Part> = records
        .iter()
        .filter(|r| r.part.is_some())
        .map(|r| {
            (
                r.part,
                r.text.as_str(),
                r.command_tag.as_deref(),
                r.error.as_ref().map(|e| e.sqlstate.as_str()),
            )
        })
        .collect();
    assert_eq!(
        parts,
        [
            (Some(1), "SELECT 1 AS one", Some("SELECT 1"), None),
            (Some(2), "SELECT 'two' AS two", Some("SELECT 1"), None),
            (
                Some(1),
                "SELECT max(id) AS top FROM items",
                Some("SELECT 1"),
                None
            ),
            (Some(2), "SELECT nosuchcol FROM items", None, Some("42703")),
            (Some(3), "SELECT 3", None, Some("")),
        ],
        "{records:#?}"
    );

    let instant = s.gateway.cordon(&["sessions", "replay", "--instant", &id]);
    instant.expect_success("replay --instant");
    assert_eq!(
        without_prompts(&instant.stdout),
        printed,
        "replay:\n{}\npsql printed:\n{printed}",
        instant.stdout
    );
    assert!(instant.elapsed < Duration::from_millis(900), "{instant}");

    // At the original pace the replay waits out the second between the statements;
    // twice as fast, half of it.
    let paced = s.gateway.cordon(&["sessions", "replay", &id]);
    paced.expect_success("replay at the original pace");
    assert_eq!(paced.stdout, instant.stdout);
    assert!(paced.elapsed >= Duration::from_secs(1), "{paced}");
    let faster = s
        .gateway
        .cordon(&["sessions", "replay", "--speed", "2", &id]);
    faster.expect_success("replay --speed 2");
    assert!(faster.elapsed >= Duration::from_millis(500), "{faster}");
    assert!(faster.elapsed < paced.elapsed, "{faster}\n{paced}");
    s.finish();
}
