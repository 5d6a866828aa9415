//! `cordon run`: start-up order, signals, reload, and the admin operations
//! that change a running daemon.

use std::{path::Path, sync::Arc, time::Duration};

use anyhow::{bail, Context};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

use crate::{
    admin, client_tls,
    config::{Config, Subject},
    engine::PhaseFactory,
    identity::{self, Cgroup2, RuntimeBindings},
    intercept::Interception,
    rlimit, server,
    state::{InterceptionInfo, Runtime, Shared},
    workers::Workers,
};

/// How often the cgroup tree is re-scanned for exempt units that appeared.
const EXEMPT_RESCAN: Duration = Duration::from_secs(5);
/// How long a graceful stop waits for live sessions to finish.
const DRAIN: Duration = Duration::from_secs(10);

pub async fn run(config_path: &Path, phases: Arc<dyn PhaseFactory>) -> anyhow::Result<()> {
    let config = Config::load(config_path)?;
    raise_open_file_limit();
    let cgroup2 = Cgroup2::discover().context("finding the cgroup2 mount")?;
    let runtime_bindings = RuntimeBindings::load(&config.gateway.state_dir).with_context(|| {
        format!(
            "loading runtime bindings from {}",
            config.gateway.state_dir.display()
        )
    })?;
    let runtime = Runtime::build(config, &runtime_bindings)?;
    let config = &runtime.config;
    let tls = client_tls::acceptor(
        config
            .gateway
            .tls_cert
            .as_deref()
            .zip(config.gateway.tls_key.as_deref()),
    )
    .context("setting up client TLS")?;
    // Listen before attaching: a redirected connect must find the gateway home.
    let listeners = server::bind(config.gateway.listen_port)?;

    let attach_cgroup = cgroup2.absolute(&config.intercept.attach_cgroup);
    let targets = runtime.endpoint_addresses();
    let exempt = identity::exempt_cgroup_ids(&cgroup2, &config.exempt);
    let (port, mark) = (config.gateway.listen_port, config.intercept.socket_mark);
    let interception = Interception::open(&config.intercept.pin_dir, &attach_cgroup, |maps| {
        maps.set_settings(port, mark)?;
        maps.set_targets(&targets)?;
        maps.set_exempt(&exempt)
    })
    .context("setting up interception")?;
    for layout in &interception.retired {
        info!(pins = %layout.display(), "removed the pins of another build's interception");
    }
    if interception.adopted {
        info!(pins = %interception.layout_dir.display(), "adopted pinned interception");
    } else {
        info!(pins = %interception.layout_dir.display(), cgroup = %attach_cgroup.display(), "attached interception");
    }
    let info = InterceptionInfo {
        pin_dir: config.intercept.pin_dir.clone(),
        layout_dir: interception.layout_dir.clone(),
        attach_cgroup: config.intercept.attach_cgroup.clone(),
        adopted: interception.adopted,
    };
    let admin_socket = config.gateway.admin_socket.clone();
    let recorder = start_recorder(&config.recording)?;
    let mut shared = Shared::new(
        runtime,
        config_path.to_owned(),
        interception.maps,
        cgroup2,
        tls,
        runtime_bindings,
        info,
        phases,
    );
    shared.recorder = recorder;
    let shared = Arc::new(shared);
    admin::serve(&admin_socket, Arc::clone(&shared))
        .with_context(|| format!("binding the admin socket {}", admin_socket.display()))?;
    let worker_count = shared.runtime().config.gateway.worker_threads;
    let workers = Arc::new(Workers::start(worker_count).context("starting session workers")?);
    let accepting: Vec<_> = listeners
        .into_iter()
        .map(|listener| {
            tokio::spawn(server::accept_loop(
                listener,
                Arc::clone(&shared),
                Arc::clone(&workers),
            ))
        })
        .collect();
    tokio::spawn(rescan_exempt(Arc::clone(&shared)));
    notify_systemd(&[sd_notify::NotifyState::Ready]);
    info!(port, workers = workers.count(), endpoints = ?shared.runtime().endpoint_addresses(), "gateway ready");

    wait_for_signals(&shared).await?;
    // Closing the listeners first: new agents are refused, not half-served.
    for task in accepting {
        task.abort();
        let _ = task.await;
    }
    drain(&shared).await;
    Ok(())
}

/// Two descriptors per session: a low soft limit would cap the sessions long
/// before memory does. A failure is logged, not fatal.
fn raise_open_file_limit() {
    match rlimit::raise_nofile() {
        Ok(limit) => info!(
            soft = limit.soft,
            hard = limit.hard,
            raised_from = limit.raised_from,
            "open-file limit"
        ),
        Err(e) => warn!(reason = %e, "could not raise the open-file limit"),
    }
}

async fn wait_for_signals(shared: &Shared) -> anyhow::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                notify_systemd(&[sd_notify::NotifyState::Reloading]);
                match reload(shared) {
                    Ok(message) => info!(%message, "configuration reloaded"),
                    Err(e) => error!(reason = %format!("{e:#}"), "reload refused; the previous configuration stays in force"),
                }
                notify_systemd(&[sd_notify::NotifyState::Ready]);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    notify_systemd(&[sd_notify::NotifyState::Stopping]);
    Ok(())
}

