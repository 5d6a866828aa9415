//! Builds the eBPF programs (gateway-ebpf) for the BPF target with the nightly
//! toolchain and bpf-linker, and leaves the object at `$OUT_DIR/cordon.bpf.o`
//! for `include_bytes!`. `cargo xtask setup` installs what this needs.

use std::{
    env,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context, Result};

const EBPF_PACKAGE: &str = "cordon-ebpf";
const BPF_TARGET: &str = "bpfel-unknown-none";

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir.parent().context("gateway/ has a parent")?;
    let ebpf_dir = workspace.join("gateway-ebpf");
    let common_dir = workspace.join("gateway-common");
    for dir in [&ebpf_dir.join("src"), &common_dir.join("src")] {
        println!("cargo:rerun-if-changed={}", dir.display());
    }
    println!(
        "cargo:rerun-if-changed={}",
        ebpf_dir.join("Cargo.toml").display()
    );
    println!("cargo:rerun-if-env-changed=CORDON_NIGHTLY");

    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let object = build_ebpf(&ebpf_dir, &out_dir)?;
    std::fs::copy(&object, out_dir.join("cordon.bpf.o"))
        .with_context(|| format!("copying {}", object.display()))?;
    Ok(())
}

fn build_ebpf(ebpf_dir: &Path, out_dir: &Path) -> Result<PathBuf> {
    let toolchain = env::var("CORDON_NIGHTLY").unwrap_or_else(|_| "nightly".into());
    let target_dir = out_dir.join("ebpf-target");
    let mut cmd = Command::new("rustup");
    cmd.args(["run", &toolchain, "cargo", "build", "--release", "--locked"])
        .args(["--package", EBPF_PACKAGE, "--target", BPF_TARGET])
        .args(["-Z", "build-std=core"])
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(ebpf_dir)
        // BTF makes the object self-describing for the verifier's messages.
        .env(
            "CARGO_ENCODED_RUSTFLAGS",
            "-Cdebuginfo=2\x1f-Clink-arg=--btf",
        );
    // The outer build's compiler settings must not leak into the BPF build.
    for key in [
        "RUSTC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
    ] {
        cmd.env_remove(key);
    }
    let status = cmd.status().with_context(|| {
        "running `rustup run nightly cargo build` for the eBPF programs; \
         run `cargo xtask setup` to install the nightly rust-src component and bpf-linker"
    })?;
    if !status.success() {
        bail!(
            "building the eBPF programs failed ({status}); \
             `cargo xtask setup` installs what the build needs"
        );
    }
    Ok(target_dir
        .join(BPF_TARGET)
        .join("release")
        .join(EBPF_PACKAGE))
}
