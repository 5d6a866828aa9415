//! The analysis against the shared corpus (`tests/masking-corpus/`) and
//! cases that need a fixture of their own.

use std::path::PathBuf;

use super::*;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/masking-corpus")
}

fn fixture() -> FixedRelations {
    let text =
        std::fs::read_to_string(corpus_dir().join("relations.toml")).expect("relations.toml");
    FixedRelations::from_toml(&text).expect("relations.toml parses")
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    sql: String,
    expect: String,
    #[serde(rename = "use")]
    usage: Option<String>,
    #[allow(dead_code)]
    fetch: Option<String>,
    #[allow(dead_code)]
    note: Option<String>,
}

fn verdict(sql: &str, relations: &dyn MaskedRelations) -> String {
    match check_text(sql, relations) {
        Ok(()) => "allowed".into(),
        Err(CheckError::LostOrigin(lost)) => format!("refused {}", lost.usage),
        Err(e) => format!("error {e}"),
    }
}

#[test]
fn corpus_cases_get_their_verdicts() {
    let relations = fixture();
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir().join("cases"))
        .expect("the corpus directory")
        .map(|e| e.expect("a corpus entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 100, "{} corpus cases", files.len());
    let mut wrong = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a case file");
        let case: Case =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let expected = match (&*case.expect, &case.usage) {
            ("allowed", None) => "allowed".to_owned(),
            ("refused", Some(usage)) => {
                assert!(
                    Use::ALL.iter().any(|u| u.name() == usage),
                    "{}: unknown use {usage}",
                    file.display()
                );
                format!("refused {usage}")
            }
            other => panic!("{}: bad expect/use {other:?}", file.display()),
        };
        let got = verdict(&case.sql, &relations);
        if got != expected {
            wrong.push(format!(
                "{}: {}\n    expected {expected}, got {got}",
                file.file_name().unwrap().to_string_lossy(),
                case.sql
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cases wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

fn refused(sql: &str) -> LostOrigin {
    match check_text(sql, &fixture()) {
        Err(CheckError::LostOrigin(lost)) => lost,
        other => panic!("{sql}: expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_refusal_names_column_rule_use_and_identity() {
    let lost = refused("SELECT id FROM customers WHERE email LIKE 'a%'");
    assert_eq!(lost.column, "public.customers.email");
    assert_eq!(lost.rule, "customer contact");
    assert_eq!(lost.usage, Use::Filter);
    assert_eq!(
        lost.message("agent"),
        "cordon: column public.customers.email is masked for identity \"agent\" (mask rule \
         \"customer contact\"); using it in a WHERE, HAVING or FILTER condition is refused: \
         the result would reveal its values row by row"
    );
    assert!(lost.hint().contains("SELECT email FROM"), "{}", lost.hint());
}

#[test]
fn a_renamed_column_is_named_by_its_base_column() {
    let lost = refused("SELECT e FROM (SELECT ssn AS e FROM customers) s ORDER BY e");
    assert_eq!(lost.column, "public.customers.ssn");
    assert_eq!(lost.usage, Use::Sort);
    let lost = refused("SELECT telephone || '' FROM customer_view");
    assert_eq!(lost.column, "public.customer_view.telephone");
}

#[test]
fn statements_without_masked_relations_pass_untouched() {
    let relations = fixture();
    for sql in [
        "SELECT email FROM orders WHERE email LIKE 'a%' ORDER BY email",
        "SELECT lower(email), count(*) FROM orders GROUP BY 1",
        "INSERT INTO audit_log SELECT id, email FROM orders",
        "SET search_path TO public",
        "SELECT 1",
    ] {
        assert_eq!(verdict(sql, &relations), "allowed", "{sql}");
    }
}

#[test]
fn unparsable_text_is_refused() {
    assert!(matches!(
        check_text("SELEC email FROM customers", &fixture()),
        Err(CheckError::Unparsable(_))
    ));
}

#[test]
fn every_statement_of_a_text_is_checked() {
    assert_eq!(
        verdict(
            "SELECT 1; SELECT id FROM customers ORDER BY card",
            &fixture()
        ),
        "refused sort"
    );
}

#[test]
fn cte_scoping_follows_postgresql() {
    let relations = fixture();
    // The WITH query named customers shadows the table in the main query...
    assert_eq!(
        verdict(
            "WITH customers AS (SELECT 1 AS id, 'x' AS email) SELECT id FROM customers ORDER BY email",
            &relations
        ),
        "allowed"
    );
    // ...but not inside its own body (not recursive), where it is the table.
    assert_eq!(
        verdict(
            "WITH customers AS (SELECT id, email FROM customers ORDER BY email) SELECT id FROM customers",
            &relations
        ),
        "refused sort"
    );
    // A later WITH query sees the earlier one's masked outputs.
    assert_eq!(
        verdict(
            "WITH a AS (SELECT card AS k FROM customers), b AS (SELECT k AS z FROM a) SELECT z FROM b WHERE z > '4'",
            &relations
        ),
        "refused filter"
    );
    // The target of UPDATE, DELETE, INSERT or MERGE is always the table.
    assert_eq!(
        verdict(
            "WITH customers AS (SELECT 1 AS x) UPDATE customers SET notes = email",
            &relations
        ),
        "refused copied_elsewhere"
    );
    assert_eq!(
        verdict(
            "WITH customers AS (SELECT 1 AS x) DELETE FROM customers WHERE ssn LIKE '1%'",
            &relations
        ),
        "refused filter"
    );
    // A recursive WITH query carries masked values around its loop.
    assert_eq!(
        verdict(
            "WITH RECURSIVE r(n, v) AS (SELECT 1, 'x' UNION ALL SELECT n + 1, c.email FROM r, customers c WHERE n < 2) SELECT n FROM r",
            &relations
        ),
        "refused set_operation"
    );
}

#[test]
fn uses_a_rule_allows_pass_and_others_do_not() {
    let relations = fixture();
    assert_eq!(
        verdict(
            "SELECT id FROM customers WHERE phone LIKE '+1%' ORDER BY phone",
            &relations
        ),
        "allowed"
    );
    assert_eq!(
        verdict("SELECT id FROM customers GROUP BY id, phone", &relations),
        "refused group"
    );
    assert_eq!(
        verdict(
            "SELECT id FROM customers c JOIN orders o ON o.email = c.phone",
            &relations
        ),
        "refused join"
    );
}

#[test]
fn qualified_references_resolve_through_aliases() {
    let relations = fixture();
    // o.email is the orders column, which nobody masks.
    assert_eq!(
        verdict("SELECT c.email FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.email = 'x'", &relations),
        "allowed"
    );
    assert_eq!(
        verdict("SELECT c.id FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.email = 'x'", &relations),
        "refused filter"
    );
}

#[test]
fn function_bodies_naming_masked_tables_are_refused() {
    let relations = fixture();
    assert_eq!(
        verdict(
            "DO $$ BEGIN PERFORM 1 FROM public.customers; END $$",
            &relations
        ),
        "refused copied_elsewhere"
    );
    assert_eq!(
        verdict("DO $$ BEGIN PERFORM 1 FROM orders; END $$", &relations),
        "allowed"
    );
    assert_eq!(
        verdict(
            "CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN INSERT INTO audit_log SELECT id, ssn FROM \"customers\"; END $$",
            &relations
        ),
        "refused copied_elsewhere"
    );
}

#[test]
fn use_names_round_trip() {
    for usage in Use::ALL {
        let parsed = Use::parse(usage.name());
        assert_eq!(parsed.is_some(), usage.allowable(), "{usage}");
        if let Some(parsed) = parsed {
            assert_eq!(parsed, usage);
        }
    }
}

#[test]
fn shapes_beyond_the_corpus() {
    let relations = fixture();
    for (sql, expected) in [
        // Statements the judge has no rule for are searched as expressions.
        ("ALTER TABLE customers ADD CONSTRAINT c CHECK (email <> '')", "refused expression"),
        ("CREATE INDEX ON customers (email)", "allowed"),
        ("CREATE INDEX ON customers (lower(ssn))", "refused expression"),
        // Writing into masked columns, or loading a table, reads nothing.
        ("COPY customers FROM STDIN", "allowed"),
        ("INSERT INTO customers (id, email) VALUES (5, 'x@example.net')", "allowed"),
        ("DELETE FROM customers WHERE id = 1", "allowed"),
        // Stars in subqueries whose values are compared or copied.
        ("SELECT id FROM orders WHERE (id, email, 'a', 'b', 'c', 'd') = ANY (SELECT c.* FROM customers c)", "refused filter"),
        ("INSERT INTO customers SELECT * FROM customers", "refused copied_elsewhere"),
        // EXISTS ignores its target list.
        ("SELECT 1 WHERE EXISTS (SELECT email, lower(ssn) FROM customers)", "allowed"),
        // A window defined once and used by name.
        ("SELECT id, rank() OVER w FROM customers WINDOW w AS (ORDER BY card)", "refused sort"),
        // CTE SEARCH orders by its columns.
        (
            "WITH RECURSIVE r(id) AS (SELECT id FROM customers UNION ALL SELECT id + 1 FROM r WHERE id < 3) \
             SEARCH DEPTH FIRST BY id SET ord SELECT id FROM r",
            "allowed",
        ),
        // A function in FROM carries what its arguments do under its names.
        ("SELECT x FROM customers c, LATERAL upper(c.email) AS x", "refused expression"),
        // A join with an alias is a whole row too.
        ("SELECT j FROM (customers c JOIN orders o ON o.customer_id = c.id) AS j", "refused whole_row"),
        // Derived view columns are refused wherever they appear.
        ("SELECT v.id FROM customer_view v ORDER BY v.ssn_upper", "refused derived"),
        ("SELECT count(*) FROM customer_view", "allowed"),
        // An aggregate of an expression over a masked column is still refused.
        ("SELECT sum(length(email)) FROM customers", "refused aggregate"),
        // EXPLAIN judges its statement.
        ("EXPLAIN (FORMAT JSON) SELECT email, phone FROM customers", "allowed"),
        ("EXPLAIN SELECT lower(email) FROM customers", "refused expression"),
        // A schema-qualified table and a quoted name are the same relation.
        ("SELECT id FROM public.\"customers\" ORDER BY \"ssn\"", "refused sort"),
    ] {
        assert_eq!(verdict(sql, &relations), expected, "{sql}");
    }
}

#[test]
fn a_rule_allowing_aggregates_covers_aggregates_only() {
    let relations = FixedRelations::from_toml(
        r#"
        search_path = ["public"]
        [[relation]]
        qualified = "public.t"
        [[relation.columns]]
        name = "amount"
        rule = "amounts"
        allowed = ["aggregate", "group"]
        "#,
    )
    .unwrap();
    for (sql, expected) in [
        (
            "SELECT sum(amount), count(DISTINCT amount) FROM t",
            "allowed",
        ),
        ("SELECT amount, count(*) FROM t GROUP BY amount", "allowed"),
        ("SELECT amount + 1 FROM t", "refused expression"),
        // A user function of the same name is not the built-in aggregate.
        ("SELECT public.sum(amount) FROM t", "refused expression"),
        ("SELECT id FROM t WHERE amount > 10", "refused filter"),
        // Copying is never allowed, aggregated or not.
        (
            "INSERT INTO t2 SELECT sum(amount) FROM t",
            "refused copied_elsewhere",
        ),
    ] {
        assert_eq!(verdict(sql, &relations), expected, "{sql}");
    }
}

#[test]
fn sql_hidden_in_strings_or_prepared_statements() {
    let relations = fixture();
    for (sql, expected) in [
        (
            "SELECT query_to_xml('SELECT email FROM customers', true, false, '')",
            "refused copied_elsewhere",
        ),
        (
            "SELECT query_to_xml('SELECT id FROM orders', true, false, '')",
            "allowed",
        ),
        (
            "SELECT pg_catalog.table_to_xml('public.customers', true, false, '')",
            "refused copied_elsewhere",
        ),
        (
            "SELECT cursor_to_xml('c', 10, true, false, '')",
            "refused copied_elsewhere",
        ),
        (
            "SELECT schema_to_xml('public', true, false, '')",
            "refused copied_elsewhere",
        ),
        (
            "CREATE TABLE copy AS EXECUTE prepared_select",
            "refused copied_elsewhere",
        ),
        ("EXECUTE prepared_select", "allowed"),
    ] {
        assert_eq!(verdict(sql, &relations), expected, "{sql}");
    }
    // Without any masked column, nothing hidden can read one.
    let nothing = FixedRelations::default();
    assert_eq!(
        verdict("SELECT cursor_to_xml('c', 10, true, false, '')", &nothing),
        "allowed"
    );
    assert_eq!(
        verdict("CREATE TABLE copy AS EXECUTE prepared_select", &nothing),
        "allowed"
    );
    let lost = refused("CREATE TABLE copy AS EXECUTE prepared_select");
    assert_eq!(
        lost.message("agent"),
        "cordon: identity \"agent\" has masked columns, and this statement may use them to copy \
         its values elsewhere (INSERT, UPDATE, CREATE TABLE AS, SELECT INTO, COPY, a function \
         body) without naming them: CREATE TABLE AS EXECUTE stores the rows of prepared \
         statement prepared_select, which this check cannot see; refused"
    );
}

#[test]
fn expression_results_stay_masked_when_a_rule_allows_the_expression() {
    let relations = FixedRelations::from_toml(
        r#"
        search_path = ["public"]
        [[relation]]
        qualified = "public.t"
        [[relation.columns]]
        name = "secret"
        rule = "secrets"
        allowed = ["expression"]
        "#,
    )
    .unwrap();
    for (sql, expected) in [
        ("SELECT upper(secret) FROM t", "allowed"),
        // The expression's output, under the name it is given or the one
        // PostgreSQL figures for it, is still the masked column's values.
        ("SELECT x FROM (SELECT upper(secret) AS x FROM t) s WHERE x = 'A'", "refused filter"),
        ("SELECT upper FROM (SELECT upper(secret) FROM t) s ORDER BY upper", "refused sort"),
        ("SELECT greatest FROM (SELECT greatest(secret, 'a') FROM t) s WHERE greatest = 'b'", "refused filter"),
        ("WITH c AS (SELECT CASE WHEN true THEN secret END FROM t) SELECT 1 FROM c GROUP BY 1, \"case\"", "refused group"),
        // Functions in FROM name their columns as only the catalog knows.
        ("SELECT value FROM t, jsonb_each(jsonb_build_object('s', t.secret))", "refused expression"),
    ] {
        assert_eq!(verdict(sql, &relations), expected, "{sql}");
    }
}

#[test]
fn bodies_that_hide_what_they_read_are_refused_when_anything_is_masked() {
    let relations = fixture();
    let nothing = FixedRelations::default();
    for sql in [
        "DO $$ BEGIN EXECUTE 'SELECT em' || 'ail FROM cust' || 'omers'; END $$",
        "DO $$ BEGIN PERFORM query_to_xml('SELECT 1', true, false, ''); END $$",
        "CREATE FUNCTION f() RETURNS text LANGUAGE plpython3u AS 'return 1'",
        "DO LANGUAGE plperl $$ 1; $$",
    ] {
        assert_eq!(
            verdict(sql, &relations),
            "refused copied_elsewhere",
            "{sql}"
        );
        assert_eq!(verdict(sql, &nothing), "allowed", "{sql}");
    }
    for sql in [
        "DO $$ BEGIN PERFORM 1 FROM orders; END $$",
        "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql AS 'SELECT a + 1'",
        "CREATE FUNCTION g(a int) RETURNS int RETURN a + 1",
    ] {
        assert_eq!(verdict(sql, &relations), "allowed", "{sql}");
    }
}

/// `cargo test --release -p cordon --lib masking::uses::tests::cost -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, run by hand in release mode"]
fn cost() {
    let relations = fixture();
    for sql in [
        "SELECT o.id, o.total FROM orders o WHERE o.customer_id = $1 ORDER BY o.id",
        "SELECT c.email, o.total FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = $1",
        "WITH recent AS (SELECT customer_id, max(total) AS top FROM orders GROUP BY customer_id) \
         SELECT c.id, c.email, c.phone, r.top FROM customers c JOIN recent r ON r.customer_id = c.id \
         WHERE c.notes <> '' ORDER BY r.top DESC LIMIT 10",
    ] {
        let parsed = pg_query::parse(sql, pg_query::ParserOptions::DEFAULT).unwrap();
        let stmt = parsed.protobuf.stmts[0].stmt.as_ref().unwrap();
        let rounds = 5000;
        let start = std::time::Instant::now();
        for _ in 0..rounds {
            check(stmt, &relations).unwrap();
        }
        eprintln!("{:?} per check: {sql}", start.elapsed() / rounds);
    }
}

#[test]
fn whole_rows_handed_to_other_code_or_tables() {
    let relations = fixture();
    for (sql, expected) in [
        (
            "CREATE TRIGGER t BEFORE UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION copy_row()",
            "refused copied_elsewhere",
        ),
        (
            "CREATE TRIGGER t BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION f()",
            "allowed",
        ),
        (
            "CREATE RULE r AS ON UPDATE TO customers DO ALSO INSERT INTO audit_log SELECT new.*",
            "refused copied_elsewhere",
        ),
        (
            "CREATE PUBLICATION p FOR TABLE customers",
            "refused copied_elsewhere",
        ),
        (
            "ALTER TABLE customers INHERIT people",
            "refused copied_elsewhere",
        ),
        (
            "ALTER TABLE people ATTACH PARTITION customers FOR VALUES IN (1)",
            "refused copied_elsewhere",
        ),
        ("ALTER TABLE customers ADD COLUMN extra text", "allowed"),
        (
            "CREATE FOREIGN TABLE ft (email text) SERVER loopback OPTIONS (table_name 'customers')",
            "refused copied_elsewhere",
        ),
        (
            "IMPORT FOREIGN SCHEMA public FROM SERVER loopback INTO mirror",
            "refused copied_elsewhere",
        ),
    ] {
        assert_eq!(verdict(sql, &relations), expected, "{sql}");
    }
}

#[test]
fn definitions_that_reveal_values() {
    let relations = fixture();
    for (sql, expected) in [
        (
            "CREATE STATISTICS s (mcv) ON email, phone FROM customers",
            "refused group",
        ),
        (
            "CLUSTER customers USING customers_email_idx",
            "refused sort",
        ),
        ("CREATE UNIQUE INDEX ON customers (email)", "refused group"),
        ("CREATE UNIQUE INDEX ON customers (id)", "allowed"),
        ("ALTER TABLE customers ADD UNIQUE (ssn)", "refused group"),
        (
            "CREATE TABLE guesses (e text REFERENCES customers (email))",
            "refused filter",
        ),
        (
            "CREATE TABLE guesses (c int REFERENCES customers (id))",
            "allowed",
        ),
        (
            "ALTER TABLE orders ADD FOREIGN KEY (email) REFERENCES customers (card)",
            "refused filter",
        ),
    ] {
        assert_eq!(verdict(sql, &relations), expected, "{sql}");
    }
}
