//! Live sessions: what `cordon status` lists and where cancel requests find
//! the upstream backend they are meant for.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

/// What an operator sees about one live session.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: u64,
    pub identity: String,
    pub cgroup: String,
    pub pid: u32,
    pub uid: u32,
    pub comm: String,
    pub destination: SocketAddr,
    pub role: String,
    pub database: String,
    pub client_tls: bool,
    pub started_unix: u64,
}

/// The upstream backend a gateway-issued cancel key stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelTarget {
    pub address: SocketAddr,
    pub process_id: i32,
    pub secret_key: i32,
}

struct Entry {
    info: SessionInfo,
    upstream: CancelTarget,
    /// Woken by a cancel request: a statement the gateway holds is given up.
    hold_cancel: Arc<tokio::sync::Notify>,
}

/// Sessions keyed by the secret cancel key the gateway gave the client
/// (unique among live sessions; process ids from several servers may repeat).
#[derive(Default)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<Box<[u8]>, Entry>>,
    next_id: std::sync::atomic::AtomicU64,
}

/// The cancel key the client gets: the server's process id (so that
/// pg_backend_pid(), pg_stat_activity and notifications agree with what the
/// client was told) with the gateway's own secret (never the server's).
#[derive(Clone, Debug)]
pub struct GatewayKey {
    pub process_id: i32,
    /// 4 bytes for protocol 3.0 clients, 32 for 3.2 (which allows up to 256).
    pub secret_key: Box<[u8]>,
}

/// Removes the session from the registry when the session ends.
pub struct Registration {
    registry: Arc<SessionRegistry>,
    pub key: GatewayKey,
    pub id: u64,
    /// Notified when the client cancels (see [`SessionRegistry::accept_cancel`]).
    pub hold_cancel: Arc<tokio::sync::Notify>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.key.secret_key);
    }
}

impl SessionRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Entry>> {
        // A panic elsewhere must not take status and cancel down with it.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn next_id(&self) -> u64 {
        self.next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    pub fn register(
        self: &Arc<Self>,
        mut info: SessionInfo,
        upstream: CancelTarget,
        key_len: usize,
    ) -> Registration {
        info.started_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let id = info.id;
        let mut sessions = self.lock();
        let key = loop {
            let mut secret_key = vec![0u8; key_len].into_boxed_slice();
            rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret_key);
            if !sessions.contains_key(&secret_key) {
                break GatewayKey {
                    process_id: upstream.process_id,
                    secret_key,
                };
            }
        };
        let hold_cancel = Arc::new(tokio::sync::Notify::new());
        sessions.insert(
            key.secret_key.clone(),
            Entry {
                info,
                upstream,
                hold_cancel: Arc::clone(&hold_cancel),
            },
        );
        Registration {
            registry: Arc::clone(self),
            key,
            id,
            hold_cancel,
        }
    }

    /// Takes a client's cancel request: if the key is genuine, gives up a
    /// statement the gateway is holding (if any) and returns the upstream
    /// backend to forward the cancel to.
    pub fn accept_cancel(&self, process_id: i32, secret_key: &[u8]) -> Option<CancelTarget> {
        let sessions = self.lock();
        let entry = sessions.get(secret_key)?;
        if entry.upstream.process_id != process_id {
            return None;
        }
        // Only a hold waiting now is given up; no permit is kept for later.
        entry.hold_cancel.notify_waiters();
        Some(entry.upstream)
    }

    pub fn snapshot(&self) -> Vec<SessionInfo> {
        let mut list: Vec<SessionInfo> = self.lock().values().map(|e| e.info.clone()).collect();
        list.sort_by_key(|s| s.id);
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(id: u64) -> SessionInfo {
        SessionInfo {
            id,
            identity: "ci".into(),
            cgroup: "/ci".into(),
            pid: 1,
            uid: 0,
            comm: "psql".into(),
            destination: "127.0.0.1:5432".parse().unwrap(),
            role: "r".into(),
            database: "d".into(),
            client_tls: false,
            started_unix: 0,
        }
    }

    #[test]
    fn cancel_needs_the_right_secret_and_ends_with_the_session() {
        let registry = Arc::new(SessionRegistry::default());
        let upstream = CancelTarget {
            address: "127.0.0.1:5432".parse().unwrap(),
            process_id: 77,
            secret_key: 99,
        };
        let reg = registry.register(info(1), upstream, 4);
        let key = reg.key.clone();
        assert_eq!(key.secret_key.len(), 4);
        assert_eq!(
            key.process_id, 77,
            "the server's pid, as pg_backend_pid() says"
        );
        assert_eq!(
            registry.accept_cancel(78, &key.secret_key),
            None,
            "pid must match"
        );
        assert_eq!(
            registry.accept_cancel(key.process_id, &key.secret_key),
            Some(upstream)
        );
        let mut wrong = key.secret_key.to_vec();
        wrong[3] ^= 1;
        assert_eq!(registry.accept_cancel(key.process_id, &wrong), None);
        assert_eq!(
            registry.accept_cancel(key.process_id, &key.secret_key[..3]),
            None
        );
        assert_eq!(registry.snapshot().len(), 1);
        drop(reg);
        assert!(registry.snapshot().is_empty());
        assert_eq!(
            registry.accept_cancel(key.process_id, &key.secret_key),
            None
        );
        let long = registry.register(info(2), upstream, 32);
        assert_eq!(long.key.secret_key.len(), 32, "protocol 3.2 keys");
        assert_eq!(
            registry.accept_cancel(long.key.process_id, &long.key.secret_key),
            Some(upstream)
        );
    }
}
