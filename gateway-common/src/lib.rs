//! Types shared by Cordon's eBPF programs and the gateway.
//!
//! Every type here lives in a BPF map, so each is `#[repr(C)]`, has no implicit
//! padding and is made of fixed-size integers only. Addresses are always kept in
//! IPv6 form (IPv4 as `::ffff:a.b.c.d`) so one key layout serves both families;
//! each `u32` word holds four address bytes in network order, exactly as the
//! kernel's `user_ip6` words do. Ports are host order.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "std")]
pub mod mountinfo;

/// Names of the maps; they are also the file names of their pins.
pub mod map_names {
    pub const TARGETS: &str = "CORDON_TARGETS";
    pub const EXEMPT: &str = "CORDON_EXEMPT";
    pub const SETTINGS: &str = "CORDON_SETTINGS";
    pub const SOCKETS: &str = "CORDON_SOCKETS";
    pub const ORIGINS: &str = "CORDON_ORIGINS";
}

/// Capacity of the per-socket maps: sockets with a live redirect at once.
pub const MAX_TRACKED_SOCKETS: u32 = 65_536;
/// Capacity of the protected endpoint and exemption maps.
pub const MAX_TARGETS: u32 = 1_024;
pub const MAX_EXEMPT: u32 = 4_096;
/// Deepest cgroup level the exemption check walks.
pub const MAX_CGROUP_DEPTH: u32 = 32;

/// An address in IPv6 form: four words, network byte order within each.
pub type Addr6 = [u32; 4];

/// A protected endpoint: connections to it are redirected.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TargetKey {
    pub addr: Addr6,
    pub port: u32,
}

/// Where redirected connections go and how the gateway's own sockets are known.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Gateway listener for IPv4 sockets, network order (127.0.0.1).
    pub listen_v4: u32,
    /// Gateway listener port, host order.
    pub listen_port: u32,
    /// Gateway listener for native IPv6 sockets (::1).
    pub listen_v6: Addr6,
    /// SO_MARK the gateway puts on its upstream sockets; they are never redirected.
    pub socket_mark: u32,
    /// Non-zero once the gateway has written real settings.
    pub armed: u32,
}

/// What the kernel saw when a process connected to a protected endpoint.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Original destination.
    pub dst_addr: Addr6,
    pub dst_port: u32,
    /// AF_INET or AF_INET6: the family of the connecting socket.
    pub family: u32,
    /// cgroup v2 id (the cgroup directory's inode) of the connecting task.
    pub cgroup_id: u64,
    /// Thread group id (the process id userspace sees) and thread id.
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub gid: u32,
    /// Command name, NUL padded.
    pub comm: [u8; 16],
}

/// The client side of a redirected TCP connection, as the gateway sees it
/// after accept: client address and port, gateway address and port.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnTuple {
    pub client_addr: Addr6,
    pub gateway_addr: Addr6,
    pub client_port: u32,
    pub gateway_port: u32,
}

/// Per-socket state, keyed by socket cookie, freed when the socket is released.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketRecord {
    pub origin: Origin,
    pub tuple: ConnTuple,
    /// Non-zero once `tuple` is filled in (the connect reached the SYN).
    pub has_tuple: u32,
    pub _pad: u32,
}

pub const AF_INET: u32 = 2;
pub const AF_INET6: u32 = 10;

/// The `::ffff:0:0/96` prefix word, in network order.
pub const V4_MAPPED_WORD: u32 = u32::from_ne_bytes([0, 0, 0xff, 0xff]);

/// IPv4 address (network order word) in IPv6 form.
#[inline(always)]
pub const fn v4_mapped(addr: u32) -> Addr6 {
    [0, 0, V4_MAPPED_WORD, addr]
}

/// True when an IPv6-form address holds an IPv4 address.
#[inline(always)]
pub const fn is_v4_mapped(addr: &Addr6) -> bool {
    addr[0] == 0 && addr[1] == 0 && addr[2] == V4_MAPPED_WORD
}

#[cfg(feature = "user")]
mod user {
    // SAFETY: all types are repr(C), padding free, and valid for any bit pattern.
    unsafe impl aya::Pod for super::TargetKey {}
    unsafe impl aya::Pod for super::Settings {}
    unsafe impl aya::Pod for super::Origin {}
    unsafe impl aya::Pod for super::ConnTuple {}
    unsafe impl aya::Pod for super::SocketRecord {}
}
