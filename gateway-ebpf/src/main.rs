//! Cordon's kernel side: transparent redirection of connections to protected
//! PostgreSQL endpoints into the local gateway, with the connecting process's
//! identity recorded where the gateway can find it after accept.
//!
//! Flow for one agent connection:
//! 1. `connect4`/`connect6`: destination is protected, socket is not the
//!    gateway's own (SO_MARK) and its cgroup is not exempt → remember the origin
//!    under the socket cookie and rewrite the destination to the gateway.
//! 2. `sock_ops` at TCP_CONNECT_CB (source port now chosen, SYN not yet sent) →
//!    copy the origin into `ORIGINS` keyed by the full connection tuple, which
//!    is what the gateway knows after accept.
//! 3. `getpeername4/6` → report the original peer to the client.
//! 4. `sock_release` → drop both entries with the socket.
//!
//! Verifier notes: context fields are read one word at a time with volatile
//! loads (LLVM may otherwise merge loads into computed offsets the verifier
//! rejects), and every field is loaded before branching on the family.
#![no_std]
#![no_main]

use core::{
    ffi::c_void,
    ptr::{addr_of, addr_of_mut, read_volatile, write_volatile},
};

use aya_ebpf::{
    bindings::{bpf_sock_addr, BPF_SOCK_OPS_TCP_CONNECT_CB},
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_get_current_cgroup_id, bpf_get_current_comm,
        bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_get_socket_cookie,
    },
    macros::{cgroup_sock, cgroup_sock_addr, map, sock_ops},
    maps::{Array, HashMap},
    programs::{SockAddrContext, SockContext, SockOpsContext},
};
use gateway_common::{
    is_v4_mapped, v4_mapped, Addr6, ConnTuple, Origin, Settings, SocketRecord, TargetKey, AF_INET,
    AF_INET6, MAX_CGROUP_DEPTH, MAX_EXEMPT, MAX_TARGETS, MAX_TRACKED_SOCKETS,
};

/// Return value that lets the syscall go on (cgroup hooks: 0 would refuse it).
const PROCEED: i32 = 1;

#[map(name = "CORDON_TARGETS")]
static TARGETS: HashMap<TargetKey, u8> = HashMap::pinned(MAX_TARGETS, 0);

#[map(name = "CORDON_EXEMPT")]
static EXEMPT: HashMap<u64, u8> = HashMap::pinned(MAX_EXEMPT, 0);

#[map(name = "CORDON_SETTINGS")]
static SETTINGS: Array<Settings> = Array::pinned(1, 0);

#[map(name = "CORDON_SOCKETS")]
static SOCKETS: HashMap<u64, SocketRecord> = HashMap::pinned(MAX_TRACKED_SOCKETS, 0);

#[map(name = "CORDON_ORIGINS")]
static ORIGINS: HashMap<ConnTuple, Origin> = HashMap::pinned(MAX_TRACKED_SOCKETS, 0);

#[cgroup_sock_addr(connect4)]
pub fn cordon_connect4(ctx: SockAddrContext) -> i32 {
    let sa = ctx.sock_addr;
    // SAFETY: the kernel hands us a valid bpf_sock_addr for the program's lifetime.
    let (ip4, port) = unsafe { (field(addr_of!((*sa).user_ip4)), port_of(sa)) };
    let dst = v4_mapped(ip4);
    let Some(settings) = redirect_settings(sa, &dst, port) else {
        return PROCEED;
    };
    if settings.armed == 0 {
        // Protected endpoint but the gateway never configured us: refuse.
        return 0;
    }
    remember_origin(sa, dst, port, AF_INET);
    // SAFETY: connect4 may rewrite user_ip4 and user_port.
    unsafe {
        write_volatile(addr_of_mut!((*sa).user_ip4), settings.listen_v4);
        write_volatile(addr_of_mut!((*sa).user_port), port_be(settings.listen_port));
    }
    PROCEED
}

