//! The SQL policy in the real daemon, with psql against a real PostgreSQL:
//! refusals carry 42501, the rule, the identity and a hint; the server's
//! transaction state is what a failed statement leaves; the search_path is
//! pinned at login so unqualified names mean one thing for the session.
//! (The corpus in `policy_corpus.rs` covers the classifier case by case.)

use std::time::Duration;

use cordon_e2e::{
    client_libs,
    clients::{psql_command, psql_lo_import, Conninfo},
    process::{run, Output},
    require_root,
    scenario::{Scenario, ROLE},
};

const POLICY: &str = r#"
[[allow]]
name = "agents-read-write-public"
groups = ["agents"]
actions = ["read", "insert", "ddl"]
objects = ["public.*"]

[[deny]]
name = "no-secrets"
identities = ["*"]
objects = ["public.secrets"]
"#;

fn start() -> Scenario {
    require_root();
    let s = Scenario::builder().gateway(|b, _| b.policy(POLICY)).start();
    s.pg.psql_admin(&format!(
        "GRANT CREATE ON SCHEMA public TO {ROLE}; \
         CREATE TABLE public.items (id int); GRANT ALL ON public.items TO {ROLE}; \
         CREATE TABLE public.secrets (s text); INSERT INTO public.secrets VALUES ('x'); \
         GRANT ALL ON public.secrets TO {ROLE}"
    ));
    s
}

/// psql that carries on after errors, one Query message per statement.
fn psql_all(s: &Scenario, info: &Conninfo, sqls: &[&str]) -> Output {
    let mut cmd = psql_command(&s.agent, info, sqls);
    cmd.args(["-v", "ON_ERROR_STOP=0", "-v", "VERBOSITY=verbose"]);
    run(&mut cmd, Duration::from_secs(60))
}

#[test]
fn refusals_name_rule_identity_and_keep_the_servers_transaction_semantics() {
    let s = start();
    let info = s.conninfo("127.0.0.1");
    let out = psql_all(
        &s,
        &info,
        &[
            "BEGIN",
            "INSERT INTO items VALUES (1)",
            "DELETE FROM items",
            "SELECT 'still in the failed transaction'",
            "COMMIT",
            "SELECT 'items=' || count(*) FROM items",
            "SELECT * FROM secrets",
            "SELEC 1",
            "SELECT 'session goes on'",
        ],
    );
    for expected in [
        "ERROR:  42501: cordon policy: no allow rule grants identity \"agent\" delete on public.items (default deny)",
        "HINT:  Identity \"agent\" may: read, insert, ddl on public.* (agents-read-write-public).",
        "current transaction is aborted",
        "deny rule \"no-secrets\" refuses read on public.secrets for identity \"agent\"",
        "42501: cordon policy refuses a statement it cannot parse",
    ] {
        assert!(out.stderr.contains(expected), "missing {expected:?}: {out}");
    }
    for expected in ["ROLLBACK", "items=0", "session goes on"] {
        assert!(out.stdout.contains(expected), "missing {expected:?}: {out}");
    }
    assert!(!out.stdout.contains("still in the failed"), "{out}");
    let secrets = s.pg.psql_admin("SELECT count(*) FROM public.secrets");
    assert_eq!(secrets.trim(), "1");
    s.finish();
}

#[test]
fn the_search_path_is_pinned_at_login_to_the_schemas_that_exist() {
    let s = start();
    s.pg.psql_admin(&format!(
        "CREATE SCHEMA {ROLE} AUTHORIZATION {ROLE}; CREATE TABLE {ROLE}.items (id int)"
    ));
    let info = s.conninfo("127.0.0.1");
    // The role's schema exists, so "$user", public pins to it first: the
    // unqualified name may mean cordon_agent.items, which no rule allows.
    let out = psql_all(
        &s,
        &info,
        &["SHOW search_path", "SELECT count(*) FROM items"],
    );
    assert!(out.stdout.contains(&format!("{ROLE}, public")), "{out}");
    assert!(
        out.stderr.contains(&format!("read on {ROLE}.items (the unqualified name items may resolve to any of {ROLE}, public)")),
        "{out}"
    );
    // Without the role's schema, the pinned path is public alone, and later
    // creating the schema cannot change what the session's names mean.
    s.pg.psql_admin(&format!("DROP SCHEMA {ROLE} CASCADE"));
    let out = psql_all(
        &s,
        &info,
        &[
            "SHOW search_path",
            &format!("CREATE SCHEMA {ROLE}"),
            "SET search_path = cordon_agent, public",
            "SELECT 'n=' || count(*) FROM items",
        ],
    );
    assert!(out.stdout.lines().any(|l| l.trim() == "public"), "{out}");
    assert!(
        out.stderr.contains("baseline check \"set-search-path\""),
        "{out}"
    );
    assert!(out.stdout.contains("n=0"), "{out}");
    s.finish();
}

