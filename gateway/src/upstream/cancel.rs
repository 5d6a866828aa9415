//! Forwarding a client's CancelRequest with the server's real key.

use std::{io, net::SocketAddr, time::Duration};

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::connect_marked;

/// How long the server may take to act on a cancel request and close.
const CANCEL_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends the cancel and returns once the server has closed the connection:
/// PostgreSQL closes it after signalling the backend, and clients treat the
/// close of their own cancel connection as "done", so the gateway must not
/// report done any earlier (a late cancel would hit the next command).
pub async fn send_cancel(
    address: SocketAddr,
    mark: u32,
    process_id: i32,
    secret_key: i32,
) -> io::Result<()> {
    let mut tcp = tokio::time::timeout(Duration::from_secs(5), connect_marked(address, mark))
        .await
        .map_err(|_| {
            io::Error::new(io::ErrorKind::TimedOut, format!("connecting to {address}"))
        })??;
    let mut buf = BytesMut::new();
    frontend::cancel_request(process_id, secret_key, &mut buf);
    tcp.write_all(&buf).await?;
    let mut sink = [0u8; 64];
    let closed = async {
        while tcp.read(&mut sink).await? > 0 {}
        io::Result::Ok(())
    };
    tokio::time::timeout(CANCEL_ACK_TIMEOUT, closed)
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{address} did not close the cancel connection"),
            )
        })?
}