#[cgroup_sock_addr(connect6)]
pub fn cordon_connect6(ctx: SockAddrContext) -> i32 {
    let sa = ctx.sock_addr;
    // SAFETY: as in connect4; words are read one at a time.
    let (dst, port) = unsafe { (user_ip6(sa), port_of(sa)) };
    let Some(settings) = redirect_settings(sa, &dst, port) else {
        return PROCEED;
    };
    if settings.armed == 0 {
        return 0;
    }
    remember_origin(sa, dst, port, AF_INET6);
    // A dual-stack socket aimed at an IPv4 address must land on the IPv4
    // listener in mapped form; a native IPv6 one on ::1.
    let gateway = if is_v4_mapped(&dst) {
        v4_mapped(settings.listen_v4)
    } else {
        settings.listen_v6
    };
    // SAFETY: connect6 may rewrite user_ip6 and user_port; one word per store.
    unsafe {
        write_volatile(addr_of_mut!((*sa).user_ip6[0]), gateway[0]);
        write_volatile(addr_of_mut!((*sa).user_ip6[1]), gateway[1]);
        write_volatile(addr_of_mut!((*sa).user_ip6[2]), gateway[2]);
        write_volatile(addr_of_mut!((*sa).user_ip6[3]), gateway[3]);
        write_volatile(addr_of_mut!((*sa).user_port), port_be(settings.listen_port));
    }
    PROCEED
}

#[sock_ops]
pub fn cordon_sock_ops(ctx: SockOpsContext) -> u32 {
    if ctx.op() != BPF_SOCK_OPS_TCP_CONNECT_CB {
        return PROCEED as u32;
    }
    let ops = ctx.ops;
    // SAFETY: ops points at the kernel's bpf_sock_ops for this callback.
    let cookie = unsafe { bpf_get_socket_cookie(ops as *mut c_void) };
    let Some(record) = SOCKETS.get_ptr_mut(cookie) else {
        return PROCEED as u32;
    };
    // SAFETY: every field is a plain u32 of the context; loaded unconditionally.
    let tuple = unsafe {
        let family = field(addr_of!((*ops).family));
        let local4 = field(addr_of!((*ops).local_ip4));
        let remote4 = field(addr_of!((*ops).remote_ip4));
        let local6 = [
            field(addr_of!((*ops).local_ip6[0])),
            field(addr_of!((*ops).local_ip6[1])),
            field(addr_of!((*ops).local_ip6[2])),
            field(addr_of!((*ops).local_ip6[3])),
        ];
        let remote6 = [
            field(addr_of!((*ops).remote_ip6[0])),
            field(addr_of!((*ops).remote_ip6[1])),
            field(addr_of!((*ops).remote_ip6[2])),
            field(addr_of!((*ops).remote_ip6[3])),
        ];
        let local_port = field(addr_of!((*ops).local_port));
        let remote_port = field(addr_of!((*ops).remote_port));
        let (client_addr, gateway_addr) = if family == AF_INET {
            (v4_mapped(local4), v4_mapped(remote4))
        } else {
            (local6, remote6)
        };
        // remote_port is network order and, on little-endian kernels, sits in
        // the upper half of the word; local_port is host order.
        let remote_raw = if remote_port & 0xffff == 0 {
            remote_port >> 16
        } else {
            remote_port
        };
        ConnTuple {
            client_addr,
            gateway_addr,
            client_port: local_port & 0xffff,
            gateway_port: u16::from_be(remote_raw as u16) as u32,
        }
    };
    // SAFETY: record is a live map value pointer for this cookie.
    unsafe {
        let _ = ORIGINS.insert(tuple, (*record).origin, 0);
        (*record).tuple = tuple;
        (*record).has_tuple = 1;
    }
    PROCEED as u32
}

#[cgroup_sock_addr(getpeername4)]
pub fn cordon_getpeername4(ctx: SockAddrContext) -> i32 {
    let sa = ctx.sock_addr;
    // SAFETY: valid context; lookup result copied before use.
    unsafe {
        let cookie = bpf_get_socket_cookie(sa as *mut c_void);
        if let Some(record) = SOCKETS.get(cookie) {
            let origin = record.origin;
            write_volatile(addr_of_mut!((*sa).user_ip4), origin.dst_addr[3]);
            write_volatile(addr_of_mut!((*sa).user_port), port_be(origin.dst_port));
        }
    }
    PROCEED
}

#[cgroup_sock_addr(getpeername6)]
pub fn cordon_getpeername6(ctx: SockAddrContext) -> i32 {
    let sa = ctx.sock_addr;
    // SAFETY: valid context; one word per store.
    unsafe {
        let cookie = bpf_get_socket_cookie(sa as *mut c_void);
        if let Some(record) = SOCKETS.get(cookie) {
            let dst = record.origin.dst_addr;
            let port = record.origin.dst_port;
            write_volatile(addr_of_mut!((*sa).user_ip6[0]), dst[0]);
            write_volatile(addr_of_mut!((*sa).user_ip6[1]), dst[1]);
            write_volatile(addr_of_mut!((*sa).user_ip6[2]), dst[2]);
            write_volatile(addr_of_mut!((*sa).user_ip6[3]), dst[3]);
            write_volatile(addr_of_mut!((*sa).user_port), port_be(port));
        }
    }
    PROCEED
}

