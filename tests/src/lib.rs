//! Fixtures for Cordon's end-to-end tests, also used by `cargo xtask demo` and `bench`:
//! a throwaway PostgreSQL ([`postgres`]), cgroup guards that move children in and
//! clean up ([`cgroup`]), a Cordon daemon on a generated configuration ([`gateway`]),
//! and clients run inside a cgroup ([`clients`]); [`compare`] runs one client scenario
//! both through the gateway and directly and compares what the client saw.
//!
//! Everything here creates real kernel state (cgroups, pinned BPF programs, processes),
//! so every fixture removes what it created on drop, and the tests check that it did.

pub mod bench_policy;
pub mod cgroup;
pub mod client_libs;
pub mod clients;
pub mod compare;
pub mod gateway;
pub mod leftovers;
pub mod logfile;
pub mod masking_corpus;
pub mod memory;
pub mod netns;
pub mod policy_corpus;
pub mod postgres;
pub mod process;
pub mod procmem;
pub mod received;
pub mod scenario;
pub mod small_fs;
pub mod tempdir;

use std::{
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener},
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
};

/// Panics unless running as root: the end-to-end tests load BPF programs and create
/// cgroups, and must never pass by silently skipping.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "this test needs root (BPF programs, cgroups, PostgreSQL as the postgres user); \
             run it with `cargo xtask test` as root"
        );
    }
}

/// A name unique within this machine for this run: `<prefix>-<pid>-<n>`.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{n}", std::process::id())
}

/// The workspace root, derived from this crate's manifest directory.
pub fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives inside the workspace")
        .to_path_buf()
}

fn target_debug_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("debug"),
        None => workspace_dir().join("target").join("debug"),
    }
}

/// The `cordon` binary under test: `$CORDON_BIN`, else `<workspace>/target/debug/cordon`.
pub fn cordon_bin() -> PathBuf {
    let path = std::env::var_os("CORDON_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_debug_dir().join("cordon"));
    assert!(
        path.is_file(),
        "the cordon binary is not at {} (set CORDON_BIN, or build it: `cargo build -p cordon`; \
         `cargo xtask test` does)",
        path.display()
    );
    path
}

/// The `pg-probe` helper: `$CORDON_PG_PROBE`, else `<workspace>/target/debug/pg-probe`.
pub fn probe_bin() -> PathBuf {
    helper_bin("CORDON_PG_PROBE", "pg-probe")
}

/// The daemon with test phases (`cordon-test-phases`): `$CORDON_TEST_PHASES`, else
/// `<workspace>/target/debug/cordon-test-phases`.
pub fn test_phases_bin() -> PathBuf {
    helper_bin("CORDON_TEST_PHASES", "cordon-test-phases")
}

/// The `pg-hold` helper: `$CORDON_PG_HOLD`, else `<workspace>/target/debug/pg-hold`.
pub fn hold_bin() -> PathBuf {
    helper_bin("CORDON_PG_HOLD", "pg-hold")
}

/// A binary of this crate: `$<env>`, else `<target>/debug/<name>`.
fn helper_bin(env: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| target_debug_dir().join(name));
    assert!(
        path.is_file(),
        "{name} is not at {} (set {env}, or `cargo build -p cordon-e2e --bins`)",
        path.display()
    );
    path
}

/// The `pg-scenario` helper (the tokio-postgres scenario of the protocol suite):
/// `$CORDON_PG_SCENARIO`, else `<workspace>/target/debug/pg-scenario`.
pub fn scenario_bin() -> PathBuf {
    let path = std::env::var_os("CORDON_PG_SCENARIO")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_debug_dir().join("pg-scenario"));
    assert!(
        path.is_file(),
        "pg-scenario is not at {} (set CORDON_PG_SCENARIO, or `cargo build -p cordon-e2e --bins`)",
        path.display()
    );
    path
}

/// A TCP port that is free on 127.0.0.1 and ::1 right now (the kernel picks it).
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .expect("bind 127.0.0.1:0");
        let port = v4.local_addr().expect("local_addr").port();
        if TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).is_ok()
            && TcpListener::bind(SocketAddr::from(([127, 0, 0, 2], port))).is_ok()
        {
            return port;
        }
    }
    panic!("no port free on both 127.0.0.1 and ::1");
}
