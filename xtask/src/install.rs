//! `cargo xtask install [--root DIR]`: release binary, systemd unit and a commented
//! default configuration (never overwriting an existing one).

use std::{
    fs,
    os::unix::fs::{DirBuilderExt, PermissionsExt},
    path::Path,
    process::ExitCode,
};

use anyhow::{Context, Result};

use crate::cmd;

pub fn run(root: &Path) -> Result<ExitCode> {
    cmd::run(cmd::cargo().args(["build", "--release", "-p", "cordon"]))?;
    let ws = cmd::workspace();
    copy(
        &ws.join("target/release/cordon"),
        &root.join("usr/local/bin/cordon"),
        0o755,
    )?;
    copy(
        &ws.join("systemd/cordon.service"),
        &root.join("etc/systemd/system/cordon.service"),
        0o644,
    )?;
    copy(
        &ws.join("systemd/agents.slice"),
        &root.join("etc/systemd/system/agents.slice"),
        0o644,
    )?;
    copy(
        &ws.join("README.md"),
        &root.join("usr/local/share/doc/cordon/README.md"),
        0o644,
    )?;

    let config = root.join("etc/cordon/cordon.toml");
    if config.exists() {
        println!("install: {} exists; left as it is", config.display());
    } else {
        copy(&ws.join("config/cordon.example.toml"), &config, 0o600)?;
    }
    let secrets = root.join("etc/cordon/secrets");
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&secrets)?;
    fs::set_permissions(&secrets, fs::Permissions::from_mode(0o700))?;
    println!("install: {} (0700) for credential files", secrets.display());
    println!(
        "install: next: edit {}, `cordon check-config {}`, then `systemctl daemon-reload && systemctl enable --now cordon`",
        config.display(),
        config.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<()> {
    let dir = to.parent().context("destination has a parent")?;
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Write to a temporary name, then rename: a running binary is replaced, not modified.
    let tmp = to.with_extension("xtask-new");
    fs::copy(from, &tmp)
        .with_context(|| format!("copying {} to {}", from.display(), tmp.display()))?;
    fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
    fs::rename(&tmp, to).with_context(|| format!("installing {}", to.display()))?;
    println!("install: {} ({mode:o})", to.display());
    Ok(())
}
