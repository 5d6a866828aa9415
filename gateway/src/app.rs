//! The `cordon` program: parses the command line and runs the command.

use std::{io::IsTerminal, path::PathBuf, process::ExitCode, sync::Arc};

use crate::{
    admin::{self, Request},
    cli::{Cli, Command, DaemonArgs, LogFormat},
    config::{Config, ConfigError},
    daemon,
    engine::PhaseFactory,
    intercept,
};
use anyhow::{bail, Context};
use clap::Parser;

/// sysexits EX_CONFIG: the configuration is wrong.
const EX_CONFIG: u8 = 78;

/// The `cordon` command line, with `phases` judging every session's
/// statements (the binary passes the built-in ones; tests plug in their own).
pub fn main_with(phases: Arc<dyn PhaseFactory>) -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config, log_format } => run(config, log_format, phases),
        Command::CheckConfig { file } => check_config(&file),
        Command::Bind {
            subject,
            identity,
            daemon,
        } => admin_call(
            &daemon,
            Request::Bind {
                subject: subject.subject(),
                identity,
            },
        ),
        Command::Unbind { subject, daemon } => admin_call(
            &daemon,
            Request::Unbind {
                subject: subject.subject(),
            },
        ),
        Command::Reload { daemon } => admin_call(&daemon, Request::Reload),
        Command::Status { json, daemon } => status(&daemon, json),
        Command::Detach { config, pin_dir } => detach(&config, pin_dir),
        Command::Explain {
            config,
            identity,
            search_path,
            json,
            sql,
        } => return explain(&config, &identity, &search_path, json, &sql),
        Command::Sessions { command } => return crate::audit_cli::sessions(command),
        Command::Audit { command } => return crate::audit_cli::audit(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cordon: {e:#}");
            if e.chain().any(|c| c.is::<ConfigError>()) {
                ExitCode::from(EX_CONFIG)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn run(config: PathBuf, format: LogFormat, phases: Arc<dyn PhaseFactory>) -> anyhow::Result<()> {
    init_tracing(format);
    // Accepting, the admin socket and signals; sessions run on their own workers.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime
        .block_on(daemon::run(&config, phases))
        .inspect_err(|e| {
            tracing::error!(reason = %format!("{e:#}"), "cordon stopped");
        })
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CORDON_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn check_config(file: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(file)?;
    for credential in &config.credentials {
        credential.resolve_password()?;
    }
    for endpoint in &config.endpoints {
        crate::upstream::TlsMode::for_endpoint(endpoint).map_err(|e| {
            anyhow::anyhow!("{}: endpoint \"{}\": {e}", file.display(), endpoint.name)
        })?;
    }
    println!(
        "{}: ok ({} endpoints, {} identities, {} bindings, {} exemptions, {} policy rules, {} baseline overrides, {} mask rules, {} detect rules)",
        file.display(),
        config.endpoints.len(),
        config.identities.len(),
        config.bindings.len(),
        config.exempt.len(),
        config.policy.rules.len(),
        config.policy.overrides.len(),
        config.masking.rules().len(),
        config.masking.detect_rules().len()
    );
    Ok(())
}

fn admin_socket(daemon: &DaemonArgs) -> anyhow::Result<PathBuf> {
    match &daemon.admin_socket {
        Some(path) => Ok(path.clone()),
        None => Ok(Config::load(&daemon.config)?.gateway.admin_socket),
    }
}

fn admin_call(daemon: &DaemonArgs, request: Request) -> anyhow::Result<()> {
    let response = admin::request(&admin_socket(daemon)?, &request)?;
    if !response.ok {
        bail!("{}", response.error.unwrap_or_else(|| "refused".into()));
    }
    if let Some(message) = response.message {
        println!("{message}");
    }
    Ok(())
}

fn status(daemon: &DaemonArgs, json: bool) -> anyhow::Result<()> {
    let response = admin::request(&admin_socket(daemon)?, &Request::Status)?;
    let status = response.status.context("the daemon sent no status")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{status}");
    }
    Ok(())
}

fn detach(config: &std::path::Path, pin_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let pin_dir = match pin_dir {
        Some(dir) => dir,
        None => pin_dir_of(config)?,
    };
    let removed = intercept::detach(&pin_dir)?;
    println!(
        "detached: removed {} pins under {}; protected endpoints are now reachable directly",
        removed.len(),
        pin_dir.display()
    );
    Ok(())
}

/// The pin directory a configuration names. Detaching is an emergency tool, so
/// a file that fails validation elsewhere still yields its `intercept.pin_dir`.
fn pin_dir_of(config: &std::path::Path) -> anyhow::Result<PathBuf> {
    let error = match Config::load(config) {
        Ok(config) => return Ok(config.intercept.pin_dir),
        Err(e) => e,
    };
    let text = std::fs::read_to_string(config).map_err(|_| error_with_hint(&error))?;
    let table: toml::Table = text.parse().map_err(|_| error_with_hint(&error))?;
    let pin_dir = match table.get("intercept").and_then(|i| i.get("pin_dir")) {
        Some(toml::Value::String(dir)) => PathBuf::from(dir),
        Some(_) => return Err(error_with_hint(&error)),
        None => PathBuf::from(crate::config::DEFAULT_PIN_DIR),
    };
    eprintln!(
        "cordon: warning: {error}; using pin_dir {}",
        pin_dir.display()
    );
    Ok(pin_dir)
}

fn error_with_hint(error: &ConfigError) -> anyhow::Error {
    anyhow::anyhow!("{error} (name the pins directly with `cordon detach --pin-dir DIR`)")
}

/// `cordon explain`: its exit code carries the decision (0/1/2), so errors
/// exit with EX_CONFIG (bad configuration) or 64 (bad usage).
fn explain(
    config: &std::path::Path,
    identity: &str,
    search_path: &str,
    json: bool,
    sql: &str,
) -> ExitCode {
    let config = match Config::load(config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("cordon: {e}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    let Some(found) = config.identity(identity) else {
        let known: Vec<&str> = config.identities.iter().map(|i| i.name.as_str()).collect();
        eprintln!(
            "cordon: no identity \"{identity}\" in the configuration (known: {})",
            known.join(", ")
        );
        return ExitCode::from(64);
    };
    let sql = if sql == "-" {
        let mut text = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            eprintln!("cordon: cannot read the statement from stdin: {e}");
            return ExitCode::from(64);
        }
        text
    } else {
        sql.to_owned()
    };
    let path: Vec<String> = search_path
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    let mut explanation = crate::policy::explain::explain(
        &config.policy,
        identity,
        &found.groups,
        path.clone(),
        &sql,
    );
    let masks = config.masking.for_identity(identity, &found.groups);
    for statement in &mut explanation.statements {
        let masking = crate::masking::explain::explain(&masks, identity, &path, &statement.text);
        statement.masked = masking.masked;
        if let (Some((rule, message, hint)), "allowed") = (masking.refusal, statement.decision) {
            statement.decision = "refused";
            statement.rules = vec![format!("mask rule {rule}")];
            statement.message = Some(message);
            statement.hint = Some(hint);
        }
    }
    if json {
        match serde_json::to_string_pretty(&explanation) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("cordon: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", explanation.to_text());
    }
    ExitCode::from(explanation.exit_code())
}
