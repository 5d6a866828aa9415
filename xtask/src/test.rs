//! `cargo xtask test`: set up, build the daemon and the test helpers, run every test
//! of the workspace, and print one summary at the end.

use std::{
    io::{BufRead, BufReader},
    process::{ExitCode, Stdio},
};

use anyhow::{Context, Result};

use crate::{cmd, setup};

/// Parallel test threads: each end-to-end test runs its own PostgreSQL and gateway.
const TEST_THREADS: &str = "4";

pub fn run(extra: &[String]) -> Result<ExitCode> {
    cmd::require_root("cargo xtask test")?;
    setup::ensure()?;
    cmd::build_debug()?;

    let mut cargo = cmd::cargo();
    cargo
        .args([
            "test",
            "--workspace",
            "--no-fail-fast",
            "--",
            "--test-threads",
            TEST_THREADS,
        ])
        .args(extra)
        .stdout(Stdio::piped());
    eprintln!(
        "+ cargo test --workspace --no-fail-fast -- --test-threads {TEST_THREADS} {}",
        extra.join(" ")
    );
    let mut child = cargo.spawn().context("running cargo test")?;
    let stdout = child.stdout.take().context("cargo test stdout")?;
    let mut summary = Summary::default();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        println!("{line}");
        summary.observe(&line);
    }
    let status = child.wait()?;
    summary.print();
    let leftovers = cordon_e2e::leftovers::scan();
    if !leftovers.is_empty() {
        println!("left behind by the test run ({}):", leftovers.len());
        for thing in &leftovers {
            println!("  {thing}");
        }
        return Ok(ExitCode::FAILURE);
    }
    println!("nothing left behind: no test pins, cgroups, processes or temporary directories");
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

#[derive(Default)]
struct Summary {
    results: Vec<String>,
    failed: Vec<String>,
    passed: u64,
    failed_count: u64,
    ignored: u64,
}

impl Summary {
    fn observe(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("test result: ") {
            self.results.push(line.to_string());
            self.passed += count(rest, "passed");
            self.failed_count += count(rest, "failed");
            self.ignored += count(rest, "ignored");
        } else if line.starts_with("test ") && line.ends_with(" FAILED") {
            self.failed.push(
                line.trim_start_matches("test ")
                    .trim_end_matches(" ... FAILED")
                    .to_string(),
            );
        }
    }

    fn print(&self) {
        println!("\n==================== summary ====================");
        for r in &self.results {
            println!("{r}");
        }
        if !self.failed.is_empty() {
            println!("failed tests:");
            for f in &self.failed {
                println!("  {f}");
            }
        }
        println!(
            "total: {} passed; {} failed; {} ignored ({} test binaries)",
            self.passed,
            self.failed_count,
            self.ignored,
            self.results.len()
        );
    }
}

/// The number before `word` in "ok. 3 passed; 0 failed; 1 ignored; ...".
fn count(text: &str, word: &str) -> u64 {
    let words: Vec<&str> = text
        .split([' ', ';', '.'])
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .find(|w| w[1] == word)
        .and_then(|w| w[0].parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_up_result_lines() {
        let mut s = Summary::default();
        s.observe("test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s");
        s.observe("test foo::bar ... FAILED");
        s.observe("test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.00s");
        assert_eq!((s.passed, s.failed_count, s.ignored), (5, 1, 1));
        assert_eq!(s.failed, vec!["foo::bar"]);
    }
}
