//! `cordon sessions ...` and `cordon audit ...`: the operator's view of the recording
//! store named by the configuration's `[recording]`. Everything but `audit purge` only
//! reads, so it runs beside the daemon (SQLite in WAL mode lets readers in while it
//! writes).
//!
//! Exit codes: 0 done, 1 failed (or `audit verify` found problems), 2 bad usage,
//! 69 (EX_UNAVAILABLE) the store cannot be opened or read, 78 (EX_CONFIG) the
//! configuration is wrong.

pub mod psql;
pub mod time;

use std::{
    io::{self, Write},
    process::ExitCode,
    time::Duration,
};

use crate::{
    audit::{
        self, AuditStore, NotificationInfo, SessionDetail, SessionFilter, SessionSummary,
        StatementRecord,
    },
    cli::{AuditCommand, FilterArgs, SessionsCommand, StoreArgs},
    config::{Config, ConfigError, RecordingStore},
};
use psql::Align;

/// sysexits EX_UNAVAILABLE: the store cannot be opened or read.
const EX_UNAVAILABLE: u8 = 69;
/// sysexits EX_CONFIG: the configuration is wrong.
const EX_CONFIG: u8 = 78;
/// The longest single pause of a replay, whatever the recorded gap.
const MAX_REPLAY_WAIT: Duration = Duration::from_secs(5);
/// The prompt replayed statements are echoed after (psql's, for a non-superuser).
const PROMPT: &str = "agent=> ";
const PROMPT_CONTINUED: &str = "agent-> ";

/// Time now in microseconds since the epoch.
pub fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Why a command stopped, and so its exit code.
enum Failure {
    Config(ConfigError),
    Unavailable(String),
    Failed(String),
    /// Whoever read the output stopped reading (`| head`): not an error.
    Closed,
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::Closed
        } else {
            Failure::Failed(format!("writing the output: {e}"))
        }
    }
}

impl From<audit::StoreError> for Failure {
    fn from(e: audit::StoreError) -> Self {
        match e {
            audit::StoreError::Output(e) => e.into(),
            e if e.is_unavailable() => Failure::Unavailable(e.to_string()),
            e => Failure::Failed(e.to_string()),
        }
    }
}

