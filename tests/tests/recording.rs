//! Session recording with the real daemon, PostgreSQL and clients: every
//! session's statements, decisions and results as the client saw them are in
//! the store; nothing acknowledged is lost when the daemon is SIGKILLed; a
//! full store (SQLite) or an unreachable one (PostgreSQL) refuses statements
//! and recovers by itself.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use cordon::audit::{AuditStore, PostgresStore, SessionFilter, SqliteStore, StatementRecord};
#[path = "support/settled_store.rs"]
mod settled_store;
use settled_store::{recorded_statements, settled_sqlite_store};

use cordon_e2e::{
    client_libs,
    clients::{psql_command, psql_lo_import},
    postgres::TestPostgres,
    process::{run, Output},
    require_root,
    scenario::{Scenario, ROLE},
    small_fs::SmallFs,
};

const POLICY: &str = r#"
[[allow]]
name = "agents-public"
groups = ["agents"]
actions = ["read", "insert", "ddl"]
objects = ["public.*"]
"#;

fn start(extra: &str) -> Scenario {
    require_root();
    let extra = extra.to_owned();
    let s = Scenario::builder()
        .gateway(move |b, _| b.policy(POLICY).extra_toml(&extra))
        .start();
    s.pg.psql_admin(&format!("GRANT CREATE ON SCHEMA public TO {ROLE}"));
    s
}

fn store_path(s: &Scenario) -> PathBuf {
    s.gateway.dir().join("state").join("audit.db")
}

/// Where a test's gateway records: its default SQLite file, or a database
/// on the test's PostgreSQL (the fleet back end).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Backend {
    /// The default: records written to the kernel before each result, synced every
    /// few milliseconds.
    Sqlite,
    /// `sync = "each-result"`: synced before each result.
    SqliteSyncedEachResult,
    Postgres,
}

/// `[recording]` for a PostgreSQL store in database `cordon_audit` of the
/// server the test starts (reached over its Unix socket, never intercepted).
fn start_on(backend: Backend) -> (Scenario, Box<dyn Fn() -> Box<dyn AuditStore>>) {
    match backend {
        Backend::Sqlite | Backend::SqliteSyncedEachResult => {
            let s = match backend {
                Backend::Sqlite => start(""),
                _ => start("\n[recording]\nsync = \"each-result\"\n"),
            };
            let path = store_path(&s);
            (s, Box::new(move || Box::new(settled_sqlite_store(&path))))
        }
        Backend::Postgres => {
            let pg_conninfo = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
            let slot = std::sync::Arc::clone(&pg_conninfo);
            let s = Scenario::builder()
                .gateway(move |b, pg| {
                    pg.psql_admin("CREATE DATABASE cordon_audit");
                    let conninfo = pg.socket_conninfo("cordon_audit");
                    *slot.lock().unwrap() = conninfo.clone();
                    b.policy(POLICY).extra_toml(&format!(
                        "\n[recording]\nstore = \"postgres\"\nconninfo = \"{conninfo}\"\n"
                    ))
                })
                .start();
            s.pg.psql_admin(&format!("GRANT CREATE ON SCHEMA public TO {ROLE}"));
            let conninfo = pg_conninfo.lock().unwrap().clone();
            (
                s,
                Box::new(move || {
                    Box::new(PostgresStore::connect(&conninfo).expect("the store connects"))
                }),
            )
        }
    }
}

fn statements(path: &Path) -> Vec<StatementRecord> {
    let store = settled_sqlite_store(path);
    recorded_statements(&store, None)
}

#[test]
fn a_psql_session_is_recorded_as_the_client_saw_it() {
    psql_session_recorded(Backend::Sqlite);
}

#[test]
fn a_psql_session_is_recorded_in_a_postgres_store() {
    psql_session_recorded(Backend::Postgres);
}

