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

fn script(name: &str) -> PathBuf {
    workspace_dir().join("tests").join("clients").join(name)
}

/// `python3 tests/clients/<script> DSN SQL` inside `cgroup`.
pub fn python(cgroup: &CgroupGuard, script_name: &str, dsn: &str, sql: &str) -> Command {
    let dir = python_dir();
    assert!(
        dir.is_dir(),
        "{} is missing: `cargo xtask setup` installs psycopg and asyncpg there",
        dir.display()
    );
    let mut cmd = cgroup.command("python3");
    clean_pg_env(&mut cmd);
    cmd.env("PYTHONPATH", dir)
        .arg(script(script_name))
        .args([dsn, sql]);
    cmd
}

/// `node tests/clients/<script> DSN SQL` inside `cgroup`.
pub fn node(cgroup: &CgroupGuard, script_name: &str, dsn: &str, sql: &str) -> Command {
    let modules = node_dir().join("node_modules");
    assert!(
        modules.is_dir(),
        "{} is missing: `cargo xtask setup` installs node-postgres there",
        modules.display()
    );
    let mut cmd = cgroup.command("node");
    clean_pg_env(&mut cmd);
    cmd.env("NODE_PATH", modules)
        .arg(script(script_name))
        .args([dsn, sql]);
    cmd
}
