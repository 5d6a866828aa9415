//! The daemon's state as `cordon status` shows it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{sessions::SessionInfo, state::Shared};

#[derive(Debug, Serialize, Deserialize)]
pub struct BindingView {
    pub subject: String,
    pub identity: String,
    /// "config" or "runtime" (added with `cordon bind`).
    pub source: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    pub config_path: String,
    pub listen_port: u16,
    pub pin_dir: String,
    pub layout_dir: String,
    pub attach_cgroup: String,
    pub adopted: bool,
    pub programs: Vec<String>,
    pub endpoints: Vec<String>,
    pub bindings: Vec<BindingView>,
    pub exemptions: Vec<String>,
    pub exempt_cgroup_ids: Vec<u64>,
    pub sessions: Vec<SessionInfo>,
}

impl Status {
    pub fn collect(shared: &Shared) -> Self {
        let runtime = shared.runtime();
        let config = &runtime.config;
        let (mut endpoints, exempt_cgroup_ids) = {
            let maps = shared.maps();
            (
                maps.targets()
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>(),
                maps.exempt_ids(),
            )
        };
        endpoints.sort();
        let mut bindings: Vec<BindingView> = config
            .bindings
            .iter()
            .map(|b| BindingView {
                subject: b.subject.to_string(),
                identity: b.identity.clone(),
                source: "config".into(),
            })
            .collect();
        let runtime_bindings = shared
            .runtime_bindings
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        bindings.extend(
            runtime_bindings
                .entries()
                .map(|(subject, identity)| BindingView {
                    subject: subject.to_string(),
                    identity: identity.to_string(),
                    source: "runtime".into(),
                }),
        );
        let layout = &shared.interception.layout_dir;
        Self {
            config_path: shared.config_path.display().to_string(),
            listen_port: config.gateway.listen_port,
            pin_dir: shared.interception.pin_dir.display().to_string(),
            layout_dir: layout.display().to_string(),
            attach_cgroup: shared.interception.attach_cgroup.clone(),
            adopted: shared.interception.adopted,
            programs: crate::intercept::pinned_links(layout),
            endpoints,
            bindings,
            exemptions: config
                .exempt
                .iter()
                .map(|e| match &e.reason {
                    Some(r) => format!("{} ({r})", e.subject),
                    None => e.subject.to_string(),
                })
                .collect(),
            exempt_cgroup_ids,
            sessions: shared.sessions.snapshot(),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "config:        {}", self.config_path)?;
        writeln!(
            f,
            "listener:      127.0.0.1:{0} [::1]:{0}",
            self.listen_port
        )?;
        writeln!(
            f,
            "interception:  {} programs pinned in {} (attached at cgroup {}{})",
            self.programs.len(),
            self.layout_dir,
            self.attach_cgroup,
            if self.adopted {
                ", adopted from an earlier run"
            } else {
                ""
            }
        )?;
        for p in &self.programs {
            writeln!(f, "  program      {p}")?;
        }
        writeln!(f, "protected endpoints:")?;
        for e in &self.endpoints {
            writeln!(f, "  {e}")?;
        }
        writeln!(f, "bindings:")?;
        for b in &self.bindings {
            writeln!(f, "  {:<40} -> {} ({})", b.subject, b.identity, b.source)?;
        }
        writeln!(f, "exempt (connect directly):")?;
        for e in &self.exemptions {
            writeln!(f, "  {e}")?;
        }
        writeln!(f, "live sessions: {}", self.sessions.len())?;
        for s in &self.sessions {
            writeln!(
                f,
                "  #{:<5} identity={} pid={} comm={} cgroup={} -> {} as {}/{}",
                s.id, s.identity, s.pid, s.comm, s.cgroup, s.destination, s.role, s.database
            )?;
        }
        Ok(())
    }
}
