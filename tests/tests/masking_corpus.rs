//! The masking bypass corpus over the wire: the real daemon with mask rules
//! matching `tests/masking-corpus/relations.toml`, every case run by psycopg
//! 3 with binary results through the gateway. Each case is refused before it
//! runs, or its results arrive masked: no byte the client received (read off
//! its system calls with strace) holds a masked value.

use std::time::Duration;

use cordon_e2e::{
    client_libs,
    masking_corpus::{corpus_dir, load_cases},
    process::run,
    received::{bytes_read, traced},
    require_root,
    scenario::{Scenario, APP_USER, ROLE},
    tempdir::TempDir,
};

/// Only the masks judge: the policy allows everything but its baseline.
const RULES: &str = r#"
[[allow]]
name = "everything"
groups = ["agents"]
actions = ["all"]
functions = ["*"]

[[mask]]
name = "customer contact"
columns = ["public.customers.email"]
mask = "partial-email"

[[mask]]
name = "phone"
columns = ["public.customers.phone"]
mask = "redact"
allow_uses = ["filter", "sort"]

[[mask]]
name = "national id"
columns = ["public.customers.ssn"]
mask = "null"

[[mask]]
name = "payment card"
columns = ["public.customers.card"]
mask = "partial-card"
"#;

/// The masked values of `schema.sql`, as parts that survive case changes,
/// JSON, arrays and concatenation (compared without case).
const SECRETS: [&str; 8] = [
    "alice@",
    "bob@",
    "555-0100",
    "555-0199",
    "123-45-6789",
    "987-65-4321",
    "4111111111111111",
    "5500000000000004",
];

#[test]
fn every_corpus_case_is_masked_or_refused_over_the_wire() {
    require_root();
    let s = Scenario::builder().gateway(|b, _| b.policy(RULES)).start();
    let schema = std::fs::read_to_string(corpus_dir().join("schema.sql")).expect("schema.sql");
    s.pg.psql_admin(&schema);
    s.pg.psql_admin(&format!(
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO {ROLE}; GRANT CREATE ON SCHEMA public TO {ROLE}"
    ));

    let cases = load_cases();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let listed: Vec<serde_json::Value> = cases
        .iter()
        .map(|c| serde_json::json!({"name": c.name, "sql": c.sql, "fetch": c.fetch}))
        .collect();
    let dir = TempDir::new("cordon-masking-corpus");
    let list = dir.path().join("cases.json");
    std::fs::write(&list, serde_json::to_vec(&listed).unwrap()).expect("written");
    let dsn = format!(
        "postgresql://{APP_USER}:not-the-password@127.0.0.1:{}/postgres?sslmode=disable",
        s.pg.port()
    );
    let client = client_libs::python_args(
        &s.agent,
        "masking_corpus.py",
        &[&dsn, list.to_str().unwrap()],
    );
    let trace = dir.path().join("trace");
    let out = run(
        &mut traced(&s.agent, &client, &trace),
        Duration::from_secs(300),
    );
    assert!(out.success(), "{out}");

    let received = String::from_utf8_lossy(&bytes_read(&trace)).to_lowercase();
    assert!(
        received.contains("****@example.com"),
        "no masked value among what the client read: the check would prove nothing"
    );
    for secret in SECRETS {
        if let Some(at) = received.find(secret) {
            let from = received.floor_char_boundary(at.saturating_sub(120));
            let to = received.ceil_char_boundary((at + 120).min(received.len()));
            let cases: Vec<&str> = out
                .stdout
                .lines()
                .filter(|l| l.to_lowercase().contains(secret))
                .collect();
            panic!(
                "the client received {secret:?}: ...{}...\ncases showing it: {cases:#?}",
                &received[from..to]
            );
        }
    }
    let mut failures = Vec::new();
    for case in &cases {
        let line = out
            .stdout
            .lines()
            .find(|l| l.split(' ').next() == Some(case.name.as_str()))
            .unwrap_or_else(|| panic!("no result for {}: {out}", case.name));
        let refused = line.contains(" error 42501 ");
        // The policy's baseline refuses some cases masking allows (COPY
        // ... TO PROGRAM): only masking's own refusals count against them.
        let masking_refused = refused && line.contains("is masked for identity");
        match case.expect.as_str() {
            "refused" if !refused => failures.push(format!("{}: not refused: {line}", case.name)),
            "allowed" if masking_refused => {
                failures.push(format!("{}: refused: {line}", case.name))
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}\n\n{out}", failures.join("\n"));
}
