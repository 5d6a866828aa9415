//! Admission: who is this connection, and may it have a session at all?
//! Only what the kernel recorded counts; the client's own claims never do.

use crate::{
    intercept::KernelOrigin,
    protocol::{backend::GatewayError, sqlstate},
    state::{Runtime, Shared},
    upstream::TlsMode,
};

use super::params::ClientStartup;
use crate::identity::Resolution;

/// A connection the gateway will serve, and how it logs in upstream.
pub struct Admitted {
    pub origin: KernelOrigin,
    pub cgroup: String,
    pub identity: String,
    pub role: String,
    pub password: Option<String>,
    pub upstream_tls: TlsMode,
}

pub fn admit(
    shared: &Shared,
    runtime: &Runtime,
    origin: Option<KernelOrigin>,
    startup: &ClientStartup,
) -> Result<Admitted, GatewayError> {
    let no_identity = |message: String| {
        GatewayError::fatal(sqlstate::INVALID_AUTHORIZATION_SPECIFICATION, message)
    };
    let Some(origin) = origin else {
        return Err(no_identity(
            "cordon: this connection did not come through the interception hooks, so it has no identity".into(),
        )
        .with_hint("connect to the database's own address from a bound cgroup"));
    };
    let cgroup = shared.cgroup2.path_of_id(origin.cgroup_id).map_err(|e| {
        no_identity(format!(
            "cordon: the cgroup (id {}) of process {} ({}) cannot be resolved: {e}",
            origin.cgroup_id, origin.pid, origin.comm
        ))
    })?;
    let identity_name = match runtime.bindings.resolve(&cgroup) {
        Resolution::Bound { identity, .. } => identity,
        Resolution::Exempt { matched } => {
            // The kernel exempts these itself; reaching us means the exempt
            // list was stale (a unit started since the last scan).
            shared.request_exempt_refresh();
            return Err(no_identity(format!(
                "cordon: cgroup {cgroup} is exempt ({matched}) but was redirected before the exemption took effect; retry"
            )));
        }
        Resolution::Unbound => {
            return Err(no_identity(format!(
                "cordon: process {} ({}) in cgroup {cgroup} is not bound to any identity",
                origin.pid, origin.comm
            ))
            .with_hint(format!(
                "an operator can bind it: cordon bind --cgroup {cgroup} --identity NAME"
            )))
        }
    };
    if startup.replication {
        return Err(GatewayError::fatal(
            sqlstate::FEATURE_NOT_SUPPORTED,
            "cordon: replication connections are not allowed through the gateway",
        ));
    }
    let identity = runtime.config.identity(&identity_name).ok_or_else(|| {
        no_identity(format!(
            "cordon: identity \"{identity_name}\" bound to {cgroup} is not defined"
        ))
    })?;
    let endpoint = runtime
        .config
        .endpoints
        .iter()
        .find(|e| e.addresses.contains(&origin.destination))
        .ok_or_else(|| {
            GatewayError::fatal(
                sqlstate::INSUFFICIENT_PRIVILEGE,
                format!(
                    "cordon: {} is no longer a protected endpoint",
                    origin.destination
                ),
            )
        })?;
    let password = runtime.passwords.get(&identity.role).cloned().flatten();
    // Built from the same configuration as the endpoints, so always present.
    let upstream_tls: TlsMode = runtime
        .upstream_tls
        .get(&endpoint.name)
        .cloned()
        .ok_or_else(|| {
            GatewayError::fatal(
                sqlstate::INTERNAL_ERROR,
                format!(
                    "cordon: no upstream TLS settings for endpoint \"{}\"",
                    endpoint.name
                ),
            )
        })?;
    Ok(Admitted {
        cgroup,
        identity: identity.name.clone(),
        role: identity.role.clone(),
        password,
        upstream_tls,
        origin,
    })
}
