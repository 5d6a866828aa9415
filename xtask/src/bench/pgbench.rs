//! One pgbench run and what it reports: throughput, transaction count and,
//! when asked, per-transaction latencies from its log.

use std::{path::Path, time::Duration};

use anyhow::{bail, Context, Result};
use cordon_e2e::{cgroup::CgroupGuard, clients::clean_pg_env, postgres::pg_bin, process::run};

pub struct Run {
    pub tps: f64,
    pub transactions: u64,
    /// Sorted latencies in microseconds, when the run was logged.
    pub latencies_us: Vec<u64>,
}

impl Run {
    /// The latency at quantile `q` (0..=1), in microseconds.
    pub fn latency_us(&self, q: f64) -> Option<u64> {
        let last = self.latencies_us.len().checked_sub(1)?;
        Some(self.latencies_us[((last as f64) * q).round() as usize])
    }
}

pub struct Request<'a> {
    pub cgroup: &'a CgroupGuard,
    /// The address connected to (pgbench's `-h`).
    pub host: &'a str,
    pub port: u16,
    pub role: &'a str,
    pub password: Option<&'a str>,
    pub mode: &'a str,
    pub clients: u32,
    pub seconds: u32,
    /// Write pgbench's per-transaction log here and read the latencies back.
    pub log_dir: Option<&'a Path>,
}

/// `pgbench -S` from inside the cgroup to `host` over TCP.
pub fn select_only(r: &Request) -> Result<Run> {
    let mut cmd = r.cgroup.command(pg_bin("pgbench"));
    clean_pg_env(&mut cmd);
    if let Some(password) = r.password {
        cmd.env("PGPASSWORD", password);
    }
    // The throwaway server has no TLS while the gateway offers it: without this
    // the Cordon path would pay for encryption the direct path skips.
    cmd.env("PGSSLMODE", "disable");
    let (clients, threads) = (r.clients.to_string(), r.clients.min(2).to_string());
    cmd.args(["-S", "-n", "-M", r.mode, "-c", &clients, "-j", &threads])
        .args([
            "-T",
            &r.seconds.to_string(),
            "-h",
            r.host,
            "-p",
            &r.port.to_string(),
        ])
        .args(["-U", r.role, "postgres"]);
    let prefix = r.log_dir.map(|d| d.join("pgbench"));
    if let Some(prefix) = &prefix {
        cmd.arg("-l")
            .arg(format!("--log-prefix={}", prefix.display()));
    }
    let out = run(&mut cmd, Duration::from_secs(u64::from(r.seconds) + 120));
    if !out.success() {
        bail!("pgbench failed: {out}");
    }
    let field = |prefix: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(prefix).map(str::to_owned))
    };
    let tps = field("tps = ")
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no `tps = ` in pgbench's output: {out}"))?;
    let transactions = field("number of transactions actually processed: ")
        .and_then(|rest| rest.split('/').next()?.trim().parse().ok())
        .with_context(|| format!("no transaction count in pgbench's output: {out}"))?;
    let latencies_us = match r.log_dir {
        Some(dir) => read_latencies(dir)?,
        None => Vec::new(),
    };
    Ok(Run {
        tps,
        transactions,
        latencies_us,
    })
}

/// Every `pgbench.*` log in `dir` (then removed): the third field of each
/// line is the transaction's latency in microseconds.
fn read_latencies(dir: &Path) -> Result<Vec<u64>> {
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        if !entry.file_name().to_string_lossy().starts_with("pgbench") {
            continue;
        }
        let text = std::fs::read_to_string(entry.path())?;
        latencies.extend(
            text.lines()
                .filter_map(|l| l.split(' ').nth(2)?.parse::<u64>().ok()),
        );
        std::fs::remove_file(entry.path())?;
    }
    if latencies.is_empty() {
        bail!("pgbench wrote no latency log in {}", dir.display());
    }
    latencies.sort_unstable();
    Ok(latencies)
}
