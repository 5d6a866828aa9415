//! The open-file limit. Every session holds two sockets (client and server),
//! so the usual soft limit of 1024 caps the gateway near 500 sessions. Like
//! pgbouncer and most servers, the daemon raises its soft limit to the hard
//! limit at start; the hard limit stays the administrator's to set (systemd's
//! `LimitNOFILE=`).

use std::io;

/// The soft and hard `RLIMIT_NOFILE` after [`raise_nofile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoFile {
    pub soft: u64,
    pub hard: u64,
    /// The soft limit before, when it was raised.
    pub raised_from: Option<u64>,
}

/// Raises the soft open-file limit to the hard limit.
pub fn raise_nofile() -> io::Result<NoFile> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if limit.rlim_cur >= limit.rlim_max {
        return Ok(NoFile {
            soft: limit.rlim_cur,
            hard: limit.rlim_max,
            raised_from: None,
        });
    }
    let before = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: setrlimit only reads the struct we own.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(NoFile {
        soft: limit.rlim_cur,
        hard: limit.rlim_max,
        raised_from: Some(before),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_limit_ends_at_the_hard_limit() {
        let limit = raise_nofile().unwrap();
        assert_eq!(limit.soft, limit.hard);
        // Idempotent: a second call has nothing left to raise.
        assert_eq!(raise_nofile().unwrap().raised_from, None);
    }
}