fn psql_session_recorded(backend: Backend) {
    let (s, open) = start_on(backend);
    let info = s.conninfo("127.0.0.1");
    let mut cmd = psql_command(
        &s.agent,
        &info,
        &[
            "CREATE TABLE notes (id int, body text)",
            "INSERT INTO notes VALUES (1, 'first'), (2, NULL)",
            "SELECT id, body FROM notes ORDER BY id",
            "COPY notes TO STDOUT",
        ],
    );
    run(&mut cmd, Duration::from_secs(30)).expect_success("psql");
    let mut cmd = psql_command(&s.agent, &info, &["DELETE FROM notes"]);
    let refused = run(&mut cmd, Duration::from_secs(30));
    assert!(!refused.success(), "{refused}");
    let mut cmd = psql_command(&s.agent, &info, &["SELECT 1/0"]);
    assert!(!run(&mut cmd, Duration::from_secs(30)).success());

    let store = open();
    let sessions = store.sessions(&SessionFilter::default()).expect("sessions");
    assert_eq!(sessions.len(), 3, "{sessions:?}");
    for session in &sessions {
        assert_eq!(session.identity, "agent");
        assert_eq!(session.comm, "psql");
        assert_eq!(&session.cgroup, s.agent.path());
        assert!(session.closed_at_us.is_some(), "closed: {session:?}");
    }
    let all = recorded_statements(&*store, None);
    let select = all
        .iter()
        .find(|r| r.text.starts_with("SELECT id, body"))
        .expect("the SELECT is recorded");
    assert_eq!(select.decision, "allowed");
    assert_eq!(select.rule.as_deref(), Some("agents-public"));
    assert_eq!(select.columns, ["id", "body"]);
    assert_eq!(
        select.result_rows,
        [
            vec![Some("1".to_owned()), Some("first".to_owned())],
            vec![Some("2".to_owned()), None]
        ]
    );
    assert_eq!(select.command_tag.as_deref(), Some("SELECT 2"));
    let copy = all
        .iter()
        .find(|r| r.text == "COPY notes TO STDOUT")
        .expect("the COPY is recorded");
    assert_eq!(copy.copy_data, ["1\tfirst\n", "2\t\\N\n"]);
    assert_eq!(copy.rows, Some(2));
    assert_eq!(select.rows, Some(2));
    assert!(!select.fingerprint.is_empty());
    let delete = all
        .iter()
        .find(|r| r.text == "DELETE FROM notes")
        .expect("the refusal");
    assert_eq!(delete.decision, "refused");
    assert_eq!(delete.rule.as_deref(), Some("default deny"));
    assert_eq!(
        delete.error.as_ref().map(|e| e.sqlstate.as_str()),
        Some("42501")
    );
    let division = all
        .iter()
        .find(|r| r.text == "SELECT 1/0")
        .expect("the error");
    assert_eq!(division.decision, "allowed");
    assert_eq!(
        division.error.as_ref().map(|e| e.sqlstate.as_str()),
        Some("22012")
    );
    assert!(store.verify().expect("verify").is_ok());
    s.finish();
}

#[test]
fn psycopg_binary_results_are_recorded() {
    let s = start("");
    s.pg.psql_admin(
        "CREATE TABLE public.vals (n int, b bytea); INSERT INTO public.vals VALUES (7, '\\x0102')",
    );
    s.pg.psql_admin(&format!("GRANT ALL ON public.vals TO {ROLE}"));
    let script = "import sys, psycopg\n\
        with psycopg.connect(sys.argv[1]) as c:\n\
        \x20   print(c.cursor(binary=True).execute('SELECT n, b FROM vals').fetchall())\n";
    run_psycopg(&s, "binary.py", script).expect_success("psycopg");
    let all = statements(&store_path(&s));
    let select = all
        .iter()
        .find(|r| r.text == "SELECT n, b FROM vals")
        .expect("recorded");
    // Binary cells are kept as hex: int4 7 and the two bytes.
    assert_eq!(
        select.result_rows,
        [vec![
            Some("\\x00000007".to_owned()),
            Some("\\x0102".to_owned())
        ]]
    );
    s.finish();
}

