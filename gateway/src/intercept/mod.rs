//! The kernel side seen from userspace: load, attach and pin Cordon's eBPF
//! programs, adopt them after a restart, and keep their maps in step with the
//! configuration.
//!
//! Programs are attached to one cgroup (normally the cgroup2 root) with
//! bpf_link and the links are pinned, so they outlive the daemon: while it is
//! down, redirected connections hit a closed port and are refused.

mod addr;
mod bpffs;
mod loader;
mod maps;

pub use addr::{addr6_from_ip, ip_from_addr6, socket_from_parts};
pub use loader::{detach, pinned_links, InterceptError, Interception};
pub use maps::{InterceptMaps, KernelOrigin};

/// Programs in the object, in the order they are attached. `sock_release` and
/// `sock_ops` come first so that no socket is ever redirected without them.
pub const PROGRAMS: &[&str] = &[
    "cordon_sock_release",
    "cordon_sock_ops",
    "cordon_getpeername4",
    "cordon_getpeername6",
    "cordon_connect4",
    "cordon_connect6",
];

/// The eBPF object built by build.rs from gateway-ebpf.
pub(crate) static OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/cordon.bpf.o"));
