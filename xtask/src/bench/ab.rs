//! pgbench -S through two gateways that differ in one thing (the policy on or
//! off, recording on or off), run alternately at each point so the shared
//! machine's drift falls on both sides; the median run of each side compared.

use std::{path::PathBuf, time::Duration};

use anyhow::{bail, Context, Result};
use cordon_e2e::{
    bench_policy::{GROUPS, IDENTITY, OTHER_GROUPS, OTHER_IDENTITY},
    cgroup::CgroupGuard,
    gateway::{GatewayBuilder, TestGateway},
    unique_name,
};

use super::{cpu, pgbench, report::Verdicts, Database, MODES, ROLE};

/// Which side runs in each of a point's runs (true: the "on" side): ABBA BAAB.
const ORDER: [bool; 8] = [false, true, true, false, true, false, false, true];

/// One gateway of the comparison.
pub struct Setup {
    pub label: &'static str,
    /// 127.0.0.1 or 127.0.0.2: the two gateways protect the same server.
    pub host: &'static str,
    /// Another program than `cordon` (e.g. one that judges nothing).
    pub program: Option<PathBuf>,
    /// Policy rules and any other configuration tables.
    pub toml: String,
}

pub struct Comparison<'a> {
    /// The bench section's name, for its lines.
    pub name: &'a str,
    /// What the two sides are, for the table's title.
    pub what: &'a str,
    pub clients: &'a [u32],
    /// The on side must reach this fraction of the off side's throughput.
    pub target: f64,
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

    /// The lowest and highest ratio of `self`'s runs to `other`'s, run by run: ORDER
    /// pairs each run of one side with a neighbouring run of the other, in order, so
    /// the spread shows how much the machine moved within this point.
    fn ratio_range(&self, other: &Side) -> Option<(f64, f64)> {
        let ratios: Vec<f64> = self
            .tps
            .iter()
            .zip(&other.tps)
            .map(|(a, b)| a / b)
            .collect();
        let low = ratios.iter().copied().reduce(f64::min)?;
        let high = ratios.iter().copied().reduce(f64::max)?;
        Some((low, high))
    }

    fn cpu_per_10k(&self) -> Option<Duration> {
        (self.transactions > 0).then(|| self.cpu.mul_f64(10_000.0 / self.transactions as f64))
    }
}

struct Gateway {
    gateway: TestGateway,
    cgroup: CgroupGuard,
    setup: Setup,
}

/// Runs the comparison and adds its verdicts.
pub fn compare(
    db: &Database,
    seconds: u32,
    comparison: &Comparison<'_>,
    on: Setup,
    off: Setup,
    verdicts: &mut Verdicts,
) -> Result<()> {
    // Eight runs per point: 3 s each at the default --seconds 10.
    let seconds = (seconds * 3 / 10).max(2);
    let name = comparison.name;
    let base = CgroupGuard::create(&format!(
        "/{}",
        unique_name(&format!("cordon-bench-{name}"))
    ));
    let start = |setup: Setup, side: &str| {
        let cgroup = CgroupGuard::create(&format!("{}/{side}", base.path()));
        let mut builder = GatewayBuilder::new()
            .endpoint(
                "main",
                &[&format!("{}:{}", setup.host, db.pg.port())],
                if db.pg.ssl() { "require" } else { "disable" },
            )
            .credential(ROLE, &db.password)
            .identity(IDENTITY, ROLE, GROUPS)
            .identity(OTHER_IDENTITY, ROLE, OTHER_GROUPS)
            .bind(cgroup.path(), IDENTITY)
            .policy(&setup.toml);
        if let Some(program) = &setup.program {
            builder = builder.program(program.clone());
        }
        Gateway {
            gateway: builder.start(),
            cgroup,
            setup,
        }
    };
    let on = start(on, "on");
    let off = start(off, "off");
    println!(
        "bench: {name}: pgbench -S through cordon, {}; {} runs of {seconds} s",
        comparison.what,
        MODES.len() * comparison.clients.len() * ORDER.len()
    );

    let mut results = Vec::new();
    for mode in MODES {
        for &clients in comparison.clients {
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
                    host: gw.setup.host,
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
                    "bench: {name}: -M {mode}, {clients} client(s), run {}/{}, {:<12} {:>9.0} tps",
                    round + 1,
                    ORDER.len(),
                    gw.setup.label,
                    run.tps
                );
            }
            results.push((mode, clients, on_side, off_side));
        }
    }
    for gw in [&on, &off] {
        let refused = gw.gateway.log_lines("statement refused");
        if !refused.is_empty() {
            bail!(
                "the bench policy refused statements pgbench sent:\n{}",
                refused.join("\n")
            );
        }
    }
    let (on_label, off_label) = (on.setup.label, off.setup.label);
    drop((on, off));
    drop(base);

    println!(
        "\npgbench -S through cordon, {on_label} vs {off_label}, {seconds} s per run, median of {} runs each",
        ORDER.len() / 2
    );
    println!(
        "{:<11} {:>7}  {:>10}  {:>10}  {:>6}  {:>11}  {:>16}  {:>16}",
        "mode", "clients", "off tps", "on tps", "ratio", "pairs", "off CPU/10k q", "on CPU/10k q"
    );
    let ms = |d: Option<Duration>| {
        d.map_or("-".into(), |d| {
            format!("{:.0} ms", d.as_secs_f64() * 1000.0)
        })
    };
    for (mode, clients, on, off) in &results {
        let pairs = on
            .ratio_range(off)
            .map_or("-".into(), |(low, high)| format!("{low:.2}-{high:.2}"));
        println!(
            "-M {mode:<8} {clients:>7}  {:>10.0}  {:>10.0}  {:>5.2}x  {pairs:>11}  {:>16}  {:>16}",
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
                "{on_label} >= {:.2}x {off_label}, -M {mode}, {clients} client(s): \
                 {ratio:.2}x ({:.0} vs {:.0} tps)",
                comparison.target,
                on.median_tps(),
                off.median_tps()
            ),
            ratio.is_finite().then_some(ratio >= comparison.target),
        );
    }
    Ok(())
}