#[test]
fn bound_parameter_values_are_recorded_with_the_statement() {
    let s = start("");
    agent_table(&s, "bound", "(n int, b bytea)");
    // %t binds in text format, %b in binary.
    let script = "import sys, psycopg\n\
        with psycopg.connect(sys.argv[1], autocommit=True) as c:\n\
        \x20   c.execute('INSERT INTO bound VALUES (%t, %b)', (8, b'\\x01\\x02'))\n\
        \x20   c.execute('INSERT INTO bound VALUES (%t, %b)', (9, None))\n\
        \x20   print(c.execute('SELECT n FROM bound WHERE n > %t ORDER BY n', (0,)).fetchall())\n";
    let out = run_psycopg(&s, "bound.py", script);
    out.expect_success("psycopg");
    assert!(out.stdout.contains("[(8,), (9,)]"), "{out}");
    let all = statements(&store_path(&s));
    let bound: Vec<(&str, &[Option<String>])> = all
        .iter()
        .filter(|r| r.text.contains("bound"))
        .map(|r| (r.text.as_str(), r.parameters.as_slice()))
        .collect();
    assert_eq!(
        bound,
        [
            (
                "INSERT INTO bound VALUES ($1, $2)",
                &[Some("8".to_owned()), Some("\\x0102".to_owned())][..]
            ),
            (
                "INSERT INTO bound VALUES ($1, $2)",
                &[Some("9".to_owned()), None][..]
            ),
            (
                "SELECT n FROM bound WHERE n > $1 ORDER BY n",
                &[Some("0".to_owned())][..]
            ),
        ],
        "{all:#?}"
    );
    assert!(all.iter().all(|r| !r.parameters_truncated));
    let show = s.gateway.cordon(&["sessions", "show", &session_of(&all)]);
    show.expect_success("sessions show");
    assert!(
        show.stdout.contains("-- bound: $1 = '8', $2 = '\\x0102'"),
        "{show}"
    );
    s.finish();
}

#[test]
fn results_copy_data_notices_and_bound_values_are_kept_up_to_the_caps() {
    let s = start("[recording]\nmax_rows = 2\nmax_bytes = 64\n");
    let info = s.conninfo("127.0.0.1");
    let mut cmd = psql_command(
        &s.agent,
        &info,
        &[
            "SELECT generate_series(1, 5) AS n",
            "COPY (SELECT generate_series(1, 5)) TO STDOUT",
            // A notice for each table: three.
            "DROP TABLE IF EXISTS gone1, gone2, gone3",
        ],
    );
    run(&mut cmd, Duration::from_secs(30)).expect_success("psql");
    agent_table(&s, "capped", "(t text)");
    let script = "import sys, psycopg\n\
        with psycopg.connect(sys.argv[1], autocommit=True) as c:\n\
        \x20   c.execute('SELECT length(%t) AS n, %t AS small', ('x' * 100, 'y'))\n\
        \x20   with c.cursor().copy('COPY capped FROM STDIN') as cp:\n\
        \x20       for line in ('a' * 40, 'b' * 30, 'c'):\n\
        \x20           cp.write(line + '\\n')\n";
    run_psycopg(&s, "caps.py", script).expect_success("psycopg");

    let all = statements(&store_path(&s));
    let find = |text: &str| {
        all.iter()
            .find(|r| r.text.starts_with(text))
            .unwrap_or_else(|| panic!("{text} is recorded: {all:#?}"))
    };
    let select = find("SELECT generate_series");
    assert_eq!(select.result_rows.len(), 2);
    assert!(select.truncated);
    assert_eq!(select.rows, Some(5));
    let copy = find("COPY (SELECT");
    assert_eq!(copy.copy_data, ["1\n", "2\n"]);
    assert!(copy.truncated);
    assert_eq!(copy.rows, Some(5));
    // The first value alone passes the 64 bytes: none kept, marked.
    let bound = find("SELECT length");
    assert!(bound.parameters.is_empty(), "{bound:?}");
    assert!(bound.parameters_truncated);
    let dropped = find("DROP TABLE");
    let notices: Vec<&str> = dropped
        .notices
        .iter()
        .map(|n| n.fields.message.as_str())
        .collect();
    // 37 bytes each: the second would pass the 64.
    assert_eq!(notices, ["table \"gone1\" does not exist, skipping"]);
    assert_eq!(dropped.notices[0].severity, "NOTICE");
    assert!(dropped.notices_truncated);
    // An upload: 41 bytes fit the 64, the next 31 do not, and the keeping ends there
    // (the 2 bytes after them would fit).
    let upload = find("COPY capped");
    assert_eq!(upload.copy_in_data, [format!("{}\n", "a".repeat(40))]);
    assert!(upload.truncated);
    assert_eq!(upload.rows, Some(3));
    s.finish();
}

