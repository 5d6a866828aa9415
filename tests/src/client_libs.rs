//! Client libraries other than libpq and tokio-postgres (psycopg, asyncpg,
//! node-postgres), installed by `cargo xtask setup` under
//! `target/client-libs/` and driven by the small scripts in `tests/clients/`.

use std::{path::PathBuf, process::Command};

use crate::{cgroup::CgroupGuard, clients::clean_pg_env, workspace_dir};

/// Python packages, as pip installs them.
pub const PYTHON_PACKAGES: [&str; 2] = ["psycopg[binary]>=3.1,<4", "asyncpg>=0.29,<1"];
/// npm packages.
pub const NODE_PACKAGES: [&str; 1] = ["pg@8"];

pub fn root() -> PathBuf {
    workspace_dir().join("target").join("client-libs")
}

/// `pip install --target` directory (put on PYTHONPATH).
pub fn python_dir() -> PathBuf {
    root().join("python")
}

/// `npm install --prefix` directory (its node_modules goes on NODE_PATH).
pub fn node_dir() -> PathBuf {
    root().join("node")
}

/// `python3 tests/clients/<script> DSN SQL` inside `cgroup`.
pub fn python(cgroup: &CgroupGuard, script_name: &str, dsn: &str, sql: &str) -> Command {
    python_args(cgroup, script_name, &[dsn, sql])
}

/// `python3 tests/clients/<script> ARGS...` inside `cgroup`.
pub fn python_args(cgroup: &CgroupGuard, script_name: &str, args: &[&str]) -> Command {
    let libs = Libraries {
        interpreter: "python3",
        path_var: "PYTHONPATH",
        dir: python_dir(),
        what: "psycopg and asyncpg",
    };
    libs.command(cgroup, script_name, args)
}

/// `node tests/clients/<script> DSN SQL` inside `cgroup`.
pub fn node(cgroup: &CgroupGuard, script_name: &str, dsn: &str, sql: &str) -> Command {
    node_args(cgroup, script_name, &[dsn, sql])
}

/// `node tests/clients/<script> ARGS...` inside `cgroup`.
pub fn node_args(cgroup: &CgroupGuard, script_name: &str, args: &[&str]) -> Command {
    let libs = Libraries {
        interpreter: "node",
        path_var: "NODE_PATH",
        dir: node_dir().join("node_modules"),
        what: "node-postgres",
    };
    libs.command(cgroup, script_name, args)
}

/// Where an interpreter finds the libraries setup installed.
struct Libraries {
    interpreter: &'static str,
    path_var: &'static str,
    dir: PathBuf,
    what: &'static str,
}

impl Libraries {
    fn command(self, cgroup: &CgroupGuard, script_name: &str, args: &[&str]) -> Command {
        assert!(
            self.dir.is_dir(),
            "{} is missing: `cargo xtask setup` installs {} there",
            self.dir.display(),
            self.what
        );
        let mut cmd = cgroup.command(self.interpreter);
        clean_pg_env(&mut cmd);
        cmd.env(self.path_var, &self.dir)
            .arg(workspace_dir().join("tests/clients").join(script_name))
            .args(args);
        cmd
    }
}

/// `python3 tests/clients/libpq_fast_path.py ARGS...`: one fast-path call through
/// libpq's PQfn (ctypes; no packages), inside `cgroup`, or outside every agent cgroup.
pub fn libpq_fast_path(cgroup: Option<&CgroupGuard>, args: &[&str]) -> Command {
    let mut cmd = match cgroup {
        Some(cgroup) => cgroup.command("python3"),
        None => Command::new("python3"),
    };
    clean_pg_env(&mut cmd);
    cmd.arg(workspace_dir().join("tests/clients/libpq_fast_path.py"))
        .args(args);
    cmd
}
