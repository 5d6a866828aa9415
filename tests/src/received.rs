//! Every byte a client process received: the client runs under strace, and
//! the data of its read-like system calls is decoded from strace's hex
//! output. Tests search it for values that must never reach the client.

use std::{ffi::OsStr, path::Path, process::Command};

/// `original` (a command built for a cgroup) wrapped in strace writing to
/// `trace`. The returned command runs in the same cgroup.
pub fn traced(cgroup: &crate::cgroup::CgroupGuard, original: &Command, trace: &Path) -> Command {
    let mut cmd = cgroup.command("strace");
    // -yy names each descriptor (`3<TCP:[...]>`), so only what came over
    // TCP connections counts, not the files the client read.
    cmd.args(["-f", "-qq", "-yy", "-xx", "-s", "16777216"])
        .args(["-e", "trace=read,readv,recvfrom,recvmsg,pread64"])
        .arg("-o")
        .arg(trace)
        .arg(original.get_program())
        .args(original.get_args());
    for (key, value) in original.get_envs() {
        match value {
            Some(value) => cmd.env(key, value),
            None => cmd.env_remove(key),
        };
    }
    if let Some(dir) = original.get_current_dir() {
        cmd.current_dir(dir);
    }
    cmd
}

/// The bytes of every string strace printed for read-like calls on TCP
/// sockets, in order.
pub fn bytes_read(trace: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(trace).expect("the strace output is readable");
    let mut bytes = Vec::new();
    for line in text.lines().filter(|l| l.contains("<TCP")) {
        let mut rest = line;
        while let Some(start) = rest.find("\"\\x") {
            rest = &rest[start + 1..];
            let end = rest.find('"').unwrap_or(rest.len());
            decode_hex_escapes(&rest[..end], &mut bytes);
            rest = &rest[end..];
            if !rest.is_empty() {
                rest = &rest[1..];
            }
        }
    }
    bytes
}

fn decode_hex_escapes(escaped: &str, out: &mut Vec<u8>) {
    for chunk in escaped.split("\\x").filter(|c| !c.is_empty()) {
        if let Ok(b) = u8::from_str_radix(&chunk[..chunk.len().min(2)], 16) {
            out.push(b);
        }
    }
}

/// Where `needle` occurs in `haystack`.
pub fn find(haystack: &[u8], needle: impl AsRef<OsStr>) -> Option<usize> {
    let needle = needle.as_ref().as_encoded_bytes();
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_strings_decode() {
        let mut out = Vec::new();
        super::decode_hex_escapes("\\x61\\x62\\x0a", &mut out);
        assert_eq!(out, b"ab\n");
    }
}