#[test]
fn data_a_client_uploads_with_copy_from_stdin_is_recorded() {
    let s = start("");
    agent_table(&s, "uploads", "(n int, t text)");
    let script = "import sys, psycopg\n\
        with psycopg.connect(sys.argv[1], autocommit=True) as c:\n\
        \x20   with c.cursor().copy('COPY uploads FROM STDIN') as cp:\n\
        \x20       cp.write('1\\tone\\n')\n\
        \x20       cp.write('2\\t\\\\N\\n')\n\
        \x20   with c.cursor().copy('COPY uploads FROM STDIN (FORMAT BINARY)') as cp:\n\
        \x20       cp.set_types(['int4', 'text'])\n\
        \x20       cp.write_row((3, 'three'))\n\
        \x20   print(c.execute('SELECT count(*) FROM uploads').fetchone()[0])\n";
    let out = run_psycopg(&s, "upload.py", script);
    out.expect_success("psycopg");
    assert_eq!(out.stdout.trim(), "3", "{out}");

    let all = statements(&store_path(&s));
    let text = all
        .iter()
        .find(|r| r.text == "COPY uploads FROM STDIN")
        .unwrap_or_else(|| panic!("the text COPY is recorded: {all:#?}"));
    // As the client sent it, message by message (psycopg sends each write as one).
    assert_eq!(text.copy_in_data.concat(), "1\tone\n2\t\\N\n", "{text:?}");
    assert!(!text.truncated);
    assert_eq!(text.rows, Some(2));
    let binary = all
        .iter()
        .find(|r| r.text.ends_with("(FORMAT BINARY)"))
        .unwrap_or_else(|| panic!("the binary COPY is recorded: {all:#?}"));
    // Binary COPY data as hex, starting with its signature (PGCOPY\n\377\r\n\0).
    let data = binary.copy_in_data.concat();
    assert!(data.starts_with("\\x5047434f50590aff0d0a00"), "{binary:?}");
    // The row's text value is in it (hex of "three").
    assert!(data.contains("7468726565"), "{binary:?}");

    let show = s.gateway.cordon(&["sessions", "show", &text.session_id]);
    show.expect_success("sessions show");
    assert!(
        show.stdout
            .contains("COPY uploads FROM STDIN\n1\tone\n2\t\\N\n\\.\n"),
        "{show}"
    );
    s.finish();
}

#[test]
fn notifications_that_come_while_idle_are_recorded_with_the_next_statement_or_the_close() {
    let s = start("");
    // The notifier reaches the server over its Unix socket, never intercepted.
    let notifier = s.pg.socket_conninfo("postgres");
    let script = format!(
        "import sys, time, psycopg\n\
         with psycopg.connect(sys.argv[1], autocommit=True) as c:\n\
         \x20   c.execute('LISTEN jobs')\n\
         \x20   with psycopg.connect('{notifier}', autocommit=True) as other:\n\
         \x20       other.execute(\"NOTIFY jobs, 'while idle'\")\n\
         \x20       time.sleep(0.5)\n\
         \x20       c.execute('SELECT 1 AS after')\n\
         \x20       print([n.payload for n in c.notifies(timeout=0, stop_after=1)])\n\
         \x20       other.execute(\"NOTIFY jobs, 'before close'\")\n\
         \x20       time.sleep(0.5)\n"
    );
    let out = run_psycopg(&s, "idle_notify.py", &script);
    out.expect_success("psycopg");
    assert!(out.stdout.contains("['while idle']"), "{out}");
    let all = statements(&store_path(&s));
    let after = all
        .iter()
        .find(|r| r.text == "SELECT 1 AS after")
        .unwrap_or_else(|| panic!("recorded: {all:#?}"));
    let got: Vec<(&str, &str)> = after
        .notifications
        .iter()
        .map(|n| (n.channel.as_str(), n.payload.as_str()))
        .collect();
    assert_eq!(got, [("jobs", "while idle")], "{after:?}");
    assert!(after.notifications[0].pid > 0);
    let listen = all
        .iter()
        .find(|r| r.text == "LISTEN jobs")
        .expect("recorded");
    assert!(listen.notifications.is_empty());
    // One after the last statement goes with the session's closing record.
    let store = settled_sqlite_store(&store_path(&s));
    let detail = store
        .session(&after.session_id)
        .expect("read")
        .expect("the session");
    let closed = detail.closed.expect("closed");
    let at_close: Vec<&str> = closed
        .notifications
        .iter()
        .map(|n| n.payload.as_str())
        .collect();
    assert_eq!(at_close, ["before close"]);
    let show = s.gateway.cordon(&["sessions", "show", &after.session_id]);
    show.expect_success("sessions show");
    assert!(
        show.stdout
            .contains("Asynchronous notification \"jobs\" with payload \"before close\""),
        "{show}"
    );
    s.finish();
}

