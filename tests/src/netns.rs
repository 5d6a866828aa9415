//! A network namespace joined to the host by a veth pair: a stand-in for a
//! database on another machine, reached over a real (non-loopback) interface.
//! Traffic only ever goes to the namespace this fixture created. Dropping it
//! deletes the namespace, which takes the veth pair with it.

use std::{net::Ipv4Addr, process::Command, time::Duration};

use crate::process::run;

pub struct NetNs {
    name: String,
    host_addr: Ipv4Addr,
    ns_addr: Ipv4Addr,
}

impl NetNs {
    pub fn create() -> Self {
        crate::require_root();
        let name = crate::unique_name("cordon-test");
        // Interface names have at most 15 bytes; a per-run counter keeps them unique.
        let n = next_index();
        let (host_if, ns_if) = (
            format!("cvh{}-{n}", std::process::id() % 100_000),
            format!("cvn{n}"),
        );
        // A /30 per namespace from 10.231.0.0/16, chosen per process and counter.
        let block = ((std::process::id() as usize * 7 + n as usize) % 16_000) as u32 * 4;
        let base = u32::from(Ipv4Addr::new(10, 231, 0, 0)) + block;
        let (host_addr, ns_addr) = (Ipv4Addr::from(base + 1), Ipv4Addr::from(base + 2));
        let ns = Self {
            name,
            host_addr,
            ns_addr,
        };
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        ip(&["link", "set", &ns_if, "netns", &ns.name]);
        ip(&["addr", "add", &format!("{host_addr}/30"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        ip(&[
            "-n",
            &ns.name,
            "addr",
            "add",
            &format!("{ns_addr}/30"),
            "dev",
            &ns_if,
        ]);
        ip(&["-n", &ns.name, "link", "set", &ns_if, "up"]);
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's end of the veth pair (where connections from the host come from).
    pub fn host_addr(&self) -> Ipv4Addr {
        self.host_addr
    }

    /// The address inside the namespace.
    pub fn addr(&self) -> Ipv4Addr {
        self.ns_addr
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let out = run(
            Command::new("ip").args(["netns", "del", &self.name]),
            Duration::from_secs(30),
        );
        if !out.success() {
            eprintln!("ip netns del {} failed: {out}", self.name);
        }
    }
}

/// True while a namespace of this name exists (`ip netns` keeps them here).
pub fn exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

fn next_index() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[track_caller]
fn ip(args: &[&str]) {
    run(Command::new("ip").args(args), Duration::from_secs(30))
        .expect_success(&format!("ip {}", args.join(" ")));
}
