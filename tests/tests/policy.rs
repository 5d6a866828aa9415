//! The SQL policy in the real daemon, with psql against a real PostgreSQL:
//! refusals carry 42501, the rule, the identity and a hint; the server's
//! transaction state is what a failed statement leaves; the search_path is
//! pinned at login so unqualified names mean one thing for the session.
//! (The corpus in `policy_corpus.rs` covers the classifier case by case.)

use std::time::Duration;

use cordon_e2e::{
    clients::{psql_command, Conninfo},
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
