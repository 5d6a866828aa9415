//! `cargo xtask setup`: installs what a fresh machine lacks, and nothing else.
//! Safe to run again: every step checks first.

use std::{path::Path, process::Command, process::ExitCode};

use anyhow::{bail, Context, Result};

use crate::cmd::{self, on_path, output};

const BPF_LINKER_VERSION: &str = "0.10.4";

pub fn run() -> Result<ExitCode> {
    ensure()?;
    Ok(ExitCode::SUCCESS)
}

/// Everything `test`, `demo` and `bench` need.
pub fn ensure() -> Result<()> {
    let nightly = nightly_toolchain()?;
    ensure_rust_src(&nightly)?;
    // The gateway's build script builds the eBPF programs with `nightly` unless told
    // otherwise; only a dated nightly needs naming (setting it always would rebuild).
    if is_dated(&nightly) {
        std::env::set_var("CORDON_NIGHTLY", &nightly);
    }
    ensure_bpf_linker()?;
    ensure_system_packages()?;
    ensure_postgres_user()?;
    ensure_client_libraries()?;
    ensure_bpffs()?;
    report_kernel();
    Ok(())
}

/// The installed nightly toolchain (never updated here); installs one only if none is.
fn nightly_toolchain() -> Result<String> {
    let list = output(Command::new("rustup").args(["toolchain", "list"]))
        .context("`rustup toolchain list` failed: is rustup installed?")?;
    if let Some(name) = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .find(|t| t.starts_with("nightly"))
    {
        println!("setup: nightly toolchain {name}");
        return Ok(name.to_string());
    }
    println!("setup: no nightly toolchain; installing one (minimal profile)");
    cmd::run(Command::new("rustup").args([
        "toolchain",
        "install",
        "nightly",
        "--profile",
        "minimal",
    ]))?;
    Ok("nightly".into())
}

/// `nightly-2025-01-01-x86_64-...` rather than `nightly` / `nightly-x86_64-...`.
fn is_dated(toolchain: &str) -> bool {
    toolchain
        .strip_prefix("nightly-")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

fn ensure_rust_src(nightly: &str) -> Result<()> {
    let installed = output(Command::new("rustup").args([
        "component",
        "list",
        "--installed",
        "--toolchain",
        nightly,
    ]))
    .unwrap_or_default();
    if installed.lines().any(|l| l.starts_with("rust-src")) {
        println!("setup: rust-src for {nightly}: present");
        return Ok(());
    }
    println!("setup: adding rust-src to {nightly}");
    cmd::run(Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", nightly]))
}

fn ensure_bpf_linker() -> Result<()> {
    let version = output(Command::new("bpf-linker").arg("--version")).unwrap_or_default();
    if version.contains(BPF_LINKER_VERSION) {
        println!("setup: bpf-linker {BPF_LINKER_VERSION}: present");
        return Ok(());
    }
    println!(
        "setup: installing bpf-linker {BPF_LINKER_VERSION} (found: {:?})",
        version.trim()
    );
    cmd::run(cmd::cargo().args([
        "install",
        "bpf-linker",
        "--version",
        BPF_LINKER_VERSION,
        "--locked",
        "--force",
    ]))
}

/// A program the tests run, and the Debian packages that provide it.
struct Need {
    program: &'static str,
    packages: fn() -> Vec<String>,
}

fn postgres_server() -> Vec<String> {
    let versioned = output(Command::new("apt-cache").args(["show", "postgresql-15"]))
        .is_some_and(|s| !s.is_empty());
    vec![if versioned {
        "postgresql-15"
    } else {
        "postgresql"
    }
    .into()]
}

fn ensure_system_packages() -> Result<()> {
    let needs = [
        Need {
            program: "initdb",
            packages: postgres_server,
        },
        Need {
            program: "pg_ctl",
            packages: postgres_server,
        },
        Need {
            program: "postgres",
            packages: postgres_server,
        },
        Need {
            program: "pgbench",
            packages: postgres_server,
        },
        Need {
            program: "psql",
            packages: || vec!["postgresql-client".into()],
        },
        Need {
            program: "ip",
            packages: || vec!["iproute2".into()],
        },
        Need {
            program: "systemd-analyze",
            packages: || vec!["systemd".into()],
        },
        Need {
            program: "openssl",
            packages: || vec!["openssl".into()],
        },
        Need {
            program: "runuser",
            packages: || vec!["util-linux".into()],
        },
        // The masking tests read every byte a client received off its
        // read() calls.
        Need {
            program: "strace",
            packages: || vec!["strace".into()],
        },
        // pg_query (the policy's parser) generates its bindings with libclang.
        Need {
            program: LIBCLANG,
            packages: || vec!["libclang-dev".into()],
        },
    ];
    let missing: Vec<&Need> = needs.iter().filter(|n| !have(n.program)).collect();
    if missing.is_empty() {
        println!("setup: PostgreSQL, iproute2, systemd-analyze, openssl, libclang: present");
        return Ok(());
    }
    let mut packages: Vec<String> = missing.iter().flat_map(|n| (n.packages)()).collect();
    packages.sort();
    packages.dedup();
    let names: Vec<&str> = missing.iter().map(|n| n.program).collect();
    println!("setup: missing {names:?}; installing {packages:?}");
    cmd::require_root("installing Debian packages")?;
    if packages
        .iter()
        .any(|p| p.starts_with("postgresql") && p != "postgresql-client")
    {
        // The tests run their own throwaway servers: no default cluster, no service.
        let conf = Path::new("/etc/postgresql-common/createcluster.conf");
        if !conf.exists() {
            std::fs::create_dir_all("/etc/postgresql-common")?;
            std::fs::write(conf, "create_main_cluster = false\n")?;
        }
    }
    cmd::run(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    cmd::run(
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "--no-install-recommends",
                "-o",
                "Dpkg::Options::=--force-confold",
            ])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    let still: Vec<&str> = needs
        .iter()
        .filter(|n| !have(n.program))
        .map(|n| n.program)
        .collect();
    if !still.is_empty() {
        bail!("still missing after apt-get install: {still:?}");
    }
    Ok(())
}

/// Stands for libclang in the list of needs: a library, not a program.
const LIBCLANG: &str = "libclang";

/// On PATH, or (for the server programs) where Debian puts them; libclang
/// where Debian's libclang-dev puts it.
fn have(program: &str) -> bool {
    if program == LIBCLANG {
        return std::fs::read_dir("/usr/lib")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                e.file_name().to_string_lossy().starts_with("llvm-")
                    && e.path().join("lib/libclang.so").exists()
            });
    }
    on_path(program)
        || std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| e.path().join("bin").join(program).is_file())
}

