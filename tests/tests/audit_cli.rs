//! `cordon sessions ...` and `cordon audit ...` on a SQLite recording store written here
//! with the gateway's own `SqliteStore` (the daemon's recorder is not involved): list
//! and its filters, show, replay (instant and paced), export, verify on a clean and a
//! tampered file, purge, and the exit codes; and the same listing, show, replay and
//! export read from the PostgreSQL back end. Only that last test needs root.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use cordon::audit::{
    AuditStore, ErrorInfo, Event, PostgresStore, SessionClosed, SessionOpened, SqliteStore,
    StatementRecord,
};
use cordon_e2e::{
    cordon_bin, postgres::TestPostgres, process::run, process::Output, require_root,
    tempdir::TempDir,
};

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000_000;
const SEC: i64 = 1_000_000;

fn opened(id: &str, identity: &str, at_us: i64) -> Event {
    Event::Opened(SessionOpened {
        session_id: id.into(),
        identity: identity.into(),
        cgroup: format!("/agents.slice/{identity}.service"),
        pid: 4242,
        uid: 1000,
        comm: "psql".into(),
        destination: "10.0.0.5:5432".into(),
        role: "app_ro".into(),
        database: "shop".into(),
        client_tls: true,
        application_name: Some("psql".into()),
        at_us,
    })
}

fn closed(id: &str, at_us: i64) -> Event {
    Event::Closed(SessionClosed {
        session_id: id.into(),
        at_us,
        reason: "client terminated".into(),
        notifications: Vec::new(),
        notifications_truncated: false,
    })
}

/// An allowed statement without rows or error; the tests fill in the rest.
fn statement(id: &str, text: &str, at_us: i64) -> StatementRecord {
    StatementRecord {
        session_id: id.into(),
        text: text.into(),
        fingerprint: "f00d".into(),
        decision: "allowed".into(),
        rule: Some("agents-read".into()),
        approval: None,
        started_at_us: at_us,
        duration_us: 1_500,
        command_tag: None,
        rows: None,
        error: None,
        columns: Vec::new(),
        column_types: Vec::new(),
        result_rows: Vec::new(),
        truncated: false,
        copy_data: Vec::new(),
        copy_in_data: Vec::new(),
        part: None,
        request_text: None,
        parameters: Vec::new(),
        parameters_truncated: false,
        notices: Vec::new(),
        notices_truncated: false,
        notifications: Vec::new(),
    }
}

fn rows(rows: &[&[Option<&str>]]) -> Vec<Vec<Option<String>>> {
    rows.iter()
        .map(|r| r.iter().map(|v| v.map(str::to_owned)).collect())
        .collect()
}

/// `s-alpha` (coding-agent, at T0, closed): rows, an insert, a refusal, an error, a
/// truncated result. `s-beta` (ci, an hour later, closed): one select. `s-gamma`
/// (coding-agent, two hours later, still open): one statement awaiting approval.
fn sample_events() -> Vec<Event> {
    let a = "s-alpha";
    let mut select = statement(a, "SELECT id, name FROM customers ORDER BY id;", T0 + SEC);
    select.command_tag = Some("SELECT 2".into());
    select.rows = Some(2);
    select.columns = vec!["id".into(), "name".into()];
    select.result_rows = rows(&[&[Some("1"), Some("alice")], &[Some("2"), None]]);

    let mut insert = statement(
        a,
        "INSERT INTO notes (body)\nVALUES ('hello');",
        T0 + SEC + 200_000,
    );
    insert.rule = Some("agents-write".into());
    insert.command_tag = Some("INSERT 0 1".into());
    insert.rows = Some(1);

    let mut refused = statement(a, "SELECT * FROM hr.salaries;", T0 + SEC + 400_000);
    refused.decision = "refused".into();
    refused.rule = Some("no-hr-data".into());
    refused.duration_us = 90;
    refused.error = Some(ErrorInfo {
        sqlstate: "42501".into(),
        message: "cordon: refused by rule \"no-hr-data\": reads hr.salaries".into(),
        ..Default::default()
    });

    let mut failed = statement(a, "SELECT * FROM nope;", T0 + SEC + 500_000);
    failed.error = Some(ErrorInfo {
        sqlstate: "42P01".into(),
        message: "relation \"nope\" does not exist".into(),
        ..Default::default()
    });

    let mut big = statement(
        a,
        "SELECT n FROM generate_series(1, 1000) n;",
        T0 + SEC + 600_000,
    );
    big.command_tag = Some("SELECT 1000".into());
    big.rows = Some(1000);
    big.columns = vec!["n".into()];
    big.result_rows = rows(&[&[Some("1")], &[Some("2")]]);
    big.truncated = true;

    let b = "s-beta";
    let mut beta = statement(b, "SELECT version();", T0 + 3600 * SEC + SEC);
    beta.rule = None;
    beta.command_tag = Some("SELECT 1".into());
    beta.rows = Some(1);
    beta.columns = vec!["version".into()];
    beta.result_rows = rows(&[&[Some("PostgreSQL 16.4")]]);

    let g = "s-gamma";
    let mut pending = statement(
        g,
        "UPDATE orders SET state = 'void';",
        T0 + 7200 * SEC + SEC,
    );
    pending.decision = "needs approval".into();
    pending.rule = Some("agents-fix-orders".into());
    pending.error = Some(ErrorInfo {
        sqlstate: "42501".into(),
        message: "cordon: needs approval (rule \"agents-fix-orders\"); no approver".into(),
        ..Default::default()
    });

    vec![
        opened(a, "coding-agent", T0),
        Event::Statement(select),
        Event::Statement(insert),
        Event::Statement(refused),
        Event::Statement(failed),
        Event::Statement(big),
        closed(a, T0 + 2 * SEC),
        opened(b, "ci", T0 + 3600 * SEC),
        Event::Statement(beta),
        closed(b, T0 + 3600 * SEC + 2 * SEC),
        opened(g, "coding-agent", T0 + 7200 * SEC),
        Event::Statement(pending),
    ]
}

