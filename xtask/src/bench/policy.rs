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

use anyhow::{bail, Context, Result};
use cordon_e2e::{
    bench_policy::{GROUPS, IDENTITY, OTHER_GROUPS, OTHER_IDENTITY, POLICY},
    cgroup::CgroupGuard,
    gateway::{GatewayBuilder, TestGateway},
    process::run as run_child,
    unique_name,
};

use super::{cpu, pgbench, report::Verdicts, Database, MODES, ROLE};
use crate::cmd;

/// The release binaries of the tests crate this section runs.
pub const BINARIES: [&str; 2] = ["policy-bench", "cordon-no-policy"];

const CLIENTS: [u32; 2] = [1, 8];
/// The runs at each point, policy on (true) or off: balanced (ABBA BAAB), so a
/// steady drift of the machine's speed falls on both sides alike.
const ORDER: [bool; 8] = [false, true, true, false, true, false, false, true];
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

/// One side of the comparison at one point: each run's throughput, and the
/// gateway's CPU time and transactions summed over the runs.
#[derive(Default, Clone)]
struct Side {
    tps: Vec<f64>,
    transactions: u64,
    cpu: Duration,
}

impl Side {
    /// The median run: one run disturbed by the shared machine moves it little.
    fn median_tps(&self) -> f64 {
        let mut tps = self.tps.clone();
        tps.sort_by(f64::total_cmp);
        match tps.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => tps[n / 2],
            n => (tps[n / 2 - 1] + tps[n / 2]) / 2.0,
        }
    }

    fn cpu_per_10k(&self) -> Option<Duration> {
        (self.transactions > 0).then(|| self.cpu.mul_f64(10_000.0 / self.transactions as f64))
    }
}

struct Gateway {
    gateway: TestGateway,
    cgroup: CgroupGuard,
    host: &'static str,
}

/// pgbench -S with the policy on and off, alternating; verdicts against 0.95x.
pub fn throughput(db: &Database, seconds: u32, verdicts: &mut Verdicts) -> Result<()> {
    // Eight runs per point: 3 s each at the default --seconds 10.
    let seconds = (seconds * 3 / 10).max(2);
    let base = CgroupGuard::create(&format!("/{}", unique_name("cordon-bench-policy")));
    let start = |host: &'static str, side: &str, program: Option<std::path::PathBuf>| {
        let cgroup = CgroupGuard::create(&format!("{}/{side}", base.path()));
        let mut builder = GatewayBuilder::new()
            .endpoint(
                "main",
                &[&format!("{host}:{}", db.pg.port())],
                if db.pg.ssl() { "require" } else { "disable" },
            )
            .credential(ROLE, &db.password)
            .identity(IDENTITY, ROLE, GROUPS)
            .identity(OTHER_IDENTITY, ROLE, OTHER_GROUPS)
            .bind(cgroup.path(), IDENTITY);
        builder = match program {
            Some(program) => builder.program(program),
            None => builder.policy(POLICY),
        };
        Gateway {
            gateway: builder.start(),
            cgroup,
            host,
        }
    };
    let on = start("127.0.0.1", "policy-on", None);
    let off = start(
        "127.0.0.2",
        "policy-off",
        Some(cmd::release_bin("cordon-no-policy")),
    );
    let points = MODES.len() * CLIENTS.len();
    println!(
        "bench: policy: pgbench -S through cordon with the bench policy (on, {}) and judging \
         nothing (off, {}); {} runs of {seconds} s",
        on.host,
        off.host,
        points * ORDER.len()
    );

    let mut results = Vec::new();
    for mode in MODES {
        for clients in CLIENTS {
            let (mut on_side, mut off_side) = (Side::default(), Side::default());
            for (round, on_turn) in ORDER.into_iter().enumerate() {
                let (gw, side) = if on_turn {
                    (&on, &mut on_side)
                } else {
                    (&off, &mut off_side)
                };
                let pid = gw.gateway.pid().context("the gateway is not running")?;
                let before = cpu::used(pid);
                let run = pgbench::select_only(&pgbench::Request {
                    cgroup: &gw.cgroup,
                    host: gw.host,
                    port: db.pg.port(),
                    role: ROLE,
                    password: None,
                    mode,
                    clients,
                    seconds,
                    log_dir: None,
                })?;
                if let Some((b, a)) = before.zip(cpu::used(pid)) {
                    side.cpu += a.saturating_sub(b);
                }
                side.tps.push(run.tps);
                side.transactions += run.transactions;
                println!(
                    "bench: policy: -M {mode}, {clients} client(s), run {}/{}, policy {:<3} {:>9.0} tps",
                    round + 1,
                    ORDER.len(),
                    if on_turn { "on" } else { "off" },
                    run.tps
                );
            }
            results.push((mode, clients, on_side, off_side));
        }
    }
    let refused = on.gateway.log_lines("statement refused");
    if !refused.is_empty() {
        bail!(
            "the bench policy refused statements pgbench sent:\n{}",
            refused.join("\n")
        );
    }
    drop((on, off));
    drop(base);

    println!(
        "\npgbench -S through cordon, policy on (the bench policy) vs off (no judging), \
         {seconds} s per run, median of {} runs each",
        ORDER.len() / 2
    );
    println!(
        "{:<11} {:>7}  {:>10}  {:>10}  {:>6}  {:>16}  {:>16}",
        "mode", "clients", "off tps", "on tps", "ratio", "off CPU/10k q", "on CPU/10k q"
    );
    let ms = |d: Option<Duration>| {
        d.map_or("-".into(), |d| {
            format!("{:.0} ms", d.as_secs_f64() * 1000.0)
        })
    };
    for (mode, clients, on, off) in &results {
        println!(
            "-M {mode:<8} {clients:>7}  {:>10.0}  {:>10.0}  {:>5.2}x  {:>16}  {:>16}",
            off.median_tps(),
            on.median_tps(),
            on.median_tps() / off.median_tps(),
            ms(off.cpu_per_10k()),
            ms(on.cpu_per_10k())
        );
    }
    for (mode, clients, on, off) in &results {
        let ratio = on.median_tps() / off.median_tps();
        verdicts.add(
            format!(
                "policy on >= {TPS_RATIO_TARGET:.2}x policy off, -M {mode}, {clients} client(s): \
                 {ratio:.2}x ({:.0} vs {:.0} tps)",
                on.median_tps(),
                off.median_tps()
            ),
            ratio.is_finite().then_some(ratio >= TPS_RATIO_TARGET),
        );
    }
    Ok(())
}