fn ensure_postgres_user() -> Result<()> {
    if output(Command::new("getent").args(["passwd", "postgres"])).is_some() {
        return Ok(());
    }
    println!("setup: creating the postgres OS user");
    cmd::require_root("creating the postgres user")?;
    cmd::run(Command::new("useradd").args([
        "--system",
        "--user-group",
        "--home-dir",
        "/var/lib/postgresql",
        "--shell",
        "/bin/sh",
        "postgres",
    ]))
}

fn report_kernel() {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    match cordon_e2e::cgroup::parse_mountinfo(&mountinfo) {
        Some(mount) => println!(
            "setup: kernel {}, cgroup2 at {}",
            release.trim(),
            mount.display()
        ),
        None => println!(
            "setup: kernel {}, WARNING: no cgroup2 mount found",
            release.trim()
        ),
    }
}

/// Installs one optional program from Debian's packages if it is missing.
/// Failing leaves it missing: callers treat the program as optional.
pub fn ensure_optional(program: &str, package: &str) {
    if have(program) || Path::new("/usr/sbin").join(program).is_file() {
        return;
    }
    println!("setup: installing {package} (optional, for {program})");
    let installed = cmd::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", package])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
    if let Err(e) = installed {
        println!("setup: {package} not installed ({e:#}); going on without it");
    }
}

/// psycopg, asyncpg and node-postgres for the client-library tests, installed
/// into `target/client-libs/` (never into the system's Python or Node).
fn ensure_client_libraries() -> Result<()> {
    use cordon_e2e::client_libs;
    let python = client_libs::python_dir();
    let imports = Command::new("python3")
        .args(["-c", "import psycopg, asyncpg"])
        .env("PYTHONPATH", &python)
        .output();
    if imports.is_ok_and(|o| o.status.success()) {
        println!("setup: psycopg and asyncpg: present");
    } else {
        println!(
            "setup: installing {:?} into {}",
            client_libs::PYTHON_PACKAGES,
            python.display()
        );
        cmd::run(
            Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--upgrade",
                    "--target",
                ])
                .arg(&python)
                .args(client_libs::PYTHON_PACKAGES),
        )?;
    }
    let node = client_libs::node_dir();
    if node.join("node_modules/pg/package.json").is_file() {
        println!("setup: node-postgres: present");
    } else {
        if !on_path("npm") {
            bail!("npm is not installed: install Node.js (Debian: nodejs npm) for the node-postgres tests");
        }
        println!(
            "setup: installing {:?} into {}",
            client_libs::NODE_PACKAGES,
            node.display()
        );
        std::fs::create_dir_all(&node)?;
        cmd::run(
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&node)
                .args(client_libs::NODE_PACKAGES),
        )?;
    }
    Ok(())
}

/// Mounts bpffs at /sys/fs/bpf once, before tests start gateways in parallel:
/// a daemon mounts it when missing, and two doing so at once would stack two
/// mounts, hiding the first one's pins.
fn ensure_bpffs() -> Result<()> {
    let fs_type =
        output(Command::new("stat").args(["-f", "-c", "%T", "/sys/fs/bpf"])).unwrap_or_default();
    if fs_type.trim() == "bpf_fs" {
        println!("setup: bpffs at /sys/fs/bpf: mounted");
        return Ok(());
    }
    println!("setup: mounting bpffs at /sys/fs/bpf");
    cmd::require_root("mounting bpffs")?;
    cmd::run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))
}
