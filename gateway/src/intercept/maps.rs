//! Typed access to the pinned maps shared with the eBPF programs.

use std::{collections::HashSet, net::SocketAddr, path::Path};

use aya::maps::{Array, HashMap, Map, MapData};
use gateway_common::{map_names, ConnTuple, Origin, Settings, TargetKey};

use super::{addr::loopback_v4_word, addr6_from_ip, loader::InterceptError, socket_from_parts};

/// The origin of a redirected connection, as the kernel recorded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelOrigin {
    pub destination: SocketAddr,
    pub cgroup_id: u64,
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
    pub comm: String,
}

impl From<Origin> for KernelOrigin {
    fn from(o: Origin) -> Self {
        let end = o.comm.iter().position(|&b| b == 0).unwrap_or(o.comm.len());
        Self {
            destination: socket_from_parts(&o.dst_addr, o.dst_port),
            cgroup_id: o.cgroup_id,
            pid: o.pid,
            uid: o.uid,
            gid: o.gid,
            comm: String::from_utf8_lossy(&o.comm[..end]).into_owned(),
        }
    }
}

pub struct InterceptMaps {
    targets: HashMap<MapData, TargetKey, u8>,
    exempt: HashMap<MapData, u64, u8>,
    settings: Array<MapData, Settings>,
    origins: HashMap<MapData, ConnTuple, Origin>,
}

fn map_err(name: &str, e: impl std::fmt::Display) -> InterceptError {
    InterceptError::Map {
        name: name.to_string(),
        message: e.to_string(),
    }
}

impl InterceptMaps {
    pub(super) fn from_ebpf(ebpf: &mut aya::Ebpf) -> Result<Self, InterceptError> {
        let mut take = |name: &str| {
            ebpf.take_map(name)
                .ok_or_else(|| map_err(name, "missing from the object"))
        };
        Self::from_maps(
            take(map_names::TARGETS)?,
            take(map_names::EXEMPT)?,
            take(map_names::SETTINGS)?,
            take(map_names::ORIGINS)?,
        )
    }

    pub(super) fn from_pins(layout_dir: &Path) -> Result<Self, InterceptError> {
        let open = |name: &str| {
            let data = MapData::from_pin(layout_dir.join(name)).map_err(|e| map_err(name, e))?;
            Map::from_map_data(data).map_err(|e| map_err(name, e))
        };
        Self::from_maps(
            open(map_names::TARGETS)?,
            open(map_names::EXEMPT)?,
            open(map_names::SETTINGS)?,
            open(map_names::ORIGINS)?,
        )
    }

    fn from_maps(
        targets: Map,
        exempt: Map,
        settings: Map,
        origins: Map,
    ) -> Result<Self, InterceptError> {
        Ok(Self {
            targets: targets
                .try_into()
                .map_err(|e| map_err(map_names::TARGETS, e))?,
            exempt: exempt
                .try_into()
                .map_err(|e| map_err(map_names::EXEMPT, e))?,
            settings: settings
                .try_into()
                .map_err(|e| map_err(map_names::SETTINGS, e))?,
            origins: origins
                .try_into()
                .map_err(|e| map_err(map_names::ORIGINS, e))?,
        })
    }

    /// Points redirects at the gateway's loopback listener and arms the hooks.
    pub fn set_settings(
        &mut self,
        listen_port: u16,
        socket_mark: u32,
    ) -> Result<(), InterceptError> {
        let settings = Settings {
            listen_v4: loopback_v4_word(),
            listen_port: listen_port as u32,
            listen_v6: addr6_from_ip(std::net::Ipv6Addr::LOCALHOST.into()),
            socket_mark,
            armed: 1,
        };
        self.settings
            .set(0, settings, 0)
            .map_err(|e| map_err(map_names::SETTINGS, e))
    }

    /// Makes the protected endpoints exactly `endpoints`.
    pub fn set_targets(&mut self, endpoints: &[SocketAddr]) -> Result<(), InterceptError> {
        let wanted: HashSet<TargetKey> = endpoints
            .iter()
            .map(|a| TargetKey {
                addr: addr6_from_ip(a.ip()),
                port: a.port() as u32,
            })
            .collect();
        sync_set(&mut self.targets, &wanted, map_names::TARGETS)
    }

    /// Makes the exempt cgroups exactly `ids`.
    pub fn set_exempt(&mut self, ids: &[u64]) -> Result<(), InterceptError> {
        let wanted: HashSet<u64> = ids.iter().copied().collect();
        sync_set(&mut self.exempt, &wanted, map_names::EXEMPT)
    }

    /// Takes the origin recorded for an accepted connection (client → gateway).
    pub fn take_origin(&mut self, client: SocketAddr, gateway: SocketAddr) -> Option<KernelOrigin> {
        let key = ConnTuple {
            client_addr: addr6_from_ip(client.ip()),
            gateway_addr: addr6_from_ip(gateway.ip()),
            client_port: client.port() as u32,
            gateway_port: gateway.port() as u32,
        };
        let origin = self.origins.get(&key, 0).ok()?;
        // The entry is single use; the socket's release would drop it anyway.
        let _ = self.origins.remove(&key);
        Some(origin.into())
    }

    pub fn targets(&self) -> Vec<SocketAddr> {
        self.targets
            .keys()
            .filter_map(Result::ok)
            .map(|k| socket_from_parts(&k.addr, k.port))
            .collect()
    }

    pub fn exempt_ids(&self) -> Vec<u64> {
        self.exempt.keys().filter_map(Result::ok).collect()
    }
}

/// Inserts what is missing and removes what is no longer wanted.
fn sync_set<K: aya::Pod + Eq + std::hash::Hash>(
    map: &mut HashMap<MapData, K, u8>,
    wanted: &HashSet<K>,
    name: &str,
) -> Result<(), InterceptError> {
    let present: HashSet<K> = map.keys().filter_map(Result::ok).collect();
    for key in wanted.difference(&present) {
        map.insert(key, 1, 0).map_err(|e| map_err(name, e))?;
    }
    for key in present.difference(wanted) {
        map.remove(key).map_err(|e| map_err(name, e))?;
    }
    Ok(())
}