#[test]
fn fast_path_calls_are_recorded_with_their_arguments_and_results() {
    require_root();
    // The default test policy allows everything, fast-path calls included.
    let s = Scenario::builder().start();
    let info = s.conninfo("127.0.0.1");
    let body = "large object body";
    let upload = s.gateway.dir().join("upload.txt");
    std::fs::write(&upload, body).expect("writing the file to import");
    // psql's \lo_import and \lo_export use libpq's large-object calls: fast-path
    // FunctionCalls (lo_creat, lo_open, lowrite, loread, lo_close), arguments and
    // results in binary.
    let oid = psql_lo_import(&s.agent, &info, &upload);
    let download = s.gateway.dir().join("download.txt");
    let export = format!("\\lo_export {oid} {}", download.display());
    let mut cmd = psql_command(&s.agent, &info, &[&export]);
    run(&mut cmd, Duration::from_secs(30)).expect_success("psql \\lo_export");
    assert_eq!(std::fs::read_to_string(&download).expect("exported"), body);

    let all = statements(&store_path(&s));
    let calls: Vec<&StatementRecord> = all
        .iter()
        .filter(|r| r.text.starts_with("-- fast-path call of "))
        .collect();
    assert!(calls.iter().all(|r| r.decision == "allowed"), "{calls:#?}");
    // Each names its function (read by OID at login), as the policy judged it.
    for function in ["lo_open", "lowrite", "loread", "lo_close"] {
        let text = format!("-- fast-path call of pg_catalog.{function} (function oid ");
        assert!(
            calls.iter().any(|r| r.text.starts_with(&text)),
            "{text}: {calls:#?}"
        );
    }
    let hex: String = body.bytes().map(|b| format!("{b:02x}")).collect();
    let hex = format!("\\x{hex}");
    // lowrite(fd, data): the data is its second argument.
    let written = calls
        .iter()
        .find(|r| r.parameters.get(1) == Some(&Some(hex.clone())))
        .unwrap_or_else(|| panic!("lowrite's data is recorded: {calls:#?}"));
    assert!(!written.parameters_truncated);
    // loread(fd, length): its result is the data, one row of one column.
    let read = calls
        .iter()
        .find(|r| r.result_rows == [vec![Some(hex.clone())]])
        .unwrap_or_else(|| panic!("loread's result is recorded: {calls:#?}"));
    assert_eq!(read.columns, ["result"]);
    assert_eq!(read.rows, Some(1));
    s.finish();
}

/// Creates table `public.name` with `columns` for the agent's role to use.
fn agent_table(s: &Scenario, name: &str, columns: &str) {
    s.pg.psql_admin(&format!(
        "CREATE TABLE public.{name} {columns}; GRANT ALL ON public.{name} TO {ROLE}"
    ));
}

/// The agent's DSN for the gateway's server (the password is not checked: the gateway
/// holds the credential).
fn dsn(s: &Scenario) -> String {
    format!(
        "host=127.0.0.1 port={} user=app_user password=x dbname=postgres",
        s.pg.port()
    )
}

/// Runs a psycopg `script` (saved as `name`; the DSN is its `sys.argv[1]`) as the
/// agent, through the gateway.
fn run_psycopg(s: &Scenario, name: &str, script: &str) -> Output {
    let dsn = dsn(s);
    let file = s.gateway.dir().join(name);
    std::fs::write(&file, script).expect("writing the script");
    let mut cmd = client_libs::python_args(&s.agent, file.to_str().expect("utf-8"), &[&dsn]);
    run(&mut cmd, Duration::from_secs(30))
}

/// The session of the records (all from one).
fn session_of(records: &[StatementRecord]) -> String {
    records.first().expect("a record").session_id.clone()
}

#[test]
fn statements_acknowledged_before_sigkill_are_all_recorded() {
    acknowledged_survive_sigkill(Backend::Sqlite);
}

