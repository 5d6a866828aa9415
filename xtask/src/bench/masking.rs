//! Masking's cost on the data path: a 1,000,000-row result with two masked
//! columns streamed through Cordon, against the same result unmasked through
//! the same gateway (an identity the mask rules exempt), and the masked
//! identity reading only unmasked columns (forwarded untouched). Runs
//! alternate (ABBA) so the shared machine's drift falls on every side.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use cordon_e2e::{
    bench_policy::{GROUPS, IDENTITY, OTHER_GROUPS, OTHER_IDENTITY, POLICY},
    cgroup::CgroupGuard,
    clients::{psql_command, Conninfo},
    gateway::GatewayBuilder,
    process::run,
    unique_name,
};

use super::{report::Verdicts, Database, ROLE};

const ROWS: u64 = 1_000_000;
const RATIO_TARGET: f64 = 0.7;
/// Runs per side: ABBA twice.
const ORDER: [usize; 8] = [0, 1, 2, 2, 1, 0, 0, 1];

const MASKS: &str = r#"
[[mask]]
name = "bench-email"
columns = ["public.masking_bench.email"]
mask = "partial-email"
exempt_identities = ["migrations"]

[[mask]]
name = "bench-card"
columns = ["card"]
mask = "partial-card"
exempt_identities = ["migrations"]
"#;

const ALL_COLUMNS: &str = "SELECT id, email, card, notes FROM public.masking_bench";
const UNMASKED_COLUMNS: &str = "SELECT id, notes, notes AS n2, id AS id2 FROM public.masking_bench";

struct Side {
    label: &'static str,
    cgroup: CgroupGuard,
    sql: &'static str,
    seconds: Vec<f64>,
}

pub fn run_section(db: &Database, verdicts: &mut Verdicts) -> Result<()> {
    println!("bench: masking: loading a {ROWS}-row table");
    db.pg.psql_admin(&format!(
        "DROP TABLE IF EXISTS masking_bench; \
         CREATE TABLE masking_bench AS SELECT i AS id, \
         'customer' || i || '@example.com' AS email, \
         '4111 1111 1111 ' || lpad((i % 10000)::text, 4, '0') AS card, \
         'note number ' || i AS notes FROM generate_series(1, {ROWS}) AS i; \
         GRANT SELECT ON masking_bench TO {ROLE}"
    ));
    let base = CgroupGuard::create(&format!("/{}", unique_name("cordon-bench-masking")));
    let masked = CgroupGuard::create(&format!("{}/masked", base.path()));
    let exempt = CgroupGuard::create(&format!("{}/exempt", base.path()));
    let untouched = CgroupGuard::create(&format!("{}/untouched", base.path()));
    let gateway = GatewayBuilder::new()
        .endpoint(
            "main",
            &[&format!("127.0.0.1:{}", db.pg.port())],
            if db.pg.ssl() { "require" } else { "disable" },
        )
        .credential(ROLE, &db.password)
        .identity(IDENTITY, ROLE, GROUPS)
        .identity(OTHER_IDENTITY, ROLE, OTHER_GROUPS)
        .bind(masked.path(), IDENTITY)
        .bind(untouched.path(), IDENTITY)
        .bind(exempt.path(), OTHER_IDENTITY)
        .policy(&format!("{POLICY}\n{MASKS}"))
        .start();
    let mut sides = [
        Side {
            label: "unmasked (exempt identity)",
            cgroup: exempt,
            sql: ALL_COLUMNS,
            seconds: Vec::new(),
        },
        Side {
            label: "two columns masked",
            cgroup: masked,
            sql: ALL_COLUMNS,
            seconds: Vec::new(),
        },
        Side {
            label: "no masked column selected",
            cgroup: untouched,
            sql: UNMASKED_COLUMNS,
            seconds: Vec::new(),
        },
    ];
    let info = Conninfo::new("127.0.0.1", db.pg.port()).user("app");
    for (round, &which) in ORDER.iter().enumerate() {
        let side = &mut sides[which];
        let mut cmd = psql_command(&side.cgroup, &info, &[side.sql]);
        cmd.args(["-o", "/dev/null"]);
        let started = Instant::now();
        let out = run(&mut cmd, Duration::from_secs(600));
        let elapsed = started.elapsed().as_secs_f64();
        ensure!(out.success(), "psql through cordon failed: {out}");
        println!(
            "bench: masking: run {}/{}, {:<28} {:>10.0} rows/s",
            round + 1,
            ORDER.len(),
            side.label,
            ROWS as f64 / elapsed
        );
        side.seconds.push(elapsed);
    }
    check_masked(&sides[1], &info)?;
    drop(gateway);
    let rate = |side: &Side| ROWS as f64 / median(&side.seconds);
    let (unmasked, masked, untouched) = (rate(&sides[0]), rate(&sides[1]), rate(&sides[2]));
    println!(
        "\n{ROWS}-row result through cordon (psql, all rows read), median of each side's runs"
    );
    println!("{:<28} {:>12}  {:>6}", "", "rows/s", "ratio");
    for (label, value) in [
        (sides[0].label, unmasked),
        (sides[1].label, masked),
        (sides[2].label, untouched),
    ] {
        println!("{label:<28} {value:>12.0}  {:>5.2}x", value / unmasked);
    }
    verdicts.add(
        format!(
            "masking: two masked columns >= {RATIO_TARGET:.2}x unmasked, {ROWS} rows: {:.2}x ({masked:.0} vs {unmasked:.0} rows/s)",
            masked / unmasked
        ),
        Some(masked / unmasked >= RATIO_TARGET),
    );
    db.pg.psql_admin("DROP TABLE masking_bench");
    Ok(())
}

/// The bench measured masking, not a configuration that masks nothing.
fn check_masked(side: &Side, info: &Conninfo) -> Result<()> {
    let mut cmd = psql_command(
        &side.cgroup,
        info,
        &["SELECT email, card FROM public.masking_bench WHERE id = 1"],
    );
    let out = run(&mut cmd, Duration::from_secs(60));
    ensure!(
        out.success() && out.stdout.contains("****@example.com|**** **** **** 0001"),
        "the masked side did not see masked values: {out}"
    );
    Ok(())
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}