/// A store with the sample sessions and a configuration whose `[recording]` names it.
struct Fixture {
    dir: TempDir,
    config: PathBuf,
    db: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = TempDir::new("cordon-audit-cli");
        let db = dir.path().join("records").join("audit.db");
        let mut store = SqliteStore::open(&db).expect("creating the store");
        // As the recorder does: small batches, each with its checkpoint.
        for batch in sample_events().chunks(4) {
            store.append(batch).expect("appending");
        }
        drop(store);
        let config = write_config(dir.path(), &db);
        Self { dir, config, db }
    }

    fn cordon(&self, args: &[&str]) -> Output {
        cordon_with(&self.config, args)
    }
}

fn write_config(dir: &Path, db: &Path) -> PathBuf {
    let recording = format!("store = \"sqlite\"\npath = {:?}", db.display().to_string());
    write_config_for(dir, &recording)
}

/// A configuration whose `[recording]` has `recording` (and a retention).
fn write_config_for(dir: &Path, recording: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("creating the configuration's directory");
    let config = dir.join("cordon.toml");
    let text = format!(
        "[gateway]\nlisten_port = 15999\nstate_dir = {state:?}\n\n\
         [[endpoint]]\nname = \"main\"\naddresses = [\"127.0.0.1:5432\"]\n\n\
         [[credential]]\nrole = \"app_ro\"\npassword = \"secret\"\n\n\
         [[identity]]\nname = \"coding-agent\"\nrole = \"app_ro\"\n\n\
         [recording]\n{recording}\nretention = \"90d\"\n",
        state = dir.join("state").display().to_string(),
    );
    std::fs::write(&config, text).expect("writing the configuration");
    config
}

/// `cordon <args> --config CONFIG`.
fn cordon_with(config: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(cordon_bin());
    cmd.args(args).arg("--config").arg(config);
    run(&mut cmd, Duration::from_secs(60))
}

