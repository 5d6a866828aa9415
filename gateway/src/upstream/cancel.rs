//! Forwarding a client's CancelRequest with the server's real key.

use std::{io, net::SocketAddr, time::Duration};

use bytes::BytesMut;
use postgres_protocol::message::frontend;
use tokio::io::AsyncWriteExt;

use super::connect_marked;

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
    tcp.shutdown().await
}
