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
    /// Recorded sessions: list, show, replay, export (reads the `[recording]` store).
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// The recording store: verify its hash chains, purge old sessions.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

// Exit codes of the `sessions` and `audit` commands: 0 done, 1 failed (or, for
// `audit verify`, problems found), 2 bad usage, 69 the store cannot be opened,
// 78 the configuration is wrong.
#[derive(Subcommand)]
pub enum SessionsCommand {
    /// A table of recorded sessions (oldest first): id, identity, cgroup, pid,
    /// command, opened, closed, statements, refused.
    List {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        filter: FilterArgs,
        /// Only sessions with at least one statement so decided.
        #[arg(long, value_parser = ["allowed", "refused", "needs approval", "needs-approval"])]
        decision: Option<String>,
        /// At most this many sessions (the oldest matching; narrow with --since).
        #[arg(long)]
        limit: Option<u64>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One session: who, from which process, to where, then every statement with its
    /// decision, timing, text and result.
    Show {
        #[command(flatten)]
        store: StoreArgs,
        /// Print the records as JSON.
        #[arg(long)]
        json: bool,
        /// The session id (from `cordon sessions list`).
        id: String,
    },
    /// Play a session back in the terminal as psql showed it, at its original pace.
    Replay {
        #[command(flatten)]
        store: StoreArgs,
        /// Play this many times faster (0.5: half speed).
        #[arg(long, default_value_t = 1.0, value_parser = parse_speed, conflicts_with = "instant")]
        speed: f64,
        /// Print everything at once.
        #[arg(long)]
        instant: bool,
        /// The session id (from `cordon sessions list`).
        id: String,
    },
    /// Every record of the matching sessions as JSON lines (with their hash chain),
    /// for a SIEM.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        filter: FilterArgs,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute every hash chain and checkpoint; exit 1 if any record was changed,
    /// removed, inserted or reordered.
    Verify {
        #[command(flatten)]
        store: StoreArgs,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove whole sessions closed before a time (`90d`: ninety days ago), recorded
    /// in a purge checkpoint.
    Purge {
        #[command(flatten)]
        store: StoreArgs,
        /// A duration ago (90d, 12h, 30m) or an RFC 3339 time.
        #[arg(long, value_parser = parse_time_arg)]
        before: i64,
    },
}

/// Where the recording store is: the configuration's `[recording]`.
#[derive(Args)]
pub struct StoreArgs {
    #[arg(long, default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
}

/// Which sessions (times: RFC 3339, or a duration ago such as 90m, 2h, 7d).
#[derive(Args)]
pub struct FilterArgs {
    /// Only this identity's sessions.
    #[arg(long)]
    pub identity: Option<String>,
    /// Sessions still open at or after this time.
    #[arg(long, value_parser = parse_time_arg)]
    pub since: Option<i64>,
    /// Sessions opened before this time.
    #[arg(long, value_parser = parse_time_arg)]
    pub until: Option<i64>,
}

/// A time argument in microseconds since the epoch.
fn parse_time_arg(text: &str) -> Result<i64, String> {
    crate::audit_cli::time::parse_time(text, crate::audit_cli::now_us())
}

fn parse_speed(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(speed) if speed.is_finite() && speed > 0.0 => Ok(speed),
        _ => Err(format!("{text:?}: a positive number (2: twice as fast)")),
    }
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
