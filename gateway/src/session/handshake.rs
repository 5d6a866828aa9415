//! The client's side of startup, up to the StartupMessage: TLS negotiation,
//! GSSAPI encryption refused, cancel requests recognised. Reads exactly one
//! packet at a time, so nothing is buffered when TLS begins.

use bytes::BytesMut;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::TlsAcceptor;

use crate::{
    protocol::{
        backend::GatewayError,
        sqlstate,
        startup::{self, ProtocolVersion, StartupError, StartupPacket},
    },
    stream::MaybeTls,
};

pub enum Hello {
    Session {
        stream: MaybeTls,
        version: ProtocolVersion,
        parameters: Vec<(String, String)>,
    },
    Cancel {
        /// Kept open until the server has taken the request.
        stream: MaybeTls,
        process_id: i32,
        secret_key: Vec<u8>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("reading the startup packet: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Startup(#[from] StartupError),
    #[error("TLS handshake with the client failed: {0}")]
    Tls(std::io::Error),
    #[error("client sent {0} twice")]
    Repeated(&'static str),
}

pub async fn negotiate(tcp: TcpStream, tls: &TlsAcceptor) -> Result<Hello, HandshakeError> {
    let mut stream = MaybeTls::Plain(tcp);
    let mut gss_refused = false;
    loop {
        let packet = match read_packet(&mut stream).await {
            Ok(p) => p,
            Err(HandshakeError::Startup(e)) => {
                refuse(&mut stream, &e).await;
                return Err(e.into());
            }
            Err(e) => return Err(e),
        };
        match packet {
            StartupPacket::SslRequest => {
                let MaybeTls::Plain(mut tcp) = stream else {
                    return Err(HandshakeError::Repeated("SSLRequest"));
                };
                tcp.write_all(b"S").await?;
                let tls_stream = tls.accept(tcp).await.map_err(HandshakeError::Tls)?;
                stream = MaybeTls::Tls(Box::new(tls_stream.into()));
            }
            StartupPacket::GssEncRequest => {
                if gss_refused || stream.is_tls() {
                    return Err(HandshakeError::Repeated("GSSENCRequest"));
                }
                // No GSSAPI encryption: the client goes on with SSL or plain.
                stream.write_all(b"N").await?;
                gss_refused = true;
            }
            StartupPacket::Cancel {
                process_id,
                secret_key,
            } => {
                return Ok(Hello::Cancel {
                    stream,
                    process_id,
                    secret_key,
                })
            }
            StartupPacket::Startup {
                version,
                parameters,
            } => {
                return Ok(Hello::Session {
                    stream,
                    version,
                    parameters,
                })
            }
        }
    }
}

async fn read_packet(stream: &mut MaybeTls) -> Result<StartupPacket, HandshakeError> {
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).await?;
    let len = startup::body_len(prefix)?;
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok(startup::parse(&body)?)
}

/// Best effort: tell the client why before closing.
async fn refuse(stream: &mut MaybeTls, e: &StartupError) {
    let mut buf = BytesMut::new();
    GatewayError::fatal(sqlstate::PROTOCOL_VIOLATION, format!("cordon: {e}")).encode(&mut buf);
    let _ = stream.write_all(&buf).await;
    let _ = stream.shutdown().await;
}
