//! What every session and the admin interface share: the current
//! configuration snapshot (swapped atomically on reload), the kernel maps, the
//! session registry.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex, RwLock},
};

use tokio::sync::Notify;
use tokio_rustls::TlsAcceptor;

use crate::{
    config::Config,
    engine::PhaseFactory,
    identity::{self, Bindings, Cgroup2, RuntimeBindings},
    intercept::{InterceptError, InterceptMaps, KernelOrigin},
    sessions::SessionRegistry,
    upstream::TlsMode,
};

/// One consistent view of the configuration, with credentials resolved.
pub struct Runtime {
    pub config: Config,
    pub bindings: Bindings,
    /// Upstream password per role (None: the role logs in without one).
    pub passwords: HashMap<String, Option<String>>,
    /// Upstream TLS per endpoint name, CA files already read.
    pub upstream_tls: HashMap<String, TlsMode>,
}

impl Runtime {
    pub fn build(config: Config, runtime_bindings: &RuntimeBindings) -> anyhow::Result<Self> {
        let mut passwords = HashMap::new();
        for credential in &config.credentials {
            let password = credential.resolve_password()?;
            passwords.insert(credential.role.clone(), password);
        }
        let mut upstream_tls = HashMap::new();
        for endpoint in &config.endpoints {
            let mode = TlsMode::for_endpoint(endpoint)
                .map_err(|e| anyhow::anyhow!("endpoint \"{}\": {e}", endpoint.name))?;
            upstream_tls.insert(endpoint.name.clone(), mode);
        }
        let bindings = Bindings::new(&config.bindings, runtime_bindings, &config.exempt);
        Ok(Self {
            config,
            bindings,
            passwords,
            upstream_tls,
        })
    }

    pub fn endpoint_addresses(&self) -> Vec<SocketAddr> {
        self.config
            .endpoints
            .iter()
            .flat_map(|e| e.addresses.iter().copied())
            .collect()
    }
}

/// Facts about the attached programs, for status.
pub struct InterceptionInfo {
    pub pin_dir: PathBuf,
    pub layout_dir: PathBuf,
    pub attach_cgroup: String,
    pub adopted: bool,
}

pub struct Shared {
    runtime: RwLock<Arc<Runtime>>,
    pub config_path: PathBuf,
    pub maps: Mutex<InterceptMaps>,
    pub cgroup2: Cgroup2,
    pub sessions: Arc<SessionRegistry>,
    pub tls: TlsAcceptor,
    pub runtime_bindings: Mutex<RuntimeBindings>,
    pub interception: InterceptionInfo,
    exempt_refresh: Notify,
    /// Judges each session's statements and results.
    pub phases: Arc<dyn PhaseFactory>,
    /// Writes session records (None when `[recording] enabled = false`).
    pub recorder: Option<crate::audit::writer::Writer>,
    /// Where result columns come from, per target (for masking).
    pub mask_catalogs: crate::masking::catalog::Catalogs,
    /// Function OIDs as the last login to each database read them (fast-path calls).
    pub function_oids: crate::policy::catalog::SharedFunctionOids,
}

impl Shared {
    #[allow(
        clippy::too_many_arguments,
        reason = "each is a distinct start-up product; a parameter struct would only rename them"
    )]
    pub fn new(
        runtime: Runtime,
        config_path: PathBuf,
        maps: InterceptMaps,
        cgroup2: Cgroup2,
        tls: TlsAcceptor,
        runtime_bindings: RuntimeBindings,
        interception: InterceptionInfo,
        phases: Arc<dyn PhaseFactory>,
    ) -> Self {
        Self {
            runtime: RwLock::new(Arc::new(runtime)),
            config_path,
            maps: Mutex::new(maps),
            cgroup2,
            sessions: Arc::default(),
            tls,
            runtime_bindings: Mutex::new(runtime_bindings),
            interception,
            exempt_refresh: Notify::new(),
            phases,
            recorder: None,
            mask_catalogs: Default::default(),
            function_oids: Default::default(),
        }
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        Arc::clone(&self.runtime.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Installs a new snapshot and brings the kernel maps in line with it.
    pub fn install(&self, runtime: Runtime) -> Result<(), InterceptError> {
        let targets = runtime.endpoint_addresses();
        let exempt = identity::exempt_cgroup_ids(&self.cgroup2, &runtime.config.exempt);
        {
            let mut maps = self.maps();
            maps.set_targets(&targets)?;
            maps.set_exempt(&exempt)?;
        }
        *self.runtime.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(runtime);
        Ok(())
    }

    pub fn maps(&self) -> std::sync::MutexGuard<'_, InterceptMaps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn take_origin(&self, peer: SocketAddr, local: SocketAddr) -> Option<KernelOrigin> {
        self.maps().take_origin(peer, local)
    }

    pub fn request_exempt_refresh(&self) {
        self.exempt_refresh.notify_one();
    }

    pub async fn exempt_refresh_requested(&self) {
        self.exempt_refresh.notified().await
    }

    /// Re-scans the cgroup tree for exempt units that appeared since.
    pub fn refresh_exempt(&self) -> Result<(), InterceptError> {
        let runtime = self.runtime();
        let ids = identity::exempt_cgroup_ids(&self.cgroup2, &runtime.config.exempt);
        self.maps().set_exempt(&ids)
    }
}
