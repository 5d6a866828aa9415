//! Masking with the real daemon, PostgreSQL and clients (psql, psycopg 3
//! with binary results, asyncpg): masked values never appear in any byte a
//! client received (read off its system calls with strace), in the session
//! recording, or in the gateway's log; exempt identities see the real
//! values, and the recording shows what each identity saw.

use std::{path::Path, process::Command, time::Duration};

use cordon::audit::AuditStore;
#[path = "support/settled_store.rs"]
mod settled_store;
use settled_store::{recorded_statements, settled_sqlite_store};

use cordon_e2e::{
    cgroup::CgroupGuard,
    client_libs,
    clients::{psql_command, Conninfo},
    process::{run, Output},
    received::{bytes_read, find, traced},
    require_root,
    scenario::{Scenario, APP_USER, ROLE},
    tempdir::TempDir,
};

const POLICY: &str = r#"
[[allow]]
name = "agents-public"
groups = ["agents"]
actions = ["read", "insert", "update", "ddl", "utility"]
objects = ["public.*"]

[[allow]]
name = "agents-catalog"
groups = ["agents"]
actions = ["read"]
objects = ["pg_catalog.*"]

[[allow]]
name = "agents-notify"
groups = ["agents"]
actions = ["utility"]

[[allow]]
name = "auditors-read"
groups = ["auditors"]
actions = ["read"]
objects = ["public.*"]
"#;

fn masks(key_file: &Path) -> String {
    format!(
        r#"
[masking]
hash_key_file = "{}"

[[mask]]
name = "emails"
columns = ["public.customers.email", "email"]
mask = "partial-email"
exempt_identities = ["auditor"]

[[mask]]
name = "phones"
columns = ["phone"]
mask = "redact"
exempt_identities = ["auditor"]

[[mask]]
name = "national-ids"
columns = ["*.*.ssn"]
mask = "null"
exempt_identities = ["auditor"]

[[mask]]
name = "cards"
columns = ["public.customers.card"]
mask = "partial-card"
exempt_identities = ["auditor"]

[[mask]]
name = "notes"
columns = ["public.customers.notes"]
mask = "hash"
exempt_identities = ["auditor"]

[[detect]]
name = "agents"
groups = ["agents"]
kinds = ["all"]
"#,
        key_file.display()
    )
}

const SCHEMA: &str = "
CREATE TABLE customers (
    id int PRIMARY KEY CHECK (id > 0),
    email text NOT NULL,
    phone text,
    ssn text,
    card text,
    notes text
);
INSERT INTO customers VALUES
    (1, 'alice.secret@example.com', '+1 415 555 0100', '123-45-6789',
     '4111 1111 1111 1111', 'VIP, prefers calls before noon'),
    (2, 'bob.hidden@example.org', '+44 20 7946 0958', '987-65-4321',
     '5500 0000 0000 0004', 'wants invoices by fax only');
CREATE VIEW customer_contacts AS
    SELECT id, email AS contact, lower(phone) AS phone_lower FROM customers;
CREATE TABLE leads (id int, contact text);
INSERT INTO leads VALUES (1, 'carol.private@example.net');
";

/// Parts of the real values that no masked client may ever receive.
const SECRETS: [&str; 11] = [
    "alice.secret",
    "bob.hidden",
    "carol.private",
    "415 555 0100",
    "20 7946 0958",
    "123-45-6789",
    "987-65-4321",
    "4111 1111 1111",
    "5500 0000 0000",
    "prefers calls",
    "invoices by fax",
];

struct Setup {
    s: Scenario,
    auditor: CgroupGuard,
    _key: TempDir,
}

/// A hash key file of the kind the configuration demands (32 bytes, 0600),
/// in a directory that lives as long as the returned guard.
fn key_file() -> (TempDir, std::path::PathBuf) {
    let dir = TempDir::new("cordon-mask-key");
    let path = dir.path().join("mask.key");
    std::fs::write(&path, [7u8; 32]).expect("the key is written");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("the key's mode is set");
    (dir, path)
}

