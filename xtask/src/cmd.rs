//! Running commands with their command line echoed.

use std::{
    path::PathBuf,
    process::{Command, ExitStatus, Stdio},
};

use anyhow::{bail, Context, Result};

/// The workspace root (xtask/..).
pub fn workspace() -> PathBuf {
    cordon_e2e::workspace_dir()
}

/// A binary of the release build: `$CARGO_TARGET_DIR/release/NAME`, else
/// `<workspace>/target/release/NAME`.
pub fn release_bin(name: &str) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace().join("target"), PathBuf::from)
        .join("release")
        .join(name)
}

/// `cargo` as the outer cargo invoked us, else from PATH.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace());
    cmd
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs `cmd` with inherited stdio, echoing it first; returns its status.
pub fn status(cmd: &mut Command) -> Result<ExitStatus> {
    eprintln!("+ {}", describe(cmd));
    cmd.status()
        .with_context(|| format!("running {}", describe(cmd)))
}

/// Runs `cmd` and fails unless it exits 0.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = status(cmd)?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout if it exits 0.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `program` is an executable on PATH.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .any(|dir| dir.join(program).is_file())
}

/// `cargo build -p cordon -p cordon-e2e --bins` (debug).
pub fn build_debug() -> Result<()> {
    run(cargo().args([
        "build",
        "-p",
        "cordon",
        "-p",
        "cordon-e2e",
        "-p",
        "cordon-test-bins",
        "--bins",
    ]))
}

/// Fails unless running as root (BPF, cgroups, PostgreSQL as the postgres user).
pub fn require_root(what: &str) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("{what} needs root (it loads BPF programs and creates cgroups)");
    }
    Ok(())
}