#[test]
fn functions_and_operators_the_database_adds_to_the_search_path_need_grants() {
    let s = start();
    s.pg.psql_admin(&format!(
        "CREATE TABLE public.calls (n int); GRANT ALL ON public.calls TO {ROLE}; \
         CREATE FUNCTION public.lower(integer) RETURNS integer LANGUAGE sql VOLATILE \
         AS 'INSERT INTO public.calls VALUES (1) RETURNING 1'"
    ));
    let info = s.conninfo("127.0.0.1");
    let out = psql_all(
        &s,
        &info,
        &["SELECT lower(42)", "SELECT 'ok=' || upper('x')"],
    );
    assert!(
        out.stderr.contains(
            "a call of lower (the database defines a function of this name in the search path"
        ),
        "{out}"
    );
    assert!(out.stdout.contains("ok=X"), "{out}");
    assert_eq!(
        s.pg.psql_admin("SELECT count(*) FROM public.calls").trim(),
        "0"
    );
    s.finish();
}

/// Large objects by fast path, as libpq does them, and nothing else.
const FAST_PATH_POLICY: &str = r#"
[[allow]]
name = "agents-read-catalog"
groups = ["agents"]
actions = ["read"]
objects = ["pg_catalog.*"]

[[allow]]
name = "agents-large-objects"
groups = ["agents"]
functions = ["lo_creat", "lo_create", "lo_open", "lowrite", "loread", "lo_close", "public.answer"]
fast_path_calls = true
"#;

#[test]
fn fast_path_calls_are_judged_as_calls_of_the_function_their_oid_names() {
    require_root();
    let s = Scenario::builder()
        .gateway(|b, _| b.policy(FAST_PATH_POLICY))
        .start();
    // Were the gateway to let it by, the server would write the file.
    s.pg.psql_admin(&format!(
        "GRANT EXECUTE ON FUNCTION pg_catalog.lo_export(oid, text) TO {ROLE}"
    ));
    let lo_export_oid =
        s.pg.psql_admin("SELECT 'pg_catalog.lo_export(oid, text)'::pg_catalog.regprocedure::oid")
            .trim()
            .to_owned();
    let info = s.conninfo("127.0.0.1");

    // libpq's own large-object calls are granted: psql's \lo_import works.
    let upload = s.gateway.dir().join("upload.txt");
    std::fs::write(&upload, "large object body").expect("writing the file to import");
    let object = psql_lo_import(&s.agent, &info, &upload);

    // Server-side lo_export by fast path is not: it is judged like SELECT lo_export(...).
    // (Beside the server's socket: a directory its OS user can reach.)
    let outputs = s.pg.socket_dir().join("server-writes");
    std::fs::create_dir(&outputs).expect("a directory");
    std::fs::set_permissions(
        &outputs,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("open to the server");
    let through_gateway = outputs.join("through-gateway");
    let conninfo = format!(
        "host=127.0.0.1 port={} user=app_user password=x dbname=postgres",
        s.pg.port()
    );
    let lo_export = |conninfo: &str, cgroup, path: &std::path::Path| {
        let object = format!("int:{object}");
        let path = format!("text:{}", path.display());
        let args = [conninfo, &lo_export_oid, "int", &object, &path];
        let mut cmd = client_libs::libpq_fast_path(cgroup, &args);
        run(&mut cmd, Duration::from_secs(30))
    };
    let out = lo_export(&conninfo, Some(&s.agent), &through_gateway);
    out.expect_success("the PQfn script");
    assert!(
        out.stdout.contains(&format!(
            "(a fast-path call of pg_catalog.lo_export, oid {lo_export_oid})"
        )),
        "{out}"
    );
    assert!(
        out.stdout.starts_with("failed: ERROR:  cordon policy"),
        "{out}"
    );
    assert!(
        !through_gateway.exists(),
        "the server wrote the file: {out}"
    );

    // The same call straight to the server (its socket, never intercepted) writes it:
    // the script does call lo_export.
    let direct = outputs.join("direct");
    let out = lo_export(&s.pg.socket_conninfo("postgres"), None, &direct);
    assert!(out.stdout.contains("result: 1"), "{out}");
    assert_eq!(
        std::fs::read_to_string(&direct).expect("written by the server"),
        "large object body"
    );

    // A function created after earlier sessions read the database's function OIDs is
    // known to the next session: the OIDs' digest changed, so it reads them again.
    s.pg.psql_admin(&format!(
        "CREATE FUNCTION public.answer() RETURNS int LANGUAGE sql AS 'SELECT 42'; \
         GRANT EXECUTE ON FUNCTION public.answer() TO {ROLE}"
    ));
    let answer_oid =
        s.pg.psql_admin("SELECT 'public.answer()'::pg_catalog.regprocedure::oid")
            .trim()
            .to_owned();
    let mut cmd = client_libs::libpq_fast_path(Some(&s.agent), &[&conninfo, &answer_oid, "int"]);
    let out = run(&mut cmd, Duration::from_secs(30));
    assert_eq!(out.stdout.trim(), "result: 42", "{out}");

    // The refusal names the call's function in the log too.
    assert!(
        s.gateway
            .log_text()
            .contains("(a fast-path call of pg_catalog.lo_export"),
        "{}",
        s.gateway.log_text()
    );
    s.finish();
}