fn start() -> Setup {
    require_root();
    let (key, key_file) = key_file();
    let auditor = CgroupGuard::unique("auditor");
    let auditor_path = auditor.path().to_owned();
    let masks = masks(&key_file);
    let s = Scenario::builder()
        .gateway(move |b, _| {
            b.identity("auditor", ROLE, &["auditors"])
                .bind(&auditor_path, "auditor")
                .policy(&format!("{POLICY}\n{masks}"))
        })
        .start();
    s.pg.psql_admin(SCHEMA);
    // The planner's statistics sample the values: a way around the masks.
    s.pg.psql_admin("ANALYZE customers");
    s.pg.psql_admin(&format!(
        "GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO {ROLE}; \
         GRANT CREATE ON SCHEMA public TO {ROLE}; ALTER TABLE leads OWNER TO {ROLE}"
    ));
    Setup {
        s,
        auditor,
        _key: key,
    }
}

/// Runs `cmd` (built for `cgroup`) under strace; its output and every
/// byte it read.
fn run_traced(cgroup: &CgroupGuard, cmd: &Command) -> (Output, Vec<u8>) {
    let trace_dir = TempDir::new("cordon-trace");
    let trace = trace_dir.path().join("trace");
    let out = run(&mut traced(cgroup, cmd, &trace), Duration::from_secs(120));
    let bytes = bytes_read(&trace);
    (out, bytes)
}

/// Checks `bytes` hold none of the real values, and (so a check of
/// encrypted or missing bytes cannot pass) that they hold a masked one.
#[track_caller]
fn assert_masked_only(what: &str, bytes: &[u8]) {
    assert!(
        find(bytes, "****@example.").is_some(),
        "{what}: no masked value among {} bytes read: the check would prove nothing",
        bytes.len()
    );
    assert_no_secret(what, bytes);
}

#[track_caller]
fn assert_no_secret(what: &str, bytes: &[u8]) {
    for secret in SECRETS {
        if let Some(at) = find(bytes, secret) {
            let from = at.saturating_sub(80);
            let to = (at + 80).min(bytes.len());
            panic!(
                "{what} contains the real value {secret:?}: ...{}...",
                String::from_utf8_lossy(&bytes[from..to])
            );
        }
    }
}

const STATEMENTS: [&str; 10] = [
    "SELECT * FROM customers ORDER BY id",
    "SELECT c.email AS e, c.phone, c.card FROM (SELECT * FROM customers) c ORDER BY c.id",
    "WITH x AS (SELECT id, email, ssn FROM customers) SELECT * FROM x ORDER BY id",
    "SELECT contact FROM customer_contacts ORDER BY id",
    "UPDATE customers SET id = id WHERE id = 1 RETURNING email, card, notes",
    "UPDATE customers SET id = -id WHERE id = 2",
    "SELECT email::int FROM customers",
    "SELECT * FROM customers WHERE email LIKE 'a%'",
    "SELECT attname, most_common_vals FROM pg_stats WHERE tablename = 'customers'",
    "NOTIFY agents_channel, 'reach me at dave.other@example.com'",
];

fn info(s: &Scenario) -> Conninfo {
    s.conninfo("127.0.0.1")
}

