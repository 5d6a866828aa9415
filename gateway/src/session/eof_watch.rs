//! Notices how the client's side of the relay ends. A client that vanishes
//! without Terminate (killed, crashed, network gone) may leave a query running
//! upstream that nobody will read; the session cancels it.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::oneshot,
};

/// The Terminate message: tag 'X', length 4.
const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

/// How the client's byte stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEnd {
    /// Its last message was Terminate: nothing is left running on its behalf.
    Terminated,
    /// End of stream or a read error without Terminate.
    Vanished,
}

/// Passes reads and writes through; reports the end of the read side once.
pub struct EofWatch<S> {
    inner: S,
    /// The last bytes read, oldest first (at most five).
    tail: Vec<u8>,
    report: Option<oneshot::Sender<ClientEnd>>,
}

impl<S> EofWatch<S> {
    pub fn new(inner: S) -> (Self, oneshot::Receiver<ClientEnd>) {
        let (tx, rx) = oneshot::channel();
        let watch = Self {
            inner,
            tail: Vec::with_capacity(TERMINATE.len() * 2),
            report: Some(tx),
        };
        (watch, rx)
    }

    fn remember(&mut self, bytes: &[u8]) {
        self.tail
            .extend_from_slice(&bytes[bytes.len().saturating_sub(TERMINATE.len())..]);
        let excess = self.tail.len().saturating_sub(TERMINATE.len());
        self.tail.drain(..excess);
    }

    fn ended(&mut self, end: ClientEnd) {
        if let Some(report) = self.report.take() {
            let _ = report.send(end);
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EofWatch<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        match &result {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if read.is_empty() {
                    let end = if this.tail == TERMINATE {
                        ClientEnd::Terminated
                    } else {
                        ClientEnd::Vanished
                    };
                    this.ended(end);
                } else {
                    this.remember(read);
                }
            }
            Poll::Ready(Err(_)) => this.ended(ClientEnd::Vanished),
            Poll::Pending => {}
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EofWatch<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    async fn end_after(bytes: &[u8]) -> ClientEnd {
        let (mut client, gateway_side) = tokio::io::duplex(64);
        let (mut watch, end) = EofWatch::new(gateway_side);
        client.write_all(bytes).await.unwrap();
        drop(client);
        let mut sink = Vec::new();
        watch.read_to_end(&mut sink).await.unwrap();
        assert_eq!(sink, bytes);
        end.await.unwrap()
    }

    #[tokio::test]
    async fn terminate_as_the_last_message_is_a_clean_end() {
        let query = b"Q\0\0\0\x0dSELECT 1;\0";
        assert_eq!(
            end_after(&[&query[..], &TERMINATE[..]].concat()).await,
            ClientEnd::Terminated
        );
        assert_eq!(end_after(&TERMINATE).await, ClientEnd::Terminated);
    }

    #[tokio::test]
    async fn anything_else_is_a_vanished_client() {
        assert_eq!(
            end_after(b"Q\0\0\0\x0dSELECT 1;\0").await,
            ClientEnd::Vanished
        );
        assert_eq!(end_after(b"").await, ClientEnd::Vanished);
        assert_eq!(end_after(&TERMINATE[1..]).await, ClientEnd::Vanished);
    }
}
