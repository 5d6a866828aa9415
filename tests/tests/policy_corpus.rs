//! The statement policy against its corpus (`tests/policy-corpus/`): every case through
//! `cordon explain`, and over the wire through the gateway to a real PostgreSQL where
//! every statement the gateway must stop is shown to have changed nothing. A third test
//! runs the cases straight on the server to keep the fixture honest: what the corpus
//! expects allowed works there, and what it expects refused would have had an effect.
//!
//! Each test collects every mismatch and fails once, listing them all.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use cordon_e2e::{
    cgroup::CgroupGuard,
    cordon_bin,
    gateway::GatewayBuilder,
    policy_corpus::{self, outcome, AllowedEffect, Case, Direct, Outcome, Verdict, IDENTITIES},
    postgres::TestPostgres,
    process::run,
    require_root,
    tempdir::TempDir,
};

/// What the issue asks of the corpus at the least.
const MIN_CASES: usize = 80;

#[track_caller]
fn assert_no_mismatches(what: &str, total: usize, mismatches: &[String]) {
    assert!(
        mismatches.is_empty(),
        "{what}: {} of {total} cases disagree:\n\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

fn label(case: &Case) -> String {
    format!(
        "{} [{} {:?}] {}",
        case.name,
        case.identity,
        case.protocol,
        case.summary()
    )
}

#[test]
fn corpus_files_are_well_formed() {
    let cases = policy_corpus::load();
    assert!(
        cases.len() >= MIN_CASES,
        "{} cases, at least {MIN_CASES} wanted",
        cases.len()
    );
    for verdict in [Verdict::Allowed, Verdict::Refused, Verdict::Approval] {
        assert!(
            cases.iter().any(|c| c.expect == verdict),
            "no {verdict:?} case"
        );
    }
    let policy = policy_corpus::policy();
    toml::from_str::<toml::Table>(&policy).expect("policy.toml is TOML");
    for identity in IDENTITIES {
        assert!(
            cases.iter().any(|c| c.identity == identity.name),
            "no case for {}",
            identity.name
        );
    }
}

#[test]
fn corpus_through_explain() {
    let cases = policy_corpus::load();
    let dir = TempDir::new("cordon-test-corpus-explain");
    let config = dir.path().join("cordon.toml");
    std::fs::write(&config, policy_corpus::explain_config()).expect("writing the config");
    let started = Instant::now();
    let mut mismatches = Vec::new();
    for case in &cases {
        let mut cmd = Command::new(cordon_bin());
        cmd.arg("explain")
            .arg("--config")
            .arg(&config)
            .args([
                "--identity",
                &case.identity,
                "--search-path",
                "public",
                "--",
            ])
            .arg(case.explain_sql("/tmp/cordon-corpus"));
        let out = run(&mut cmd, Duration::from_secs(30));
        let verdict = case.explain_expect.unwrap_or(case.expect);
        let expected = verdict.exit_code();
        let mut wrong = Vec::new();
        if out.code != Some(expected) {
            wrong.push(format!(
                "expected {verdict:?} (exit {expected}), exit {:?}",
                out.code
            ));
        }
        if out.stdout.trim().is_empty() {
            wrong.push("printed nothing".into());
        }
        if let Some(rule) = case.rule.as_ref().filter(|_| case.explain_expect.is_none()) {
            if !out.stdout.contains(rule.as_str()) {
                wrong.push(format!("output does not name {rule:?}"));
            }
        }
        if !wrong.is_empty() {
            mismatches.push(format!(
                "{}\n    {}\n    stdout: {}\n    stderr: {}",
                label(case),
                wrong.join("; "),
                out.stdout.trim().replace('\n', "\n            "),
                out.stderr.trim().lines().next().unwrap_or("")
            ));
        }
    }
    eprintln!(
        "cordon explain: {} cases in {:?}",
        cases.len(),
        started.elapsed()
    );
    assert_no_mismatches("cordon explain", cases.len(), &mismatches);
}

#[test]
fn corpus_over_the_wire() {
    require_root();
    let cases = policy_corpus::load();
    let pg = TestPostgres::start();
    policy_corpus::set_up_database(&pg);
    let files = policy_corpus::server_files();
    let cgroups: Vec<CgroupGuard> = IDENTITIES
        .iter()
        .map(|i| CgroupGuard::unique(&format!("corpus-{}", i.name)))
        .collect();
    let mut builder = GatewayBuilder::new().endpoint_for(&pg);
    for (identity, cgroup) in IDENTITIES.iter().zip(&cgroups) {
        builder = builder
            .credential(identity.role, policy_corpus::ROLE_PASSWORD)
            .identity(identity.name, identity.role, identity.groups)
            .bind(cgroup.path(), identity.name);
    }
    let gateway = builder
        .policy(&format!("\n{}", policy_corpus::policy()))
        .start();

    let started = Instant::now();
    let tmp = files.path().to_str().expect("a UTF-8 temporary path");
    let admin = policy_corpus::admin_dsn(&pg);
    let mut mismatches = Vec::new();
    for (identity, cgroup) in IDENTITIES.iter().zip(&cgroups) {
        let mine: Vec<&Case> = cases
            .iter()
            .filter(|c| c.identity == identity.name)
            .collect();
        // The client claims some user and a wrong password: the gateway uses its own.
        let dsn = format!(
            "host=127.0.0.1 port={} user=agent password=not-the-password dbname={} \
             sslmode=disable connect_timeout=10",
            pg.port(),
            policy_corpus::DATABASE
        );
        let runs = policy_corpus::run_cases(cgroup, &dsn, &admin, tmp, &mine);
        for (case, seen) in mine.iter().zip(&runs) {
            if let Some(problem) = wire_mismatch(case, seen) {
                mismatches.push(format!("{}\n    {problem}", label(case)));
            }
        }
    }
    eprintln!(
        "over the wire: {} cases in {:?}",
        cases.len(),
        started.elapsed()
    );
    drop(gateway);
    assert_no_mismatches("over the wire", cases.len(), &mismatches);
}

/// What is wrong with one case's run through the gateway, if anything.
fn wire_mismatch(case: &Case, seen: &policy_corpus::CaseRun) -> Option<String> {
    if let Some(failed) = seen.effect_failed() {
        return Some(failed.to_string());
    }
    let got = outcome(&seen.errors);
    let verdict_ok = matches!(
        (case.expect, &got),
        (Verdict::Allowed, Outcome::Allowed)
            | (Verdict::Refused, Outcome::Refused(_))
            | (Verdict::Approval, Outcome::Approval(_))
    );
    let mut wrong = Vec::new();
    if !verdict_ok {
        wrong.push(format!("expected {:?}, got {got}", case.expect));
    }
    if let (Some(rule), Outcome::Refused(m) | Outcome::Approval(m)) = (&case.rule, &got) {
        if !m.contains(rule.as_str()) {
            wrong.push(format!("the refusal does not name {rule:?}: {m}"));
        }
    }
    let must_keep =
        case.expect != Verdict::Allowed || case.allowed_effect == Some(AllowedEffect::Unchanged);
    if must_keep && seen.effect_changed() {
        wrong.push(format!("the effect changed: {}", seen.effect_change()));
    }
    if case.allowed_effect == Some(AllowedEffect::Changed) && !seen.effect_changed() {
        wrong.push(format!(
            "the effect did not change: {}",
            seen.effect_change()
        ));
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

/// Straight on the server as each identity's role, no gateway: every allowed case
/// succeeds, and every case the gateway must stop succeeds too and changes its effect
/// (unless marked otherwise). All allowed cases run first, then the rest, so that no
/// destructive case runs before an allowed one that needs what it destroys.
#[test]
fn corpus_fixtures_hold_on_the_server() {
    require_root();
    let cases = policy_corpus::load();
    let pg = TestPostgres::start();
    policy_corpus::set_up_database(&pg);
    let files = policy_corpus::server_files();
    let tmp = files.path().to_str().expect("a UTF-8 temporary path");
    let admin = policy_corpus::admin_dsn(&pg);
    // Unix-socket connections are never intercepted; the cgroup is only where the
    // client library runs.
    let cgroup = CgroupGuard::unique("corpus-direct");
    let mut mismatches = Vec::new();
    for allowed_phase in [true, false] {
        for identity in IDENTITIES {
            let mine: Vec<&Case> = cases
                .iter()
                .filter(|c| c.identity == identity.name)
                .filter(|c| (c.expect == Verdict::Allowed) == allowed_phase)
                .collect();
            let dsn = policy_corpus::direct_dsn(&pg, identity.role);
            let runs = policy_corpus::run_cases(&cgroup, &dsn, &admin, tmp, &mine);
            for (case, seen) in mine.iter().zip(&runs) {
                if let Some(problem) = direct_mismatch(case, seen) {
                    mismatches.push(format!("{}\n    {problem}", label(case)));
                }
            }
        }
    }
    assert_no_mismatches("directly on the server", cases.len(), &mismatches);
}

fn direct_mismatch(case: &Case, seen: &policy_corpus::CaseRun) -> Option<String> {
    if let Some(failed) = seen.effect_failed() {
        return Some(failed.to_string());
    }
    let first_error = seen
        .errors
        .first()
        .map(|e| format!("{} {}", e.sqlstate, e.message));
    match (case.direct, first_error) {
        (Direct::Error, None) => Some("expected the server to fail it, it succeeded".into()),
        (Direct::Error, Some(_)) => None,
        (_, Some(error)) => Some(format!("the server failed it: {error}")),
        (Direct::Changes, None)
            if (case.expect != Verdict::Allowed || case.allowed_effect.is_some())
                && !seen.effect_changed() =>
        {
            Some(format!(
                "the effect did not change ({}): the case proves nothing",
                seen.effect_change()
            ))
        }
        _ => None,
    }
}
