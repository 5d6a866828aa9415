//! The bench's policy section: what judging statements costs.
//!
//! - `micro`: `policy-bench` (tests/bins) times `PolicyPhases::judge` per
//!   statement over an OLTP mix, uncached (every text new) and cached
//!   (prepared statements repeated), plus classification and parsing alone.
//! - `throughput`: pgbench -S through two gateways at once on the same server,
//!   one with the realistic policy of `cordon_e2e::bench_policy` (the `cordon`
//!   binary) and one judging nothing (`cordon-no-policy`: the engine's
//!   AllowAll phases). Each protects its own address of the server (127.0.0.1
//!   and 127.0.0.2) for its own agent cgroup. Runs alternate (off, on, on,
//!   off, on, off, off, on) per point, so drift on the shared machine falls on
//!   both sides alike; each gateway's CPU time per query is reported too.

use std::time::Duration;

use anyhow::{bail, Result};
use cordon_e2e::{bench_policy::POLICY, process::run as run_child};

use super::{
    ab::{self, Comparison, Setup},
    report::Verdicts,
    Database,
};
use crate::cmd;

/// The release binaries of the tests crate this section runs.
pub const BINARIES: [&str; 2] = ["policy-bench", "cordon-no-policy"];

const CLIENTS: [u32; 2] = [1, 8];
/// The runs at each point, policy on (true) or off: balanced (ABBA BAAB), so a
/// steady drift of the machine's speed falls on both sides alike.
const UNCACHED_P50_TARGET_US: f64 = 20.0;
const CACHED_P50_TARGET_US: f64 = 1.0;
const TPS_RATIO_TARGET: f64 = 0.95;

/// One `policy-bench:` line: a measure over a set of statements.
struct Quantiles {
    measure: String,
    set: String,
    n: u64,
    p50_ns: u64,
    p99_ns: u64,
}

fn parse_line(line: &str) -> Option<Quantiles> {
    let mut words = line.strip_prefix("policy-bench: ")?.split_whitespace();
    let (measure, set) = (words.next()?.to_owned(), words.next()?.to_owned());
    let mut value = |key: &str| words.next()?.strip_prefix(key)?.parse().ok();
    Some(Quantiles {
        measure,
        set,
        n: value("n=")?,
        p50_ns: value("p50_ns=")?,
        p99_ns: value("p99_ns=")?,
    })
}

/// Runs `policy-bench`, prints its table and the two classification verdicts.
pub fn micro(verdicts: &mut Verdicts) -> Result<()> {
    let program = cmd::release_bin("policy-bench");
    println!(
        "bench: policy: timing classification per statement ({})",
        program.display()
    );
    let out = run_child(
        &mut std::process::Command::new(&program),
        Duration::from_secs(300),
    );
    if !out.success() {
        bail!("policy-bench failed: {out}");
    }
    let lines: Vec<Quantiles> = out.stdout.lines().filter_map(parse_line).collect();
    let find =
        |measure: &str, set: &str| lines.iter().find(|q| q.measure == measure && q.set == set);
    let measures = [
        "judge-uncached",
        "judge-uncached-cold",
        "judge-new-literals",
        "judge-cached",
        "parse",
    ];
    let rounds = find("judge-uncached", "mix").map_or(0, |q| q.n);
    println!(
        "\nstatement classification, µs per statement (p50 / p99), {rounds} statements per measure"
    );
    println!(
        "uncached = parse, walk and decide with no cache; cold = the same with the CPU caches \
         evicted before each statement;\nnew literals = PolicyPhases::judge on new texts (one \
         classification per shape); cached = judge on repeated texts; parse = pg_query::parse alone"
    );
    println!(
        "{:<17} {:>14} {:>14} {:>14} {:>14} {:>14}",
        "statements", "uncached", "cold", "new literals", "cached", "parse"
    );
    let mut sets: Vec<&str> = Vec::new();
    for q in &lines {
        if !sets.contains(&q.set.as_str()) {
            sets.push(&q.set);
        }
    }
    for set in sets {
        let cells: Vec<String> = measures
            .iter()
            .map(|m| {
                find(m, set).map_or("-".into(), |q| {
                    format!("{} / {}", micros(q.p50_ns), micros(q.p99_ns))
                })
            })
            .collect();
        println!(
            "{set:<17} {:>14} {:>14} {:>14} {:>14} {:>14}",
            cells[0], cells[1], cells[2], cells[3], cells[4]
        );
    }
    for (measure, what, target) in [
        ("judge-uncached", "uncached", UNCACHED_P50_TARGET_US),
        ("judge-cached", "cached", CACHED_P50_TARGET_US),
    ] {
        let q = find(measure, "mix");
        let us = q.map(|q| q.p50_ns as f64 / 1000.0);
        verdicts.add(
            format!(
                "classification p50 < {target} µs {what}, OLTP mix: {}",
                q.map_or("-".into(), |q| format!(
                    "{} µs (p99 {} µs)",
                    micros(q.p50_ns),
                    micros(q.p99_ns)
                ))
            ),
            us.map(|us| us < target),
        );
    }
    Ok(())
}

fn micros(ns: u64) -> String {
    if ns < 10_000 {
        format!("{:.2}", ns as f64 / 1000.0)
    } else {
        format!("{:.1}", ns as f64 / 1000.0)
    }
}

/// pgbench -S with the policy on and off, alternating; verdicts against 0.95x.
pub fn throughput(db: &Database, seconds: u32, verdicts: &mut Verdicts) -> Result<()> {
    let on = Setup {
        label: "policy on",
        host: "127.0.0.1",
        program: None,
        toml: POLICY.to_owned(),
    };
    let off = Setup {
        label: "policy off",
        host: "127.0.0.2",
        program: Some(cmd::release_bin("cordon-no-policy")),
        toml: POLICY.to_owned(),
    };
    let comparison = Comparison {
        name: "policy",
        what: "the bench policy (on) and judging nothing (off)",
        clients: &CLIENTS,
        target: TPS_RATIO_TARGET,
    };
    ab::compare(db, seconds, &comparison, on, off, verdicts)
}
