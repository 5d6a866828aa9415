//! Database clients run inside a cgroup: psql, and `pg-probe` (tokio-postgres, raw
//! bytes, getpeername, cancel). Clients must be separate processes: interception and
//! identity are per process (per cgroup), never per thread of the test.

use std::{fmt, process::Command, time::Duration};

use crate::{
    cgroup::CgroupGuard,
    postgres::pg_bin,
    process::{run, Output, Running},
};

/// How long a client may take before the test kills it and fails.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Removes libpq environment variables that could change what a client does.
pub fn clean_pg_env(cmd: &mut Command) {
    for var in [
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGDATABASE",
        "PGSSLMODE",
        "PGSERVICE",
        "PGSERVICEFILE",
        "PGOPTIONS",
        "PGAPPNAME",
        "PGCONNECT_TIMEOUT",
        "PGTARGETSESSIONATTRS",
        "PGREQUIRESSL",
    ] {
        cmd.env_remove(var);
    }
    // No ~/.pgpass either: the agent must not hold a secret. (A missing file
    // is ignored quietly; /dev/null would make libpq warn.)
    cmd.env("PGPASSFILE", "/nonexistent/cordon-no-pgpass");
}

/// A libpq connection string (values must not contain spaces or quotes).
#[derive(Clone, Debug)]
pub struct Conninfo {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    pub sslmode: String,
}

impl Conninfo {
    /// `host:port` as user/dbname `postgres`, no password, `sslmode=disable`.
    pub fn new(host: &str, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            user: "postgres".into(),
            password: None,
            dbname: "postgres".into(),
            sslmode: "disable".into(),
        }
    }

    pub fn user(mut self, user: &str) -> Self {
        self.user = user.into();
        self
    }

    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.into());
        self
    }

    pub fn dbname(mut self, dbname: &str) -> Self {
        self.dbname = dbname.into();
        self
    }

    pub fn sslmode(mut self, sslmode: &str) -> Self {
        self.sslmode = sslmode.into();
        self
    }
}

impl fmt::Display for Conninfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "host={} port={} user={} dbname={} sslmode={} connect_timeout=10",
            self.host, self.port, self.user, self.dbname, self.sslmode
        )?;
        if let Some(password) = &self.password {
            write!(f, " password={password}")?;
        }
        Ok(())
    }
}

/// `psql -X -w -At -c SQL...` inside `cgroup` (never prompts for a password).
pub fn psql_command(cgroup: &CgroupGuard, conninfo: &Conninfo, sqls: &[&str]) -> Command {
    let mut cmd = cgroup.command(pg_bin("psql"));
    clean_pg_env(&mut cmd);
    cmd.args(["-X", "-w", "-v", "ON_ERROR_STOP=1", "-At"]);
    for sql in sqls {
        cmd.args(["-c", sql]);
    }
    cmd.arg("-d").arg(conninfo.to_string());
    cmd
}

/// psql's `\lo_import FILE` inside `cgroup` (large-object fast-path calls); the new
/// large object's OID.
#[track_caller]
pub fn psql_lo_import(cgroup: &CgroupGuard, conninfo: &Conninfo, file: &std::path::Path) -> String {
    let import = format!("\\lo_import {}", file.display());
    let out = run(
        &mut psql_command(cgroup, conninfo, &[&import]),
        CLIENT_TIMEOUT,
    );
    out.expect_success("psql \\lo_import");
    out.stdout
        .trim()
        .strip_prefix("lo_import ")
        .unwrap_or_else(|| panic!("an oid: {out}"))
        .to_owned()
}

/// Runs one statement with psql inside `cgroup`.
pub fn psql(cgroup: &CgroupGuard, conninfo: &Conninfo, sql: &str) -> Output {
    run(&mut psql_command(cgroup, conninfo, &[sql]), CLIENT_TIMEOUT)
}

/// Starts psql inside `cgroup` in the background (e.g. to hold a session open).
pub fn psql_spawn(cgroup: &CgroupGuard, conninfo: &Conninfo, sqls: &[&str]) -> Running {
    Running::spawn(&mut psql_command(cgroup, conninfo, sqls))
}

/// `pg-probe ARGS...` inside `cgroup`.
pub fn probe_command(cgroup: &CgroupGuard, args: &[&str]) -> Command {
    let mut cmd = cgroup.command(crate::probe_bin());
    clean_pg_env(&mut cmd);
    cmd.args(args);
    cmd
}

/// Runs `pg-probe ARGS...` inside `cgroup`.
pub fn probe(cgroup: &CgroupGuard, args: &[&str]) -> Output {
    run(&mut probe_command(cgroup, args), CLIENT_TIMEOUT)
}

/// Runs `sql` with pg-probe inside `cgroup` and cancels it through the cancel protocol
/// after `after_ms`; asserts it failed with 57014 and returns how many milliseconds
/// after the cancel request it ended.
#[track_caller]
pub fn cancelled_after(cgroup: &CgroupGuard, conninfo: &Conninfo, after_ms: u64, sql: &str) -> u64 {
    let (port, after) = (conninfo.port.to_string(), after_ms.to_string());
    let password = conninfo.password.clone().unwrap_or_default();
    let out = probe(
        cgroup,
        &[
            "--cancel-after-ms",
            &after,
            &conninfo.host,
            &port,
            &conninfo.user,
            &password,
            &conninfo.dbname,
            sql,
        ],
    );
    out.expect_success(&format!(
        "pg-probe --cancel-after-ms {after_ms} {sql:?} (it must fail)"
    ));
    assert_eq!(
        probe_field(&out, "sqlstate").as_deref(),
        Some("57014"),
        "{out}"
    );
    probe_field(&out, "after_cancel_ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no after_cancel_ms: {out}"))
}

/// Runs SQL through tokio-postgres (pg-probe) inside `cgroup`. Rows come back one per
/// line, columns tab-separated; an error as `ERROR sqlstate=... message=...`, exit 2.
pub fn probe_sql(cgroup: &CgroupGuard, conninfo: &Conninfo, sql: &str) -> Output {
    let port = conninfo.port.to_string();
    let password = conninfo.password.clone().unwrap_or_default();
    let mut args = vec![
        conninfo.host.as_str(),
        port.as_str(),
        conninfo.user.as_str(),
        password.as_str(),
        conninfo.dbname.as_str(),
        sql,
    ];
    if conninfo.password.is_none() {
        args.insert(0, "--no-password");
    }
    probe(cgroup, &args)
}

/// The `key=value` fields pg-probe prints, e.g. `sqlstate` from an error line.
pub fn probe_field(out: &Output, key: &str) -> Option<String> {
    let prefix = format!("{key}=");
    out.stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&prefix))
        .map(str::to_string)
}

/// The rest of the first stdout line starting with `prefix`.
pub fn probe_line(out: &Output, prefix: &str) -> Option<String> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .map(str::to_string)
}
