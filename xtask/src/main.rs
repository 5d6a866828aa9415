//! `cargo xtask <command>`: the project's own tasks, each doing its own set-up.

mod bench;
mod cmd;
mod demo;
mod install;
mod setup;
mod test;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Cordon's development tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what building and testing need (idempotent): the nightly's rust-src,
    /// bpf-linker, PostgreSQL, iproute2, systemd-analyze, openssl.
    Setup,
    /// Set up, build, and run every test (the root/eBPF end-to-end ones included).
    Test {
        /// Extra arguments for the test binaries (after `--`), e.g. a test name filter.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// A narrated demonstration on a throwaway PostgreSQL.
    Demo,
    /// pgbench -S directly, through Cordon and through PgBouncer, side by side;
    /// the SQL policy's cost (classification per statement, pgbench -S with the
    /// policy on and off); then Cordon's memory per idle session and during a
    /// 1 GiB result.
    Bench {
        /// Seconds per run.
        #[arg(long, default_value_t = 10)]
        seconds: u32,
        /// pgbench scale factor for `pgbench -i`.
        #[arg(long, default_value_t = 10)]
        scale: u32,
        /// Exit non-zero when any target the bench checks is missed.
        #[arg(long)]
        strict: bool,
        /// Run one section only (default: all of them).
        #[arg(long, value_enum)]
        only: Option<bench::Section>,
    },
    /// Build a release and install the binary, the systemd unit and a default config.
    Install {
        /// Install under this directory instead of /.
        #[arg(long, default_value = "/")]
        root: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Setup => setup::run(),
        Command::Test { args } => test::run(&args),
        Command::Demo => demo::run(),
        Command::Bench {
            seconds,
            scale,
            strict,
            only,
        } => bench::run(seconds, scale, strict, only),
        Command::Install { root } => install::run(&root),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
