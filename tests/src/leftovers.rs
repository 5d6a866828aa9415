//! What a test run must not leave behind: pinned programs, cgroups, network
//! namespaces, daemons, PostgreSQL servers or temporary directories made by
//! these fixtures.
//! `cargo xtask test` checks this after every test binary has finished.

use std::{fs, path::Path};

/// Name prefixes the fixtures give what they create.
const PIN_PREFIXES: [&str; 1] = ["cordon-test-"];
const CGROUP_PREFIXES: [&str; 3] = ["cordon-test-", "cordon-demo-", "cordon-bench-"];
const TEMP_PREFIXES: [&str; 5] = [
    "cordon-gw-",
    "cordon-pg-",
    "cordon-check-",
    "cordon-units-",
    "cordon-test-",
];

/// One line per thing left behind; empty when the run cleaned up.
pub fn scan() -> Vec<String> {
    let mut found = Vec::new();
    found.extend(entries_named(
        Path::new(crate::gateway::BPFFS),
        &PIN_PREFIXES,
        "pin",
    ));
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if let Some(cgroup2) = crate::cgroup::parse_mountinfo(&mountinfo) {
        found.extend(entries_named(&cgroup2, &CGROUP_PREFIXES, "cgroup"));
    }
    found.extend(entries_named(
        &std::env::temp_dir(),
        &TEMP_PREFIXES,
        "temporary directory",
    ));
    found.extend(processes_using(&TEMP_PREFIXES));
    found
}

fn entries_named(dir: &Path, prefixes: &[&str], what: &str) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            prefixes.iter().any(|p| name.starts_with(p))
        })
        .map(|e| format!("{what} {}", e.path().display()))
        .collect()
}

/// Processes whose command line points into a fixture's temporary directory
/// (test gateways run on a config there, test servers on a data directory).
fn processes_using(prefixes: &[&str]) -> Vec<String> {
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id().to_string();
    procs
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmdline = fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            prefixes
                .iter()
                .any(|p| cmdline.contains(&format!("/{p}")))
                .then(|| {
                    format!(
                        "process {}: {}",
                        e.file_name().to_string_lossy(),
                        cmdline.trim()
                    )
                })
        })
        .collect()
}
