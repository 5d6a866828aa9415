//! The `cordon` command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Subject;

pub const DEFAULT_CONFIG: &str = "/etc/cordon/cordon.toml";

#[derive(Parser)]
#[command(
    name = "cordon",
    version,
    about = "A transparent, identity-aware PostgreSQL gateway for AI agents and CI jobs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway in the foreground (systemd: Type=notify).
    Run {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
    },
    /// Validate a configuration file; errors name file, line, column and field.
    CheckConfig { file: PathBuf },
    /// Bind a cgroup or systemd unit to an identity in the running daemon.
    Bind {
        #[command(flatten)]
        subject: SubjectArgs,
        #[arg(long)]
        identity: String,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Remove a binding made with `cordon bind`.
    Unbind {
        #[command(flatten)]
        subject: SubjectArgs,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Show attached programs, pins, endpoints, bindings and live sessions.
    Status {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Ask the running daemon to re-read its configuration (same as SIGHUP).
    Reload {
        #[command(flatten)]
        daemon: DaemonArgs,
    },
    /// Show what the policy decides for a statement text, and why. Exit code
    /// 0: every statement allowed, 1: one refused, 2: one needs approval.
    Explain {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// The identity to judge the statements for.
        #[arg(long)]
        identity: String,
        /// The search_path unqualified names resolve in (comma-separated).
        #[arg(long, default_value = "public")]
        search_path: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// The SQL text (several statements allowed); `-` reads it from stdin.
        sql: String,
    },
    /// Detach all programs and remove every pin: agents then connect directly.
    Detach {
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
        /// Use this pin directory instead of the one in the configuration.
        #[arg(long)]
        pin_dir: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args)]
#[group(required = true, multiple = false)]
pub struct SubjectArgs {
    /// A cgroup path relative to the cgroup2 mount, e.g. /ci.slice/job-42
    #[arg(long)]
    pub cgroup: Option<String>,
    /// A systemd unit, e.g. gitlab-runner.service
    #[arg(long)]
    pub unit: Option<String>,
}

impl SubjectArgs {
    pub fn subject(self) -> Subject {
        match (self.cgroup, self.unit) {
            (Some(cgroup), _) => Subject::Cgroup(cgroup),
            (None, Some(unit)) => Subject::Unit(unit),
            (None, None) => unreachable!("clap requires one of --cgroup / --unit"),
        }
    }
}

#[derive(Args)]
pub struct DaemonArgs {
    /// The daemon's configuration (to find its admin socket).
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// The admin socket, instead of reading it from the configuration.
    #[arg(long)]
    pub admin_socket: Option<PathBuf>,
}
