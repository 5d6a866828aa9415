//! `cargo xtask bench`, in two sections (`--only` runs one):
//!
//! - `pgbench`: pgbench -S (select-only) directly, through Cordon and through
//!   PgBouncer (a reference relay), side by side in one run, for the simple and
//!   prepared protocols at 1, 8 and 16 clients. Every path logs in as the same
//!   role over TCP to the same server; only the path differs. Besides throughput
//!   it reports latency at one client and each relay's CPU time per 10,000 queries.
//! - `policy`: what the SQL policy costs: classification per statement
//!   (`policy-bench`, uncached and cached) and pgbench -S through Cordon with a
//!   realistic policy on versus off (no statement judging), alternating runs.
//! - `recording`: pgbench -S at 16 clients with every statement recorded vs not.
//! - `masking`: a 1,000,000-row result with two masked columns vs unmasked.
//! - `memory`: the daemon's memory per idle session and during a 1 GiB result.
//!
//! The verdicts against the issues' targets come last, for both sections.

mod ab;
mod cpu;
mod masking;
mod memory;
mod pgbench;
mod pgbouncer;
mod policy;
mod recording;
mod report;

use std::{fmt, process::ExitCode, time::Duration};

use anyhow::Result;
use cordon_e2e::{
    cgroup::CgroupGuard,
    clients::clean_pg_env,
    gateway::GatewayBuilder,
    postgres::{pg_bin, TestPostgres},
    process::run as run_child,
    tempdir::TempDir,
    unique_name,
};

use crate::{cmd, setup};
use pgbouncer::PgBouncer;
use report::Verdicts;

const ROLE: &str = "cordon_bench";
const CLIENTS: [u32; 3] = [1, 8, 16];
const MODES: [&str; 2] = ["simple", "prepared"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    Direct,
    Cordon,
    PgBouncer,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Path::Direct => "direct",
            Path::Cordon => "cordon",
            Path::PgBouncer => "pgbouncer",
        })
    }
}

/// One pgbench run on one path.
pub struct Point {
    pub mode: &'static str,
    pub clients: u32,
    pub path: Path,
    pub tps: f64,
    /// The relay's CPU time per 10,000 queries (none for the direct path).
    pub cpu_per_10k: Option<Duration>,
    /// Latency quantiles in microseconds (single-client runs only).
    pub p50_us: Option<u64>,
    pub p99_us: Option<u64>,
}

/// A part of the bench that can run on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// Throughput, latency and CPU against direct and PgBouncer.
    Pgbench,
    /// Classification cost per statement, and pgbench -S with the policy on and off.
    Policy,
    /// pgbench -S at 16 clients with sessions recorded and not.
    Recording,
    /// A 1,000,000-row result with two masked columns vs unmasked.
    Masking,
    /// Memory per idle session and during a 1 GiB result.
    Memory,
}