#[cgroup_sock(sock_release)]
pub fn cordon_sock_release(ctx: SockContext) -> i32 {
    // SAFETY: valid bpf_sock context.
    let cookie = unsafe { bpf_get_socket_cookie(ctx.sock as *mut c_void) };
    // SAFETY: the value is copied out before the entries are removed.
    if let Some(record) = unsafe { SOCKETS.get(cookie) } {
        if record.has_tuple != 0 {
            let tuple = record.tuple;
            let _ = ORIGINS.remove(tuple);
        }
        let _ = SOCKETS.remove(cookie);
    }
    PROCEED
}

/// Settings when this connect must be redirected, None when it proceeds as is.
#[inline(always)]
fn redirect_settings(sa: *mut bpf_sock_addr, dst: &Addr6, port: u32) -> Option<Settings> {
    let key = TargetKey { addr: *dst, port };
    // SAFETY: lookup result is only tested for presence.
    unsafe { TARGETS.get(key) }?;
    let settings = *SETTINGS.get(0)?;
    // SAFETY: ctx->sk is a valid socket pointer in sock_addr programs.
    let mark = unsafe {
        let sk = read_volatile(addr_of!((*sa).__bindgen_anon_1.sk));
        field(addr_of!((*sk).mark))
    };
    if settings.armed != 0 && mark == settings.socket_mark {
        return None; // the gateway's own upstream connection
    }
    if cgroup_is_exempt() {
        return None;
    }
    Some(settings)
}

/// True when the current task's cgroup or any ancestor is exempt.
#[inline(always)]
fn cgroup_is_exempt() -> bool {
    let mut level = 0;
    while level < MAX_CGROUP_DEPTH {
        // SAFETY: plain helper call; returns 0 past the task's depth.
        let id = unsafe { bpf_get_current_ancestor_cgroup_id(level as i32) };
        if id == 0 {
            return false;
        }
        // SAFETY: presence test only.
        if unsafe { EXEMPT.get(id) }.is_some() {
            return true;
        }
        level += 1;
    }
    false
}

#[inline(always)]
fn remember_origin(sa: *mut bpf_sock_addr, dst: Addr6, port: u32, family: u32) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let uid_gid = bpf_get_current_uid_gid();
    let record = SocketRecord {
        origin: Origin {
            dst_addr: dst,
            dst_port: port,
            family,
            // SAFETY: plain helper call.
            cgroup_id: unsafe { bpf_get_current_cgroup_id() },
            pid: (pid_tgid >> 32) as u32,
            tid: pid_tgid as u32,
            uid: uid_gid as u32,
            gid: (uid_gid >> 32) as u32,
            comm: bpf_get_current_comm().unwrap_or([0; 16]),
        },
        tuple: ConnTuple {
            client_addr: [0; 4],
            gateway_addr: [0; 4],
            client_port: 0,
            gateway_port: 0,
        },
        has_tuple: 0,
        _pad: 0,
    };
    // SAFETY: valid context pointer.
    let cookie = unsafe { bpf_get_socket_cookie(sa as *mut c_void) };
    // A full map still redirects: the gateway then finds no origin and refuses.
    let _ = SOCKETS.insert(cookie, record, 0);
}

/// # Safety
/// `ptr` must point at a readable u32 field of the program context.
#[inline(always)]
unsafe fn field(ptr: *const u32) -> u32 {
    // SAFETY: guaranteed by the caller.
    unsafe { read_volatile(ptr) }
}

/// # Safety
/// `sa` must be the program's context.
#[inline(always)]
unsafe fn user_ip6(sa: *mut bpf_sock_addr) -> Addr6 {
    // SAFETY: guaranteed by the caller; one word per load.
    unsafe {
        [
            field(addr_of!((*sa).user_ip6[0])),
            field(addr_of!((*sa).user_ip6[1])),
            field(addr_of!((*sa).user_ip6[2])),
            field(addr_of!((*sa).user_ip6[3])),
        ]
    }
}

/// Destination port in host order.
///
/// # Safety
/// `sa` must be the program's context.
#[inline(always)]
unsafe fn port_of(sa: *mut bpf_sock_addr) -> u32 {
    // SAFETY: guaranteed by the caller.
    u16::from_be(unsafe { field(addr_of!((*sa).user_port)) } as u16) as u32
}

/// Host-order port as the kernel wants it in `user_port`.
#[inline(always)]
fn port_be(port: u32) -> u32 {
    (port as u16).to_be() as u32
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
