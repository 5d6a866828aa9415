//! The session's I/O: two directions running at once, each reading into its
//! own buffer, judging through the shared [`Engine`], and writing on. Neither
//! direction ever waits for the other, so a client that pipelines without
//! reading cannot deadlock the gateway, and a notification reaches an idle
//! client as soon as the server sends it.

use std::{
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
};

use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt},
    sync::Notify,
};

use super::{phases::Pending, ClientStep, Engine, ServerStep, StreamBuf, Verdict};
use crate::{
    protocol::{backend::GatewayError, frontend, sqlstate},
    stream::MaybeTls,
};

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// How a relayed session ended.
#[derive(Debug)]
pub enum RelayEnd {
    /// The client said Terminate.
    Terminated,
    /// The client went away without Terminate; its running request (if
    /// any) was cancelled and the server connection closed.
    ClientVanished { cancelled: bool },
    /// The client broke the protocol and was told so.
    ClientViolation(GatewayError),
    /// The server closed or failed; the client was told.
    ServerEnded { told_client: bool },
    /// The engine could not follow the server and closed the session.
    ServerViolation(GatewayError),
}

pub struct RelayOptions<'a> {
    /// Notified when the client sends a cancel request: a held statement is
    /// then refused (57014) instead of waiting on.
    pub hold_cancel: Arc<Notify>,
    /// Asks the server to cancel what the session is running; awaited only
    /// when a client vanishes with a request outstanding.
    pub cancel_upstream: Pin<Box<dyn Future<Output = std::io::Result<()>> + Send + 'a>>,
}

#[derive(Default, Debug, Clone, Copy)]
pub struct Traffic {
    pub to_server: u64,
    pub to_client: u64,
}

enum ClientSideEnd {
    Eof,
    Violation(GatewayError),
    ServerWriteFailed,
}

enum ServerSideEnd {
    Eof,
    Violation(GatewayError),
    ClientWriteFailed,
}

fn lock(engine: &Mutex<Engine>) -> MutexGuard<'_, Engine> {
    engine
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Relays until either side ends, then ends the other one properly.
pub async fn relay(
    client: MaybeTls,
    server: MaybeTls,
    engine: Engine,
    mut options: RelayOptions<'_>,
) -> (RelayEnd, Traffic) {
    let engine = Mutex::new(engine);
    let (mut client_rd, mut client_wr) = split(client);
    let (mut server_rd, mut server_wr) = split(server);
    let mut traffic = Traffic::default();
    let first = {
        let hold_cancel = Arc::clone(&options.hold_cancel);
        let up = client_to_server(
            &mut client_rd,
            &mut server_wr,
            &engine,
            &hold_cancel,
            &mut traffic.to_server,
        );
        let down = server_to_client(
            &mut server_rd,
            &mut client_wr,
            &engine,
            &mut traffic.to_client,
        );
        tokio::pin!(up, down);
        tokio::select! {
            end = &mut up => Ok(end),
            end = &mut down => Err(end),
        }
    };
    let (terminated, outstanding, server_fatal) = {
        let e = lock(&engine);
        (e.terminated(), e.outstanding() > 0, e.server_sent_fatal())
    };
    let end = match first {
        Ok(ClientSideEnd::Eof) if terminated => RelayEnd::Terminated,
        Ok(ClientSideEnd::Eof) => {
            let cancelled = stop_upstream(&mut server_wr, outstanding, &mut options).await;
            RelayEnd::ClientVanished { cancelled }
        }
        Ok(ClientSideEnd::Violation(error)) => {
            tell_client(&mut client_wr, &error).await;
            stop_upstream(&mut server_wr, outstanding, &mut options).await;
            RelayEnd::ClientViolation(error)
        }
        Err(ServerSideEnd::ClientWriteFailed) => {
            let cancelled = stop_upstream(&mut server_wr, outstanding, &mut options).await;
            RelayEnd::ClientVanished { cancelled }
        }
        Err(ServerSideEnd::Violation(error)) => {
            tell_client(&mut client_wr, &error).await;
            stop_upstream(&mut server_wr, outstanding, &mut options).await;
            RelayEnd::ServerViolation(error)
        }
        Ok(ClientSideEnd::ServerWriteFailed) | Err(ServerSideEnd::Eof) => {
            if terminated {
                RelayEnd::Terminated
            } else {
                // A FATAL from the server already told the client why.
                if !server_fatal {
                    let error = GatewayError::fatal(
                        sqlstate::CONNECTION_FAILURE,
                        "cordon: the database server closed the connection unexpectedly; \
                         the statement in progress, if any, may or may not have completed",
                    );
                    tell_client(&mut client_wr, &error).await;
                }
                RelayEnd::ServerEnded {
                    told_client: !server_fatal,
                }
            }
        }
    };
    let _ = client_wr.shutdown().await;
    let _ = server_wr.shutdown().await;
    (end, traffic)
}