#[test]
fn masked_values_never_reach_clients_recordings_or_logs() {
    let setup = start();
    let s = &setup.s;

    // psql: text results, COPY, a failing row's detail, a notification.
    let mut statements: Vec<&str> = vec!["LISTEN agents_channel"];
    statements.extend(STATEMENTS);
    statements.push("COPY customers TO STDOUT");
    let mut psql = psql_command(&s.agent, &info(s), &statements);
    psql.env_remove("PGOPTIONS");
    // Every statement runs, refused or not.
    let args: Vec<String> = psql
        .get_args()
        .map(|a| {
            a.to_string_lossy()
                .replace("ON_ERROR_STOP=1", "ON_ERROR_STOP=0")
        })
        .collect();
    let mut psql_all = s.agent.command(psql.get_program());
    psql_all.args(&args);
    for (k, v) in psql.get_envs() {
        if let Some(v) = v {
            psql_all.env(k, v);
        } else {
            psql_all.env_remove(k);
        }
    }
    let (out, bytes) = run_traced(&s.agent, &psql_all);
    assert_masked_only("what psql received", &bytes);
    assert!(
        find(&bytes, "dave.other").is_none(),
        "the notification's email came back to psql"
    );
    let shown = format!("{}{}", out.stdout, out.stderr);
    assert!(
        shown.contains("1|****@example.com|[masked]||**** **** **** 1111|"),
        "{shown}"
    );
    assert!(
        shown.contains("****@example.org|[masked]|**** **** **** 0004"),
        "{shown}"
    );
    assert!(
        shown.contains("1|****@example.com|"),
        "the CTE's email is masked: {shown}"
    );
    assert!(
        shown.contains("withheld by cordon"),
        "the failing row's detail is withheld: {shown}"
    );
    assert!(
        shown.contains("is masked"),
        "casting a masked column is refused: {shown}"
    );
    assert!(
        shown.contains("[redacted email]"),
        "the notification payload is redacted: {shown}"
    );
    assert!(
        shown.contains("1\t****@example.com\t[masked]\t\\N\t**** **** **** 1111\t"),
        "COPY rows are masked: {shown}"
    );
    // The hash is the same for the same value wherever it appears.
    let hashes: Vec<&str> = shown
        .lines()
        .filter_map(|l| l.strip_prefix("1|****@example.com|[masked]||**** **** **** 1111|"))
        .collect();
    assert_eq!(hashes.len(), 1, "{shown}");
    assert_eq!(hashes[0].len(), 32, "a 128-bit hex hash: {shown}");
    assert!(
        shown.contains(&format!("**** **** **** 1111\t{}", hashes[0])),
        "COPY shows the same hash: {shown}"
    );

    // psycopg with binary results, and COPY through its copy API.
    let mut psycopg_statements: Vec<&str> = STATEMENTS[..5].to_vec();
    psycopg_statements.push("COPY customers (id, email, ssn) TO STDOUT");
    psycopg_statements.push("SELECT email, card FROM customers WHERE id = 1");
    let mut args = vec![info(s).to_string()];
    args.extend(psycopg_statements.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let psycopg = client_libs::python_args(&s.agent, "masking_psycopg.py", &args);
    let (out, bytes) = run_traced(&s.agent, &psycopg);
    assert_masked_only("what psycopg received", &bytes);
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("'****@example.com'"), "{out}");
    assert!(out.stdout.contains("'**** **** **** 1111'"), "{out}");

    // asyncpg (binary format for text columns).
    let mut args = vec![format!(
        "postgresql://{APP_USER}:not-the-password@127.0.0.1:{}/postgres?sslmode=disable",
        s.pg.port()
    )];
    args.extend(STATEMENTS[..5].iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let asyncpg = client_libs::python_args(&s.agent, "masking_asyncpg.py", &args);
    let (out, bytes) = run_traced(&s.agent, &asyncpg);
    assert_masked_only("what asyncpg received", &bytes);
    assert!(out.success(), "{out}");
    assert!(out.stdout.contains("'****@example.org'"), "{out}");

    // The recording and the log hold what the agent saw, never the values.
    let state = s.gateway.dir().join("state");
    for entry in std::fs::read_dir(&state).expect("the state directory") {
        let path = entry.expect("an entry").path();
        if path.is_file() {
            let bytes = std::fs::read(&path).expect("readable");
            assert_no_secret(&format!("{}", path.display()), &bytes);
        }
    }
    assert_no_secret("the gateway log", s.gateway.log_text().as_bytes());
    let store = settled_sqlite_store(&state.join("audit.db"));
    let rows = recorded_rows(&store, "agent");
    assert!(
        rows.iter().any(|r| r.contains("****@example.com")),
        "the recording shows the masked rows: {rows:?}"
    );
    let copied: Vec<String> = recorded_statements(&store, Some("agent"))
        .into_iter()
        .flat_map(|r| r.copy_data)
        .collect();
    assert!(
        copied.iter().any(|l| l.contains("****@example.com")),
        "the recording keeps COPY data as it was sent, masked: {copied:?}"
    );

    // The auditor is exempt: it sees the real values, and so does its record.
    let out = run(
        &mut psql_command(
            &setup.auditor,
            &info(s),
            &["SELECT email, ssn FROM customers WHERE id = 1"],
        ),
        Duration::from_secs(60),
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout.trim(), "alice.secret@example.com|123-45-6789");
    let store = settled_sqlite_store(&state.join("audit.db"));
    let rows = recorded_rows(&store, "auditor");
    assert!(
        rows.iter().any(|r| r.contains("alice.secret@example.com")),
        "the auditor's record shows what it saw: {rows:?}"
    );
}

/// Every recorded result row of an identity's sessions, joined by `|`.
fn recorded_rows(store: &dyn AuditStore, identity: &str) -> Vec<String> {
    recorded_statements(store, Some(identity))
        .into_iter()
        .flat_map(|statement| statement.result_rows)
        .map(|row| {
            row.iter()
                .map(|c| c.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

#[test]
fn a_prepared_statement_run_after_a_schema_change_is_masked() {
    let setup = start();
    let s = &setup.s;
    let script = "
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    q = 'SELECT id, contact FROM leads'
    print('before', conn.execute(q, prepare=True).fetchall())
    conn.execute('ALTER TABLE leads RENAME COLUMN contact TO email')
    print('after', conn.execute(q.replace('contact', 'email'), prepare=True).fetchall())
    with conn.cursor(binary=True) as cur:
        print('binary', cur.execute('SELECT * FROM leads', prepare=True).fetchall())
";
    let dir = TempDir::new("cordon-mask-script");
    let path = dir.path().join("schema_change.py");
    std::fs::write(&path, script).expect("written");
    let cmd = client_libs::python_args(&s.agent, path.to_str().unwrap(), &[&info(s).to_string()]);
    let (out, bytes) = run_traced(&s.agent, &cmd);
    assert!(out.success(), "{out}");
    assert_masked_only("what psycopg received", &bytes);
    // Before the rename no mask rule names the column: only the content
    // detectors stand between the value and the agent.
    assert!(
        out.stdout.contains("before [(1, '[redacted email]')]"),
        "{out}"
    );
    // After it, the column's origin is masked, in both formats.
    assert!(
        out.stdout.contains("after [(1, '****@example.net')]"),
        "{out}"
    );
    assert!(
        out.stdout.contains("binary [(1, '****@example.net')]"),
        "{out}"
    );
}

#[test]
fn explain_names_the_masked_output_columns_and_refuses_lost_origins() {
    let (_key, key_file) = key_file();
    let gateway = cordon_e2e::gateway::GatewayBuilder::new()
        .endpoint("main", &["127.0.0.1:5432"], "disable")
        .credential(ROLE, "unused")
        .identity("agent", ROLE, &["agents"])
        .identity("auditor", ROLE, &["auditors"])
        .policy(&format!("{POLICY}\n{}", masks(&key_file)))
        .write();
    let out = gateway.cordon(&[
        "explain",
        "--identity",
        "agent",
        "SELECT c.email AS contact, c.id, c.card FROM customers c",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(
        out.stdout
            .contains("masked: contact <- public.customers.email: partial-email (rule \"emails\")"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("masked: card <- public.customers.card: partial-card (rule \"cards\")"),
        "{out}"
    );
    assert!(
        !out.stdout.contains("c.id <-") && !out.stdout.contains("id <- "),
        "{out}"
    );

    let out = gateway.cordon(&[
        "explain",
        "--identity",
        "agent",
        "SELECT id FROM customers ORDER BY ssn",
    ]);
    assert_eq!(out.code, Some(1), "{out}");
    assert!(out.stdout.contains("mask rule national-ids"), "{out}");
    assert!(out.stdout.contains("ORDER BY"), "{out}");

    // Exempt from every rule: nothing is masked, nothing refused.
    let out = gateway.cordon(&[
        "explain",
        "--identity",
        "auditor",
        "SELECT email FROM customers ORDER BY ssn",
    ]);
    assert_eq!(out.code, Some(0), "{out}");
    assert!(!out.stdout.contains("masked:"), "{out}");
}

#[test]
fn a_table_created_outside_the_gateway_is_masked_at_once() {
    let setup = start();
    let s = &setup.s;
    // The catalog is read for this first statement.
    let out = run(
        &mut psql_command(
            &s.agent,
            &info(s),
            &["SELECT email FROM customers WHERE id = 1"],
        ),
        Duration::from_secs(60),
    );
    assert_eq!(out.stdout.trim(), "****@example.com", "{out}");
    // A DBA adds a table with a masked column, outside the gateway, and an
    // agent reads it at once: the name the snapshot does not know sends
    // the gateway back to the catalog before the statement runs.
    s.pg.psql_admin(&format!(
        "CREATE TABLE signups (id int, email text); \
         INSERT INTO signups VALUES (1, 'erin.fresh@example.com'); \
         GRANT SELECT ON signups TO {ROLE}"
    ));
    let out = run(
        &mut psql_command(&s.agent, &info(s), &["SELECT id, email FROM signups"]),
        Duration::from_secs(60),
    );
    assert!(out.success(), "{out}");
    assert_eq!(out.stdout.trim(), "1|****@example.com", "{out}");
}

/// Fast-path calls of one function that reads a masked column.
const FAST_PATH_CONTACT: &str = r#"
[[allow]]
name = "agents-contact-by-fast-path"
groups = ["agents"]
functions = ["public.contact_of"]
fast_path_calls = true
"#;

#[test]
fn a_fast_path_calls_text_result_goes_through_the_detectors() {
    require_root();
    let (_key, key_file) = key_file();
    let masks = masks(&key_file);
    let s = Scenario::builder()
        .gateway(move |b, _| {
            b.identity("auditor", ROLE, &["auditors"])
                .policy(&format!("{POLICY}\n{FAST_PATH_CONTACT}\n{masks}"))
        })
        .start();
    s.pg.psql_admin(SCHEMA);
    // No column of a table: in SQL, only the detectors stand between its result and
    // the agent, and so they do by fast path.
    s.pg.psql_admin(&format!(
        "CREATE FUNCTION public.contact_of(int) RETURNS text LANGUAGE sql STABLE \
         SECURITY DEFINER AS 'SELECT email FROM public.customers WHERE id = $1'; \
         GRANT EXECUTE ON FUNCTION public.contact_of(int) TO {ROLE}"
    ));
    let oid =
        s.pg.psql_admin("SELECT 'public.contact_of(int)'::pg_catalog.regprocedure::oid")
            .trim()
            .to_owned();
    let call = |conninfo: &str, cgroup| {
        let args = [conninfo, &oid, "text", "int:1"];
        let mut cmd = client_libs::libpq_fast_path(cgroup, &args);
        run(&mut cmd, Duration::from_secs(30))
    };
    let conninfo = format!(
        "host=127.0.0.1 port={} user={APP_USER} password=x dbname=postgres",
        s.pg.port()
    );
    let out = call(&conninfo, Some(&s.agent));
    out.expect_success("the PQfn script");
    assert!(out.stdout.starts_with("result: "), "{out}");
    assert_no_secret("the fast-path result", out.stdout.as_bytes());
    // Straight to the server (never intercepted), the same call returns the address.
    let out = call(&s.pg.socket_conninfo("postgres"), None);
    assert_eq!(
        out.stdout.trim(),
        "result: alice.secret@example.com",
        "{out}"
    );

    // The record holds what the agent got.
    let store = settled_sqlite_store(&s.gateway.dir().join("state/audit.db"));
    let calls: Vec<_> = recorded_statements(&store, Some("agent"))
        .into_iter()
        .filter(|r| r.text.starts_with("-- fast-path call of public.contact_of"))
        .collect();
    assert_eq!(calls.len(), 1, "{calls:#?}");
    let recorded = format!("{:?}", calls[0].result_rows);
    assert!(calls[0].result_rows.len() == 1, "{recorded}");
    assert_no_secret("the recorded fast-path result", recorded.as_bytes());
    s.finish();
}
