//! `cargo xtask bench`: pgbench -S (select-only) directly and through Cordon, side by
//! side in one run, at 1 and 8 clients. Both paths log in as the same role over TCP to
//! the same server; only the path differs.

use std::{process::ExitCode, time::Duration};

use anyhow::{bail, Context, Result};
use cordon_e2e::{
    cgroup::CgroupGuard,
    clients::clean_pg_env,
    gateway::GatewayBuilder,
    postgres::{pg_bin, TestPostgres},
    process::run as run_child,
    unique_name,
};

use crate::{cmd, reference_proxy::PgBouncer, setup};

const ROLE: &str = "cordon_bench";
const CLIENTS: [u32; 2] = [1, 8];
/// The bar for the relay at 8 clients.
const TARGET_RATIO: f64 = 0.8;

pub fn run(seconds: u32, scale: u32, strict: bool) -> Result<ExitCode> {
    cmd::require_root("cargo xtask bench")?;
    setup::ensure()?;
    setup::ensure_optional("pgbouncer", "pgbouncer");
    cmd::run(cmd::cargo().args(["build", "--release", "-p", "cordon"]))?;
    cmd::run(cmd::cargo().args(["build", "-p", "cordon-e2e", "--bins"]))?;
    std::env::set_var("CORDON_BIN", cmd::workspace().join("target/release/cordon"));

    println!("bench: starting PostgreSQL and loading pgbench data (scale {scale})");
    let pg = TestPostgres::start();
    let password = unique_name("bench-pw");
    pg.create_role(ROLE, &password);
    let mut init = std::process::Command::new(pg_bin("pgbench"));
    clean_pg_env(&mut init);
    init.arg("-i")
        .args(["-s", &scale.to_string(), "-q"])
        .arg("-h")
        .arg(pg.socket_dir())
        .args(["-p", &pg.port().to_string(), "-U", "postgres", "postgres"]);
    run_child(&mut init, Duration::from_secs(600)).expect_success("pgbench -i");
    pg.psql_admin(&format!("GRANT pg_read_all_data TO {ROLE}"));

    let base = CgroupGuard::create(&format!("/{}", unique_name("cordon-bench")));
    let agent = CgroupGuard::create(&format!("{}/agent", base.path()));
    let direct = CgroupGuard::create(&format!("{}/direct", base.path()));
    let gateway = GatewayBuilder::new()
        .endpoint_for(&pg)
        .credential(ROLE, &password)
        .identity("bench", ROLE, &[])
        .bind(agent.path(), "bench")
        .exempt(direct.path(), "bench: direct baseline")
        .start();
    println!("bench: cordon (release) running; {seconds} s per run");

    let bouncer = PgBouncer::start(&direct, &pg, ROLE, &password);
    let mut rows = Vec::new();
    for clients in CLIENTS {
        let direct_tps = pgbench(&direct, pg.port(), clients, seconds, Some(&password))?;
        let cordon_tps = pgbench(&agent, pg.port(), clients, seconds, None)?;
        let bouncer_tps = match &bouncer {
            Some(b) => Some(pgbench(&direct, b.port(), clients, seconds, None)?),
            None => None,
        };
        println!("bench: {clients} client(s): direct {direct_tps:.0} tps, through cordon {cordon_tps:.0} tps");
        rows.push(Row {
            clients,
            direct_tps,
            cordon_tps,
            bouncer_tps,
        });
    }
    let sessions = gateway.log_lines("session opened").len();
    drop(bouncer);
    drop(gateway);
    drop((direct, agent, base));
    drop(pg);

    println!(
        "\npgbench -S, {seconds} s per run, scale {scale}, same role and server for every path"
    );
    println!(
        "{:>8}  {:>11}  {:>11}  {:>13}  {:>14}  {:>16}",
        "clients", "direct TPS", "cordon TPS", "cordon/direct", "pgbouncer TPS", "pgbouncer/direct"
    );
    let mut ratio_at_8 = None;
    for row in rows {
        let ratio = row.cordon_tps / row.direct_tps;
        let (bouncer, bouncer_ratio) = match row.bouncer_tps {
            Some(tps) => (format!("{tps:.1}"), format!("{:.2}x", tps / row.direct_tps)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:>8}  {:>11.1}  {:>11.1}  {:>12.2}x  {bouncer:>14}  {bouncer_ratio:>16}",
            row.clients, row.direct_tps, row.cordon_tps, ratio
        );
        if row.clients == 8 {
            ratio_at_8 = Some(ratio);
        }
    }
    println!("(sessions through cordon: {sessions})");
    let ratio = ratio_at_8.context("no 8-client run")?;
    if ratio >= TARGET_RATIO {
        println!(
            "cordon keeps {ratio:.2}x of direct TPS at 8 clients (target {TARGET_RATIO}x): ok"
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "cordon keeps {ratio:.2}x of direct TPS at 8 clients: BELOW the {TARGET_RATIO}x target"
        );
        Ok(if strict {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        })
    }
}

struct Row {
    clients: u32,
    direct_tps: f64,
    cordon_tps: f64,
    /// Through the reference proxy, when PgBouncer is installed.
    bouncer_tps: Option<f64>,
}

/// One `pgbench -S` run from inside `cgroup` to 127.0.0.1:`port`; returns its TPS.
fn pgbench(
    cgroup: &CgroupGuard,
    port: u16,
    clients: u32,
    seconds: u32,
    password: Option<&str>,
) -> Result<f64> {
    let mut cmd = cgroup.command(pg_bin("pgbench"));
    clean_pg_env(&mut cmd);
    if let Some(password) = password {
        cmd.env("PGPASSWORD", password);
    }
    // The throwaway server has no TLS while the gateway offers it: without this
    // the Cordon path would pay for encryption the direct path skips.
    cmd.env("PGSSLMODE", "disable");
    cmd.args([
        "-S",
        "-n",
        "-c",
        &clients.to_string(),
        "-j",
        &clients.min(2).to_string(),
    ])
    .args([
        "-T",
        &seconds.to_string(),
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
    ])
    .args(["-U", ROLE, "postgres"]);
    let out = run_child(&mut cmd, Duration::from_secs(u64::from(seconds) + 120));
    if !out.success() {
        bail!("pgbench failed: {out}");
    }
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no `tps = ` in pgbench's output: {out}"))
}