fn split(stream: MaybeTls) -> (Reader, Writer) {
    match stream {
        MaybeTls::Plain(tcp) => {
            let (r, w) = tcp.into_split();
            (Box::new(r), Box::new(w))
        }
        MaybeTls::Tls(tls) => {
            let (r, w) = tokio::io::split(*tls);
            (Box::new(r), Box::new(w))
        }
    }
}

/// Waits for a held statement's verdict; the client cancelling gives it up.
async fn wait_for_verdict(mut pending: Pending, hold_cancel: &Notify) -> Verdict {
    loop {
        let verdict = tokio::select! {
            verdict = &mut pending => verdict,
            () = hold_cancel.notified() => {
                return Verdict::Refuse(GatewayError::error(
                    sqlstate::QUERY_CANCELED,
                    "canceling statement due to user request (cordon: it was held for a decision and never sent to the server)",
                ));
            }
        };
        match verdict {
            Verdict::Hold(next) => pending = next,
            verdict => return verdict,
        }
    }
}

async fn client_to_server(
    rd: &mut Reader,
    wr: &mut Writer,
    engine: &Mutex<Engine>,
    hold_cancel: &Notify,
    sent: &mut u64,
) -> ClientSideEnd {
    let mut s = StreamBuf::default();
    let mut decided: Option<Verdict> = None;
    loop {
        let hold_total = loop {
            let step = lock(engine).process_client(&mut s, &mut decided);
            s.split_judged();
            if write_out(wr, &mut s.out, sent).await.is_err() {
                return ClientSideEnd::ServerWriteFailed;
            }
            match step {
                ClientStep::Read { hold_total } => break hold_total,
                ClientStep::Hold(pending) => {
                    decided = Some(wait_for_verdict(pending, hold_cancel).await)
                }
                ClientStep::Fatal(error) => return ClientSideEnd::Violation(error),
            }
        };
        s.reserve_for_read(hold_total);
        let room = s.spare();
        match rd.read_buf(&mut s.buf).await {
            Ok(0) | Err(_) => return ClientSideEnd::Eof,
            Ok(read) => s.note_read(read, room),
        }
    }
}

async fn server_to_client(
    rd: &mut Reader,
    wr: &mut Writer,
    engine: &Mutex<Engine>,
    sent: &mut u64,
) -> ServerSideEnd {
    let mut s = StreamBuf::default();
    loop {
        let (step, barrier) = {
            let mut engine = lock(engine);
            (engine.process_server(&mut s), engine.before_client_sees())
        };
        s.split_judged();
        // E.g. a statement's record must be durable before its completion
        // reaches the client; if it cannot be, the client never gets it.
        if let Some(barrier) = barrier {
            if let Err(error) = barrier.await {
                return ServerSideEnd::Violation(error);
            }
        }
        if write_out(wr, &mut s.out, sent).await.is_err() {
            return ServerSideEnd::ClientWriteFailed;
        }
        let hold_total = match step {
            ServerStep::Read { hold_total } => hold_total,
            ServerStep::Fatal(error) => return ServerSideEnd::Violation(error),
        };
        s.reserve_for_read(hold_total);
        let room = s.spare();
        match rd.read_buf(&mut s.buf).await {
            Ok(0) | Err(_) => return ServerSideEnd::Eof,
            Ok(read) => s.note_read(read, room),
        }
    }
}

/// Chunks smaller than this are copied together into one write; larger ones
/// (runs of passed-through bytes) are written as they are, without a copy.
const COALESCE_BELOW: usize = 16 << 10;

/// Writes the output in as few system calls as it takes: a result whose
/// rows a phase rewrote arrives as one chunk per row.
async fn write_out(wr: &mut Writer, out: &mut Vec<Bytes>, sent: &mut u64) -> std::io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let mut small = BytesMut::new();
    for chunk in out.drain(..) {
        *sent += chunk.len() as u64;
        if chunk.len() >= COALESCE_BELOW {
            if !small.is_empty() {
                wr.write_all(&small).await?;
                small.clear();
            }
            wr.write_all(&chunk).await?;
            continue;
        }
        small.extend_from_slice(&chunk);
        if small.len() >= COALESCE_BELOW {
            wr.write_all(&small).await?;
            small.clear();
        }
    }
    if !small.is_empty() {
        wr.write_all(&small).await?;
    }
    wr.flush().await
}

async fn tell_client(wr: &mut Writer, error: &GatewayError) {
    let _ = wr.write_all(&error.to_bytes()).await;
    let _ = wr.flush().await;
}

/// Cancels what the server is running for a client that is gone, then asks
/// the server to end the session. Returns whether a cancel was sent.
async fn stop_upstream(
    server_wr: &mut Writer,
    outstanding: bool,
    options: &mut RelayOptions<'_>,
) -> bool {
    let mut cancelled = false;
    if outstanding {
        match options.cancel_upstream.as_mut().await {
            Ok(()) => cancelled = true,
            Err(e) => tracing::warn!(reason = %e, "cancelling the gone client's request failed"),
        }
    }
    let mut terminate = BytesMut::new();
    frontend::encode_terminate(&mut terminate);
    let _ = server_wr.write_all(&terminate).await;
    let _ = server_wr.flush().await;
    cancelled
}