/// Waits for live sessions to end, up to DRAIN. The programs stay attached:
/// while the daemon is down, agents are refused, never connected directly.
async fn drain(shared: &Shared) {
    info!(
        sessions = shared.sessions.snapshot().len(),
        "stopping; waiting for live sessions"
    );
    let deadline = tokio::time::Instant::now() + DRAIN;
    while !shared.sessions.snapshot().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    info!("stopped; interception stays attached and refuses agents until the next start");
}

async fn rescan_exempt(shared: Arc<Shared>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EXEMPT_RESCAN) => {}
            _ = shared.exempt_refresh_requested() => {}
        }
        if let Err(e) = shared.refresh_exempt() {
            warn!(reason = %e, "refreshing exempt cgroups failed");
        }
    }
}

fn notify_systemd(state: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some() {
        if let Err(e) = sd_notify::notify(false, state) {
            warn!(reason = %e, "sd_notify failed");
        }
    }
}

/// Re-reads the configuration file; the old one stays if the new one is bad.
pub fn reload(shared: &Shared) -> anyhow::Result<String> {
    let config = Config::load(&shared.config_path)?;
    let old = shared.runtime();
    for (what, changed) in [
        (
            "gateway.listen_port",
            config.gateway.listen_port != old.config.gateway.listen_port,
        ),
        (
            "gateway.worker_threads",
            config.gateway.worker_threads != old.config.gateway.worker_threads,
        ),
        (
            "intercept.pin_dir",
            config.intercept.pin_dir != old.config.intercept.pin_dir,
        ),
        (
            "intercept.attach_cgroup",
            config.intercept.attach_cgroup != old.config.intercept.attach_cgroup,
        ),
        (
            "intercept.socket_mark",
            config.intercept.socket_mark != old.config.intercept.socket_mark,
        ),
    ] {
        if changed {
            warn!(
                field = what,
                "changed in the file but only takes effect after a restart"
            );
        }
    }
    let runtime = {
        let bindings = shared
            .runtime_bindings
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Runtime::build(config, &bindings)?
    };
    shared.install(runtime)?;
    Ok(format!("reloaded {}", shared.config_path.display()))
}

/// `cordon bind`: persisted in the state directory, effective at once.
pub fn bind(shared: &Shared, subject: Subject, identity: String) -> anyhow::Result<String> {
    let current = shared.runtime();
    subject.validate().map_err(anyhow::Error::msg)?;
    if current.config.identity(&identity).is_none() {
        bail!(
            "identity \"{identity}\" is not defined in {}",
            shared.config_path.display()
        );
    }
    if current.config.exempt.iter().any(|e| e.subject == subject) {
        bail!(
            "{subject} is exempt in {}; remove the exemption first",
            shared.config_path.display()
        );
    }
    let message = format!("bound {subject} to identity \"{identity}\"");
    rebuild_with(shared, |bindings| bindings.add(subject, identity))?;
    Ok(message)
}

/// `cordon unbind`: removes a binding made with `cordon bind`.
pub fn unbind(shared: &Shared, subject: &Subject) -> anyhow::Result<String> {
    let mut removed = false;
    rebuild_with(shared, |bindings| {
        removed = bindings.remove(subject)?;
        Ok(())
    })?;
    if removed {
        return Ok(format!("unbound {subject}"));
    }
    if shared
        .runtime()
        .config
        .bindings
        .iter()
        .any(|b| &b.subject == subject)
    {
        bail!(
            "{subject} is bound in {}; edit the file and reload to remove it",
            shared.config_path.display()
        );
    }
    bail!("{subject} is not bound")
}

fn rebuild_with(
    shared: &Shared,
    change: impl FnOnce(&mut RuntimeBindings) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut bindings = shared
        .runtime_bindings
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    change(&mut bindings).context("saving runtime bindings")?;
    let config = shared.runtime().config.clone();
    let runtime = Runtime::build(config, &bindings)?;
    shared.install(runtime)?;
    Ok(())
}

/// Opens the record store and starts its writer; a store that cannot be
/// opened stops the start (agents stay refused rather than unrecorded).
fn start_recorder(
    recording: &crate::config::Recording,
) -> anyhow::Result<Option<crate::audit::writer::Writer>> {
    if !recording.enabled {
        tracing::warn!("[recording] enabled = false: sessions are not recorded");
        return Ok(None);
    }
    let store = recording.store.clone();
    let retention = recording.retention_secs.map(std::time::Duration::from_secs);
    let writer = crate::audit::writer::Writer::start(
        move || crate::audit::open_for_appending(&store),
        retention,
        recording.sync,
    )
    .map_err(|e| anyhow::anyhow!("opening the recording store {:?}: {e}", recording.store))?;
    info!(store = ?recording.store, "recording sessions");
    Ok(Some(writer))
}
