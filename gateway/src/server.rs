//! The loopback listeners redirected connections land on.

use std::{
    io,
    net::{Ipv4Addr, Ipv6Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tracing::{error, warn};

use crate::{session, state::Shared, workers::Workers};

/// Binds 127.0.0.1:port and [::1]:port. IPv4 is required; IPv6 is optional
/// (a host without ::1 simply refuses redirected IPv6 connects).
pub fn bind(port: u16) -> io::Result<Vec<TcpListener>> {
    let v4 = listen(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .map_err(|e| io::Error::new(e.kind(), format!("listening on 127.0.0.1:{port}: {e}")))?;
    let mut listeners = vec![v4];
    match listen(SocketAddr::from((Ipv6Addr::LOCALHOST, port))) {
        Ok(v6) => listeners.push(v6),
        Err(e) => {
            warn!(port, reason = %e, "no IPv6 loopback listener; redirected IPv6 connects will be refused")
        }
    }
    Ok(listeners)
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => {
            let s = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::STREAM, None)?;
            s.set_only_v6(true)?;
            s.set_nonblocking(true)?;
            TcpSocket::from_std_stream(s.into())
        }
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts forever and hands each connection to a session worker.
pub async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, workers: Arc<Workers>) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let local = match tcp.local_addr() {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(%peer, reason = %e, "dropping connection without a local address");
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                // Re-registered on the worker's own reactor.
                let tcp = match tcp.into_std() {
                    Ok(tcp) => tcp,
                    Err(e) => {
                        warn!(%peer, reason = %e, "dropping connection that cannot move to a worker");
                        continue;
                    }
                };
                let shared = Arc::clone(&shared);
                workers.spawn(move || async move {
                    match TcpStream::from_std(tcp) {
                        Ok(tcp) => session::serve(tcp, peer, local, shared).await,
                        Err(e) => warn!(%peer, reason = %e, "dropping connection the worker cannot register"),
                    }
                });
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                error!(reason = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