/// The first column of each line after the header.
fn listed_ids(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn list_filters_sessions() {
    let f = Fixture::new();
    let out = f.cordon(&["sessions", "list"]);
    out.expect_success("sessions list");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "ID       IDENTITY      CGROUP                               PID  COMM  OPENED                \
         CLOSED                STATEMENTS  REFUSED",
        "{out}"
    );
    assert_eq!(
        lines[1],
        "s-alpha  coding-agent  /agents.slice/coding-agent.service  4242  psql  2026-01-01 00:00:00Z  \
         2026-01-01 00:00:02Z           5        1",
        "{out}"
    );
    assert!(lines[3].contains("(open)"), "{out}");
    assert_eq!(listed_ids(&out), ["s-alpha", "s-beta", "s-gamma"]);

    let ids = |args: &[&str]| {
        let mut all = vec!["sessions", "list"];
        all.extend_from_slice(args);
        let out = f.cordon(&all);
        out.expect_success(&all.join(" "));
        listed_ids(&out)
    };
    assert_eq!(ids(&["--identity", "ci"]), ["s-beta"]);
    assert_eq!(ids(&["--identity", "coding-agent"]), ["s-alpha", "s-gamma"]);
    assert_eq!(ids(&["--decision", "refused"]), ["s-alpha"]);
    assert_eq!(ids(&["--decision", "needs approval"]), ["s-gamma"]);
    assert_eq!(ids(&["--decision", "needs-approval"]), ["s-gamma"]);
    assert_eq!(
        ids(&["--since", "2026-01-01T00:30:00Z"]),
        ["s-beta", "s-gamma"]
    );
    assert_eq!(
        ids(&["--until", "2026-01-01T01:30:00+00:00"]),
        ["s-alpha", "s-beta"]
    );
    assert_eq!(
        ids(&[
            "--since",
            "2026-01-01 00:30:00Z",
            "--until",
            "2026-01-01T03:30:00+02:00"
        ]),
        ["s-beta"]
    );
    assert_eq!(ids(&["--limit", "1"]), ["s-alpha"]);
    // The sample is in 2026; relative times count back from now.
    assert_eq!(ids(&["--until", "1d"]).len(), 3);
    assert_eq!(
        ids(&["--since", "2d"]),
        ["s-gamma"],
        "only the open session"
    );

    let none = f.cordon(&["sessions", "list", "--identity", "nobody"]);
    none.expect_success("an empty listing");
    assert_eq!(none.stdout, "", "{none}");
    assert!(none.stderr.contains("no recorded sessions match"), "{none}");

    let json = f.cordon(&["sessions", "list", "--json", "--identity", "ci"]);
    json.expect_success("sessions list --json");
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(parsed[0]["id"], "s-beta", "{json}");
    assert_eq!(parsed[0]["statements"], 1, "{json}");
    assert_eq!(
        parsed[0]["closed_at_us"],
        T0 + 3600 * SEC + 2 * SEC,
        "{json}"
    );

    for bad in [
        &["--since", "yesterday"][..],
        &["--decision", "maybe"],
        &["--limit", "-1"],
    ] {
        let mut all = vec!["sessions", "list"];
        all.extend_from_slice(bad);
        let out = f.cordon(&all);
        assert_eq!(out.code, Some(2), "bad usage exits 2: {out}");
    }
}