fn exit(result: Result<ExitCode, Failure>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(Failure::Closed) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => {
            eprintln!("cordon: {e}");
            ExitCode::from(EX_CONFIG)
        }
        Err(Failure::Unavailable(message)) => {
            eprintln!("cordon: {message}");
            ExitCode::from(EX_UNAVAILABLE)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("cordon: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `cordon sessions ...`.
pub fn sessions(command: SessionsCommand) -> ExitCode {
    exit(match command {
        SessionsCommand::List {
            store,
            filter,
            decision,
            limit,
            json,
        } => list(&store, filter, decision, limit, json),
        SessionsCommand::Show { store, json, id } => show(&store, &id, json),
        SessionsCommand::Replay {
            store,
            speed,
            instant,
            id,
        } => replay(&store, &id, (!instant).then_some(speed)),
        SessionsCommand::Export { store, filter } => export(&store, filter),
    })
}

/// `cordon audit ...`.
pub fn audit(command: AuditCommand) -> ExitCode {
    exit(match command {
        AuditCommand::Verify { store, json } => verify(&store, json),
        AuditCommand::Purge { store, before } => purge(&store, before),
    })
}

/// The configured store and how to name it in messages (never a conninfo: it may hold
/// a password).
struct Opened {
    store: Box<dyn AuditStore>,
    name: String,
}

fn open(args: &StoreArgs) -> Result<Opened, Failure> {
    let config = Config::load(&args.config).map_err(Failure::Config)?;
    let name = match &config.recording.store {
        RecordingStore::Sqlite { path } => {
            // Opening creates a missing file; an operator's typo should not.
            if !path.exists() {
                return Err(Failure::Unavailable(format!(
                    "no recording store at {} (nothing recorded yet, or [recording] path in {} \
                     names another file)",
                    path.display(),
                    args.config.display()
                )));
            }
            path.display().to_string()
        }
        RecordingStore::Postgres { .. } => "the PostgreSQL store ([recording] conninfo)".into(),
    };
    let store = audit::open(&config.recording.store)
        .map_err(|e| Failure::Unavailable(format!("cannot open {name}: {e}")))?;
    Ok(Opened { store, name })
}

fn filter_of(args: FilterArgs) -> SessionFilter {
    SessionFilter {
        identity: args.identity,
        since_us: args.since,
        until_us: args.until,
        decision: None,
        limit: None,
    }
}

fn list(
    args: &StoreArgs,
    filter: FilterArgs,
    decision: Option<String>,
    limit: Option<u64>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let opened = open(args)?;
    let filter = SessionFilter {
        decision: decision.map(|d| d.replace('-', " ")),
        limit,
        ..filter_of(filter)
    };
    let sessions = opened.store.sessions(&filter)?;
    let mut out = io::stdout().lock();
    if json {
        let text =
            serde_json::to_string_pretty(&sessions).map_err(|e| Failure::Failed(e.to_string()))?;
        writeln!(out, "{text}")?;
    } else if sessions.is_empty() {
        eprintln!("no recorded sessions match");
    } else {
        out.write_all(session_table(&sessions).as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The `sessions list` table: columns padded to their widest value, numbers right.
fn session_table(sessions: &[SessionSummary]) -> String {
    let header = [
        "ID",
        "IDENTITY",
        "CGROUP",
        "PID",
        "COMM",
        "OPENED",
        "CLOSED",
        "STATEMENTS",
        "REFUSED",
    ];
    let numeric = [false, false, false, true, false, false, false, true, true];
    let rows: Vec<[String; 9]> = sessions
        .iter()
        .map(|s| {
            [
                s.id.clone(),
                s.identity.clone(),
                s.cgroup.clone(),
                s.pid.to_string(),
                s.comm.clone(),
                time::format_time(s.opened_at_us),
                s.closed_at_us
                    .map_or_else(|| "(open)".to_owned(), time::format_time),
                s.statements.to_string(),
                s.refused.to_string(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut text = String::new();
        for (j, cell) in cells.iter().enumerate() {
            if j > 0 {
                text.push_str("  ");
            }
            let pad = widths[j] - cell.chars().count();
            if numeric[j] {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&header.map(str::to_owned));
    for row in &rows {
        line(row);
    }
    out
}

fn session_of(opened: &Opened, id: &str) -> Result<SessionDetail, Failure> {
    opened
        .store
        .session(id)?
        .ok_or_else(|| Failure::Failed(format!("no session {id:?} in {}", opened.name)))
}

fn show(args: &StoreArgs, id: &str, json: bool) -> Result<ExitCode, Failure> {
    let opened = open(args)?;
    let detail = session_of(&opened, id)?;
    let mut out = io::stdout().lock();
    if json {
        let text =
            serde_json::to_string_pretty(&detail).map_err(|e| Failure::Failed(e.to_string()))?;
        writeln!(out, "{text}")?;
    } else {
        out.write_all(describe(id, &detail).as_bytes())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `sessions show`: the header, then each statement with its decision and result.
fn describe(id: &str, detail: &SessionDetail) -> String {
    let mut out = format!("session {id}\n");
    let mut field = |name: &str, value: String| {
        out.push_str(&format!("  {:<18}{value}\n", format!("{name}:")));
    };
    match &detail.opened {
        Some(o) => {
            field("identity", o.identity.clone());
            field("cgroup", o.cgroup.clone());
            field(
                "process",
                format!("{} (pid {}, uid {})", o.comm, o.pid, o.uid),
            );
            field("destination", o.destination.clone());
            field("role", o.role.clone());
            field("database", o.database.clone());
            field("client TLS", if o.client_tls { "yes" } else { "no" }.into());
            field(
                "application_name",
                o.application_name
                    .clone()
                    .unwrap_or_else(|| "(none)".into()),
            );
            field("opened", time::format_time_ms(o.at_us));
        }
        None => field("opened", "(no opening record)".into()),
    }
    match &detail.closed {
        Some(c) => {
            field("closed", time::format_time_ms(c.at_us));
            field("reason", c.reason.clone());
            for n in &c.notifications {
                field("notification", notification_line(n));
            }
            if c.notifications_truncated {
                field(
                    "notification",
                    "(more not kept: the recording's caps)".into(),
                );
            }
        }
        None => field("closed", "(still open, or not recorded)".into()),
    }
    let refused = detail
        .statements
        .iter()
        .filter(|s| s.decision == "refused")
        .count();
    field(
        "statements",
        format!("{} ({refused} refused)", detail.statements.len()),
    );
    let sent = requests(&detail.statements);
    for (n, s) in detail.statements.iter().enumerate() {
        // An empty line between statements (a result table ends with one already).
        if !out.ends_with("\n\n") {
            out.push('\n');
        }
        let mut decided = s.decision.clone();
        if let Some(rule) = &s.rule {
            decided.push_str(&format!(" by rule {rule}"));
        }
        if let Some(approval) = &s.approval {
            decided.push_str(&format!(", approval {approval}"));
        }
        if let Some(part) = s.part {
            decided.push_str(&format!("  (statement {part} of one query)"));
        }
        out.push_str(&format!(
            "[{}] {}  {decided}  Time: {}\n",
            n + 1,
            time::format_time_ms(s.started_at_us),
            time::format_duration_ms(s.duration_us)
        ));
        out.push_str(&s.text);
        out.push('\n');
        if let Some(bound) = bound_line(s) {
            out.push_str(&bound);
        }
        out.push_str(&uploaded(s));
        out.push_str(&result(s, sent[n], true));
    }
    out
}

/// The values an Execute's portal was bound with, as an SQL comment line after its
/// text (psql never shows them): `-- bound: $1 = '42', $2 = NULL`.
fn bound_line(s: &StatementRecord) -> Option<String> {
    if s.parameters.is_empty() && !s.parameters_truncated {
        return None;
    }
    let mut shown: Vec<String> = s
        .parameters
        .iter()
        .enumerate()
        .map(|(i, value)| match value {
            Some(v) => format!("${} = '{}'", i + 1, v.replace('\'', "''")),
            None => format!("${} = NULL", i + 1),
        })
        .collect();
    if s.parameters_truncated {
        shown.push("(more not kept)".into());
    }
    Some(format!("-- bound: {}\n", shown.join(", ")))
}

/// The data a `COPY ... FROM STDIN` sent, after its text the way a psql script
/// holds it (the data, then `\.`); binary messages as `\x` hex, one per line.
fn uploaded(s: &StatementRecord) -> String {
    let mut out = String::new();
    for data in &s.copy_in_data {
        let binary = data.starts_with("\\x");
        if binary && !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(data);
        if binary {
            out.push('\n');
        }
    }
    if out.is_empty() {
        // Truncated with neither rows nor COPY output: its upload was all past the caps.
        if s.truncated && s.columns.is_empty() && s.copy_data.is_empty() {
            out.push_str("(the data the client sent is past the recording's caps: not kept)\n");
        }
        return out;
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str("\\.\n");
    if s.truncated {
        out.push_str(&format!(
            "(truncated: the recording keeps the first {} data messages the client sent)\n",
            s.copy_in_data.len()
        ));
    }
    out
}

/// The text the client sent for each statement: its own, or for the statements of a
/// simple Query recorded one by one (`part`), the whole query's (on the first part).
/// psql echoes it, and error positions count in it.
fn requests(statements: &[StatementRecord]) -> Vec<&str> {
    let mut current = "";
    statements
        .iter()
        .map(|s| {
            match (s.part, &s.request_text) {
                (_, Some(whole)) => current = whole,
                (Some(part), None) if part > 1 => {}
                _ => current = &s.text,
            }
            current
        })
        .collect()
}

/// A statement's notices, result and notifications as psql prints them (`verbose`: with SQLSTATEs, as
/// `\set VERBOSITY verbose` does), with the recording's truncation marked; `sent` is
/// the text the client sent (see [`requests`]). A simple query of several statements
/// recorded before they were recorded one by one has its tags joined with `; `: each
/// is printed on its line, and its rows in one table.
fn result(s: &StatementRecord, sent: &str, verbose: bool) -> String {
    notices(s, sent, verbose) + &outcome(s, sent, verbose) + &notifications(s)
}

/// The notifications the client received with the statement, as psql prints them
/// after its result.
fn notifications(s: &StatementRecord) -> String {
    let mut out = String::new();
    for n in &s.notifications {
        out.push_str(&notification_line(n));
        out.push('\n');
    }
    out
}

/// psql's line for a notification (without its newline).
fn notification_line(n: &NotificationInfo) -> String {
    let with = if n.payload.is_empty() {
        String::new()
    } else {
        format!(" with payload \"{}\"", n.payload)
    };
    format!(
        "Asynchronous notification \"{}\"{with} received from server process with PID {}.",
        n.channel, n.pid
    )
}

/// The notices the statement drew, as psql prints them when they arrive: before its
/// result (`verbose`: with their SQLSTATE and CONTEXT).
fn notices(s: &StatementRecord, sent: &str, verbose: bool) -> String {
    let mut out = String::new();
    for notice in &s.notices {
        let code = verbose.then_some(notice.fields.sqlstate.as_str());
        out.push_str(&psql::notice(notice, sent, code, verbose));
    }
    if s.notices_truncated {
        out.push_str("(more notices not kept: the recording's caps)\n");
    }
    out
}

/// The result, or the error, without the notices.
fn outcome(s: &StatementRecord, sent: &str, verbose: bool) -> String {
    if let Some(error) = &s.error {
        return match (error.sqlstate.as_str(), verbose) {
            // Skipped by the server after an earlier error: the client saw nothing.
            ("", false) => String::new(),
            ("", true) => format!("({})\n", error.message),
            (code, verbose) => psql::error(error, sent, verbose.then_some(code)),
        };
    }
    if s.decision == "refused" {
        // A refusal always carries the error the client got; this is for a record without.
        return "ERROR:  refused by the gateway's policy\n".into();
    }
    if !s.copy_data.is_empty() {
        return copy_output(s);
    }
    let tags: Vec<&str> = s
        .command_tag
        .as_deref()
        .map(|t| t.split("; ").filter(|t| !t.is_empty()).collect())
        .unwrap_or_default();
    let mut out = String::new();
    if s.columns.is_empty() {
        for tag in tags {
            out.push_str(tag);
            out.push('\n');
        }
        return out;
    }
    let kept = s.result_rows.len() as u64;
    let total = match (tags.len(), s.rows) {
        (1, Some(rows)) => rows.max(kept),
        _ => kept,
    };
    let align: Vec<Align> = (0..s.columns.len())
        .map(|i| psql::align_for(s.column_types.get(i).copied()))
        .collect();
    out.push_str(&psql::table(&s.columns, &s.result_rows, &align));
    out.push_str(&psql::footer(total));
    if kept < total {
        out.push_str(&format!(
            "(truncated: the recording keeps {kept} of {total} rows)\n"
        ));
    } else if s.truncated {
        out.push_str("(truncated)\n");
    }
    out.push('\n');
    for tag in tags.iter().filter(|t| psql::tag_after_rows(t)) {
        out.push_str(tag);
        out.push('\n');
    }
    out
}

/// A `COPY ... TO STDOUT`'s data as psql prints it: the data alone, no command tag.
fn copy_output(s: &StatementRecord) -> String {
    let mut out = String::new();
    for data in &s.copy_data {
        out.push_str(data);
        if !data.ends_with('\n') {
            out.push('\n');
        }
    }
    if s.truncated {
        let total = s.rows.map(|n| format!(" of {n}")).unwrap_or_default();
        out.push_str(&format!(
            "(truncated: the recording keeps {}{total} rows)\n",
            s.copy_data.len()
        ));
    }
    out
}

fn replay(args: &StoreArgs, id: &str, speed: Option<f64>) -> Result<ExitCode, Failure> {
    let opened = open(args)?;
    let detail = session_of(&opened, id)?;
    match &detail.opened {
        Some(o) => eprintln!(
            "replaying session {id}: {} as {}@{} ({} pid {}), opened {}, {} statements{}",
            o.identity,
            o.role,
            o.database,
            o.comm,
            o.pid,
            time::format_time_ms(o.at_us),
            detail.statements.len(),
            match speed {
                Some(x) if x != 1.0 => format!(", {x}x"),
                Some(_) => String::new(),
                None => ", instantly".into(),
            }
        ),
        None => eprintln!("replaying session {id} (no opening record)"),
    }
    let pause = |from_us: i64, to_us: i64| {
        if let Some(speed) = speed {
            std::thread::sleep(replay_wait(to_us - from_us, speed));
        }
    };
    let mut out = io::stdout().lock();
    let mut clock = detail
        .opened
        .as_ref()
        .map(|o| o.at_us)
        .or_else(|| detail.statements.first().map(|s| s.started_at_us))
        .unwrap_or(0);
    let sent = requests(&detail.statements);
    for (s, sent) in detail.statements.iter().zip(sent) {
        pause(clock, s.started_at_us);
        // The statements of one query after its first: psql echoed the query once.
        if s.part.is_none_or(|part| part == 1) {
            out.write_all(echo(sent).as_bytes())?;
            if let Some(bound) = bound_line(s) {
                out.write_all(bound.as_bytes())?;
            }
            out.flush()?;
        }
        pause(0, s.duration_us);
        out.write_all(result(s, sent, false).as_bytes())?;
        out.flush()?;
        clock = s.started_at_us + s.duration_us.max(0);
    }
    if let Some(closed) = &detail.closed {
        eprintln!(
            "session closed {}: {}",
            time::format_time_ms(closed.at_us),
            closed.reason
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// How long a replay waits for a recorded gap: the gap over the speed, at most
/// [`MAX_REPLAY_WAIT`].
fn replay_wait(gap_us: i64, speed: f64) -> Duration {
    let secs = gap_us.max(0) as f64 / 1e6 / speed;
    Duration::from_secs_f64(secs.min(MAX_REPLAY_WAIT.as_secs_f64()))
}

/// The statement as it stood after psql's prompt (continuation lines after `->`).
fn echo(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.split('\n').enumerate() {
        out.push_str(if i == 0 { PROMPT } else { PROMPT_CONTINUED });
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn export(args: &StoreArgs, filter: FilterArgs) -> Result<ExitCode, Failure> {
    let opened = open(args)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    opened.store.export(&filter_of(filter), &mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn verify(args: &StoreArgs, json: bool) -> Result<ExitCode, Failure> {
    let opened = open(args)?;
    let report = opened.store.verify()?;
    let mut out = io::stdout().lock();
    if json {
        let mut value =
            serde_json::to_value(&report).map_err(|e| Failure::Failed(e.to_string()))?;
        if let Some(map) = value.as_object_mut() {
            map.insert("ok".into(), report.is_ok().into());
            map.insert("store".into(), opened.name.clone().into());
        }
        let text =
            serde_json::to_string_pretty(&value).map_err(|e| Failure::Failed(e.to_string()))?;
        writeln!(out, "{text}")?;
    } else {
        out.write_all(verify_text(&opened.name, &report).as_bytes())?;
    }
    out.flush()?;
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn verify_text(name: &str, report: &audit::VerifyReport) -> String {
    let mut out = match report.problems.len() {
        0 => format!("{name}: ok\n"),
        1 => format!("{name}: 1 problem\n"),
        n => format!("{name}: {n} problems\n"),
    };
    out.push_str(&format!(
        "  sessions:         {} ({} purged)\n",
        report.sessions, report.purged_sessions
    ));
    out.push_str(&format!("  records:          {}\n", report.records));
    out.push_str(&format!("  checkpoints:      {}\n", report.checkpoints));
    out.push_str(&match &report.last_checkpoint {
        Some(head) => format!("  last checkpoint:  {} {}\n", head.id, head.hash),
        None => "  last checkpoint:  (none)\n".into(),
    });
    for problem in &report.problems {
        out.push_str(&format!("  {problem}\n"));
    }
    out
}

fn purge(args: &StoreArgs, before_us: i64) -> Result<ExitCode, Failure> {
    let mut opened = open(args)?;
    let purged = opened.store.purge_before(before_us)?;
    println!(
        "purged {purged} session{} closed before {} from {}",
        if purged == 1 { "" } else { "s" },
        time::format_time(before_us),
        opened.name
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_waits_scale_and_are_capped() {
        assert_eq!(replay_wait(2_000_000, 1.0), Duration::from_secs(2));
        assert_eq!(replay_wait(2_000_000, 4.0), Duration::from_millis(500));
        assert_eq!(replay_wait(2_000_000, 0.5), Duration::from_secs(4));
        assert_eq!(replay_wait(3_600_000_000, 1.0), MAX_REPLAY_WAIT);
        assert_eq!(replay_wait(3_600_000_000, 1e-9), MAX_REPLAY_WAIT);
        assert_eq!(replay_wait(-5, 1.0), Duration::ZERO, "clock skew");
    }

    fn record(tag: Option<&str>, rows: Option<u64>) -> StatementRecord {
        StatementRecord {
            session_id: "s".into(),
            text: "SELECT 1;".into(),
            fingerprint: String::new(),
            decision: "allowed".into(),
            rule: None,
            approval: None,
            started_at_us: 0,
            duration_us: 0,
            command_tag: tag.map(str::to_owned),
            rows,
            error: None,
            columns: Vec::new(),
            column_types: Vec::new(),
            result_rows: Vec::new(),
            truncated: false,
            copy_data: Vec::new(),
            copy_in_data: Vec::new(),
            part: None,
            request_text: None,
            parameters: Vec::new(),
            parameters_truncated: false,
            notices: Vec::new(),
            notices_truncated: false,
            notifications: Vec::new(),
        }
    }

    #[test]
    fn results_print_as_psql_does() {
        let mut insert = record(Some("INSERT 0 1"), Some(1));
        assert_eq!(result(&insert, "", false), "INSERT 0 1\n");
        insert.command_tag = Some("BEGIN; INSERT 0 1; COMMIT".into());
        assert_eq!(
            result(&insert, "", false),
            "BEGIN\nINSERT 0 1\nCOMMIT\n",
            "a simple query of several statements: one tag a line"
        );

        let mut returning = record(Some("INSERT 0 1"), Some(1));
        returning.columns = vec!["id".into()];
        returning.result_rows = vec![vec![Some("7".into())]];
        assert_eq!(
            result(&returning, "", false),
            " id \n----\n 7\n(1 row)\n\nINSERT 0 1\n",
            "psql prints the tag after the rows of INSERT ... RETURNING"
        );

        let mut cut = record(Some("SELECT 3"), Some(3));
        cut.columns = vec!["n".into()];
        cut.result_rows = vec![vec![Some("1".into())]];
        cut.truncated = true;
        assert_eq!(
            result(&cut, "", false),
            " n \n---\n 1\n(3 rows)\n(truncated: the recording keeps 1 of 3 rows)\n\n"
        );
        cut.command_tag = Some("SHOW".into());
        cut.rows = None;
        assert_eq!(
            result(&cut, "", false),
            " n \n---\n 1\n(1 row)\n(truncated)\n\n"
        );

        let mut failed = record(None, None);
        failed.error = Some(audit::ErrorInfo {
            sqlstate: "42P01".into(),
            message: "relation \"nope\" does not exist".into(),
            ..Default::default()
        });
        assert_eq!(
            result(&failed, "", false),
            "ERROR:  relation \"nope\" does not exist\n"
        );
        assert_eq!(
            result(&failed, "", true),
            "ERROR:  42P01: relation \"nope\" does not exist\n"
        );
        failed.error = Some(audit::ErrorInfo {
            sqlstate: String::new(),
            message: "not run: the server skipped it after an earlier error".into(),
            ..Default::default()
        });
        assert_eq!(result(&failed, "", false), "", "the client saw nothing");
        assert_eq!(
            result(&failed, "", true),
            "(not run: the server skipped it after an earlier error)\n"
        );
    }

    #[test]
    fn statements_of_one_query_share_its_text() {
        let mut whole = record(Some("SELECT 1"), Some(1));
        whole.text = "SELECT 1 AS a; SELECT 2 AS b".into();
        let part = |n: u32, text: &str| {
            let mut r = record(Some("SELECT 1"), Some(1));
            r.text = text.into();
            r.part = Some(n);
            r.request_text = (n == 1).then(|| "SELECT 1 AS a;  SELECT x".to_owned());
            r
        };
        let statements = [
            whole,
            part(1, "SELECT 1 AS a"),
            part(2, "SELECT x"),
            record(None, None),
        ];
        assert_eq!(
            requests(&statements),
            [
                "SELECT 1 AS a; SELECT 2 AS b",
                "SELECT 1 AS a;  SELECT x",
                "SELECT 1 AS a;  SELECT x",
                "SELECT 1;"
            ]
        );
    }

    #[test]
    fn copy_data_prints_as_psql_prints_it() {
        let mut r = record(Some("COPY 3"), Some(3));
        r.copy_data = vec!["1\tx y\n".into(), "2\t\\N\n".into()];
        assert_eq!(result(&r, "", false), "1\tx y\n2\t\\N\n");
        r.truncated = true;
        assert_eq!(
            result(&r, "", false),
            "1\tx y\n2\t\\N\n(truncated: the recording keeps 2 of 3 rows)\n"
        );
        // Binary COPY data is kept as hex, a line each.
        r.copy_data = vec!["\\x5047434f5059".into()];
        r.truncated = false;
        assert_eq!(result(&r, "", false), "\\x5047434f5059\n");
    }

    #[test]
    fn uploaded_copy_data_shows_as_a_psql_script_holds_it() {
        let mut r = record(Some("COPY 3"), Some(3));
        assert_eq!(uploaded(&r), "");
        r.truncated = true;
        assert!(uploaded(&r).contains("past the recording's caps"));
        r.truncated = false;
        r.copy_in_data = vec!["1\tx\n2\t".into(), "y\n3\t\\N\n".into()];
        assert_eq!(uploaded(&r), "1\tx\n2\ty\n3\t\\N\n\\.\n");
        r.copy_in_data = vec!["1\tx".into(), "\\x5047434f5059".into()];
        r.truncated = true;
        assert_eq!(
            uploaded(&r),
            "1\tx\n\\x5047434f5059\n\\.\n\
             (truncated: the recording keeps the first 2 data messages the client sent)\n"
        );
    }

    #[test]
    fn notices_print_before_the_result_as_psql_prints_them() {
        let mut r = record(Some("DROP TABLE"), None);
        r.notices = vec![crate::audit::NoticeInfo {
            severity: "NOTICE".into(),
            fields: crate::audit::ErrorInfo {
                sqlstate: "00000".into(),
                message: "table \"t\" does not exist, skipping".into(),
                hint: Some("a hint".into()),
                context: Some("a context".into()),
                ..Default::default()
            },
        }];
        let sent = "DROP TABLE IF EXISTS t";
        assert_eq!(
            result(&r, sent, false),
            "NOTICE:  table \"t\" does not exist, skipping\nHINT:  a hint\nDROP TABLE\n"
        );
        assert_eq!(
            result(&r, sent, true),
            "NOTICE:  00000: table \"t\" does not exist, skipping\nHINT:  a hint\n\
             CONTEXT:  a context\nDROP TABLE\n"
        );
        r.notices_truncated = true;
        assert!(result(&r, sent, false).contains("(more notices not kept"));
    }

    #[test]
    fn notifications_print_after_the_result_as_psql_prints_them() {
        let mut r = record(Some("NOTIFY"), None);
        let notification = |payload: &str| crate::audit::NotificationInfo {
            pid: 4242,
            channel: "jobs".into(),
            payload: payload.into(),
        };
        r.notifications = vec![notification("done"), notification("")];
        assert_eq!(
            result(&r, "NOTIFY jobs, 'done'", false),
            "NOTIFY\n\
             Asynchronous notification \"jobs\" with payload \"done\" received from server process with PID 4242.\n\
             Asynchronous notification \"jobs\" received from server process with PID 4242.\n"
        );
    }

    #[test]
    fn bound_values_show_as_sql_literals() {
        let mut r = record(Some("SELECT 1"), Some(1));
        assert_eq!(bound_line(&r), None);
        r.parameters = vec![Some("it's".into()), None];
        assert_eq!(
            bound_line(&r).as_deref(),
            Some("-- bound: $1 = 'it''s', $2 = NULL\n")
        );
        r.parameters_truncated = true;
        assert_eq!(
            bound_line(&r).as_deref(),
            Some("-- bound: $1 = 'it''s', $2 = NULL, (more not kept)\n")
        );
    }

    #[test]
    fn echo_continues_lines_as_psql_prompts() {
        assert_eq!(echo("SELECT 1;"), "agent=> SELECT 1;\n");
        assert_eq!(echo("SELECT\n  1;"), "agent=> SELECT\nagent->   1;\n");
    }
}
