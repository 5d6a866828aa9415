//! TCP connections the interception hooks leave alone: they carry the
//! gateway's SO_MARK, which connect4/connect6 check before redirecting.

use std::{io, net::SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpSocket, TcpStream};

/// Connects with SO_MARK set. Failing to set the mark is an error: an
/// unmarked socket would be redirected back into the gateway.
pub async fn connect_marked(address: SocketAddr, mark: u32) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(address),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_mark(mark).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("setting SO_MARK {mark:#x} on the upstream socket: {e}"),
        )
    })?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    let socket = TcpSocket::from_std_stream(socket.into());
    socket
        .connect(address)
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("connecting to {address}: {e}")))
}