#[test]
fn show_prints_the_header_and_each_result() {
    let f = Fixture::new();
    let out = f.cordon(&["sessions", "show", "s-alpha"]);
    out.expect_success("sessions show");
    let expected = "\
session s-alpha
  identity:         coding-agent
  cgroup:           /agents.slice/coding-agent.service
  process:          psql (pid 4242, uid 1000)
  destination:      10.0.0.5:5432
  role:             app_ro
  database:         shop
  client TLS:       yes
  application_name: psql
  opened:           2026-01-01 00:00:00.000Z
  closed:           2026-01-01 00:00:02.000Z
  reason:           client terminated
  statements:       5 (1 refused)

[1] 2026-01-01 00:00:01.000Z  allowed by rule agents-read  Time: 1.500 ms
SELECT id, name FROM customers ORDER BY id;
 id | name  
----+-------
 1  | alice
 2  | 
(2 rows)

[2] 2026-01-01 00:00:01.200Z  allowed by rule agents-write  Time: 1.500 ms
INSERT INTO notes (body)
VALUES ('hello');
INSERT 0 1

[3] 2026-01-01 00:00:01.400Z  refused by rule no-hr-data  Time: 0.090 ms
SELECT * FROM hr.salaries;
ERROR:  42501: cordon: refused by rule \"no-hr-data\": reads hr.salaries

[4] 2026-01-01 00:00:01.500Z  allowed by rule agents-read  Time: 1.500 ms
SELECT * FROM nope;
ERROR:  42P01: relation \"nope\" does not exist

[5] 2026-01-01 00:00:01.600Z  allowed by rule agents-read  Time: 1.500 ms
SELECT n FROM generate_series(1, 1000) n;
 n 
---
 1
 2
(1000 rows)
(truncated: the recording keeps 2 of 1000 rows)

";
    assert_eq!(out.stdout, expected, "{out}");

    let open = f.cordon(&["sessions", "show", "s-gamma"]);
    open.expect_success("show an open session");
    assert!(
        open.stdout
            .contains("  closed:           (still open, or not recorded)\n"),
        "{open}"
    );
    assert!(
        open.stdout
            .contains("needs approval by rule agents-fix-orders"),
        "{open}"
    );

    let json = f.cordon(&["sessions", "show", "s-alpha", "--json"]);
    json.expect_success("show --json");
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(parsed["opened"]["identity"], "coding-agent");
    assert_eq!(parsed["statements"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        parsed["statements"][0]["result_rows"][1][1],
        serde_json::Value::Null
    );
    assert_eq!(parsed["closed"]["reason"], "client terminated");

    let missing = f.cordon(&["sessions", "show", "s-nope"]);
    assert_eq!(missing.code, Some(1), "{missing}");
    assert!(
        missing.stderr.contains("no session \"s-nope\""),
        "{missing}"
    );
}

/// What psql printed for the s-alpha session. Its records carry no column types (as
/// records written before types were kept), so every column is left-aligned; the
/// replay test of a real psql session checks numbers right-aligned.
const ALPHA_REPLAY: &str = "\
agent=> SELECT id, name FROM customers ORDER BY id;
 id | name  
----+-------
 1  | alice
 2  | 
(2 rows)

agent=> INSERT INTO notes (body)
agent-> VALUES ('hello');
INSERT 0 1
agent=> SELECT * FROM hr.salaries;
ERROR:  cordon: refused by rule \"no-hr-data\": reads hr.salaries
agent=> SELECT * FROM nope;
ERROR:  relation \"nope\" does not exist
agent=> SELECT n FROM generate_series(1, 1000) n;
 n 
---
 1
 2
(1000 rows)
(truncated: the recording keeps 2 of 1000 rows)

";

#[test]
fn replay_prints_as_psql_at_the_recorded_pace() {
    let f = Fixture::new();
    let instant = f.cordon(&["sessions", "replay", "--instant", "s-alpha"]);
    instant.expect_success("replay --instant");
    assert_eq!(instant.stdout, ALPHA_REPLAY, "{instant}");
    assert!(
        instant
            .stderr
            .contains("replaying session s-alpha: coding-agent as app_ro@shop"),
        "{instant}"
    );
    assert!(instant.elapsed < Duration::from_millis(600), "{instant}");

    // The session spans 1.6 s from its opening to its last statement's end; at
    // twice the speed that is 0.8 s of waiting.
    let paced = f.cordon(&["sessions", "replay", "--speed", "2", "s-alpha"]);
    paced.expect_success("replay --speed 2");
    assert_eq!(paced.stdout, ALPHA_REPLAY, "{paced}");
    assert!(
        paced.elapsed >= Duration::from_millis(800),
        "paced replay took {:?}",
        paced.elapsed
    );
    assert!(
        paced.elapsed < Duration::from_secs(4),
        "paced replay took {:?}",
        paced.elapsed
    );

    for bad in [
        &["--speed", "0"][..],
        &["--speed", "fast"],
        &["--speed", "2", "--instant"],
    ] {
        let mut all = vec!["sessions", "replay"];
        all.extend_from_slice(bad);
        all.push("s-alpha");
        let out = f.cordon(&all);
        assert_eq!(out.code, Some(2), "bad usage exits 2: {out}");
    }
}

#[test]
fn export_writes_json_lines_with_the_chain() {
    let f = Fixture::new();
    let out = f.cordon(&["sessions", "export"]);
    out.expect_success("sessions export");
    let lines: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    assert_eq!(lines.len(), sample_events().len(), "{out}");
    assert_eq!(lines[0]["session_id"], "s-alpha");
    assert_eq!(lines[0]["kind"], "opened");
    assert_eq!(lines[0]["event"]["identity"], "coding-agent");
    assert_eq!(
        lines[1]["seq"].as_i64(),
        lines[0]["seq"].as_i64().map(|s| s + 1)
    );
    assert_eq!(lines[1]["prev_hash"], lines[0]["hash"], "chained");
    assert_eq!(lines[3]["event"]["decision"], "refused");

    let ci = f.cordon(&["sessions", "export", "--identity", "ci"]);
    ci.expect_success("export --identity ci");
    assert_eq!(ci.stdout.lines().count(), 3, "{ci}");
    assert!(
        ci.stdout
            .lines()
            .all(|l| l.contains("\"session_id\":\"s-beta\"")),
        "{ci}"
    );

    let late = f.cordon(&["sessions", "export", "--since", "2026-01-01T01:30:00Z"]);
    late.expect_success("export --since");
    assert_eq!(late.stdout.lines().count(), 2, "only s-gamma: {late}");
}

#[test]
fn verify_reports_a_clean_store_and_names_tampering() {
    let f = Fixture::new();
    let clean = f.cordon(&["audit", "verify"]);
    clean.expect_success("verify a clean store");
    let name = f.db.display().to_string();
    assert!(
        clean.stdout.starts_with(&format!("{name}: ok\n")),
        "{clean}"
    );
    assert!(
        clean.stdout.contains("  sessions:         3 (0 purged)\n"),
        "{clean}"
    );
    assert!(clean.stdout.contains("  records:          12\n"), "{clean}");
    assert!(clean.stdout.contains("  checkpoints:      3\n"), "{clean}");
    assert!(clean.stdout.contains("  last checkpoint:  3 "), "{clean}");

    let json = f.cordon(&["audit", "verify", "--json"]);
    json.expect_success("verify --json");
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(parsed["ok"], true, "{json}");
    assert_eq!(parsed["records"], 12, "{json}");
    assert_eq!(parsed["problems"].as_array().map(Vec::len), Some(0));

    // Someone rewrites what the agent saw in one record.
    let conn = rusqlite::Connection::open(&f.db).expect("opening the store file");
    let changed = conn
        .execute(
            "UPDATE records SET payload = replace(payload, 'alice', 'mallory') \
             WHERE payload LIKE '%alice%'",
            [],
        )
        .expect("tampering");
    assert_eq!(changed, 1);
    let out = f.cordon(&["audit", "verify"]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(
        out.stdout.contains(&format!("{name}: 1 problem\n")),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("  changed: session s-alpha record 2: its content does not match its hash\n"),
        "{out}"
    );

    // ... and removes the refusal.
    conn.execute(
        "DELETE FROM records WHERE session_id = 's-alpha' AND payload LIKE '%hr.salaries%'",
        [],
    )
    .expect("tampering");
    drop(conn);
    let out = f.cordon(&["audit", "verify", "--json"]);
    assert_eq!(out.code, Some(1), "{out}");
    let parsed: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(parsed["ok"], false, "{out}");
    let kinds: Vec<&str> = parsed["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"changed"), "{out}");
    assert!(kinds.contains(&"removed"), "{out}");
}

#[test]
fn purge_removes_old_sessions_and_stays_verifiable() {
    let f = Fixture::new();
    let out = f.cordon(&["audit", "purge", "--before", "2026-01-01T00:30:00Z"]);
    out.expect_success("audit purge");
    assert_eq!(
        out.out(),
        format!(
            "purged 1 session closed before 2026-01-01 00:30:00Z from {}",
            f.db.display()
        )
    );
    let list = f.cordon(&["sessions", "list"]);
    assert_eq!(listed_ids(&list), ["s-beta", "s-gamma"], "{list}");
    let verify = f.cordon(&["audit", "verify"]);
    verify.expect_success("verify after purge");
    assert!(verify.stdout.contains("(1 purged)"), "{verify}");

    // Everything closed a day ago (the sample is in 2026): s-beta; s-gamma is open.
    let out = f.cordon(&["audit", "purge", "--before", "1d"]);
    out.expect_success("audit purge 1d");
    assert!(
        out.stdout.starts_with("purged 1 session closed before"),
        "{out}"
    );
    assert_eq!(listed_ids(&f.cordon(&["sessions", "list"])), ["s-gamma"]);

    let bad = f.cordon(&["audit", "purge", "--before", "forever"]);
    assert_eq!(bad.code, Some(2), "{bad}");
}

#[test]
fn reads_while_a_writer_holds_the_store_open() {
    let f = Fixture::new();
    // The daemon keeps the store open and appends; the commands read beside it.
    let mut writer = SqliteStore::open(&f.db).expect("opening the store");
    writer
        .append(&[opened("s-delta", "ci", T0 + 3 * 3600 * SEC)])
        .expect("appending");
    let list = f.cordon(&["sessions", "list", "--identity", "ci"]);
    assert_eq!(listed_ids(&list), ["s-beta", "s-delta"], "{list}");
    writer
        .append(&[closed("s-delta", T0 + 3 * 3600 * SEC + SEC)])
        .expect("appending");
    let verify = f.cordon(&["audit", "verify"]);
    verify.expect_success("verify beside a writer");
    assert!(verify.stdout.contains("  sessions:         4 "), "{verify}");
}

#[test]
fn configuration_and_store_errors_have_their_exit_codes() {
    let f = Fixture::new();
    let missing = f.dir.path().join("missing.toml");
    for args in [&["sessions", "list"][..], &["audit", "verify"]] {
        let out = cordon_with(&missing, args);
        assert_eq!(out.code, Some(78), "a missing configuration: {out}");
    }
    let broken = f.dir.path().join("broken.toml");
    let text = std::fs::read_to_string(&f.config).expect("reading the configuration");
    std::fs::write(
        &broken,
        text.replace("retention = \"90d\"", "retention = \"90x\""),
    )
    .expect("writing");
    let out = cordon_with(&broken, &["audit", "verify"]);
    assert_eq!(out.code, Some(78), "{out}");
    assert!(out.stderr.contains("retention"), "{out}");

    // A configuration naming a store that does not exist: 69, and no file is created.
    let elsewhere = f.dir.path().join("nothing-here").join("audit.db");
    let config = write_config(&f.dir.path().join("other"), &elsewhere);
    for args in [
        &["sessions", "list"][..],
        &["sessions", "show", "s-alpha"],
        &["sessions", "export"],
        &["audit", "verify"],
        &["audit", "purge", "--before", "90d"],
    ] {
        let out = cordon_with(&config, args);
        assert_eq!(out.code, Some(69), "{args:?}: {out}");
        assert!(out.stderr.contains("no recording store at"), "{out}");
    }
    assert!(!elsewhere.exists());

    // A file that is not a database.
    let garbage = f.dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x55u8; 8192]).expect("writing");
    let config = write_config(&f.dir.path().join("garbage"), &garbage);
    let out = cordon_with(&config, &["audit", "verify"]);
    assert_eq!(out.code, Some(69), "{out}");
}

/// The fleet back end holds the same sample: every read command prints the same.
#[test]
fn commands_read_a_postgres_store_as_they_read_sqlite() {
    require_root();
    let f = Fixture::new();
    let pg = TestPostgres::start();
    pg.psql_admin("CREATE DATABASE cordon_audit");
    let conninfo = pg.socket_conninfo("cordon_audit");
    let mut store = PostgresStore::connect(&conninfo).expect("connecting the store");
    for batch in sample_events().chunks(4) {
        store.append(batch).expect("appending");
    }
    drop(store);
    let config = write_config_for(
        &f.dir.path().join("pg"),
        &format!("store = \"postgres\"\nconninfo = {conninfo:?}"),
    );
    for args in [
        &["sessions", "list"][..],
        &["sessions", "list", "--identity", "coding-agent"],
        &["sessions", "list", "--decision", "refused"],
        &["sessions", "list", "--decision", "needs-approval"],
        &["sessions", "list", "--since", "2026-01-01T00:30:00Z"],
        &["sessions", "list", "--until", "2026-01-01T01:30:00Z"],
        &[
            "sessions",
            "list",
            "--since",
            "2026-01-01T00:30:00Z",
            "--until",
            "2026-01-01T01:30:00Z",
        ],
        &["sessions", "list", "--limit", "2", "--json"],
        &["sessions", "show", "s-alpha"],
        &["sessions", "show", "s-gamma", "--json"],
        &["sessions", "replay", "--instant", "s-alpha"],
        &["sessions", "export", "--identity", "ci"],
    ] {
        let sqlite = f.cordon(args);
        sqlite.expect_success(&args.join(" "));
        let postgres = cordon_with(&config, args);
        postgres.expect_success(&args.join(" "));
        assert_eq!(postgres.stdout, sqlite.stdout, "{args:?}");
    }
    let filtered = cordon_with(&config, &["sessions", "list", "--identity", "ci"]);
    assert_eq!(listed_ids(&filtered), ["s-beta"], "{filtered}");
    let verify = cordon_with(&config, &["audit", "verify"]);
    verify.expect_success("verify the PostgreSQL store");
    assert!(
        verify
            .stdout
            .starts_with("the PostgreSQL store ([recording] conninfo): ok\n"),
        "{verify}"
    );
}