#[test]
fn statements_acknowledged_before_sigkill_are_all_recorded_when_synced_before_each_result() {
    acknowledged_survive_sigkill(Backend::SqliteSyncedEachResult);
}

#[test]
fn statements_acknowledged_before_sigkill_are_all_in_a_postgres_store() {
    acknowledged_survive_sigkill(Backend::Postgres);
}

fn acknowledged_survive_sigkill(backend: Backend) {
    let (mut s, open) = start_on(backend);
    s.pg.psql_admin(&format!(
        "CREATE TABLE public.acked (n int); GRANT ALL ON public.acked TO {ROLE}"
    ));
    let dsn = dsn(&s);
    let mut cmd = client_libs::python_args(&s.agent, "acknowledged_inserts.py", &[&dsn, "6"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("starting the client");
    let started = Instant::now();
    for round in 0..4 {
        std::thread::sleep(Duration::from_millis(900 + 150 * round));
        s.gateway.kill9();
        std::thread::sleep(Duration::from_millis(200));
        s.gateway.restart();
    }
    let out = child.wait_with_output().expect("the client ends");
    assert!(started.elapsed() < Duration::from_secs(30));
    let acknowledged: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    assert!(
        acknowledged.len() >= 20,
        "the client got too few statements through: {acknowledged:?}; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let store = open();
    let recorded: std::collections::HashSet<String> = recorded_statements(&*store, None)
        .into_iter()
        .map(|r| r.text)
        .collect();
    assert!(store.verify().expect("verify runs").is_ok());
    // Each restart closed the records of the sessions the killed run left
    // open (the client's last session may still be closing).
    let open_sessions = store
        .sessions(&SessionFilter::default())
        .expect("sessions")
        .iter()
        .filter(|s| s.closed_at_us.is_none())
        .count();
    assert!(open_sessions <= 1, "{open_sessions} sessions left open");
    let missing: Vec<u64> = acknowledged
        .iter()
        .copied()
        .filter(|n| !recorded.contains(&format!("INSERT INTO acked VALUES ({n})")))
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not recorded: {missing:?} (of {})",
        acknowledged.len()
    );
    s.finish();
}

#[test]
fn a_full_store_refuses_statements_and_recovers_by_itself() {
    let fs_ = SmallFs::mount("16m");
    let db = fs_.path().join("audit.db");
    let s = start(&format!("\n[recording]\npath = \"{}\"\n", db.display()));
    s.pg.psql_admin(&format!(
        "CREATE TABLE public.full_disk (n int); GRANT ALL ON public.full_disk TO {ROLE}"
    ));
    let info = s.conninfo("127.0.0.1");
    let insert = |n: u32| {
        let mut cmd = psql_command(
            &s.agent,
            &info,
            &[&format!("INSERT INTO full_disk VALUES ({n})")],
        );
        run(&mut cmd, Duration::from_secs(30))
    };
    insert(1).expect_success("an insert with room to record it");
    let filler = fs_.fill();
    // Records go on fitting into pages the WAL already has for a while (and
    // again whenever a checkpoint lets the WAL start over). A statement
    // whose record needs new space either runs on the server with its
    // completion withheld (its record could not be written), or, once the
    // store is marked unwritable (a session's opening record may be the
    // first to fail), is refused before it reaches the server. Insert until
    // a refusal.
    let (mut acknowledged, mut withheld, mut refused) = (vec![1], Vec::new(), Vec::new());
    let mut n = 1;
    while refused.is_empty() {
        n += 1;
        assert!(n < 2000, "no refusal on a full disk: {withheld:?} withheld");
        let out = insert(n);
        if out.success() {
            acknowledged.push(n);
        } else if out.stderr.contains("refused until it can") {
            refused.push(n);
        } else {
            assert!(
                out.stderr.contains("could not be written") || out.stderr.contains("cannot write"),
                "{out}"
            );
            withheld.push(n);
        }
    }
    let rows: Vec<u32> =
        s.pg.psql_admin("SELECT string_agg(n::text, ',' ORDER BY n) FROM public.full_disk")
            .split(',')
            .filter_map(|n| n.parse().ok())
            .collect();
    for n in &refused {
        assert!(!rows.contains(n), "refused insert {n} ran: {rows:?}");
    }
    std::fs::remove_file(&filler).expect("freeing space");
    let recovered_n = n + 1;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let again = insert(recovered_n);
        if again.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after space was freed: {again}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let store = SqliteStore::open(&db).expect("the store opens");
    let report = store.verify().expect("verify runs");
    assert!(report.is_ok(), "{:?}", report.problems);
    let recorded: Vec<String> = statements(&db).into_iter().map(|r| r.text).collect();
    let is_recorded = |n: u32| recorded.contains(&format!("INSERT INTO full_disk VALUES ({n})"));
    for &n in acknowledged.iter().chain([&recovered_n]) {
        assert!(is_recorded(n), "insert {n} is not recorded: {recorded:?}");
    }
    // What ran is recorded, once the store could write again.
    for &n in &withheld {
        assert_eq!(
            is_recorded(n),
            rows.contains(&n),
            "insert {n} ran: {}; recorded: {recorded:?}",
            rows.contains(&n)
        );
    }
    drop(store);
    s.finish();
    drop(fs_);
}

/// The fleet back end's server goes away (a second PostgreSQL, stopped while a client
/// runs statements through the gateway): statements are refused with 58030 naming the
/// store, nothing stored is damaged, and once the server is back the gateway records
/// and serves again by itself, with the records of what ran meanwhile.
#[test]
fn an_unreachable_postgres_store_refuses_statements_and_recovers_by_itself() {
    require_root();
    let store_pg = TestPostgres::start();
    store_pg.psql_admin("CREATE DATABASE cordon_audit");
    let conninfo = store_pg.socket_conninfo("cordon_audit");
    let s = start(&format!(
        "\n[recording]\nstore = \"postgres\"\nconninfo = \"{conninfo}\"\n"
    ));
    s.pg.psql_admin(&format!(
        "CREATE TABLE public.unreachable (n int); GRANT ALL ON public.unreachable TO {ROLE}"
    ));
    let info = s.conninfo("127.0.0.1");
    let insert = |n: u32| {
        let mut cmd = psql_command(
            &s.agent,
            &info,
            &[&format!("INSERT INTO unreachable VALUES ({n})")],
        );
        // Errors with their SQLSTATE.
        cmd.args(["-v", "VERBOSITY=verbose"]);
        run(&mut cmd, Duration::from_secs(30))
    };
    insert(1).expect_success("an insert while the store is up");

    store_pg.stop_server();
    // As with a full disk: the first statement either runs with its completion
    // withheld (its record could not be written) or is refused before it runs.
    let first = insert(2);
    eprintln!("the first statement after the stop: {first}");
    assert!(!first.success(), "{first}");
    assert!(first.stderr.contains("58030"), "{first}");
    assert!(
        first.stderr.contains("could not be written") || first.stderr.contains("cannot write"),
        "{first}"
    );
    let refused = insert(3);
    assert!(
        refused
            .stderr
            .contains("ERROR:  58030: cordon: the session recording store cannot write")
            && refused.stderr.contains("refused until it can"),
        "{refused}"
    );
    let rows =
        s.pg.psql_admin("SELECT string_agg(n::text, ',' ORDER BY n) FROM public.unreachable");
    assert!(!rows.contains('3'), "the refused insert ran: {rows}");
    let second_ran = rows.contains('2');

    store_pg.start_again();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let again = insert(4);
        if again.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no recovery after the store's server came back: {again}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let store = PostgresStore::connect(&conninfo).expect("the store connects");
    let report = store.verify().expect("verify runs");
    assert!(report.is_ok(), "{:?}", report.problems);
    let recorded: Vec<String> = recorded_statements(&store, None)
        .into_iter()
        .map(|r| r.text)
        .collect();
    for n in [1, 4] {
        assert!(
            recorded.contains(&format!("INSERT INTO unreachable VALUES ({n})")),
            "insert {n} is not recorded: {recorded:?}"
        );
    }
    assert!(
        !recorded.contains(&"INSERT INTO unreachable VALUES (3)".to_owned()),
        "a refused-while-unavailable statement has no record: {recorded:?}"
    );
    assert_eq!(
        recorded.contains(&"INSERT INTO unreachable VALUES (2)".to_owned()),
        second_ran,
        "insert 2 ran: {second_ran}; recorded: {recorded:?}"
    );
    s.finish();
}