pub fn run(seconds: u32, scale: u32, strict: bool, only: Option<Section>) -> Result<ExitCode> {
    cmd::require_root("cargo xtask bench")?;
    setup::ensure()?;
    let wanted = |section| only.is_none_or(|only| only == section);
    if wanted(Section::Pgbench) {
        setup::ensure_optional("pgbouncer", "pgbouncer");
    }
    cmd::run(cmd::cargo().args(["build", "--release", "-p", "cordon"]))?;
    cmd::run(cmd::cargo().args([
        "build",
        "-p",
        "cordon-e2e",
        "-p",
        "cordon-test-bins",
        "--bins",
    ]))?;
    if wanted(Section::Policy) {
        cmd::run(
            cmd::cargo()
                .args(["build", "--release", "-p", "cordon-test-bins"])
                .args(policy::BINARIES.iter().flat_map(|name| ["--bin", name])),
        )?;
    }
    std::env::set_var("CORDON_BIN", cmd::release_bin("cordon"));

    let mut verdicts = Verdicts::default();
    if wanted(Section::Policy) {
        policy::micro(&mut verdicts)?;
    }
    let needs_database = [
        Section::Pgbench,
        Section::Policy,
        Section::Recording,
        Section::Masking,
    ];
    if needs_database.into_iter().any(wanted) {
        let db = Database::load(scale)?;
        if wanted(Section::Pgbench) {
            throughput(&db, seconds, scale, &mut verdicts)?;
        }
        if wanted(Section::Policy) {
            policy::throughput(&db, seconds, &mut verdicts)?;
        }
        if wanted(Section::Recording) {
            recording::throughput(&db, seconds, &mut verdicts)?;
        }
        if wanted(Section::Masking) {
            masking::run_section(&db, &mut verdicts)?;
        }
    }
    if wanted(Section::Memory) {
        memory::run(&mut verdicts);
    }
    verdicts.print();
    Ok(if strict && verdicts.missed() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The throwaway server the pgbench runs of every section share, with
/// pgbench's tables loaded and the role every path logs in as.
pub struct Database {
    pub pg: TestPostgres,
    pub password: String,
}

impl Database {
    fn load(scale: u32) -> Result<Self> {
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
        Ok(Database { pg, password })
    }
}

/// The pgbench section: tables now, verdicts into `verdicts`.
fn throughput(db: &Database, seconds: u32, scale: u32, verdicts: &mut Verdicts) -> Result<()> {
    let Database { pg, password } = db;
    let base = CgroupGuard::create(&format!("/{}", unique_name("cordon-bench")));
    let agent = CgroupGuard::create(&format!("{}/agent", base.path()));
    let direct = CgroupGuard::create(&format!("{}/direct", base.path()));
    let gateway = GatewayBuilder::new()
        .endpoint_for(pg)
        .credential(ROLE, password)
        .identity("bench", ROLE, &[])
        .bind(agent.path(), "bench")
        .exempt(direct.path(), "bench: direct baseline and PgBouncer")
        .start();
    let bouncer = PgBouncer::start(&direct, pg, ROLE, password);
    let logs = TempDir::new("cordon-bench-logs");
    let mut paths = vec![Path::Direct, Path::Cordon];
    if bouncer.is_some() {
        paths.push(Path::PgBouncer);
    }
    let runs = MODES.len() * CLIENTS.len() * paths.len();
    println!("bench: cordon (release) running; {runs} runs of {seconds} s");

    let mut points = Vec::new();
    for mode in MODES {
        for clients in CLIENTS {
            for &path in &paths {
                let (cgroup, port, login_password, relay) = match (path, &bouncer) {
                    (Path::Direct, _) => (&direct, pg.port(), Some(password.as_str()), None),
                    (Path::Cordon, _) => (&agent, pg.port(), None, gateway.pid()),
                    (Path::PgBouncer, Some(b)) => (&direct, b.port(), None, b.pid()),
                    (Path::PgBouncer, None) => unreachable!("only measured when running"),
                };
                let before = relay.and_then(cpu::used);
                let run = pgbench::select_only(&pgbench::Request {
                    cgroup,
                    host: "127.0.0.1",
                    port,
                    role: ROLE,
                    password: login_password,
                    mode,
                    clients,
                    seconds,
                    log_dir: (clients == 1).then(|| logs.path()),
                })?;
                let after = relay.and_then(cpu::used);
                let cpu_per_10k =
                    before
                        .zip(after)
                        .filter(|_| run.transactions > 0)
                        .map(|(b, a)| {
                            a.saturating_sub(b)
                                .mul_f64(10_000.0 / run.transactions as f64)
                        });
                println!(
                    "bench: [{}/{runs}] -M {mode}, {clients:>2} client(s), {path:<9} {:>9.0} tps",
                    points.len() + 1,
                    run.tps
                );
                points.push(Point {
                    mode,
                    clients,
                    path,
                    tps: run.tps,
                    cpu_per_10k,
                    p50_us: run.latency_us(0.5),
                    p99_us: run.latency_us(0.99),
                });
            }
        }
    }
    let sessions = gateway.log_lines("session opened").len();
    drop(bouncer);
    drop(gateway);
    drop((direct, agent, base));

    report::print(&points, seconds, scale, sessions);
    report::targets(&points, verdicts);
    Ok(())
}
